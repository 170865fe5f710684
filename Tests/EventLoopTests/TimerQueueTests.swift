import Runtime
import TestSupport
import Testing

@testable import EventLoop

/// The heap alone, with no loop and no thread: deadlines come out in order, ties in scheduling order.
@Test func timerQueueTakesDueTimersEarliestFirstAndTiesInScheduleOrder() {
    var random = SeededRandom(seed: 13)
    var queue = TimerQueue()
    var expected: [(deadline: UInt64, id: UInt64)] = []
    for id in UInt64(1)...200 {
        let deadline = UInt64.random(in: 0..<50, using: &random) * 1_000_000
        queue.schedule(id, at: Instant(nanoseconds: deadline), interval: nil) { _ in }
        expected.append((deadline, id))
    }
    expected.sort { $0.deadline != $1.deadline ? $0.deadline < $1.deadline : $0.id < $1.id }
    let half = Instant(nanoseconds: 25_000_000)
    let first = queue.takeDue(now: half)
    #expect(first == expected.filter { $0.deadline <= half.nanoseconds }.map(\.id))
    for id in first { #expect(queue.claim(id) != nil) }
    let rest = queue.takeDue(now: Instant(nanoseconds: .max))
    #expect(rest == expected.filter { $0.deadline > half.nanoseconds }.map(\.id))
}

@Test func timerQueueSkipsCancelledTimersAndRepeatsFromTheFiringTime() {
    var queue = TimerQueue()
    let origin = Instant(nanoseconds: 1_000_000_000)
    queue.schedule(1, at: origin.advanced(bySeconds: 1), interval: nil) { _ in }
    queue.schedule(2, at: origin.advanced(bySeconds: 2), interval: nil) { _ in }
    queue.schedule(3, at: origin.advanced(bySeconds: 0.5), interval: 1) { _ in }
    queue.cancel(1)
    #expect(queue.nextDeadline() == origin.advanced(bySeconds: 0.5))
    // Late by 0.7 s: the repeating timer fires once and is next due one interval after this firing.
    let late = origin.advanced(bySeconds: 1.2)
    #expect(queue.takeDue(now: late) == [3])
    #expect(queue.claim(3) != nil)
    #expect(queue.nextDeadline() == origin.advanced(bySeconds: 2))
    #expect(queue.takeDue(now: origin.advanced(bySeconds: 2.2)) == [2, 3])
    // Cancelled after being taken, before it ran (an earlier job of the same pass cancelled it).
    queue.cancel(3)
    #expect(queue.claim(2) != nil)
    #expect(queue.claim(3) == nil)
    #expect(queue.claim(2) == nil)
    #expect(queue.nextDeadline() == nil)
    #expect(queue.count == 0)
}

@Test func timerQueueTimeoutRoundsUpAndWaitsForeverWithoutTimers() {
    var queue = TimerQueue()
    let now = Instant(nanoseconds: 10_000_000)
    #expect(queue.timeoutMilliseconds(now: now) == -1)
    queue.schedule(1, at: Instant(nanoseconds: 11_500_000), interval: nil) { _ in }
    #expect(queue.timeoutMilliseconds(now: now) == 2)
    #expect(queue.timeoutMilliseconds(now: Instant(nanoseconds: 11_500_000)) == 0)
    #expect(queue.timeoutMilliseconds(now: Instant(nanoseconds: 20_000_000)) == 0)
    queue.cancel(1)
    #expect(queue.timeoutMilliseconds(now: now) == -1)
    queue.schedule(2, at: Instant(nanoseconds: .max), interval: nil) { _ in }
    #expect(queue.timeoutMilliseconds(now: now) == Int32.max)
}

/// Cancelled timers do not keep their heap slots until their deadline: past half the heap they are compacted away,
/// and the live ones still come out in order.
@Test func timerQueueCompactsCancelledTimers() {
    var queue = TimerQueue()
    let far = Instant(nanoseconds: 1_000_000_000_000_000)
    for id in UInt64(1)...10_000 {
        queue.schedule(id, at: far.advanced(bySeconds: Double(id % 97)), interval: nil) { _ in }
    }
    #expect(queue.storedCount == 10_000)
    for id in UInt64(1)...10_000 { queue.cancel(id) }
    #expect(queue.count == 0)
    #expect(queue.storedCount == 0)
    #expect(queue.nextDeadline() == nil)

    // Two in three cancelled: the rest stay, in deadline order (ties in scheduling order).
    var expected: [(deadline: Instant, id: UInt64)] = []
    for id in UInt64(20_001)...30_000 {
        let deadline = far.advanced(bySeconds: Double(id % 89))
        queue.schedule(id, at: deadline, interval: nil) { _ in }
        if id % 3 == 0 { expected.append((deadline, id)) }
    }
    for id in UInt64(20_001)...30_000 where id % 3 != 0 { queue.cancel(id) }
    #expect(queue.count == expected.count)
    #expect(queue.storedCount < 10_000)
    expected.sort { $0.deadline != $1.deadline ? $0.deadline < $1.deadline : $0.id < $1.id }
    #expect(queue.takeDue(now: Instant(nanoseconds: .max)) == expected.map(\.id))
}
