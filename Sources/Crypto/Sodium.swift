import CSodium

/// The one place that initializes libsodium and hands it contiguous bytes.
enum Sodium {
    private static let initialized: Bool = sodium_init() >= 0

    /// Calls `sodium_init` once per process; libsodium is unusable if that fails, so that is fatal.
    static func ensureInitialized() {
        precondition(initialized, "libsodium failed to initialize")
    }

    /// Runs `body` with a pointer to the bytes of `bytes` (copied only when not already contiguous).
    static func withContiguousBytes<R>(
        _ bytes: some Sequence<UInt8>, _ body: (UnsafePointer<UInt8>?, Int) throws -> R
    ) rethrows -> R {
        if let result = try bytes.withContiguousStorageIfAvailable({ try body($0.baseAddress, $0.count) }) {
            return result
        }
        return try Array(bytes).withUnsafeBufferPointer { try body($0.baseAddress, $0.count) }
    }
}
