#!/usr/bin/env python3
"""Seeded random ABI types and values encoded by eth-abi, and signatures hashed by eth-utils."""
import fixture

from eth_abi import encode
from eth_utils import event_signature_to_log_topic, function_signature_to_4byte_selector

ALPHABET = "abcdefghijklmnopqrstuvwxyz ABC0123456789-_€日本語😀"


def random_type(rng, depth=0):
    roll = rng.random()
    if depth < 3 and roll < 0.15:
        return "(" + ",".join(random_type(rng, depth + 1) for _ in range(rng.randint(1, 4))) + ")"
    if depth < 3 and roll < 0.25:
        return random_type(rng, depth + 1) + "[]"
    if depth < 3 and roll < 0.32:
        return random_type(rng, depth + 1) + f"[{rng.randint(1, 3)}]"
    kind = rng.choice(["uint", "int", "address", "bool", "bytesN", "bytes", "string"])
    if kind in ("uint", "int"):
        return f"{kind}{8 * rng.randint(1, 32)}"
    if kind == "bytesN":
        return f"bytes{rng.randint(1, 32)}"
    return kind


def split_tuple(inner):
    parts, depth, current = [], 0, ""
    for ch in inner:
        if ch == "(":
            depth += 1
        elif ch == ")":
            depth -= 1
        if ch == "," and depth == 0:
            parts.append(current)
            current = ""
        else:
            current += ch
    parts.append(current)
    return parts


def random_value(rng, t):
    """Returns (python value for eth-abi, JSON value for the Swift test)."""
    if t.endswith("]"):
        base, _, size = t[:-1].rpartition("[")
        count = int(size) if size else rng.choice([0, 1, 2, 3])
        pairs = [random_value(rng, base) for _ in range(count)]
        return [p for p, _ in pairs], [j for _, j in pairs]
    if t.startswith("("):
        pairs = [random_value(rng, part) for part in split_tuple(t[1:-1])]
        return tuple(p for p, _ in pairs), [j for _, j in pairs]
    if t.startswith("uint"):
        bits = int(t[4:])
        v = rng.choice([0, 1, (1 << bits) - 1, rng.getrandbits(bits)])
        return v, str(v)
    if t.startswith("int"):
        bits = int(t[3:])
        lo, hi = -(1 << (bits - 1)), (1 << (bits - 1)) - 1
        v = rng.choice([0, -1, lo, hi, rng.randint(lo, hi)])
        return v, str(v)
    if t == "address":
        a = bytes(rng.getrandbits(8) for _ in range(20))
        return "0x" + a.hex(), "0x" + a.hex()
    if t == "bool":
        v = rng.random() < 0.5
        return v, v
    if t == "bytes":
        b = bytes(rng.getrandbits(8) for _ in range(rng.choice([0, 1, 31, 32, 33, 70])))
        return b, b.hex()
    if t.startswith("bytes"):
        b = bytes(rng.getrandbits(8) for _ in range(int(t[5:])))
        return b, b.hex()
    if t == "string":
        s = "".join(rng.choice(ALPHABET) for _ in range(rng.choice([0, 1, 5, 40])))
        return s, s
    raise ValueError(t)


def generate(rng, count):
    cases = []
    for _ in range(count):
        types = [random_type(rng) for _ in range(rng.randint(1, 4))]
        pairs = [random_value(rng, t) for t in types]
        encoded = encode(types, [p for p, _ in pairs])
        name = "f" + "".join(rng.choice("abcxyz_") for _ in range(rng.randint(0, 8)))
        signature = f"{name}({','.join(types)})"
        cases.append({
            "types": types,
            "values": [j for _, j in pairs],
            "encoded": encoded.hex(),
            "signature": signature,
            "selector": function_signature_to_4byte_selector(signature).hex(),
            "topic": event_signature_to_log_topic(signature).hex(),
        })
    return cases


if __name__ == "__main__":
    fixture.main("abi", generate)
