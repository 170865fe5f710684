/// A 64-bit fingerprint of a byte string, for keys hashed and compared often (peer ids, message ids).
///
/// Computed once, when the key is made, by the toolchain's `Hasher` (SipHash-1-3 under a key drawn at random for
/// each process). Tables then hash the fingerprint instead of every byte, and a comparison of two keys usually ends
/// at the fingerprints. The key is what makes it safe to hash remote input by: peers choose message ids (a
/// publisher picks its sequence numbers) and the peer ids they advertise, and an unkeyed function can be ground
/// until many ids share one fingerprint, which would share a bucket in every table whatever its seed. Two keys
/// with one fingerprint are still told apart by their bytes. A fingerprint means nothing outside its process: it
/// is never stored or sent, and nothing ordered or counted depends on its value.
public enum Fingerprint {
    /// The fingerprint of `bytes`, which also depends on their count, on `salt`, and on the process's key.
    @inlinable
    public static func of(_ bytes: UnsafeRawBufferPointer, salt: UInt64 = 0) -> UInt64 {
        var hasher = Hasher()
        hasher.combine(salt)
        hasher.combine(bytes.count)
        hasher.combine(bytes: bytes)
        return UInt64(UInt(bitPattern: hasher.finalize()))
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

    /// A fingerprint as a table key: hashed by `tableHash`, not by a SipHash round of its bits.
    public struct Key: Hashable, Sendable {
        /// The fingerprint.
        public let value: UInt64

        /// The key of `value` (a fingerprint made by `of`, so that remote input cannot choose it).
        @inlinable
        public init(_ value: UInt64) { self.value = value }

        /// Feeds the fingerprint.
        @inlinable
        public func hash(into hasher: inout Hasher) { hasher.combine(value) }

        /// One mix of the fingerprint with the table's seed.
        @inlinable
        public func _rawHashValue(seed: Int) -> Int { Fingerprint.tableHash(value, seed: seed) }
    }

    @inlinable
    static func mix(_ value: UInt64) -> UInt64 {
        var z = value &* 0xBF58_476D_1CE4_E5B9
        z ^= z >> 31
        z = z &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 29)
    }
}
