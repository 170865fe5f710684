import Runtime
import Synchronization
import Testing

@Test func seededRandomIsSplitMix64AndReplaysFromItsSeed() {
    // SplitMix64 from seed 0: the reference sequence of Vigna's splitmix64.c.
    var random = SeededRandom(seed: 0)
    #expect(random.next() == 0xE220_A839_7B1D_CDAF)
    #expect(random.next() == 0x6E78_9E6A_A1B9_65F4)
    #expect(random.next() == 0x06C4_5D18_8009_454F)
    var a = SeededRandom(seed: 42)
    var b = SeededRandom(seed: 42)
    #expect(a.bytes(37) == b.bytes(37))
    #expect(a.next() == b.next())
    var c = SeededRandom(seed: 43)
    #expect(c.next() != a.next())
    var parent = SeededRandom(seed: 7)
    var child1 = parent.split(label: 1)
    var child2 = parent.split(label: 1)
    #expect(child1.next() != child2.next())
    for _ in 0..<1_000 {
        let unit = a.nextUnitFloat()
        #expect(unit >= 0 && unit < 1)
    }
}

@Test func manualClockMovesOnlyWhenStepped() {
    let clock = ManualClock(now: Instant(seconds: 10), wall: WallTime(secondsSinceEpoch: 1_000))
    #expect(clock.now() == Instant(seconds: 10))
    clock.advance(seconds: 2.5)
    #expect(clock.now().seconds(since: Instant(seconds: 10)) == 2.5)
    #expect(clock.wallNow().millisecondsSinceEpoch == 1_002_500)
    clock.sleep(seconds: 1)
    #expect(clock.now() == Instant(seconds: 13.5))
    let far = ManualClock()
    far.advance(seconds: .infinity)
    #expect(far.now() == Instant(nanoseconds: .max) && far.wallNow().nanosecondsSinceEpoch == .max)
    clock.advance(seconds: -5)
    #expect(clock.now() == Instant(seconds: 13.5))
    #expect(Instant(seconds: 1).advanced(bySeconds: -2) == Instant(nanoseconds: 0))
    #expect(Instant(seconds: 1).seconds(since: Instant(seconds: 3)) == -2)
}

/// Advances past the range saturate instead of trapping; NaN is no step.
@Test func instantAdvancesSaturateAndIgnoreNaN() {
    let one = Instant(seconds: 1)
    #expect(one.advanced(bySeconds: .infinity) == Instant(nanoseconds: .max))
    #expect(one.advanced(bySeconds: 1e30) == Instant(nanoseconds: .max))
    #expect(one.advanced(bySeconds: 18_446_744_073.709_552) == Instant(nanoseconds: .max))
    #expect(Instant(nanoseconds: .max - 10).advanced(bySeconds: 1) == Instant(nanoseconds: .max))
    #expect(Instant(nanoseconds: .max).advanced(bySeconds: -1) == Instant(nanoseconds: .max - 1_000_000_000))
    #expect(one.advanced(bySeconds: -.infinity) == Instant(nanoseconds: 0))
    #expect(one.advanced(bySeconds: -1e30) == Instant(nanoseconds: 0))
    #expect(one.advanced(bySeconds: .nan) == one)
    #expect(one.advanced(bySeconds: 0.5) == Instant(seconds: 1.5))
    #expect(Instant(seconds: .infinity) == Instant(nanoseconds: .max))
    #expect(Instant(seconds: .nan) == Instant(nanoseconds: 0))
    #expect(Instant(seconds: -3) == Instant(nanoseconds: 0))
}

@Test func systemClockIsMonotonic() {
    let clock = SystemClock()
    let first = clock.now()
    let second = clock.now()
    #expect(second >= first)
    #expect(clock.wallNow().secondsSinceEpoch > 1_700_000_000)
}

@Test func wallTimeFormatsAsRFC3339() {
    #expect(WallTime(nanosecondsSinceEpoch: 0).rfc3339 == "1970-01-01T00:00:00.000Z")
    #expect(WallTime(nanosecondsSinceEpoch: 1_764_582_271_123_456_789).rfc3339 == "2025-12-01T09:44:31.123Z")
}

final class LineCollector: Sendable {
    let lines = Mutex<[String]>([])
    func sink(_ format: LogFormat, level: LogLevel = .info) -> LogSink {
        LogSink(format: format, level: level, clock: ManualClock(wall: WallTime(secondsSinceEpoch: 0))) { line in
            self.lines.withLock { $0.append(line) }
        }
    }
}

@Test func loggerWritesLogfmtWithModuleFieldsAndDropsLowerLevels() {
    let collector = LineCollector()
    let logger = Logger(module: "p2p", sink: collector.sink(.logfmt)).with(["peer": "12D3KooW"])
    logger.debug("dropped")
    logger.info("connection closed", ["reason": "idle for 120 s"])
    logger.error("bad=\"value\"\n")
    let lines = collector.lines.withLock { $0 }
    #expect(lines.count == 2)
    #expect(
        lines.first
            == "time=1970-01-01T00:00:00.000Z level=info module=p2p msg=\"connection closed\" peer=12D3KooW reason=\"idle for 120 s\""
    )
    #expect(lines.last?.contains(#"msg="bad=\"value\"\n""#) == true)
    #expect(logger.isEnabled(.warning) && !logger.isEnabled(.debug))
}

@Test func loggerWritesJSONLines() {
    let collector = LineCollector()
    let logger = Logger(module: "devnet", sink: collector.sink(.json, level: .debug))
    logger.debug("block", ["number": "7", "quote": "a\"b"])
    #expect(
        collector.lines.withLock { $0 }
            == [
                #"{"time":"1970-01-01T00:00:00.000Z","level":"debug","module":"devnet","msg":"block","number":"7","quote":"a\"b"}"#
            ])
    #expect(LogLevel(name: "warn") == .warning && LogLevel(name: "loud") == nil)
}
