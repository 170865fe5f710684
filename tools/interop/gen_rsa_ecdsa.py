#!/usr/bin/env python3
"""Seeded RSA and ECDSA cases from pyca/cryptography, in libp2p's forms: keys (PKCS#1 / SEC1 private, PKIX public),
peer ids (libp2p's protobuf, sha2-256 multihash, base58btc) and signatures of SHA-256 (PKCS#1 v1.5 for RSA,
RFC 6979 deterministic DER ECDSA), plus keys a libp2p peer must refuse."""
import hashlib
import fixture

from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, padding, rsa
from libp2p.crypto.pb import crypto_pb2
from libp2p.peer.id import ID

SMALL_PRIMES = [p for p in range(3, 2000) if all(p % d for d in range(2, int(p**0.5) + 1))]
CURVES = {"P-256": ec.SECP256R1(), "P-384": ec.SECP384R1(), "P-521": ec.SECP521R1()}
PKIX = (serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)


def probable_prime(n, rng, rounds):
    """Miller-Rabin with bases from the seeded generator, after trial division."""
    if any(n % p == 0 for p in SMALL_PRIMES):
        return False
    d, r = n - 1, 0
    while d % 2 == 0:
        d, r = d // 2, r + 1
    for _ in range(rounds):
        x = pow(rng.randrange(2, n - 1), d, n)
        if x in (1, n - 1):
            continue
        for _ in range(r - 1):
            x = x * x % n
            if x == n - 1:
                break
        else:
            return False
    return True


def seeded_prime(bits, rng, e):
    """A prime of exactly `bits` bits with its top two bits set (so p*q has 2*bits bits) and gcd(e, p-1) = 1."""
    while True:
        candidate = rng.getrandbits(bits) | (3 << (bits - 2)) | 1
        if (candidate - 1) % e and probable_prime(candidate, rng, 1) and probable_prime(candidate, rng, 40):
            return candidate


def seeded_rsa_key(bits, rng, e=65537):
    """An RSA key built from seeded primes: the same seed gives the same key."""
    p = seeded_prime(bits // 2, rng, e)
    q = seeded_prime(bits // 2, rng, e)
    d = rsa.rsa_recover_private_exponent(e, p, q)
    numbers = rsa.RSAPrivateNumbers(
        p, q, d, rsa.rsa_crt_dmp1(d, p), rsa.rsa_crt_dmq1(d, q), rsa.rsa_crt_iqmp(p, q), rsa.RSAPublicNumbers(e, p * q))
    return numbers.private_key()


def peer_id(key_type, public_der):
    """libp2p's peer id of a PKIX key: sha2-256 multihash of the PublicKey protobuf (always over 42 bytes here)."""
    protobuf = crypto_pb2.PublicKey(key_type=key_type, data=public_der).SerializeToString()
    assert len(protobuf) > 42
    return protobuf, ID(bytes([0x12, 0x20]) + hashlib.sha256(protobuf).digest()).to_base58()


def messages(rng, count):
    return [bytes(rng.getrandbits(8) for _ in range(rng.randint(0, 300))) for _ in range(count)]


def rsa_case(bits, rng, count):
    key = seeded_rsa_key(bits, rng)
    public = key.public_key().public_bytes(*PKIX)
    protobuf, pid = peer_id(crypto_pb2.RSA, public)
    private = key.private_bytes(
        serialization.Encoding.DER, serialization.PrivateFormat.TraditionalOpenSSL, serialization.NoEncryption())
    signatures = [
        {"message": m.hex(), "signature": key.sign(m, padding.PKCS1v15(), hashes.SHA256()).hex()}
        for m in messages(rng, count)
    ]
    return {"algorithm": "rsa", "bits": bits, "privateKey": private.hex(), "publicKey": public.hex(),
            "publicKeyProtobuf": protobuf.hex(), "peerID": pid, "signatures": signatures}


def ecdsa_case(curve_name, rng, count):
    curve = CURVES[curve_name]
    order_bits = curve.key_size
    key = ec.derive_private_key(rng.getrandbits(order_bits - 1) + 1, curve)
    public = key.public_key().public_bytes(*PKIX)
    protobuf, pid = peer_id(crypto_pb2.ECDSA, public)
    private = key.private_bytes(
        serialization.Encoding.DER, serialization.PrivateFormat.TraditionalOpenSSL, serialization.NoEncryption())
    algorithm = ec.ECDSA(hashes.SHA256(), deterministic_signing=True)
    signatures = [{"message": m.hex(), "signature": key.sign(m, algorithm).hex()} for m in messages(rng, count)]
    return {"algorithm": "ecdsa", "curve": curve_name, "privateKey": private.hex(), "publicKey": public.hex(),
            "publicKeyProtobuf": protobuf.hex(), "peerID": pid, "signatures": signatures}


def odd_modulus(bits, rng):
    """A public-only RSA modulus of exactly `bits` bits (not a product of known primes: only its size matters)."""
    return rng.getrandbits(bits) | (1 << (bits - 1)) | 1


def refused(rng):
    """PKIX keys a libp2p peer must refuse, each with the reason our parser gives."""
    cases = [
        ("rsa", "rsaKeySize", seeded_rsa_key(1024, rng).public_key()),
        ("rsa", "rsaKeySize", rsa.RSAPublicNumbers(65537, odd_modulus(2040, rng)).public_key()),
        ("rsa", "rsaKeySize", rsa.RSAPublicNumbers(65537, odd_modulus(8200, rng)).public_key()),
        ("rsa", "rsaKeySize", rsa.RSAPublicNumbers(65537, odd_modulus(16384, rng)).public_key()),
        ("ecdsa", "unsupportedCurve", ec.derive_private_key(rng.getrandbits(200) + 1, ec.SECP224R1()).public_key()),
        ("ecdsa", "unsupportedCurve", ec.derive_private_key(rng.getrandbits(200) + 1, ec.SECP256K1()).public_key()),
        ("ecdsa", "unsupportedCurve", ec.derive_private_key(rng.getrandbits(200) + 1, ec.BrainpoolP256R1()).public_key()),
        ("rsa", "invalidKey", ec.derive_private_key(rng.getrandbits(200) + 1, ec.SECP256R1()).public_key()),
        ("ecdsa", "invalidKey", seeded_rsa_key(2048, rng).public_key()),
        ("ecdsa", "invalidKey", ed25519.Ed25519PrivateKey.from_private_bytes(rng.randbytes(32)).public_key()),
    ]
    return [{"algorithm": algorithm, "error": error, "publicKey": key.public_bytes(*PKIX).hex()}
            for algorithm, error, key in cases]


def accepted_bounds(rng):
    """Public-only RSA keys at the accepted bounds: 2048 and 8192 bits."""
    return [{"bits": bits, "publicKey": rsa.RSAPublicNumbers(65537, odd_modulus(bits, rng)).public_key()
             .public_bytes(*PKIX).hex()} for bits in (2048, 8192)]


def generate(rng, count):
    rsa_sizes = [2048, 2048, 3072, 4096]
    curves = ["P-256", "P-256", "P-384", "P-521"]
    per_key = max(1, count // (len(rsa_sizes) + len(curves)))
    cases = [rsa_case(bits, rng, per_key) for bits in rsa_sizes]
    cases += [ecdsa_case(curve, rng, per_key) for curve in curves]
    return {"keys": cases, "refused": refused(rng), "bounds": accepted_bounds(rng)}


if __name__ == "__main__":
    fixture.main("rsa_ecdsa", generate)
