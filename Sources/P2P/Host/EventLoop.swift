import CEventLoop
import Foundation
import Synchronization

#if canImport(Glibc)
    import Glibc
#endif

/// What the loop watches: called on the loop thread when its descriptor is ready.
protocol LoopHandler: AnyObject {
    func ready(readable: Bool, writable: Bool, hangup: Bool)
}

/// One epoll loop on its own thread. Descriptors and the objects that own them are touched only on this thread;
/// other threads hand it work with `execute`, which wakes the loop through an eventfd. `tick` runs every
/// `tickInterval` seconds for timeouts.
final class EventLoop: @unchecked Sendable {
    let tickInterval: Double
    private let epoll: Int32
    private let wakeup: Int32
    /// Pending jobs, and whether the loop has ended (jobs then run on the caller's thread: nothing else runs).
    private let jobs = Mutex<(queue: [@Sendable () -> Void], ended: Bool)>(([], false))
    private let woken = Atomic<Bool>(false)
    private let stopping = Atomic<Bool>(false)
    private let finished = Mutex<Bool>(false)
    private var handlers: [Int32: LoopHandler] = [:]
    private var interests: [Int32: UInt32] = [:]
    private nonisolated(unsafe) var loopThread: Thread?
    /// Runs on the loop thread every tick with the monotonic time.
    var tick: (Double) -> Void = { _ in }

    init(name: String, tickInterval: Double = 0.1) throws(P2PError) {
        epoll = CEventLoop_epoll_create()
        wakeup = CEventLoop_eventfd()
        guard epoll >= 0, wakeup >= 0 else { throw .io("cannot create the event loop") }
        self.tickInterval = tickInterval
        _ = CEventLoop_epoll_ctl(epoll, 1, wakeup, 1, UInt64(UInt32(bitPattern: wakeup)))
        let thread = Thread { [self] in run() }
        thread.name = name
        loopThread = thread
        thread.start()
    }

    static func now() -> Double {
        var time = timespec()
        clock_gettime(CLOCK_MONOTONIC, &time)
        return Double(time.tv_sec) + Double(time.tv_nsec) / 1e9
    }

    var isLoopThread: Bool { Thread.current === loopThread }

    /// Runs `job` on the loop thread, soon.
    func execute(_ job: @escaping @Sendable () -> Void) {
        let accepted = jobs.withLock { state in
            if !state.ended { state.queue.append(job) }
            return !state.ended
        }
        guard accepted else {
            job()
            return
        }
        if !woken.exchange(true, ordering: .acquiringAndReleasing) {
            var one: UInt64 = 1
            _ = write(wakeup, &one, 8)
        }
    }

    /// Watches `fd`: interest bit 0 readable, bit 1 writable. Loop thread only.
    func register(_ fd: Int32, _ handler: LoopHandler, interest: UInt32) {
        handlers[fd] = handler
        interests[fd] = interest
        _ = CEventLoop_epoll_ctl(epoll, 1, fd, interest, UInt64(UInt32(bitPattern: fd)))
    }

    func setInterest(_ fd: Int32, _ interest: UInt32) {
        guard let current = interests[fd], current != interest else { return }
        interests[fd] = interest
        _ = CEventLoop_epoll_ctl(epoll, 2, fd, interest, UInt64(UInt32(bitPattern: fd)))
    }

    /// Stops watching `fd` and closes it.
    func deregister(_ fd: Int32) {
        guard handlers.removeValue(forKey: fd) != nil else { return }
        interests[fd] = nil
        _ = CEventLoop_epoll_ctl(epoll, 3, fd, 0, 0)
        close(fd)
    }

    /// Ends the loop after `finalJob` has run on it; returns when the thread has finished.
    func stop(finalJob: @escaping @Sendable () -> Void = {}) {
        execute { [self] in
            finalJob()
            stopping.store(true, ordering: .releasing)
        }
        while !finished.withLock({ $0 }) { usleep(1_000) }
    }

    private func runJobs() {
        while true {
            let batch = jobs.withLock { state -> [@Sendable () -> Void] in
                defer { state.queue.removeAll(keepingCapacity: true) }
                return state.queue
            }
            if batch.isEmpty { return }
            for job in batch { job() }
        }
    }

    private func run() {
        var tokens = [UInt64](repeating: 0, count: 256)
        var events = [UInt32](repeating: 0, count: 256)
        var lastTick = Self.now()
        while !stopping.load(ordering: .acquiring) {
            let count = CEventLoop_epoll_wait(epoll, &tokens, &events, 256, Int32(tickInterval * 1000))
            for index in 0..<max(0, Int(count)) {
                let fd = Int32(truncatingIfNeeded: tokens[index])
                if fd == wakeup {
                    var value: UInt64 = 0
                    _ = read(wakeup, &value, 8)
                    woken.store(false, ordering: .releasing)
                    continue
                }
                guard let handler = handlers[fd] else { continue }
                let bits = events[index]
                handler.ready(readable: bits & 1 != 0, writable: bits & 2 != 0, hangup: bits & 4 != 0)
            }
            runJobs()
            let now = Self.now()
            if now - lastTick >= tickInterval {
                lastTick = now
                tick(now)
            }
        }
        for fd in Array(handlers.keys) { deregister(fd) }
        let late = jobs.withLock { state in
            state.ended = true
            return state.queue
        }
        for job in late { job() }
        close(wakeup)
        close(epoll)
        finished.withLock { $0 = true }
    }
}
