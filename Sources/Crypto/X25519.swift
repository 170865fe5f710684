import CSodium

/// An X25519 private key (RFC 7748) for Diffie-Hellman; zeroed when released.
public final class X25519PrivateKey: Sendable {
    private let secret: SecretBytes
    /// The 32-byte public key.
    public let publicKey: [UInt8]

    /// A key from 32 secret bytes (clamped by the scalar multiplication, as RFC 7748 specifies).
    public init(bytes: [UInt8]) throws(CryptoError) {
        guard bytes.count == 32 else { throw .invalidKey("X25519 private key of \(bytes.count) bytes, expected 32") }
        Sodium.ensureInitialized()
        secret = SecretBytes(bytes)
        var publicBytes = [UInt8](repeating: 0, count: 32)
        secret.withUnsafePointer { _ = crypto_scalarmult_base(&publicBytes, $0) }
        publicKey = publicBytes
    }

    /// A new random key.
    public static func generate() -> X25519PrivateKey {
        var bytes = SecureRandom.bytes(32)
        defer { sodium_memzero(&bytes, 32) }
        return try! X25519PrivateKey(bytes: bytes)
    }

    /// The shared secret with `peerPublicKey`; rejects low-order points (an all-zero result).
    public func sharedSecret(with peerPublicKey: [UInt8]) throws(CryptoError) -> [UInt8] {
        guard peerPublicKey.count == 32 else {
            throw .invalidKey("X25519 public key of \(peerPublicKey.count) bytes, expected 32")
        }
        var shared = [UInt8](repeating: 0, count: 32)
        guard secret.withUnsafePointer({ crypto_scalarmult(&shared, $0, peerPublicKey) }) == 0 else {
            throw .invalidKey("X25519 public key is a low-order point")
        }
        return shared
    }
}
