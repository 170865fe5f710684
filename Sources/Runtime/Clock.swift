import Synchronization

#if canImport(Glibc)
    import Glibc
#endif

/// A point on a monotonic clock, in nanoseconds from an arbitrary origin: what timeouts and deadlines compare.
public struct Instant: Comparable, Hashable, Sendable, CustomStringConvertible {
    /// Nanoseconds since the clock's origin.
    public var nanoseconds: UInt64

    /// The instant `nanoseconds` after the origin.
    public init(nanoseconds: UInt64) { self.nanoseconds = nanoseconds }

    /// The instant `seconds` after the origin (the origin for negative or NaN, `UInt64.max` nanoseconds past the
    /// range).
    public init(seconds: Double) {
        nanoseconds = seconds.isNaN ? 0 : Self.saturating(max(0, seconds) * 1e9)
    }

    /// Seconds since the origin, as a floating-point number.
    public var seconds: Double { Double(nanoseconds) / 1e9 }

    /// The instant `seconds` later (earlier when negative, never before the origin).
    ///
    /// Saturates: a huge or infinite advance gives `UInt64.max` nanoseconds, a huge step back the origin; NaN is no
    /// step at all.
    public func advanced(bySeconds seconds: Double) -> Instant {
        let delta = seconds * 1e9
        guard !delta.isNaN else { return self }
        if delta >= 0 {
            let (sum, overflow) = nanoseconds.addingReportingOverflow(Self.saturating(delta))
            return Instant(nanoseconds: overflow ? .max : sum)
        }
        let back = Self.saturating(-delta)
        return Instant(nanoseconds: back >= nanoseconds ? 0 : nanoseconds - back)
    }

    /// `value` (not negative, not NaN) as whole nanoseconds, `UInt64.max` past its range.
    private static func saturating(_ value: Double) -> UInt64 {
        // 2^64 is the first Double past UInt64.max.
        value >= 18_446_744_073_709_551_616.0 ? .max : UInt64(value)
    }

    /// Seconds from `earlier` to this instant (negative when `earlier` is later).
    public func seconds(since earlier: Instant) -> Double {
        nanoseconds >= earlier.nanoseconds
            ? Double(nanoseconds - earlier.nanoseconds) / 1e9 : -Double(earlier.nanoseconds - nanoseconds) / 1e9
    }

    /// Orders instants by time.
    public static func < (lhs: Instant, rhs: Instant) -> Bool { lhs.nanoseconds < rhs.nanoseconds }

    /// The instant in seconds, for logs.
    public var description: String { "\(seconds)s" }
}

/// A wall-clock time: nanoseconds since the Unix epoch.
///
/// Block timestamps, log lines and API `created` fields use it; nothing that measures an interval does.
public struct WallTime: Comparable, Hashable, Sendable {
    /// Nanoseconds since 1970-01-01T00:00:00Z.
    public var nanosecondsSinceEpoch: Int64

    /// The wall time `nanosecondsSinceEpoch` after the epoch.
    public init(nanosecondsSinceEpoch: Int64) { self.nanosecondsSinceEpoch = nanosecondsSinceEpoch }

    /// The wall time `seconds` after the epoch.
    public init(secondsSinceEpoch seconds: Int64) { nanosecondsSinceEpoch = seconds &* 1_000_000_000 }

    /// Whole seconds since the epoch.
    public var secondsSinceEpoch: Int64 { nanosecondsSinceEpoch / 1_000_000_000 }

    /// Whole milliseconds since the epoch.
    public var millisecondsSinceEpoch: Int64 { nanosecondsSinceEpoch / 1_000_000 }

    /// Orders wall times.
    public static func < (lhs: WallTime, rhs: WallTime) -> Bool {
        lhs.nanosecondsSinceEpoch < rhs.nanosecondsSinceEpoch
    }

