/// An unsigned 256-bit integer: Ethereum's word, for balances, values, gas prices and ABI `uint256`.
///
/// Arithmetic traps on overflow like Swift's integers; the `…ReportingOverflow` forms and `&+`, `&-`, `&*`
/// wrap. Stored as two 128-bit halves.
public struct UInt256: Hashable, Comparable, Sendable, CustomStringConvertible, ExpressibleByIntegerLiteral {
    /// The upper 128 bits.
    public var high: UInt128
    /// The lower 128 bits.
    public var low: UInt128

    /// 0.
    public static let zero = UInt256(high: 0, low: 0)
    /// 2^256 − 1.
    public static let max = UInt256(high: .max, low: .max)

    /// The value high · 2^128 + low.
    public init(high: UInt128, low: UInt128) {
        self.high = high
        self.low = low
    }

    /// The value of `value`.
    public init(_ value: some BinaryInteger) {
        precondition(value >= 0, "UInt256 cannot represent a negative value")
        self.init(high: 0, low: UInt128(value))
    }

    /// The value of an integer literal.
    public init(integerLiteral value: UInt64) { self.init(high: 0, low: UInt128(value)) }

    /// The value of big-endian `bytes` (at most 32 of them; leading zeros allowed).
    public init?(bigEndian bytes: some Collection<UInt8>) {
        guard bytes.count <= 32 else { return nil }
        var high: UInt128 = 0
        var low: UInt128 = 0
        for byte in bytes {
            high = high << 8 | low >> 120
            low = low << 8 | UInt128(byte)
        }
        self.init(high: high, low: low)
    }

    /// The value of decimal text (digits only), or nil if malformed or too large.
    public init?(decimal text: some StringProtocol) {
        guard !text.isEmpty else { return nil }
        var value = UInt256.zero
        for char in text.utf8 {
            guard char >= 48 && char <= 57 else { return nil }
            let (times10, o1) = value.multipliedReportingOverflow(by: 10)
            let (sum, o2) = times10.addingReportingOverflow(UInt256(char - 48))
            guard !o1 && !o2 else { return nil }
            value = sum
        }
        self = value
    }

    /// The value of hex text with an optional 0x prefix (1 to 64 digits), or nil.
    public init?(hex text: some StringProtocol) {
        var digits = Substring(text)
        if digits.hasPrefix("0x") || digits.hasPrefix("0X") { digits = digits.dropFirst(2) }
        guard !digits.isEmpty, digits.utf8.count <= 64 else { return nil }
        var value = UInt256.zero
        for char in digits.utf8 {
            guard let nibble = Hex.nibble(char) else { return nil }
            value = value << 4 | UInt256(nibble)
        }
        self = value
    }

    /// The 32-byte big-endian encoding.
    public var bigEndianBytes: [UInt8] {
        var out = [UInt8](repeating: 0, count: 32)
        for i in 0..<16 {
            out[i] = UInt8(truncatingIfNeeded: high >> (8 * (15 - i)))
            out[16 + i] = UInt8(truncatingIfNeeded: low >> (8 * (15 - i)))
        }
        return out
    }

    /// The big-endian encoding without leading zero bytes (empty for 0), as RLP stores integers.
    public var minimalBigEndianBytes: [UInt8] { Array(bigEndianBytes.drop { $0 == 0 }) }

    /// The number of significant bits.
    public var bitWidth: Int { high != 0 ? 256 - high.leadingZeroBitCount : 128 - low.leadingZeroBitCount }

    /// The value as a UInt128 if it fits.
    public var uint128: UInt128? { high == 0 ? low : nil }

    /// The value as a UInt64 if it fits.
    public var uint64: UInt64? { high == 0 && low <= UInt128(UInt64.max) ? UInt64(low) : nil }

    /// 0x-prefixed hex without leading zeros, as JSON-RPC quantities are written.
    public var hexQuantity: String {
        if high == 0 { return "0x" + String(low, radix: 16) }
        let lowDigits = String(low, radix: 16)
        return "0x" + String(high, radix: 16) + String(repeating: "0", count: 32 - lowDigits.count) + lowDigits
    }

    /// The decimal digits, without leading zeros.
    public var description: String {
        if high == 0 { return String(low) }
        var digits: [UInt8] = []
        var value = self
        let tenPower = UInt256(10_000_000_000_000_000_000 as UInt128)
        while value != .zero {
            let (quotient, remainder) = value.quotientAndRemainder(dividingBy: tenPower)
            var chunk = String(remainder.low)
            if quotient != .zero { chunk = String(repeating: "0", count: 19 - chunk.count) + chunk }
            digits.insert(contentsOf: chunk.utf8, at: 0)
            value = quotient
        }
        return String(decoding: digits, as: UTF8.self)
    }

    /// Numeric order.
    public static func < (a: UInt256, b: UInt256) -> Bool { a.high != b.high ? a.high < b.high : a.low < b.low }

    // MARK: Arithmetic

    /// `self + other` modulo 2^256, and whether it wrapped.
    public func addingReportingOverflow(_ other: UInt256) -> (partialValue: UInt256, overflow: Bool) {
        let (low, carry) = self.low.addingReportingOverflow(other.low)
        let (high1, o1) = self.high.addingReportingOverflow(other.high)
        let (high, o2) = high1.addingReportingOverflow(carry ? 1 : 0)
        return (UInt256(high: high, low: low), o1 || o2)
    }

