import CSecp256k1
import CSodium

/// The libsecp256k1 context shared by every operation: created and randomized once, then used read-only
/// (the library documents read-only use of a context as thread-safe).
enum Secp256k1Context {
    nonisolated(unsafe) static let shared: OpaquePointer = {
        let context = secp256k1_context_create(CSecp256k1_context_none())!
        var seed = SecureRandom.bytes(32)
        _ = secp256k1_context_randomize(context, &seed)
        sodium_memzero(&seed, 32)
        return context
    }()

    /// n, the group order, big-endian.
    static let order: [UInt8] = [
        0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFE,
        0xBA, 0xAE, 0xDC, 0xE6, 0xAF, 0x48, 0xA0, 0x3B, 0xBF, 0xD2, 0x5E, 0x8C, 0xD0, 0x36, 0x41, 0x41,
    ]
    /// n / 2: the largest s a low-s signature may have.
    static let halfOrder: [UInt8] = [
        0x7F, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF,
        0x5D, 0x57, 0x6E, 0x73, 0x57, 0xA4, 0x50, 0x1D, 0xDF, 0xE9, 0x2F, 0x46, 0x68, 0x1B, 0x20, 0xA0,
    ]
}

/// A secp256k1 private key.
///
/// The scalar lives in memory owned by this object and is zeroed when it is released.
public final class Secp256k1PrivateKey: Sendable {
    private let secret: SecretBytes

    /// A key from a 32-byte big-endian scalar in 1..<n.
    public init(bytes: [UInt8]) throws(CryptoError) {
        guard bytes.count == 32 else { throw .invalidKey("secp256k1 private key of \(bytes.count) bytes, expected 32") }
        guard secp256k1_ec_seckey_verify(Secp256k1Context.shared, bytes) == 1 else {
            throw .invalidKey("secp256k1 private key is zero or not below the group order")
        }
        secret = SecretBytes(bytes)
    }

    /// A new random key from the system's secure random source.
    public static func generate() -> Secp256k1PrivateKey {
        while true {
            var candidate = SecureRandom.bytes(32)
            defer { sodium_memzero(&candidate, 32) }
            if let key = try? Secp256k1PrivateKey(bytes: candidate) { return key }
        }
    }

    /// Runs `body` with the 32 secret bytes; the copy handed out should not be kept.
    public func withUnsafeSecretBytes<R>(_ body: (UnsafeRawBufferPointer) throws -> R) rethrows -> R {
        try secret.withUnsafePointer { pointer in try body(UnsafeRawBufferPointer(start: pointer, count: 32)) }
    }

    /// The public key.
    public var publicKey: Secp256k1PublicKey {
        var key = secp256k1_pubkey()
        let created = secret.withUnsafePointer { secp256k1_ec_pubkey_create(Secp256k1Context.shared, &key, $0) }
        precondition(created == 1, "a verified private key always has a public key")
        return Secp256k1PublicKey(key)
    }

    /// A recoverable ECDSA signature of a 32-byte digest: RFC 6979 deterministic nonce, low s.
    public func signRecoverable(digest: [UInt8]) throws(CryptoError) -> RecoverableSignature {
        guard digest.count == 32 else { throw .invalidLength("digest of \(digest.count) bytes, expected 32") }
        var signature = secp256k1_ecdsa_recoverable_signature()
        let signed = secret.withUnsafePointer { secretKey in
            secp256k1_ecdsa_sign_recoverable(Secp256k1Context.shared, &signature, digest, secretKey, nil, nil)
        }
        guard signed == 1 else { throw .invalidKey("signing failed") }
        var compact = [UInt8](repeating: 0, count: 64)
        var recoveryID: Int32 = 0
        secp256k1_ecdsa_recoverable_signature_serialize_compact(
            Secp256k1Context.shared, &compact, &recoveryID, &signature)
        return RecoverableSignature(compact: compact, recoveryID: UInt8(recoveryID))
    }

    /// A 64-byte compact (r ‖ s) ECDSA signature of a 32-byte digest, low s.
    public func sign(digest: [UInt8]) throws(CryptoError) -> [UInt8] {
        Array(try signRecoverable(digest: digest).compact)
    }
}

