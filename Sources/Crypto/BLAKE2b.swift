import CSodium

/// BLAKE2b (RFC 7693) through libsodium: 1 to 64 bytes of output, optionally keyed (up to 64 key bytes).
///
/// libsodium's state is a 64-byte-aligned structure that Swift cannot lay out, so the hasher owns an aligned
/// allocation; it is noncopyable so that exactly one owner frees (and zeroes) it.
public struct BLAKE2b: ~Copyable {
    private let state: UnsafeMutableRawPointer
    private let stateSize: Int
    private let outputLength: Int

    /// A hasher producing `outputLength` bytes, keyed with `key` when it is not empty.
    public init(outputLength: Int = 64, key: [UInt8] = []) throws(CryptoError) {
        guard (1...64).contains(outputLength) else {
            throw .invalidLength("BLAKE2b output of \(outputLength) bytes, expected 1...64")
        }
        guard key.count <= 64 else { throw .invalidLength("BLAKE2b key of \(key.count) bytes, at most 64") }
        Sodium.ensureInitialized()
        self.outputLength = outputLength
        stateSize = crypto_generichash_blake2b_statebytes()
        state = .allocate(byteCount: stateSize, alignment: 64)
        crypto_generichash_blake2b_init(OpaquePointer(state), key.isEmpty ? nil : key, key.count, outputLength)
    }

    deinit {
        sodium_memzero(state, stateSize)
        state.deallocate()
    }

    /// Absorbs more input.
    public mutating func update(_ bytes: some Sequence<UInt8>) {
        Sodium.withContiguousBytes(bytes) { pointer, count in
            _ = crypto_generichash_blake2b_update(OpaquePointer(state), pointer, UInt64(count))
        }
    }

    /// The digest.
    public consuming func finalize() -> [UInt8] {
        var out = [UInt8](repeating: 0, count: outputLength)
        crypto_generichash_blake2b_final(OpaquePointer(state), &out, outputLength)
        return out
    }

    /// The BLAKE2b digest of `bytes`.
    public static func hash(
        _ bytes: some Sequence<UInt8>, outputLength: Int = 64, key: [UInt8] = []
    ) throws(CryptoError) -> [UInt8] {
        var hasher = try BLAKE2b(outputLength: outputLength, key: key)
        hasher.update(bytes)
        return hasher.finalize()
    }
}
