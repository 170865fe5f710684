import Foundation
import Runtime
import Synchronization
import Testing

@testable import EventLoop

#if canImport(Glibc)
    import Glibc
#endif

/// Lines recorded from the loop thread, read by the test.
final class Record: Sendable {
    private let lines = Mutex<[String]>([])
    func append(_ line: String) { lines.withLock { $0.append(line) } }
    var all: [String] { lines.withLock { $0 } }
}

extension EventLoop {
    /// Runs `body` on the loop thread and returns its result to the awaiting test.
    func onLoop<T: Sendable>(_ body: @escaping @Sendable () -> T) async -> T {
        await withCheckedContinuation { continuation in execute { continuation.resume(returning: body()) } }
    }
}

@Test(.timeLimit(.minutes(3))) func timersFireInDeadlineOrderOnTheLoopAndCancelledOnesDoNot() async throws {
    let clock = ManualClock()
    let loop = try EventLoop(name: "timers", clock: clock)
    defer { loop.stop() }
    let record = Record()
    let origin = clock.now()
    await withCheckedContinuation { (done: CheckedContinuation<Void, Never>) in
        loop.schedule(at: origin.advanced(bySeconds: 3)) { record.append("c") }
        loop.schedule(at: origin.advanced(bySeconds: 1)) { record.append("a") }
        let cancelled = loop.schedule(at: origin.advanced(bySeconds: 2)) { record.append("cancelled") }
        loop.schedule(at: origin.advanced(bySeconds: 2)) { record.append("b\(loop.isLoopThread)") }
        loop.schedule(at: origin.advanced(bySeconds: 3)) { record.append("d") }
        loop.cancel(cancelled)
        // The last deadline: when it fires, every earlier timer has had its turn.
        loop.schedule(at: origin.advanced(bySeconds: 4)) { done.resume() }
        // Advanced by a job, so that the schedules and the cancel queued before it are in place.
        loop.execute { clock.advance(seconds: 5) }
    }
    #expect(record.all == ["a", "btrue", "c", "d"])
}

@Test(.timeLimit(.minutes(3))) func aRepeatingTimerFiresOncePerIntervalUntilCancelled() async throws {
    let clock = ManualClock()
    let loop = try EventLoop(name: "repeating", clock: clock)
    defer { loop.stop() }
    let (firings, firing) = AsyncStream.makeStream(of: Instant.self)
    let origin = clock.now()
    let timer = loop.scheduleRepeating(every: 1) { now in firing.yield(now) }
    var iterator = firings.makeAsyncIterator()
    for step in 1...3 {
        loop.execute { clock.advance(seconds: 1) }
        #expect(await iterator.next() == origin.advanced(bySeconds: Double(step)))
    }
    loop.cancel(timer)
    let sentinel = Record()
    await withCheckedContinuation { (done: CheckedContinuation<Void, Never>) in
        loop.schedule(at: origin.advanced(bySeconds: 10)) {
            sentinel.append("sentinel")
            firing.finish()
            done.resume()
        }
        loop.execute { clock.advance(seconds: 10) }
    }
    // Nothing fired between the cancel and the sentinel.
    #expect(await iterator.next() == nil)
    #expect(sentinel.all == ["sentinel"])
}

@Test(.timeLimit(.minutes(3))) func aTimerOnTheSystemClockFiresAfterItsDelay() async throws {
    let loop = try EventLoop(name: "system-clock")
    defer { loop.stop() }
    let start = loop.now()
    let fired = await withCheckedContinuation { continuation in
        loop.schedule(after: 0.02) { continuation.resume(returning: loop.now()) }
    }
    #expect(fired.seconds(since: start) >= 0.02)
}

@Test(.timeLimit(.minutes(3))) func executeFromOtherThreadsRunsEveryJobOnTheLoopThread() async throws {
    let loop = try EventLoop(name: "execute")
    defer { loop.stop() }
    #expect(!loop.isLoopThread)
    #expect(await loop.onLoop { loop.isLoopThread })
    let counts = Mutex<(ran: Int, onLoop: Int)>((0, 0))
    let started = Record()
    await withCheckedContinuation { (done: CheckedContinuation<Void, Never>) in
        let finished = Mutex(0)
        for index in 0..<4 {
            Thread {
                for _ in 0..<250 {
                    loop.execute { counts.withLock { $0 = ($0.ran + 1, $0.onLoop + (loop.isLoopThread ? 1 : 0)) } }
                }
                // The barrier comes after this thread's jobs: jobs run in the order they were handed over.
                loop.execute {
                    started.append("thread \(index)")
                    let count = finished.withLock { value in
                        value += 1
                        return value
                    }
                    if count == 4 { done.resume() }
                }
            }.start()
        }
    }
    #expect(counts.withLock { $0.ran } == 1_000)
    #expect(counts.withLock { $0.onLoop } == 1_000)
    #expect(started.all.count == 4)
}

@Test(.timeLimit(.minutes(3))) func stopRunsTheFinalJobOnTheLoopClosesDescriptorsAndLateJobsRunAtOnce() throws {
    let loop = try EventLoop(name: "stop")
    let (left, right) = try socketPair()
    defer { close(right) }
    let handler = Handler()
    loop.execute { loop.register(left, handler, interest: .readable) }
    let record = Record()
    loop.stop { record.append("final on loop: \(loop.isLoopThread)") }
    #expect(record.all == ["final on loop: true"])
    // The loop closed the descriptor still registered: its peer reads the end of the stream.
    var buffer = [UInt8](repeating: 0, count: 8)
    #expect(buffer.withUnsafeMutableBytes { Syscall.read(right, into: $0) } == .closed)
    loop.execute { record.append("late on loop: \(loop.isLoopThread)") }
    #expect(record.all.last == "late on loop: false")
    // A second stop returns as well; its final job runs on the caller's thread.
    loop.stop { record.append("second stop") }
    #expect(record.all.last == "second stop")
}

