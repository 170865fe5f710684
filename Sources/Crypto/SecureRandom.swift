import CSodium

/// Cryptographically secure random bytes from the operating system (libsodium `randombytes_buf`).
public enum SecureRandom {
    /// `count` random bytes.
    public static func bytes(_ count: Int) -> [UInt8] {
        Sodium.ensureInitialized()
        var out = [UInt8](repeating: 0, count: count)
        randombytes_buf(&out, count)
        return out
    }

    /// A random 64-bit seed (for a `SeededRandom` whose runs need not replay).
    public static func seed() -> UInt64 { bytes(8).reduce(UInt64(0)) { $0 << 8 | UInt64($1) } }
}