    /// `self − other` modulo 2^256, and whether it wrapped.
    public func subtractingReportingOverflow(_ other: UInt256) -> (partialValue: UInt256, overflow: Bool) {
        let (low, borrow) = self.low.subtractingReportingOverflow(other.low)
        let (high1, o1) = self.high.subtractingReportingOverflow(other.high)
        let (high, o2) = high1.subtractingReportingOverflow(borrow ? 1 : 0)
        return (UInt256(high: high, low: low), o1 || o2)
    }

    /// `self · other` modulo 2^256, and whether the full product needed more than 256 bits.
    public func multipliedReportingOverflow(by other: UInt256) -> (partialValue: UInt256, overflow: Bool) {
        // (ah·2^128 + al)(bh·2^128 + bl) = ah·bh·2^256 + (ah·bl + al·bh)·2^128 + al·bl
        let lowProduct = low.multipliedFullWidth(by: other.low)
        let (cross1, o1) = high.multipliedReportingOverflow(by: other.low)
        let (cross2, o2) = low.multipliedReportingOverflow(by: other.high)
        let (cross, o3) = cross1.addingReportingOverflow(cross2)
        let (high, o4) = lowProduct.high.addingReportingOverflow(cross)
        let overflow = (self.high != 0 && other.high != 0) || o1 || o2 || o3 || o4
        return (UInt256(high: high, low: lowProduct.low), overflow)
    }

    /// Quotient and remainder; traps on division by zero.
    public func quotientAndRemainder(dividingBy divisor: UInt256) -> (quotient: UInt256, remainder: UInt256) {
        precondition(divisor != .zero, "UInt256 division by zero")
        if high == 0 && divisor.high == 0 {
            return (UInt256(low / divisor.low), UInt256(low % divisor.low))
        }
        if self < divisor { return (.zero, self) }
        // Shift-subtract long division over the significant bits only.
        var quotient = UInt256.zero
        var remainder = UInt256.zero
        for bit in stride(from: bitWidth - 1, through: 0, by: -1) {
            remainder = remainder << 1
            if self.bit(bit) { remainder.low |= 1 }
            if remainder >= divisor {
                remainder = remainder &- divisor
                quotient.setBit(bit)
            }
        }
        return (quotient, remainder)
    }

    private func bit(_ index: Int) -> Bool {
        index >= 128 ? (high >> (index - 128)) & 1 == 1 : (low >> index) & 1 == 1
    }

    private mutating func setBit(_ index: Int) {
        if index >= 128 { high |= 1 << (index - 128) } else { low |= 1 << index }
    }

    /// The sum; traps on overflow.
    public static func + (a: UInt256, b: UInt256) -> UInt256 {
        let (sum, overflow) = a.addingReportingOverflow(b)
        precondition(!overflow, "UInt256 addition overflow")
        return sum
    }

    /// The difference; traps if `b` is greater than `a`.
    public static func - (a: UInt256, b: UInt256) -> UInt256 {
        let (difference, overflow) = a.subtractingReportingOverflow(b)
        precondition(!overflow, "UInt256 subtraction overflow")
        return difference
    }

    /// The product; traps on overflow.
    public static func * (a: UInt256, b: UInt256) -> UInt256 {
        let (product, overflow) = a.multipliedReportingOverflow(by: b)
        precondition(!overflow, "UInt256 multiplication overflow")
        return product
    }

    /// The quotient, rounded down; traps when `b` is zero.
    public static func / (a: UInt256, b: UInt256) -> UInt256 { a.quotientAndRemainder(dividingBy: b).quotient }
    /// The remainder of `a / b`; traps when `b` is zero.
    public static func % (a: UInt256, b: UInt256) -> UInt256 { a.quotientAndRemainder(dividingBy: b).remainder }
    /// The sum modulo 2^256.
    public static func &+ (a: UInt256, b: UInt256) -> UInt256 { a.addingReportingOverflow(b).partialValue }
    /// The difference modulo 2^256.
    public static func &- (a: UInt256, b: UInt256) -> UInt256 { a.subtractingReportingOverflow(b).partialValue }
    /// The product modulo 2^256.
    public static func &* (a: UInt256, b: UInt256) -> UInt256 { a.multipliedReportingOverflow(by: b).partialValue }
    /// Adds `b` to `a`; traps on overflow.
    public static func += (a: inout UInt256, b: UInt256) { a = a + b }
    /// Subtracts `b` from `a`; traps if `b` is greater.
    public static func -= (a: inout UInt256, b: UInt256) { a = a - b }

    /// `a` shifted left by `n` bits (right for negative `n`); bits past 256 are dropped.
    public static func << (a: UInt256, n: Int) -> UInt256 {
        if n <= 0 { return n == 0 ? a : a >> -n }
        if n >= 256 { return .zero }
        if n >= 128 { return UInt256(high: a.low << (n - 128), low: 0) }
        return UInt256(high: a.high << n | a.low >> (128 - n), low: a.low << n)
    }

    /// `a` shifted right by `n` bits (left for negative `n`).
    public static func >> (a: UInt256, n: Int) -> UInt256 {
        if n <= 0 { return n == 0 ? a : a << -n }
        if n >= 256 { return .zero }
        if n >= 128 { return UInt256(high: 0, low: a.high >> (n - 128)) }
        return UInt256(high: a.high >> n, low: a.low >> n | a.high << (128 - n))
    }

    /// Bitwise or.
    public static func | (a: UInt256, b: UInt256) -> UInt256 { UInt256(high: a.high | b.high, low: a.low | b.low) }
    /// Bitwise and.
    public static func & (a: UInt256, b: UInt256) -> UInt256 { UInt256(high: a.high & b.high, low: a.low & b.low) }
}