/// A secp256k1 public key.
public struct Secp256k1PublicKey: Hashable, Sendable {
    /// The 65-byte uncompressed encoding (0x04 ‖ x ‖ y).
    public let uncompressed: [UInt8]

    fileprivate init(_ key: secp256k1_pubkey) {
        var key = key
        var out = [UInt8](repeating: 0, count: 65)
        var length = 65
        secp256k1_ec_pubkey_serialize(Secp256k1Context.shared, &out, &length, &key, CSecp256k1_ec_uncompressed())
        uncompressed = out
    }

    /// Parses a 33-byte compressed or 65-byte uncompressed encoding of a point on the curve.
    public init(bytes: [UInt8]) throws(CryptoError) {
        guard bytes.count == 33 || bytes.count == 65 else {
            throw .invalidKey("secp256k1 public key of \(bytes.count) bytes, expected 33 or 65")
        }
        var key = secp256k1_pubkey()
        guard secp256k1_ec_pubkey_parse(Secp256k1Context.shared, &key, bytes, bytes.count) == 1 else {
            throw .invalidKey("not a point on secp256k1")
        }
        self.init(key)
    }

    /// The 33-byte compressed encoding.
    public var compressed: [UInt8] {
        var key = parsed
        var out = [UInt8](repeating: 0, count: 33)
        var length = 33
        secp256k1_ec_pubkey_serialize(Secp256k1Context.shared, &out, &length, &key, CSecp256k1_ec_compressed())
        return out
    }

    private var parsed: secp256k1_pubkey {
        var key = secp256k1_pubkey()
        precondition(secp256k1_ec_pubkey_parse(Secp256k1Context.shared, &key, uncompressed, 65) == 1)
        return key
    }

    /// The Ethereum address: the last 20 bytes of keccak256(x ‖ y).
    public var ethereumAddress: [UInt8] { Array(Keccak256.hash(uncompressed[1...]).suffix(20)) }

    /// Whether `signature` (64 bytes r ‖ s, low s) signs `digest` with this key.
    public func isValidSignature(_ signature: [UInt8], digest: [UInt8]) -> Bool {
        guard signature.count == 64, digest.count == 32 else { return false }
        var parsedSignature = secp256k1_ecdsa_signature()
        guard secp256k1_ecdsa_signature_parse_compact(Secp256k1Context.shared, &parsedSignature, signature) == 1
        else { return false }
        // libsecp256k1 verification rejects high s itself.
        var key = parsed
        return secp256k1_ecdsa_verify(Secp256k1Context.shared, &parsedSignature, digest, &key) == 1
    }
}

/// A recoverable ECDSA signature: r, s and the recovery id, as Ethereum transactions and messages carry it.
///
/// Only canonical signatures exist: 0 < r < n, 0 < s ≤ n/2, recovery id 0 or 1.
public struct RecoverableSignature: Hashable, Sendable {
    /// r, 32 bytes big-endian.
    public let r: [UInt8]
    /// s, 32 bytes big-endian (at most n/2).
    public let s: [UInt8]
    /// 0 or 1: the parity of the y coordinate of R.
    public let recoveryID: UInt8

    fileprivate init(compact: [UInt8], recoveryID: UInt8) {
        r = Array(compact[0..<32])
        s = Array(compact[32..<64])
        self.recoveryID = recoveryID
    }

    /// A signature from its parts; rejects anything non-canonical.
    public init(r: [UInt8], s: [UInt8], recoveryID: UInt8) throws(CryptoError) {
        guard r.count == 32, s.count == 32 else {
            throw .invalidSignature("r and s must be 32 bytes each, got \(r.count) and \(s.count)")
        }
        guard r.contains(where: { $0 != 0 }) else { throw .invalidSignature("r is zero") }
        guard s.contains(where: { $0 != 0 }) else { throw .invalidSignature("s is zero") }
        guard r.lexicographicallyPrecedes(Secp256k1Context.order) else { throw .invalidSignature("r is not below n") }
        guard !Secp256k1Context.halfOrder.lexicographicallyPrecedes(s) else {
            throw .invalidSignature("s is above n/2 (high-s signatures are not accepted)")
        }
        guard recoveryID <= 1 else { throw .invalidSignature("recovery id \(recoveryID) is not 0 or 1") }
        self.r = r
        self.s = s
        self.recoveryID = recoveryID
    }

