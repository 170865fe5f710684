import Dispatch
import Foundation
import Synchronization

/// A named thread that runs one piece of work every interval until stopped.
///
/// It is the loop of the services that poll the ledger (claims, the attester). `stop` wakes it at once and returns
/// after the pass in progress.
final class PeriodicThread: Sendable {
    private let stopping = Atomic<Bool>(false)
    private let wakeup = DispatchSemaphore(value: 0)
    private let finished = DispatchSemaphore(value: 0)

    /// Whether `stop` was called (a long pass may check it between steps).
    var isStopping: Bool { stopping.load(ordering: .acquiring) }

    /// Starts a thread named `name` that runs `pass` every `seconds`: first at once when `immediately`, else after
    /// the first interval.
    init(name: String, every seconds: Double, immediately: Bool, _ pass: @escaping @Sendable () -> Void) {
        let thread = Thread { [self] in
            var first = immediately
            while !isStopping {
                if !first {
                    _ = wakeup.wait(timeout: .now() + .milliseconds(Int(seconds * 1_000)))
                    guard !isStopping else { break }
                }
                first = false
                pass()
            }
            finished.signal()
        }
        thread.name = name
        thread.start()
    }

    /// Ends the loop after the pass in progress and waits for it.
    func stop() {
        stopping.store(true, ordering: .releasing)
        wakeup.signal()
        finished.wait()
    }
}
