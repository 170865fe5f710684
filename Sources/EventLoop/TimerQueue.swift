import Runtime

/// A scheduled timer: what `EventLoop.cancel` takes.
public struct TimerHandle: Hashable, Sendable {
    /// Unique per loop.
    let id: UInt64
}

/// The loop's timers: a binary min-heap of deadlines (earliest first, equal deadlines in scheduling order) whose top
/// sets the epoll timeout.
///
/// A heap rather than a timerfd so that the deadlines are read from the loop's injected `Clock`: a test with a
/// `ManualClock` that advances it inside a loop job (`loop.execute { clock.advance(seconds: 5) }`) sees every due
/// timer fire, in order, in that same pass. Advanced from another thread, the clock does not wake the loop: the
/// timers fire on the next pass (the next job, readiness or earlier deadline), which may never come.
///
/// Cancelled timers leave their heap slot behind and are skipped when they reach the top; once such slots are more
/// than half the heap, it is rebuilt without them, so that far timers scheduled and cancelled keep no memory.
struct TimerQueue {
    struct Entry {
        let job: @Sendable (Instant) -> Void
        /// Seconds between firings of a repeating timer; nil for a one-shot.
        let interval: Double?
    }

    private var heap: [(deadline: Instant, sequence: UInt64, id: UInt64)] = []
    private var entries: [UInt64: Entry] = [:]
    private var sequence: UInt64 = 0

    /// Timers scheduled and not yet fired (one-shots) or cancelled.
    var count: Int { entries.count }

    /// Heap slots held, cancelled timers' included (what compaction bounds).
    var storedCount: Int { heap.count }

    mutating func schedule(
        _ id: UInt64, at deadline: Instant, interval: Double?, job: @escaping @Sendable (Instant) -> Void
    ) {
        entries[id] = Entry(job: job, interval: interval)
        push(deadline: deadline, id: id)
    }

    mutating func cancel(_ id: UInt64) {
        guard entries.removeValue(forKey: id) != nil else { return }
        // Slots without a live timer (a one-shot taken and not yet claimed has an entry and no slot, so this
        // never counts too many).
        let stale = heap.count - entries.count
        if stale > 0 && 2 * stale > heap.count { compact() }
    }

    /// Drops the slots of cancelled timers and restores the heap order.
    private mutating func compact() {
        heap.removeAll { entries[$0.id] == nil }
        // A sorted array is a valid min-heap.
        heap.sort(by: Self.earlier)
    }

    mutating func removeAll() {
        heap = []
        entries = [:]
    }

    /// The earliest deadline of a live timer.
    mutating func nextDeadline() -> Instant? {
        while let top = heap.first {
            if entries[top.id] != nil { return top.deadline }
            popTop()
        }
        return nil
    }

    /// Milliseconds for epoll to wait at `now`: until the next deadline, rounded up so that a wake-up never comes
    /// early; -1 (no limit) without timers.
    mutating func timeoutMilliseconds(now: Instant) -> Int32 {
        guard let deadline = nextDeadline() else { return -1 }
        guard deadline > now else { return 0 }
        let milliseconds = (deadline.nanoseconds - now.nanoseconds + 999_999) / 1_000_000
        return Int32(min(milliseconds, UInt64(Int32.max)))
    }

    /// Takes the timers due at `now`, earliest first; a repeating one is scheduled again `interval` after `now`.
    ///
    /// The caller then `claim`s each in turn, as an earlier job may cancel a later one.
    mutating func takeDue(now: Instant) -> [UInt64] {
        var due: [UInt64] = []
        var repeating: [(UInt64, Double)] = []
        while let top = heap.first, top.deadline <= now {
            popTop()
            guard let entry = entries[top.id] else { continue }
            due.append(top.id)
            if let interval = entry.interval { repeating.append((top.id, interval)) }
        }
        // After the loop, so that a zero interval fires once per pass rather than forever.
        for (id, interval) in repeating { push(deadline: now.advanced(bySeconds: interval), id: id) }
        return due
    }

    /// The job of a due timer unless it was cancelled since `takeDue`; a one-shot is forgotten.
    mutating func claim(_ id: UInt64) -> (@Sendable (Instant) -> Void)? {
        guard let entry = entries[id] else { return nil }
        if entry.interval == nil { entries[id] = nil }
        return entry.job
    }

    private mutating func push(deadline: Instant, id: UInt64) {
        sequence += 1
        heap.append((deadline, sequence, id))
        var child = heap.count - 1
        while child > 0 {
            let parent = (child - 1) / 2
            guard Self.earlier(heap[child], heap[parent]) else { break }
            heap.swapAt(child, parent)
            child = parent
        }
    }

    private mutating func popTop() {
        heap.swapAt(0, heap.count - 1)
        heap.removeLast()
        var parent = 0
        while true {
            let left = 2 * parent + 1
            let right = left + 1
            var first = parent
            if left < heap.count && Self.earlier(heap[left], heap[first]) { first = left }
            if right < heap.count && Self.earlier(heap[right], heap[first]) { first = right }
            if first == parent { return }
            heap.swapAt(parent, first)
            parent = first
        }
    }

    private static func earlier(
        _ a: (deadline: Instant, sequence: UInt64, id: UInt64), _ b: (deadline: Instant, sequence: UInt64, id: UInt64)
    ) -> Bool {
        a.deadline != b.deadline ? a.deadline < b.deadline : a.sequence < b.sequence
    }
}
