import Dispatch
import Synchronization

#if canImport(Glibc)
    import Glibc
#endif

/// Catches SIGINT and SIGTERM so that the node can stop its services and exit 0 instead of dying mid-write.
///
/// The signals' default action is replaced by `SIG_IGN` and each is watched by a Dispatch signal source, so no
/// code runs in signal context. Create it before starting services, so that a signal sent while they start
/// stops the node cleanly instead of killing it.
public final class TerminationSignals: Sendable {
    /// The signals watched.
    public let signals: [Int32]
    private let semaphore = DispatchSemaphore(value: 0)
    private let received = ReceivedSignal()
    private let sources: [SignalSource]

    private final class ReceivedSignal: Sendable {
        let number = Atomic<Int32>(0)
    }

    /// Owns one Dispatch signal source (DispatchSourceSignal is not Sendable; only init and deinit touch it).
    private final class SignalSource: @unchecked Sendable {
        let source: any DispatchSourceSignal
        init(_ source: any DispatchSourceSignal) { self.source = source }
        deinit { source.cancel() }
    }

    /// Starts watching `signals` (SIGINT and SIGTERM unless told otherwise).
    public init(_ signals: [Int32] = [SIGINT, SIGTERM]) {
        self.signals = signals
        let semaphore = semaphore
        let received = received
        sources = signals.map { number in
            signal(number, SIG_IGN)
            let source = DispatchSource.makeSignalSource(signal: number, queue: .global())
            source.setEventHandler {
                received.number.store(number, ordering: .releasing)
                semaphore.signal()
            }
            source.resume()
            return SignalSource(source)
        }
    }

    /// Blocks until one of the signals arrives; returns its number.
    public func wait() -> Int32 {
        semaphore.wait()
        return received.number.load(ordering: .acquiring)
    }
}