/// What a registered descriptor reported, and a hook to act on the loop thread.
final class Handler: LoopHandler, @unchecked Sendable {
    var onReady: (_ readable: Bool, _ writable: Bool, _ hangup: Bool) -> Void = { _, _, _ in }
    func ready(readable: Bool, writable: Bool, hangup: Bool) { onReady(readable, writable, hangup) }
}

/// Bytes written to one end of a socket pair arrive through the other end's handler on the loop; write interest
/// reports writable; the peer closing reports hang-up and the read then finds the end of the stream.
@Test(.timeLimit(.minutes(3))) func aSocketPairReadsAndWritesThroughHandlers() async throws {
    let loop = try EventLoop(name: "socketpair")
    defer { loop.stop() }
    let (left, right) = try socketPair()
    let handler = Handler()
    let payload = (0..<100_000).map { UInt8(truncatingIfNeeded: $0 &* 7) }
    let (events, event) = AsyncStream.makeStream(of: String.self)
    var received: [UInt8] = []
    var reportedWritable = false
    var reportedAll = false
    handler.onReady = { readable, writable, hangup in
        if writable && !reportedWritable {
            reportedWritable = true
            loop.setInterest(left, .readable)
            event.yield("writable")
        }
        guard readable || hangup else { return }
        var buffer = [UInt8](repeating: 0, count: 4_096)
        while true {
            switch buffer.withUnsafeMutableBytes({ Syscall.read(left, into: $0) }) {
            case .done(let count):
                received += buffer[0..<count]
            case .wouldBlock:
                // Reported only once drained, so that the peer's close (after this) comes as its own event.
                if received.count == payload.count && !reportedAll {
                    reportedAll = true
                    event.yield("received \(received == payload)")
                }
                return
            case .closed:
                event.yield("closed, hangup \(hangup)")
                loop.deregister(left)
                return
            case .failed(let code):
                event.yield("failed \(code)")
                return
            }
        }
    }
    var iterator = events.makeAsyncIterator()
    loop.execute { loop.register(left, handler, interest: [.readable, .writable]) }
    #expect(await iterator.next() == "writable")
    // Written from this thread in pieces as the socket takes them: the handler drains it on the loop.
    let writer = Thread {
        var offset = 0
        var pending = pollfd(fd: right, events: Int16(POLLOUT), revents: 0)
        while offset < payload.count {
            switch payload[offset...].withUnsafeBytes({ Syscall.send(right, $0) }) {
            case .done(let count): offset += count
            case .wouldBlock: _ = poll(&pending, 1, 10_000)
            default: return
            }
        }
    }
    writer.start()
    #expect(await iterator.next() == "received true")
    close(right)
    let last = await iterator.next()
    #expect(last == "closed, hangup true")
}

/// A plain counter that only a lock (or one thread) keeps right, and a flag for "a job is running".
final class UnguardedCounter: @unchecked Sendable {
    var value = 0
    let busy = Atomic<Bool>(false)
    let overlaps = Atomic<Int>(0)
}

/// After the end, late jobs run on their callers one at a time, and loop state changes nothing: `register` closes
/// the descriptor, `setInterest`/`deregister` do nothing, a timer never fires and `cancel` is harmless.
@Test(.timeLimit(.minutes(3))) func afterTheEndLateJobsRunAloneAndLoopStateIsLeftAlone() async throws {
    let loop = try EventLoop(name: "ended")
    loop.stop()
    let (left, right) = try socketPair()
    defer { close(right) }
    let record = Record()
    loop.execute {
        loop.register(left, Handler(), interest: .readable)
        loop.setInterest(left, [.readable, .writable])
        loop.deregister(left)
        let timer = loop.schedule(after: 0) { record.append("timer fired") }
        loop.cancel(timer)
        loop.scheduleRepeating(every: 0) { _ in record.append("repeating fired") }
        record.append("late job ran")
    }
    #expect(record.all == ["late job ran"])
    // The descriptor handed to `register` was closed: its peer reads the end of the stream.
    var buffer = [UInt8](repeating: 0, count: 8)
    #expect(buffer.withUnsafeMutableBytes { Syscall.read(right, into: $0) } == .closed)

    // Jobs from four threads at once never overlap.
    let counter = UnguardedCounter()
    await withCheckedContinuation { (done: CheckedContinuation<Void, Never>) in
        let finished = Mutex(0)
        for _ in 0..<4 {
            Thread {
                for _ in 0..<500 {
                    loop.execute {
                        if counter.busy.exchange(true, ordering: .acquiringAndReleasing) {
                            counter.overlaps.add(1, ordering: .relaxed)
                        }
                        for _ in 0..<100 { counter.value += 1 }
                        counter.busy.store(false, ordering: .releasing)
                    }
                }
                if finished.withLock({ value -> Int in
                    value += 1
                    return value
                }) == 4 {
                    done.resume()
                }
            }.start()
        }
    }
    let overlaps = counter.overlaps.load(ordering: .relaxed)
    #expect(overlaps == 0)
    #expect(counter.value == 4 * 500 * 100)
    #expect(record.all == ["late job ran"])
}
