import COpenSSL
import CSodium

/// SHA-256 (OpenSSL's libcrypto: SHA-NI on CPUs that have it, about 6× libsodium's portable code here).
public struct SHA256: Sendable {
    private var state = SHA256_CTX()

    /// A fresh hasher.
    public init() {
        COpenSSL_sha256_init(&state)
    }

    /// Absorbs more input.
    public mutating func update(_ bytes: some Sequence<UInt8>) {
        Sodium.withContiguousBytes(bytes) { pointer, count in
            COpenSSL_sha256_update(&state, pointer, count)
        }
    }

    /// The 32-byte digest.
    public mutating func finalize() -> [UInt8] {
        var out = [UInt8](repeating: 0, count: 32)
        COpenSSL_sha256_final(&state, &out)
        return out
    }

    /// The SHA-256 digest of `bytes`.
    public static func hash(_ bytes: some Sequence<UInt8>) -> [UInt8] {
        var hasher = SHA256()
        hasher.update(bytes)
        return hasher.finalize()
    }
}

/// SHA-512 (libsodium).
public enum SHA512 {
    /// The 64-byte digest of `bytes`.
    public static func hash(_ bytes: some Sequence<UInt8>) -> [UInt8] {
        Sodium.ensureInitialized()
        var out = [UInt8](repeating: 0, count: 64)
        Sodium.withContiguousBytes(bytes) { pointer, count in
            _ = crypto_hash_sha512(&out, pointer, UInt64(count))
        }
        return out
    }
}
