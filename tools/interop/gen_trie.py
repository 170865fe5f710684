#!/usr/bin/env python3
"""Seeded random key/value sets with roots and proofs computed by the PyPI `trie` package (py-trie).

Each case: the operations applied in order (a null value deletes), the resulting root, and py-trie's proofs
(RLP-encoded nodes, hex) for some present and some absent keys.
"""
import fixture

import rlp
from trie import HexaryTrie


def random_key(rng, pool):
    if pool and rng.random() < 0.4:
        base = rng.choice(pool)  # share a prefix with an existing key
        cut = rng.randint(0, len(base))
        return base[:cut] + bytes(rng.randint(0, 255) for _ in range(rng.randint(0, 4)))
    return bytes(rng.randint(0, 255) for _ in range(rng.randint(1, 40)))


def generate(rng, count):
    cases = []
    for _ in range(max(500, count // 2)):
        trie = HexaryTrie(db={})
        keys, ops = [], []
        for _ in range(rng.randint(1, 60)):
            if keys and rng.random() < 0.15:
                key = rng.choice(keys)
                ops.append([key.hex(), None])
                del trie[key]
                keys.remove(key)
                continue
            key = random_key(rng, keys)
            if len(key) == 0:
                continue
            value = bytes(rng.randint(0, 255) for _ in range(rng.choice([1, 2, 5, 20, 33, 70])))
            ops.append([key.hex(), value.hex()])
            trie[key] = value
            if key not in keys:
                keys.append(key)
        proofs = []
        probes = rng.sample(keys, min(3, len(keys))) + [random_key(rng, keys) for _ in range(2)]
        for key in probes:
            if not key:
                continue
            try:
                proof = trie.get_proof(key)
                value = trie.get(key)
            except Exception:
                # py-trie cannot look up a key that ends inside an extension's path; such probes are skipped.
                continue
            proofs.append({
                "key": key.hex(),
                "value": value.hex() if value else None,
                "proof": [rlp.encode(node).hex() for node in proof],
            })
        cases.append({"ops": ops, "root": trie.root_hash.hex(), "proofs": proofs})
    return cases


if __name__ == "__main__":
    fixture.main("trie", generate)
