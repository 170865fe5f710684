/// A 64-bit fingerprint of a byte string, for keys hashed and compared often (peer ids, message ids).
///
/// Computed once, when the key is made, eight bytes at a time (a multiply-xorshift mix per word). Tables then hash
/// the fingerprint instead of every byte, and a comparison of two keys usually ends at the fingerprints. It is not
/// a cryptographic hash, and it is not seeded: the tables that use it mix it with their own per-table seed
/// (`tableHash`), so their layout differs per table and per process, and two keys with one fingerprint are still told
/// apart by their bytes.
public enum Fingerprint {
    /// The fingerprint of `bytes`, which also depends on their count and on `salt`.
    @inlinable
    public static func of(_ bytes: UnsafeRawBufferPointer, salt: UInt64 = 0) -> UInt64 {
        var state = 0x9E37_79B9_7F4A_7C15 &+ UInt64(bytes.count) &* 0xD6E8_FEB8_6659_FD93 ^ salt
        var offset = 0
        while offset + 8 <= bytes.count {
            state = mix(state ^ bytes.loadUnaligned(fromByteOffset: offset, as: UInt64.self))
            offset += 8
        }
        if offset < bytes.count {
            var tail: UInt64 = 0
            var shift: UInt64 = 0
            while offset < bytes.count {
                tail |= UInt64(bytes[offset]) << shift
                shift += 8
                offset += 1
            }
            state = mix(state ^ tail)
        }
        return mix(state)
    }

    /// The fingerprint of `bytes`.
    @inlinable
    public static func of(_ bytes: [UInt8], salt: UInt64 = 0) -> UInt64 {
        bytes.withUnsafeBytes { of($0, salt: salt) }
    }

    /// A hash table's hash of a key with this `fingerprint`, under the table's `seed`: one mix instead of a whole
    /// SipHash round, for the keys' `_rawHashValue(seed:)`.
    ///
    /// Tables seed their hashes per instance, so a layout still differs from table to table and from process to
    /// process; keys with one fingerprint share a bucket under every seed, as they do through `Hasher`.
    @inlinable
    public static func tableHash(_ fingerprint: UInt64, seed: Int) -> Int {
        Int(truncatingIfNeeded: mix(fingerprint ^ UInt64(truncatingIfNeeded: seed) &* 0xD6E8_FEB8_6659_FD93))
    }

    @inlinable
    static func mix(_ value: UInt64) -> UInt64 {
        var z = value &* 0xBF58_476D_1CE4_E5B9
        z ^= z >> 31
        z = z &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 29)
    }
}
