import Foundation

/// Runs the blocking `body` on a thread of its own and awaits its result.
///
/// Blocking socket reads, waits for a peer to close and deliberate pauses would otherwise hold one of the few
/// cooperative threads that every async test in the process shares (two on a two-core machine), and starve
/// unrelated tests' continuations. Expectations belong on the test's own task: `body` returns what it saw.
public func onOwnThread<Result: Sendable>(_ body: @escaping @Sendable () throws -> Result) async throws -> Result {
    try await withCheckedThrowingContinuation { continuation in
        let thread = Thread { continuation.resume(with: Swift.Result { try body() }) }
        thread.stackSize = 4 << 20
        thread.start()
    }
}

/// Carries a value that is not `Sendable` across an `onOwnThread` boundary; the caller guarantees that only one
/// thread uses it at a time.
public final class Handed<Value>: @unchecked Sendable {
    /// The value handed over.
    public let value: Value

    /// Wraps `value`.
    public init(_ value: Value) { self.value = value }
}
