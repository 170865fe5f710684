#!/usr/bin/env python3
"""Reference figures for `openledger bench crypto`, measured in one process: pycryptodome's C Keccak-256 on
1 MiB inputs, and coincurve (libsecp256k1) recoverable signing and public-key recovery. One JSON line each."""
import json, os, time

import coincurve
from Crypto.Hash import keccak


def rate(seconds, body):
    count, start = 0, time.perf_counter()
    while True:
        body()
        count += 1
        elapsed = time.perf_counter() - start
        if elapsed >= seconds:
            return count, elapsed


def main():
    seconds = float(os.environ.get("BENCH_SECONDS", "1"))
    data = os.urandom(1 << 20)
    count, elapsed = rate(seconds, lambda: keccak.new(digest_bits=256, data=data).digest())
    print(json.dumps({"bench": "keccak256", "impl": "pycryptodome", "mb_s": count * len(data) / 1e6 / elapsed}))

    key = coincurve.PrivateKey(os.urandom(32))
    digests = [os.urandom(32) for _ in range(1024)]
    index = [0]

    def sign():
        key.sign_recoverable(digests[index[0] & 1023], hasher=None)
        index[0] += 1

    count, elapsed = rate(seconds, sign)
    print(json.dumps({"bench": "secp256k1_sign", "impl": "coincurve", "ops_s": count / elapsed}))

    signatures = [(key.sign_recoverable(d, hasher=None), d) for d in digests]

    def recover():
        signature, digest = signatures[index[0] & 1023]
        coincurve.PublicKey.from_signature_and_message(signature, digest, hasher=None)
        index[0] += 1

    count, elapsed = rate(seconds, recover)
    print(json.dumps({"bench": "secp256k1_recover", "impl": "coincurve", "ops_s": count / elapsed}))


if __name__ == "__main__":
    main()
