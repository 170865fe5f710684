#!/usr/bin/env python3
"""Seeded secp256k1 cases from eth-account / eth-keys: addresses, hash signatures and EIP-191 messages."""
import fixture

from eth_account import Account
from eth_account.messages import encode_defunct, _hash_eip191_message


def generate(rng, count):
    n = 0xFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFEBAAEDCE6AF48A03BBFD25E8CD0364141
    cases = []
    for _ in range(count):
        key = rng.randrange(1, n).to_bytes(32, "big")
        account = Account.from_key(key)
        digest = bytes(rng.getrandbits(8) for _ in range(32))
        signed = Account.unsafe_sign_hash(digest, key)
        message = bytes(rng.getrandbits(8) for _ in range(rng.randint(0, 200)))
        signable = encode_defunct(primitive=message)
        personal = Account.sign_message(signable, key)
        cases.append({
            "privateKey": key.hex(),
            "publicKey": account._key_obj.public_key.to_bytes().hex(),  # 64 bytes x || y
            "address": account.address,  # EIP-55
            "digest": digest.hex(),
            "r": signed.r.to_bytes(32, "big").hex(),
            "s": signed.s.to_bytes(32, "big").hex(),
            "v": signed.v,
            "message": message.hex(),
            "personalHash": _hash_eip191_message(signable).hex(),
            "personalSignature": personal.signature.hex(),
        })
    return cases


if __name__ == "__main__":
    fixture.main("secp256k1", generate)
