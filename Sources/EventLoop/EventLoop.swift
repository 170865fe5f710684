import CEventLoop
import Foundation
import Runtime
import Synchronization

#if canImport(Glibc)
    import Glibc
#endif

/// One epoll loop on its own thread: the event loop HTTP and P2P both run on.
///
/// Descriptors, their handlers and timers are touched only on this thread; other threads hand it work with `execute`,
/// which wakes the loop through an eventfd. Time comes from the injected `Clock`; a `ManualClock` is advanced inside
/// a job (`loop.execute { clock.advance(seconds: 1) }`), so that the timers it makes due fire in that pass.
///
/// One pass of the loop: wait for readiness (at most until the next timer), call the ready handlers, run the
/// queued jobs, fire the due timers.
///
/// Once the loop has ended, a job handed to `execute` runs on the caller's thread at once, under a lock that makes
/// it run alone (after the loop thread's cleanup, and never alongside another late job), so that the state jobs
/// touch is still touched by one thread at a time. `register`, `setInterest`, `deregister`, `schedule` and `cancel`
/// then change nothing: `register` closes the descriptor it was given, timers never fire.
public final class EventLoop: @unchecked Sendable {
    /// Where the loop reads the time (its timers' deadlines are on this clock).
    public let clock: any Clock
    private let epoll: Int32
    private let wakeup: Int32
    /// Pending jobs, and whether the loop has ended (jobs then run on the caller's thread under `lateJobs`).
    private let jobs = Mutex<(queue: [@Sendable () -> Void], ended: Bool)>(([], false))
    /// Held by the loop thread while it cleans up at the end, and by whoever runs a job after that.
    ///
    /// Late jobs thus run one at a time. Recursive, as a late job may hand over another.
    private let lateJobs = NSRecursiveLock()
    /// The loop thread has released its descriptors and timers: loop state changes nothing any more.
    ///
    /// Written by the loop thread under `lateJobs`; read on the loop thread or under `lateJobs`.
    private var released = false
    /// An eventfd write is outstanding: later `execute` calls need not write again until the loop reads it.
    private let woken = Atomic<Bool>(false)
    private let stopping = Atomic<Bool>(false)
    /// Signalled once the loop thread has released everything; `stop` waits on it.
    private let ended = NSCondition()
    private var hasEnded = false
    private let timerIDs = Atomic<UInt64>(0)
    // Loop-thread state.
    private var handlers: [Int32: any LoopHandler] = [:]
    private var interests: [Int32: Interest] = [:]
    private var timers = TimerQueue()
    private var loopThread: Thread?

    /// Starts a loop thread called `name`, reading time from `clock`.
    public init(name: String, clock: any Clock = SystemClock()) throws(EventLoopError) {
        let epoll = CEventLoop_epoll_create()
        guard epoll >= 0 else { throw .epollCreate(errno: errno) }
        let wakeup = CEventLoop_eventfd()
        guard wakeup >= 0 else {
            let code = errno
            close(epoll)
            throw .eventfd(errno: code)
        }
        self.epoll = epoll
        self.wakeup = wakeup
        self.clock = clock
        _ = Self.control(epoll, .add, wakeup, .readable)
        let thread = Thread { [self] in run() }
        thread.name = name
        loopThread = thread
        thread.start()
    }

    /// The loop clock's monotonic now (any thread).
    public func now() -> Instant { clock.now() }

    /// Whether the caller runs on this loop's thread.
    public var isLoopThread: Bool { Thread.current === loopThread }

    // MARK: Cross-thread work

    /// Runs `job` on the loop thread, soon (after the handlers of the current pass).
    ///
    /// Once the loop has ended it runs on the caller's thread, at once, alone (see the type's summary).
    public func execute(_ job: @escaping @Sendable () -> Void) {
        let accepted = jobs.withLock { state in
            if !state.ended { state.queue.append(job) }
            return !state.ended
        }
        guard accepted else {
            lateJobs.lock()
            defer { lateJobs.unlock() }
            job()
            return
        }
        if !woken.exchange(true, ordering: .acquiringAndReleasing) {
            var one: UInt64 = 1
            _ = withUnsafeBytes(of: &one) { Syscall.write(wakeup, $0) }
        }
    }

    // MARK: Descriptors (loop thread)

    /// Watches `fd` for `interest`, calling `handler` when it is ready; the loop owns `fd` from here on.
    ///
    /// Loop thread only (or a job run after the end, which closes `fd` at once: the loop would have closed it).
    public func register(_ fd: Int32, _ handler: any LoopHandler, interest: Interest) {
        guard !released else {
            close(fd)
            return
        }
        handlers[fd] = handler
        interests[fd] = interest
        _ = Self.control(epoll, .add, fd, interest)
    }

    /// Changes what `fd` is watched for (nothing happens when it is unchanged).
    ///
    /// Loop thread only (a no-op in a job run after the end).
    public func setInterest(_ fd: Int32, _ interest: Interest) {
        guard !released, let current = interests[fd], current != interest else { return }
        interests[fd] = interest
        _ = Self.control(epoll, .modify, fd, interest)
    }

    /// Stops watching `fd` and closes it.
    ///
    /// Loop thread only (a no-op in a job run after the end: the loop closed every descriptor it watched).
    public func deregister(_ fd: Int32) {
        guard !released, handlers.removeValue(forKey: fd) != nil else { return }
        interests[fd] = nil
        _ = Self.control(epoll, .delete, fd, [])
        close(fd)
    }

