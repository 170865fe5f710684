#!/usr/bin/env python3
"""Seeded random EIP-712 documents (random struct definitions, nesting, arrays, every atomic type) hashed and
signed by eth-account."""
import fixture

from eth_account import Account
from eth_account.messages import _hash_eip191_message, encode_typed_data

ATOMIC = ["address", "bool", "string", "bytes", "uint8", "uint64", "uint256", "int8", "int128", "int256",
          "bytes1", "bytes4", "bytes32"]


def value_for(rng, t, structs, depth):
    if t.endswith("]"):
        base, _, size = t[:-1].rpartition("[")
        count = int(size) if size else rng.randint(0, 3)
        return [value_for(rng, base, structs, depth + 1) for _ in range(count)]
    if t in structs:
        return {f["name"]: value_for(rng, f["type"], structs, depth + 1) for f in structs[t]}
    if t == "address":
        return "0x" + bytes(rng.getrandbits(8) for _ in range(20)).hex()
    if t == "bool":
        return rng.random() < 0.5
    if t == "string":
        return "".join(rng.choice("abc xyz€日😀") for _ in range(rng.randint(0, 12)))
    if t == "bytes":
        return "0x" + bytes(rng.getrandbits(8) for _ in range(rng.randint(0, 40))).hex()
    if t.startswith("bytes"):
        return "0x" + bytes(rng.getrandbits(8) for _ in range(int(t[5:]))).hex()
    if t.startswith("uint"):
        v = rng.choice([0, 1, (1 << int(t[4:])) - 1, rng.getrandbits(int(t[4:]))])
        return v if v < (1 << 53) else str(v)  # wallets send big numbers as strings
    bits = int(t[3:])
    v = rng.randint(-(1 << (bits - 1)), (1 << (bits - 1)) - 1)
    return v if abs(v) < (1 << 53) else str(v)


def random_document(rng):
    names = rng.sample(["Mail", "Person", "Order", "Item", "Voucher", "Zeta", "Asset", "Bid"], rng.randint(1, 4))
    structs = {}
    # Define in reverse so that a struct may only reference structs defined before it (finite values).
    for i, name in enumerate(reversed(names)):
        defined = list(structs)
        fields = []
        for j in range(rng.randint(1, 5)):
            t = rng.choice(ATOMIC + defined * 2) if defined else rng.choice(ATOMIC)
            if rng.random() < 0.2:
                t += rng.choice(["[]", "[2]"])
            fields.append({"name": f"f{j}", "type": t})
        structs[name] = fields
    primary = names[0]
    # eth-account derives the primary type as the only unreferenced struct, so the primary references the rest.
    referenced = {f["type"].split("[")[0] for fields in structs.values() for f in fields}
    for name in names[1:]:
        if name not in referenced:
            structs[primary].append({"name": f"f{len(structs[primary])}", "type": name})
    domain_fields = [f for f in [
        {"name": "name", "type": "string"}, {"name": "version", "type": "string"},
        {"name": "chainId", "type": "uint256"}, {"name": "verifyingContract", "type": "address"},
        {"name": "salt", "type": "bytes32"}] if rng.random() < 0.7] or [{"name": "name", "type": "string"}]
    domain = {f["name"]: value_for(rng, f["type"], {}, 0) for f in domain_fields}
    types = dict(structs)
    types["EIP712Domain"] = domain_fields
    message = value_for(rng, primary, structs, 0)
    return {"types": types, "primaryType": primary, "domain": domain, "message": message}


def generate(rng, count):
    n = 0xFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFEBAAEDCE6AF48A03BBFD25E8CD0364141
    cases = []
    for _ in range(count):
        document = random_document(rng)
        signable = encode_typed_data(full_message=document)
        key = rng.randrange(1, n).to_bytes(32, "big")
        signed = Account.sign_message(signable, key)
        cases.append({
            "typedData": document,
            "domainSeparator": signable.header.hex(),
            "hashStruct": signable.body.hex(),
            "digest": _hash_eip191_message(signable).hex(),
            "privateKey": key.hex(),
            "signature": signed.signature.hex(),
            "signer": Account.from_key(key).address.lower(),
        })
    return cases


if __name__ == "__main__":
    fixture.main("eip712", generate)
