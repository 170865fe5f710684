#!/usr/bin/env python3
"""Seeded random nested RLP structures encoded by the PyPI `rlp` package (pyrlp)."""
import fixture

import rlp


def random_item(rng, depth=0):
    if depth < 4 and rng.random() < 0.35:
        return [random_item(rng, depth + 1) for _ in range(rng.choice([0, 1, 2, 5, 12, 30]))]
    kind = rng.random()
    if kind < 0.2:
        return bytes([rng.randint(0, 0x7F)])  # single byte below 0x80
    if kind < 0.3:
        return bytes([rng.randint(0x80, 0xFF)])
    length = rng.choice([0, 2, 20, 54, 55, 56, 57, 70, 300, 1100])
    return bytes(rng.getrandbits(8) for _ in range(length))


def to_json(item):
    return item.hex() if isinstance(item, bytes) else [to_json(child) for child in item]


def generate(rng, count):
    cases = []
    for _ in range(count):
        item = random_item(rng)
        cases.append({"item": to_json(item), "encoded": rlp.encode(item).hex()})
    return cases


if __name__ == "__main__":
    fixture.main("rlp", generate)