    private static func control(_ epoll: Int32, _ operation: EpollOperation, _ fd: Int32, _ interest: Interest)
        -> IOResult
    {
        Syscall.retrying {
            CEventLoop_epoll_ctl(epoll, operation.shim, fd, interest.rawValue, UInt64(UInt32(bitPattern: fd)))
        }
    }

    // MARK: Timers

    /// Runs `job` on the loop thread once the clock reaches `deadline` (any thread).
    @discardableResult
    public func schedule(at deadline: Instant, _ job: @escaping @Sendable () -> Void) -> TimerHandle {
        add(deadline: deadline, interval: nil) { _ in job() }
    }

    /// Runs `job` on the loop thread `seconds` from now (any thread).
    @discardableResult
    public func schedule(after seconds: Double, _ job: @escaping @Sendable () -> Void) -> TimerHandle {
        schedule(at: now().advanced(bySeconds: seconds), job)
    }

    /// Runs `job` on the loop thread every `interval` seconds (counted from each firing, so a late pass does not
    /// bring a burst), with the time it fired at, until cancelled (any thread).
    @discardableResult
    public func scheduleRepeating(every interval: Double, _ job: @escaping @Sendable (Instant) -> Void)
        -> TimerHandle
    {
        add(deadline: now().advanced(bySeconds: interval), interval: max(interval, 0), job)
    }

    /// Cancels `timer`: it does not fire (again), even when already due in this pass (any thread).
    public func cancel(_ timer: TimerHandle) {
        onLoop { loop in
            guard !loop.released else { return }
            loop.timers.cancel(timer.id)
        }
    }

    private func add(deadline: Instant, interval: Double?, _ job: @escaping @Sendable (Instant) -> Void)
        -> TimerHandle
    {
        let id = timerIDs.add(1, ordering: .relaxed).newValue
        onLoop { loop in
            // After the end a timer never fires: its job is not kept.
            guard !loop.released else { return }
            loop.timers.schedule(id, at: deadline, interval: interval, job: job)
        }
        return TimerHandle(id: id)
    }

    /// Runs `change` now on the loop thread, or through `execute` from another (in order with other jobs).
    private func onLoop(_ change: @escaping @Sendable (EventLoop) -> Void) {
        if isLoopThread {
            change(self)
        } else {
            execute { [self] in change(self) }
        }
    }

    // MARK: Stopping

    /// Ends the loop after `finalJob` has run on it, closing every descriptor still registered; returns once the loop
    /// thread has finished (at once when called on the loop thread, which cannot wait for itself).
    ///
    /// Jobs handed to `execute` later run on the caller's thread, one at a time.
    public func stop(finalJob: @escaping @Sendable () -> Void = {}) {
        execute { [self] in
            finalJob()
            stopping.store(true, ordering: .releasing)
        }
        guard !isLoopThread else { return }
        ended.lock()
        while !hasEnded { ended.wait() }
        ended.unlock()
    }

    // MARK: The loop

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

    private func fireTimers() {
        let now = clock.now()
        for id in timers.takeDue(now: now) {
            guard let job = timers.claim(id) else { continue }
            job(now)
        }
    }

    private func dispatch(token: UInt64, events: UInt32) {
        let fd = Int32(truncatingIfNeeded: token)
        if fd == wakeup {
            var value: UInt64 = 0
            _ = withUnsafeMutableBytes(of: &value) { Syscall.read(wakeup, into: $0) }
            woken.store(false, ordering: .releasing)
            return
        }
        guard let handler = handlers[fd] else { return }
        let readiness = Readiness(rawValue: events)
        handler.ready(
            readable: readiness.contains(.readable), writable: readiness.contains(.writable),
            hangup: readiness.contains(.hangup))
    }

    private func run() {
        let capacity = Int(CEventLoop_MAX_EVENTS)
        var tokens = [UInt64](repeating: 0, count: capacity)
        var events = [UInt32](repeating: 0, count: capacity)
        while !stopping.load(ordering: .acquiring) {
            let timeout = timers.timeoutMilliseconds(now: clock.now())
            let result = Syscall.retrying {
                CEventLoop_epoll_wait(epoll, &tokens, &events, Int32(capacity), timeout)
            }
            if case .done(let count) = result {
                for index in 0..<count { dispatch(token: tokens[index], events: events[index]) }
            }
            runJobs()
            if !stopping.load(ordering: .acquiring) { fireTimers() }
        }
        // Callers that find the loop ended wait on `lateJobs` until it has released everything.
        lateJobs.lock()
        defer { lateJobs.unlock() }
        for fd in Array(handlers.keys) { deregister(fd) }
        // Timer jobs may hold their owners; release them with the loop.
        timers.removeAll()
        released = true
        close(epoll)
        let late = jobs.withLock { state in
            state.ended = true
            defer { state.queue = [] }
            return state.queue
        }
        for job in late { job() }
        ended.lock()
        hasEnded = true
        ended.broadcast()
        ended.unlock()
    }

    // The eventfd is closed only once nothing can write to it any more (an `execute` that queued its job just
    // before the end may still write its wake-up).
    deinit { close(wakeup) }
}
