import Codec
import Foundation
import TestSupport
import Testing

private struct BadFixture: Error {}

/// The ABIValue for a fixture's JSON value of `type`: integers as decimal text, bytes and addresses as hex.
private func value(_ json: Any, _ type: ABIType) throws -> ABIValue {
    switch type {
    case .uint:
        guard let text = json as? String, let word = UInt256(decimal: text) else { throw BadFixture() }
        return .uint(word)
    case .int:
        guard let text = json as? String, let value = ABIValue.signed(decimal: text) else { throw BadFixture() }
        return value
    case .address:
        return .address(try Address(hex: json as? String ?? ""))
    case .bool:
        guard let flag = json as? Bool else { throw BadFixture() }
        return .bool(flag)
    case .fixedBytes:
        return .fixedBytes(try Hex.decode(json as? String ?? "x"))
    case .bytes:
        return .bytes(try Hex.decode(json as? String ?? "x"))
    case .string:
        guard let text = json as? String else { throw BadFixture() }
        return .string(text)
    case .array(let element), .fixedArray(let element, _):
        return .array(try (json as? [Any] ?? []).map { try value($0, element) })
    case .tuple(let types):
        let elements = json as? [Any] ?? []
        guard elements.count == types.count else { throw BadFixture() }
        return .tuple(try zip(elements, types).map { try value($0, $1) })
    }
}

/// Types, values, encodings, selectors and topics against eth-abi and eth-utils, in both directions.
@Test func abiAgreesWithEthAbi() throws {
    guard let data = Fixtures.interop("abi.json") else { return }
    let cases = try #require((try Fixtures.json(data) as? [String: Any])?["cases"] as? [[String: Any]])
    #expect(cases.count >= 1000)
    for testCase in cases {
        let typeNames = try #require(testCase["types"] as? [String])
        let types = try typeNames.map { try ABIType(parsing: $0) }
        #expect(types.map(\.canonicalName) == typeNames)
        let values = try zip(try #require(testCase["values"] as? [Any]), types).map { try value($0, $1) }
        let encoded = try Hex.decode(try #require(testCase["encoded"] as? String))
        #expect(try ABI.encode(values, as: types) == encoded, "encode \(typeNames)")
        #expect(try ABI.decode(encoded, as: types) == values, "decode \(typeNames)")
        let signature = try ABISignature(parsing: try #require(testCase["signature"] as? String))
        #expect(Hex.encode(signature.selector, prefix: false) == testCase["selector"] as? String)
        #expect(Hex.encode(signature.topic, prefix: false) == testCase["topic"] as? String)
        #expect(try signature.decodeCall(try signature.encodeCall(values)) == values)
    }
}

@Test func signaturesParseWithNamesAndIndexed() throws {
    let transfer = try ABISignature(parsing: "transfer(address,uint256)")
    #expect(Hex.encode(transfer.selector) == "0xa9059cbb")
    let event = try ABISignature(parsing: "Transfer(address indexed from, address indexed to, uint256 value)")
    #expect(event.canonical == "Transfer(address,address,uint256)")
    #expect(Hex.encode(event.topic) == "0xddf252ad1be2c89b69c2b068fc378daa952ba7f163c4a11628f55a4df523b3ef")
    #expect(event.parameters.map(\.indexed) == [true, true, false])
    #expect(event.parameters.map(\.name) == ["from", "to", "value"])
    #expect(
        try ABISignature(parsing: "f((uint256,bytes)[] xs, string memory s)").canonical == "f((uint256,bytes)[],string)"
    )
    #expect(try ABISignature(parsing: "noArgs()").parameters.isEmpty)
    for bad in [
        "", "f(", "f)", "f(uint7)", "(uint256)", "f(uint256,,bool)", "f((uint256)", "1f()", "f(bytes33)", "f(uint[0])",
    ] {
        #expect(throws: CodecError.self, "\(bad)") { try ABISignature(parsing: bad) }
    }
}

@Test func malformedABIDataIsRejected() throws {
    let word = { (value: UInt64) in UInt256(value).bigEndianBytes }
    let dynamic = [try ABIType(parsing: "bytes")]
    #expect(throws: CodecError.self) { try ABI.decode(word(32), as: dynamic) }  // truncated: no length word
    #expect(throws: CodecError.self) { try ABI.decode(word(0x1000) + word(0), as: dynamic) }  // offset out of range
    #expect(throws: CodecError.self) { try ABI.decode(word(32) + word(1 << 40), as: dynamic) }  // length too large
    #expect(throws: CodecError.self) {
        try ABI.decode(word(32) + word(1) + [0x61, 1] + [UInt8](repeating: 0, count: 30), as: dynamic)
    }  // dirty padding
    #expect(throws: CodecError.self) { try ABI.decode(word(2), as: [.bool]) }
    #expect(throws: CodecError.self) { try ABI.decode(word(256), as: [.uint(8)]) }
    #expect(throws: CodecError.self) { try ABI.decode(word(128), as: [.int(8)]) }  // not sign-extended
    #expect(throws: CodecError.self) { try ABI.decode(UInt256(1).bigEndianBytes.reversed(), as: [.address]) }
    #expect(throws: CodecError.self) { try ABI.decode([UInt8](repeating: 0, count: 31) + [1], as: [.fixedBytes(31)]) }
    #expect(throws: CodecError.self) { try ABI.decode(word(32) + word(UInt64.max), as: [.array(.uint(256))]) }
    #expect(throws: CodecError.self) {
        try ABI.decode(word(32) + word(2) + [0xFF, 0xFE] + [UInt8](repeating: 0, count: 30), as: [.string])
    }
    #expect(throws: CodecError.self) { try ABI.encode([.uint(UInt256(256))], as: [.uint(8)]) }
    #expect(throws: CodecError.self) { try ABI.encode([.signed(-129)], as: [.int(8)]) }
    #expect(throws: CodecError.self) { try ABI.encode([.fixedBytes([1, 2])], as: [.fixedBytes(3)]) }
    #expect(throws: CodecError.self) { try ABI.encode([.bool(true)], as: [.uint(8)]) }
    #expect(throws: CodecError.self) { try ABI.encode([], as: [.uint(8)]) }
    #expect(try ABI.decode(try ABI.encode([.signed(-128)], as: [.int(8)]), as: [.int(8)]) == [.signed(-128)])
}

