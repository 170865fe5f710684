#!/usr/bin/env python3
"""Seeded Keccak-256 cases from pycryptodome (the same C Keccak eth-hash uses): lengths 0..3000, with the
rate boundaries 135, 136 and 137 (and their multiples) always included."""
import fixture

from Crypto.Hash import keccak


def generate(rng, count):
    lengths = [0, 1, 135, 136, 137, 271, 272, 273, 1000]
    lengths += [rng.randint(0, 3000) for _ in range(max(0, count - len(lengths)))]
    cases = []
    for length in lengths:
        data = bytes(rng.getrandbits(8) for _ in range(length))
        cases.append({"input": data.hex(), "keccak256": keccak.new(digest_bits=256, data=data).hexdigest()})
    return cases


if __name__ == "__main__":
    fixture.main("keccak", generate)
