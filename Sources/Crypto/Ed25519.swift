import CSodium

/// An Ed25519 private key (RFC 8032) through libsodium; the expanded secret is zeroed when released.
public final class Ed25519PrivateKey: Sendable {
    private let secret: SecretBytes
    /// The public key.
    public let publicKey: Ed25519PublicKey

    /// The key derived from a 32-byte seed (RFC 8032's private key).
    public init(seed: [UInt8]) throws(CryptoError) {
        guard seed.count == 32 else { throw .invalidKey("Ed25519 seed of \(seed.count) bytes, expected 32") }
        Sodium.ensureInitialized()
        var publicBytes = [UInt8](repeating: 0, count: 32)
        secret = SecretBytes(count: 64) { secretKey in
            _ = crypto_sign_seed_keypair(&publicBytes, secretKey, seed)
        }
        publicKey = Ed25519PublicKey(unchecked: publicBytes)
    }

    /// A new random key.
    public static func generate() -> Ed25519PrivateKey {
        var seed = SecureRandom.bytes(32)
        defer { sodium_memzero(&seed, 32) }
        return try! Ed25519PrivateKey(seed: seed)
    }

    /// The 32-byte seed, for storing the key; handle the copy with care.
    public var seed: [UInt8] { secret.withUnsafePointer { Array(UnsafeBufferPointer(start: $0, count: 32)) } }

    /// The 64-byte signature of `message`.
    public func signature(for message: some Sequence<UInt8>) -> [UInt8] {
        var signature = [UInt8](repeating: 0, count: 64)
        secret.withUnsafePointer { secretKey in
            Sodium.withContiguousBytes(message) { pointer, count in
                _ = crypto_sign_detached(&signature, nil, pointer, UInt64(count), secretKey)
            }
        }
        return signature
    }
}

/// An Ed25519 public key.
public struct Ed25519PublicKey: Hashable, Sendable {
    /// The 32-byte encoding.
    public let bytes: [UInt8]

    init(unchecked bytes: [UInt8]) { self.bytes = bytes }

    /// A public key from its 32-byte encoding; rejects points that are not valid (libsodium's checks).
    public init(bytes: [UInt8]) throws(CryptoError) {
        guard bytes.count == 32 else { throw .invalidKey("Ed25519 public key of \(bytes.count) bytes, expected 32") }
        Sodium.ensureInitialized()
        guard crypto_core_ed25519_is_valid_point(bytes) == 1 else {
            throw .invalidKey("Ed25519 public key is not a valid point")
        }
        self.bytes = bytes
    }

    /// Whether `signature` is a valid signature of `message` by this key.
    public func isValidSignature(_ signature: [UInt8], for message: some Sequence<UInt8>) -> Bool {
        guard signature.count == 64 else { return false }
        return Sodium.withContiguousBytes(message) { pointer, count in
            crypto_sign_verify_detached(signature, pointer, UInt64(count), bytes) == 0
        }
    }
}
