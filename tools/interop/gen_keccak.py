#!/usr/bin/env python3
"""Seeded Keccak-256 cases from pycryptodome (the same C Keccak eth-hash uses): lengths 0..3000, with the
rate boundaries 135, 136 and 137 (and their multiples) always included."""
import argparse, json, os, random

from Crypto.Hash import keccak


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", required=True)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--count", type=int, default=1000)
    args = ap.parse_args()
    rng = random.Random(args.seed)
    lengths = [0, 1, 135, 136, 137, 271, 272, 273, 1000]
    lengths += [rng.randint(0, 3000) for _ in range(max(0, args.count - len(lengths)))]
    cases = []
    for length in lengths:
        data = bytes(rng.getrandbits(8) for _ in range(length))
        cases.append({"input": data.hex(), "keccak256": keccak.new(digest_bits=256, data=data).hexdigest()})
    os.makedirs(args.out, exist_ok=True)
    with open(os.path.join(args.out, "keccak.json"), "w") as f:
        json.dump({"seed": args.seed, "cases": cases}, f)


if __name__ == "__main__":
    main()
