import Codec
import Foundation
import TestSupport
import Testing

/// Big-endian bytes of a non-negative decimal integer of any size (the vectors go past 2^256).
private func bigEndian(decimal: String) -> [UInt8] {
    var digits = decimal.utf8.map { Int($0) - 48 }
    var out: [UInt8] = []
    while !digits.isEmpty {
        var remainder = 0
        var quotient: [Int] = []
        for digit in digits {
            let value = remainder * 10 + digit
            if !quotient.isEmpty || value / 256 > 0 { quotient.append(value / 256) }
            remainder = value % 256
        }
        out.insert(UInt8(remainder), at: 0)
        digits = quotient
    }
    return out.first == 0 && out.count == 1 ? [] : out
}

/// The RLP item a vector's JSON input stands for: strings are bytes, integers big-endian minimal, "#…" big
/// integers, arrays lists.
private func item(_ json: Any) throws -> RLPItem {
    switch json {
    case let string as String where string.hasPrefix("#"):
        return .bytes(bigEndian(decimal: String(string.dropFirst())))
    case let string as String:
        return .bytes(Array(string.utf8))
    case let number as NSNumber:
        return .bytes(bigEndian(decimal: number.stringValue))
    case let array as [Any]:
        return .list(try array.map(item))
    default:
        throw CodecError.invalidRLP("unexpected vector input \(json)")
    }
}

@Test func rlpVectorsEncodeAndDecode() throws {
    guard let data = Fixtures.vector("ethereum-tests/RLPTests/rlptest.json") else { return }
    let tests = try #require(try Fixtures.json(data) as? [String: [String: Any]])
    #expect(tests.count >= 28)
    for (name, test) in tests {
        let expected = try Hex.decode(try #require(test["out"] as? String))
        let input = try item(try #require(test["in"]))
        #expect(RLP.encode(input) == expected, "\(name)")
        #expect(RLP.encodedLength(input) == expected.count, "\(name)")
        #expect(try RLP.decode(expected) == input, "\(name)")
    }
}

@Test func invalidRLPVectorsAreRejected() throws {
    guard let data = Fixtures.vector("ethereum-tests/RLPTests/invalidRLPTest.json") else { return }
    let tests = try #require(try Fixtures.json(data) as? [String: [String: Any]])
    #expect(tests.count >= 25)
    for (name, test) in tests {
        let bytes = try Hex.decode(try #require(test["out"] as? String))
        #expect(throws: CodecError.self, "\(name)") { try RLP.decode(bytes) }
    }
}

@Test func truncatedOversizedAndDeepInputsAreRejected() throws {
    #expect(throws: CodecError.self) { try RLP.decode([0xB8]) }
    #expect(throws: CodecError.self) { try RLP.decode([0xBF, 0x7F, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF]) }
    #expect(throws: CodecError.self) { try RLP.decode([0xFF, 0x7F, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0x00]) }
    #expect(throws: CodecError.self) { try RLP.decode([0xC2, 0x83, 0x61]) }
    #expect(throws: CodecError.self) { try RLP.decode([0x80, 0x80]) }
    var nested = RLPItem.list([])
    for _ in 0..<1000 { nested = .list([nested]) }
    #expect(try RLP.decode(RLP.encode(nested)) == nested)
    // Nested deeper than the bound: rejected, and no stack overflow.
    for _ in 0..<1000 { nested = .list([nested]) }
    #expect(throws: CodecError.self) { try RLP.decode(RLP.encode(nested)) }
}

@Test func rlpAgreesWithPyRLP() throws {
    guard let data = Fixtures.interop("rlp.json") else { return }
    let cases = try #require((try Fixtures.json(data) as? [String: Any])?["cases"] as? [[String: Any]])
    #expect(cases.count >= 1000)
    func fromJSON(_ json: Any) throws -> RLPItem {
        if let hex = json as? String { return .bytes(try Hex.decode(hex)) }
        return .list(try (json as? [Any] ?? []).map(fromJSON))
    }
    for testCase in cases {
        let input = try fromJSON(try #require(testCase["item"]))
        let encoded = try Hex.decode(try #require(testCase["encoded"] as? String))
        #expect(RLP.encode(input) == encoded)
        #expect(try RLP.decode(encoded) == input)
    }
}

/// Every accepted input re-encodes to exactly the same bytes: that is what strict decoding means.
@Test func fuzzedRLPNeverCrashesAndAcceptsOnlyCanonicalInput() {
    var random = SeededRandom(seed: 1)
    let seeds: [[UInt8]] = [
        RLP.encode(.list([.bytes(Array("dog".utf8)), .list([.bytes([0x7F]), .bytes([])]), .bytes(random.bytes(60))])),
        RLP.encode(.list((0..<30).map { _ in .bytes(random.bytes(3)) })),
        RLP.encode(.bytes(random.bytes(300))),
        [0xC0], [0x80], [0x00],
    ]
    var accepted = 0
    for _ in 0..<100_000 {
        let input = random.mutate(seeds.randomElement(using: &random)!)
        if let item = try? RLP.decode(input) {
            accepted += 1
            #expect(RLP.encode(item) == input)
        }
    }
    #expect(accepted > 0)
    #expect(accepted < 100_000)
}
