import Foundation
import Synchronization

/// A fixed set of worker threads for the matrix products of one forward pass.
///
/// The products are short (tens of microseconds), so workers spin briefly between them instead of sleeping, as ggml's
/// threads do, then yield the core, and after some idle time park on a semaphore until the next job. The threads end
/// when the pool is released.
final class WorkerPool: Sendable {
    let size: Int
    private let state: State

    private final class State: @unchecked Sendable {
        let generation = Atomic<UInt64>(0)
        let finished = Atomic<Int>(0)
        let parked = Atomic<Int>(0)
        let stopping = Atomic<Bool>(false)
        let wake = DispatchSemaphore(value: 0)
        /// Written by the caller before `generation` moves (release), read by workers after (acquire).
        nonisolated(unsafe) var job: (@Sendable (Int) -> Void)?
    }

    /// A pool that runs jobs in `size` parts: the caller's thread and `size − 1` workers.
    init(size: Int) {
        self.size = max(1, size)
        state = State()
        for index in 1..<self.size {
            let thread = Thread { [state] in Self.work(state, index) }
            thread.name = "inference-\(index)"
            thread.start()
        }
    }

    deinit {
        state.stopping.store(true, ordering: .releasing)
        state.generation.add(1, ordering: .releasing)
        for _ in 0..<size { state.wake.signal() }
    }

    /// Runs `body(part)` for every part in 0..<size and returns when all are done.
    func run(_ body: @escaping @Sendable (Int) -> Void) {
        guard size > 1 else {
            body(0)
            return
        }
        state.job = body
        state.finished.store(0, ordering: .relaxed)
        state.generation.add(1, ordering: .releasing)
        let sleepers = state.parked.load(ordering: .acquiring)
        for _ in 0..<sleepers { state.wake.signal() }
        body(0)
        var spins = 0
        while state.finished.load(ordering: .acquiring) < size - 1 {
            spins += 1
            if spins > 2_000 { sched_yield() }
        }
        state.job = nil
    }

    private static func work(_ state: State, _ index: Int) {
        var seen: UInt64 = 0
        while true {
            var spins = 0
            var current = state.generation.load(ordering: .acquiring)
            while current == seen {
                spins += 1
                // Spin briefly (the next product usually follows within microseconds), then give the core
                // away while waiting, then park: an oversubscribed machine must not starve the other threads.
                if spins > 2_000 { sched_yield() }
                if spins >= 20_000 {
                    state.parked.add(1, ordering: .releasing)
                    if state.generation.load(ordering: .acquiring) == seen { state.wake.wait() }
                    state.parked.subtract(1, ordering: .releasing)
                    spins = 0
                }
                current = state.generation.load(ordering: .acquiring)
            }
            seen = current
            if state.stopping.load(ordering: .acquiring) { return }
            state.job?(index)
            state.finished.add(1, ordering: .releasing)
        }
    }
}