/// Offsets that all point at one shared tail must not make decoding explode.
@Test func sharedTailsAreBounded() throws {
    // uint256[][][][] where every level's 8 offsets point at the same next level.
    var data: [UInt8] = UInt256(32).bigEndianBytes
    let levels = 6
    for level in 0..<levels {
        data += UInt256(8).bigEndianBytes
        for _ in 0..<8 { data += UInt256(level == levels - 1 ? 0 : 8 * 32).bigEndianBytes }
    }
    var type = ABIType.uint(256)
    for _ in 0..<levels { type = .array(type) }
    #expect(throws: CodecError.self) { try ABI.decode(data, as: [type]) }
}

@Test func fuzzedABIDataNeverCrashes() throws {
    var random = SeededRandom(seed: 17)
    let typeSets: [[ABIType]] = try [
        ["uint256", "bytes", "string[]"], ["(uint8,address,bytes32)[2]", "bool"], ["int16[][]", "(string,bytes)"],
        ["address[3]", "bytes7"],
    ].map { try $0.map { try ABIType(parsing: $0) } }
    let samples: [[UInt8]] = try [
        ABI.encode([.uint(7), .bytes([1, 2, 3]), .array([.string("a"), .string("bc")])], as: typeSets[0]),
        ABI.encode(
            [
                .array([
                    .tuple([.uint(1), .address(.zero), .fixedBytes([UInt8](repeating: 9, count: 32))]),
                    .tuple([.uint(2), .address(.zero), .fixedBytes([UInt8](repeating: 8, count: 32))]),
                ]), .bool(true),
            ], as: typeSets[1]),
        ABI.encode(
            [.array([.array([.signed(-1), .signed(5)])]), .tuple([.string("x"), .bytes([])])], as: typeSets[2]),
    ]
    var accepted = 0
    for _ in 0..<100_000 {
        let types = typeSets.randomElement(using: &random)!
        let input = random.mutate(samples.randomElement(using: &random)!)
        if let values = try? ABI.decode(input, as: types) {
            accepted += 1
            // Whatever decodes re-encodes, and that encoding decodes to the same values.
            let canonical = try ABI.encode(values, as: types)
            #expect(try ABI.decode(canonical, as: types) == values)
        }
    }
    #expect(accepted > 0)
}
