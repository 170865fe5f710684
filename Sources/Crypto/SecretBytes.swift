import CSodium

/// Secret key material in memory owned by one object and zeroed when it is released.
///
/// The bytes are written once at creation and only read afterwards, which is what makes sharing across threads safe.
final class SecretBytes: @unchecked Sendable {
    let count: Int
    private let storage: UnsafeMutablePointer<UInt8>

    /// Copies `bytes` into owned memory.
    init(_ bytes: [UInt8]) {
        count = bytes.count
        storage = .allocate(capacity: max(1, count))
        storage.initialize(from: bytes, count: count)
    }

    /// Fills owned memory with `count` bytes written by `fill`.
    init(count: Int, fill: (UnsafeMutablePointer<UInt8>) -> Void) {
        self.count = count
        storage = .allocate(capacity: max(1, count))
        storage.initialize(repeating: 0, count: max(1, count))
        fill(storage)
    }

    deinit {
        sodium_memzero(storage, max(1, count))
        storage.deallocate()
    }

    /// Runs `body` with the secret.
    ///
    /// The object stays alive until `body` returns; a pointer read from a stored property alone would not keep it
    /// alive, and the memory could be zeroed and freed under the C call.
    func withUnsafePointer<R, E: Error>(_ body: (UnsafePointer<UInt8>) throws(E) -> R) throws(E) -> R {
        defer { withExtendedLifetime(self) {} }
        return try body(UnsafePointer(storage))
    }
}