    /// RFC 3339 in UTC with milliseconds, as in `2026-12-01T09:44:31.123Z`.
    public var rfc3339: String {
        let milliseconds = Int(((nanosecondsSinceEpoch % 1_000_000_000) + 1_000_000_000) % 1_000_000_000 / 1_000_000)
        var seconds = time_t(nanosecondsSinceEpoch / 1_000_000_000)
        var parts = tm()
        gmtime_r(&seconds, &parts)
        func pad(_ value: Int32, _ width: Int) -> String {
            let text = String(value)
            return String(repeating: "0", count: max(0, width - text.count)) + text
        }
        return "\(pad(parts.tm_year + 1900, 4))-\(pad(parts.tm_mon + 1, 2))-\(pad(parts.tm_mday, 2))T"
            + "\(pad(parts.tm_hour, 2)):\(pad(parts.tm_min, 2)):\(pad(parts.tm_sec, 2))."
            + "\(pad(Int32(milliseconds), 3))Z"
    }
}

/// Where time comes from.
///
/// Protocol and rules code never reads the system clock: a shell passes it a `Clock` (the system's in production, a
/// `ManualClock` in tests and the simulator) or the instants it read from one.
public protocol Clock: Sendable {
    /// The monotonic now: for timeouts, deadlines and intervals.
    func now() -> Instant
    /// The wall-clock now: for timestamps shown to people or written to the ledger.
    func wallNow() -> WallTime
    /// Waits `seconds` on this clock: the system clock blocks the calling thread, a manual clock advances itself.
    func sleep(seconds: Double)
}

/// The operating system's clocks: `CLOCK_MONOTONIC` and `CLOCK_REALTIME`.
public struct SystemClock: Clock {
    /// The system clock.
    public init() {}

    /// `CLOCK_MONOTONIC`.
    public func now() -> Instant {
        var time = timespec()
        clock_gettime(CLOCK_MONOTONIC, &time)
        return Instant(nanoseconds: UInt64(time.tv_sec) * 1_000_000_000 + UInt64(time.tv_nsec))
    }

    /// `CLOCK_REALTIME`.
    public func wallNow() -> WallTime {
        var time = timespec()
        clock_gettime(CLOCK_REALTIME, &time)
        return WallTime(nanosecondsSinceEpoch: Int64(time.tv_sec) * 1_000_000_000 + Int64(time.tv_nsec))
    }

    /// Blocks the calling thread for `seconds` (resumed after a signal until the time has passed).
    public func sleep(seconds: Double) {
        guard seconds > 0 else { return }
        var request = timespec(tv_sec: Int(seconds), tv_nsec: Int((seconds - Double(Int(seconds))) * 1e9))
        var remaining = timespec()
        while nanosleep(&request, &remaining) != 0 && errno == EINTR { request = remaining }
    }
}

/// A clock that moves only when told: tests and the simulator step it, so every timeout fires at a chosen instant and a
/// run replays exactly.
///
/// `sleep` advances it instead of waiting.
public final class ManualClock: Clock {
    private let state: Mutex<(now: Instant, wall: WallTime)>

    /// A clock at `now`, whose wall time starts at `wall`.
    public init(now: Instant = Instant(nanoseconds: 0), wall: WallTime = WallTime(secondsSinceEpoch: 1_700_000_000)) {
        state = Mutex((now, wall))
    }

    /// The current manual instant.
    public func now() -> Instant { state.withLock { $0.now } }

    /// The current manual wall time.
    public func wallNow() -> WallTime { state.withLock { $0.wall } }

    /// Advances both clocks by `seconds`.
    public func sleep(seconds: Double) { advance(seconds: seconds) }

    /// Advances both clocks by `seconds` (ignored when not positive).
    public func advance(seconds: Double) {
        guard seconds > 0 else { return }
        let nanoseconds = seconds * 1e9
        state.withLock { state in
            state.now = state.now.advanced(bySeconds: seconds)
            let step = nanoseconds < 9.2e18 ? Int64(nanoseconds) : Int64.max
            let (sum, overflow) = state.wall.nanosecondsSinceEpoch.addingReportingOverflow(step)
            state.wall.nanosecondsSinceEpoch = overflow ? .max : sum
        }
    }

    /// Sets the wall clock (the monotonic clock never moves back).
    public func setWall(_ wall: WallTime) { state.withLock { $0.wall = wall } }
}
