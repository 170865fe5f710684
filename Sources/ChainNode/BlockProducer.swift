import Dispatch
import Foundation
import Runtime
import Synchronization

/// Produces a block every `interval` on its own thread until stopped. The schedule runs on the clock's monotonic
/// time; between blocks the thread waits on a semaphore that `stop` signals, so stopping never waits out an
/// interval and never spins.
public final class BlockProducer: Sendable {
    /// When the next block is due: one interval after the previous deadline, or now when production fell behind
    /// (a late block does not cause a burst of catch-up blocks).
    public struct Schedule: Sendable, Equatable {
        /// The time between blocks, in seconds.
        public let intervalSeconds: Double
        /// When the next block is due.
        public private(set) var deadline: Instant

        /// A schedule whose first block is due at `start`.
        public init(intervalMilliseconds: UInt64, start: Instant) {
            intervalSeconds = Double(intervalMilliseconds) / 1_000
            deadline = start
        }

        /// Called when a block was produced at `now`: advances the deadline and returns how long to wait for it.
        public mutating func produced(at now: Instant) -> Double {
            deadline = deadline.advanced(bySeconds: intervalSeconds)
            if deadline < now { deadline = now }
            return deadline.seconds(since: now)
        }
    }

    private let wake = DispatchSemaphore(value: 0)
    private let finished = DispatchSemaphore(value: 0)
    private let stopped = Atomic<Bool>(false)

    /// Starts producing blocks on `node` every `intervalMilliseconds` of `clock`'s monotonic time; `onError`
    /// hears every failed block.
    public init(
        node: DevnetNode, intervalMilliseconds: UInt64, clock: any Runtime.Clock = SystemClock(),
        onError: @escaping @Sendable (Error) -> Void
    ) {
        let thread = Thread { [self] in
            var schedule = Schedule(intervalMilliseconds: intervalMilliseconds, start: clock.now())
            while !stopped.load(ordering: .acquiring) {
                do {
                    try node.produceBlock()
                } catch {
                    onError(error)
                }
                let wait = schedule.produced(at: clock.now())
                if wait > 0, wake.wait(timeout: .now() + wait) == .success { break }
            }
            finished.signal()
        }
        thread.name = "sequencer"
        thread.start()
    }

    /// Stops producing and waits for the block in progress.
    public func stop() {
        guard !stopped.exchange(true, ordering: .acquiringAndReleasing) else { return }
        wake.signal()
        finished.wait()
    }
}
