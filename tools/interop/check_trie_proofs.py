#!/usr/bin/env python3
"""Verifies proofs made by openledger with py-trie's HexaryTrie.get_from_proof.

Reads JSON [{"root": hex, "key": hex, "value": hex|null, "proof": [hex RLP node, ...]}] on stdin and prints
{"checked": n, "failures": [...]} ; exits 1 if any proof is rejected or proves another value.
"""
import json, sys

import rlp
from trie import HexaryTrie


def main():
    cases = json.load(sys.stdin)
    failures = []
    for i, case in enumerate(cases):
        proof = tuple(rlp.decode(bytes.fromhex(node)) for node in case["proof"])
        try:
            got = HexaryTrie.get_from_proof(bytes.fromhex(case["root"]), bytes.fromhex(case["key"]), proof)
        except Exception as error:  # a rejected proof
            failures.append({"case": i, "error": repr(error)})
            continue
        want = bytes.fromhex(case["value"]) if case["value"] else b""
        if got != want:
            failures.append({"case": i, "error": f"proved {got.hex()} instead of {want.hex()}"})
    print(json.dumps({"checked": len(cases), "failures": failures[:10]}))
    sys.exit(1 if failures else 0)


if __name__ == "__main__":
    main()