    /// Parses 65 bytes r ‖ s ‖ v with v in {0, 1, 27, 28}.
    public init(rsv: [UInt8]) throws(CryptoError) {
        guard rsv.count == 65 else { throw .invalidSignature("\(rsv.count) bytes, expected 65 (r ‖ s ‖ v)") }
        let v = rsv[64]
        guard v <= 1 || v == 27 || v == 28 else { throw .invalidSignature("v = \(v) is not 0, 1, 27 or 28") }
        try self.init(r: Array(rsv[0..<32]), s: Array(rsv[32..<64]), recoveryID: v >= 27 ? v - 27 : v)
    }

    /// r ‖ s.
    public var compact: [UInt8] { r + s }

    /// r ‖ s ‖ v with v = 27 + recovery id, as `personal_sign` and `eth_signTypedData` return it.
    public var rsv: [UInt8] { r + s + [27 + recoveryID] }

    /// The public key that made this signature over `digest`.
    public func recoverPublicKey(digest: [UInt8]) throws(CryptoError) -> Secp256k1PublicKey {
        guard digest.count == 32 else { throw .invalidLength("digest of \(digest.count) bytes, expected 32") }
        var signature = secp256k1_ecdsa_recoverable_signature()
        guard
            secp256k1_ecdsa_recoverable_signature_parse_compact(
                Secp256k1Context.shared, &signature, compact, Int32(recoveryID)) == 1
        else { throw .invalidSignature("signature does not parse") }
        var key = secp256k1_pubkey()
        guard secp256k1_ecdsa_recover(Secp256k1Context.shared, &key, &signature, digest) == 1 else {
            throw .recoveryFailed
        }
        return Secp256k1PublicKey(key)
    }
}

/// EIP-191 version 0x45: the hash `personal_sign` signs.
public enum EIP191 {
    /// keccak256("\u{19}Ethereum Signed Message:\n" ‖ decimal length ‖ message).
    public static func personalMessageHash(_ message: some Collection<UInt8>) -> [UInt8] {
        var hasher = Keccak256()
        hasher.update(Array("\u{19}Ethereum Signed Message:\n\(message.count)".utf8))
        hasher.update(message)
        return hasher.finalize()
    }
}

extension Secp256k1PrivateKey {
    /// A DER-encoded ECDSA signature (low s) of SHA-256(`message`): the form libp2p uses for secp256k1 keys.
    public func signDER(message: some Sequence<UInt8>) throws(CryptoError) -> [UInt8] {
        let compact = try sign(digest: SHA256.hash(message))
        var signature = secp256k1_ecdsa_signature()
        guard secp256k1_ecdsa_signature_parse_compact(Secp256k1Context.shared, &signature, compact) == 1 else {
            throw .invalidSignature("cannot parse own signature")
        }
        var out = [UInt8](repeating: 0, count: 72)
        var length = 72
        guard secp256k1_ecdsa_signature_serialize_der(Secp256k1Context.shared, &out, &length, &signature) == 1 else {
            throw .invalidSignature("cannot encode DER")
        }
        return Array(out.prefix(length))
    }
}

extension Secp256k1PublicKey {
    /// Whether `der` is a valid DER-encoded low-s ECDSA signature of SHA-256(`message`) by this key.
    public func isValidDERSignature(_ der: [UInt8], message: some Sequence<UInt8>) -> Bool {
        guard der.count <= 72 else { return false }
        var signature = secp256k1_ecdsa_signature()
        guard secp256k1_ecdsa_signature_parse_der(Secp256k1Context.shared, &signature, der, der.count) == 1 else {
            return false
        }
        var compact = [UInt8](repeating: 0, count: 64)
        secp256k1_ecdsa_signature_serialize_compact(Secp256k1Context.shared, &compact, &signature)
        return isValidSignature(compact, digest: SHA256.hash(message))
    }
}
