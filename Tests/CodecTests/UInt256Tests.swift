import Codec
import TestSupport
import Testing

@Test func uint256TextForms() throws {
    let max = "115792089237316195423570985008687907853269984665640564039457584007913129639935"
    #expect(UInt256.max.description == max)
    #expect(UInt256(decimal: max) == .max)
    #expect(UInt256(decimal: "115792089237316195423570985008687907853269984665640564039457584007913129639936") == nil)
    #expect(UInt256(decimal: "") == nil)
    #expect(UInt256(decimal: "12a") == nil)
    #expect(UInt256.max.hexQuantity == "0x" + String(repeating: "f", count: 64))
    #expect(UInt256(hex: "0x1" + String(repeating: "0", count: 32)) == UInt256(high: 1, low: 0))
    #expect(UInt256(hex: "0x1" + String(repeating: "0", count: 64)) == nil)
    #expect(UInt256(high: 1, low: 0).hexQuantity == "0x1" + String(repeating: "0", count: 32))
    #expect(UInt256.zero.hexQuantity == "0x0")
    #expect(UInt256.zero.minimalBigEndianBytes.isEmpty)
    #expect(UInt256(0x1234).minimalBigEndianBytes == [0x12, 0x34])
    #expect(UInt256(bigEndian: [UInt8](repeating: 0xFF, count: 32)) == .max)
    #expect(UInt256(bigEndian: [UInt8](repeating: 0, count: 33)) == nil)
    // 10^27 wei: the whole OPEN supply.
    #expect(
        (UInt256(1_000_000_000) * UInt256(1_000_000_000_000_000_000 as UInt128)).description
            == "1000000000000000000000000000")
}

@Test func uint256OverflowIsReported() {
    #expect(UInt256.max.addingReportingOverflow(1).overflow)
    #expect(UInt256.max.addingReportingOverflow(1).partialValue == .zero)
    #expect(UInt256.zero.subtractingReportingOverflow(1).overflow)
    #expect(UInt256.zero.subtractingReportingOverflow(1).partialValue == .max)
    #expect((UInt256(1) << 128).multipliedReportingOverflow(by: UInt256(1) << 128).overflow)
    #expect(!(UInt256(1) << 127).multipliedReportingOverflow(by: UInt256(2) << 127).overflow)
}

/// Arithmetic agrees with the identities that define it, over seeded random values of every magnitude.
@Test func uint256ArithmeticIdentities() {
    var random = SeededRandom(seed: 3)
    func value() -> UInt256 {
        let bits = Int.random(in: 0...256, using: &random)
        let full = UInt256(bigEndian: random.bytes(32))!
        return bits == 0 ? .zero : full >> (256 - bits)
    }
    for _ in 0..<20_000 {
        let a = value()
        let b = value()
        let (sum, overflow) = a.addingReportingOverflow(b)
        if !overflow { #expect(sum - b == a) }
        if b != .zero {
            let (q, r) = a.quotientAndRemainder(dividingBy: b)
            #expect(r < b)
            #expect(q * b + r == a)
        }
        #expect(UInt256(decimal: a.description) == a)
        #expect(UInt256(hex: a.hexQuantity) == a)
        #expect(UInt256(bigEndian: a.minimalBigEndianBytes) == a)
        #expect((a << 3) >> 3 == a & (UInt256.max >> 3))
        let small = UInt256(UInt64.random(in: 0...UInt64.max, using: &random))
        let (product, productOverflow) = small.multipliedReportingOverflow(by: small)
        #expect(!productOverflow)
        if small != .zero { #expect(product / small == small) }
    }
}
