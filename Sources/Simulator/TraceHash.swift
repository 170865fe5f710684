/// A fast 64-bit running hash of the event trace: every processed event's (time, kind, node, peer, size).
///
/// Not cryptographic; it only has to differ when a run's order of events differs, and to be cheap enough to fold
/// in millions of events a second.
public struct TraceHash: Sendable, Equatable {
    /// The hash so far.
    public private(set) var value: UInt64 = 0x243F_6A88_85A3_08D3
    /// Events folded in.
    public private(set) var events: UInt64 = 0

    /// An empty trace.
    public init() {}

    @inline(__always)
    mutating func fold(_ word: UInt64) {
        // One round of xxHash64's accumulator.
        value = (value ^ (word &* 0xC2B2_AE3D_27D4_EB4F)) &<< 31 | (value ^ (word &* 0xC2B2_AE3D_27D4_EB4F)) &>> 33
        value = value &* 0x9E37_79B1_85EB_CA87 &+ 0x27D4_EB2F_1656_67C5
    }

    /// Folds in one event.
    @inline(__always)
    mutating func add(time: UInt64, kind: UInt8, node: Int32, peer: Int32, size: Int32) {
        events &+= 1
        fold(time)
        fold(UInt64(kind) << 56 ^ UInt64(UInt32(bitPattern: node)) << 24 ^ UInt64(UInt32(bitPattern: peer)))
        fold(UInt64(UInt32(bitPattern: size)))
    }

    /// The hash as 16 hex digits.
    public var hex: String {
        let text = String(value, radix: 16)
        return String(repeating: "0", count: 16 - text.count) + text
    }
}
