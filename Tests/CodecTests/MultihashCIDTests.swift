import Codec
import Foundation
import TestSupport
import Testing

/// multiformats/multihash tests/values/test_cases.csv: the input column is hashed as its ASCII text; `sha3`
/// is sha3-512; digests are cut to `bits`.
@Test func multihashVectors() throws {
    guard let data = Fixtures.vector("multiformats/multihash/test_cases.csv") else { return }
    let lines = String(decoding: data, as: UTF8.self).split(separator: "\n").dropFirst()
    #expect(lines.count == 260)
    let functions: [String: Multihash.Function] = [
        "sha1": .sha1, "sha2-256": .sha2x256, "sha2-512": .sha2x512, "sha3": .sha3x512,
    ]
    for line in lines {
        let fields = line.split(separator: ",").map(String.init)
        let function = try #require(functions[fields[0]])
        let bits = try #require(Int(fields[1]))
        let multihash = Multihash(hashing: Array(fields[2].utf8), with: function, length: bits / 8)
        #expect(Hex.encode(multihash.bytes, prefix: false) == fields[3], "\(line)")
        #expect(try Multihash(bytes: try Hex.decode(fields[3])) == multihash)
    }
}

@Test func cidsRoundTripInEveryForm() throws {
    let cid = CID.raw(sha256Of: Array("hello".utf8))
    #expect(cid.description.hasPrefix("bafkrei"))
    #expect(try CID(string: cid.description) == cid)
    #expect(try CID(bytes: cid.bytes) == cid)
    for base in [Multibase.base58btc, .base36, .base64url, .base16] {
        #expect(try CID(string: cid.text(in: base)) == cid)
    }
    // CIDv0: the well-known empty-directory CID.
    let v0 = try CID(string: "QmUNLLsPACCz1vLxQVkXqqLX5R1X345qqfHbsf67hvA3Nn")
    #expect(v0.version == 0)
    #expect(v0.description == "QmUNLLsPACCz1vLxQVkXqqLX5R1X345qqfHbsf67hvA3Nn")
    #expect(try CID(bytes: v0.bytes) == v0)
}

@Test func malformedCIDsAreRejected() throws {
    let good = CID.raw(sha256Of: [1, 2, 3]).bytes
    let bads: [[UInt8]] = [
        [], [0x02] + good.dropFirst(), Array(good.dropLast()), good + [0],
        [0x01, 0x55, 0x12, 0x21] + [UInt8](repeating: 0, count: 33), [0x01, 0x55, 0x12], [0x01, 0xFF],
    ]
    for bad in bads {
        #expect(throws: CodecError.self, "\(bad)") { try CID(bytes: bad) }
    }
    for bad in [
        "", "bafy", "Qm123", "zQmUNLLsPACCz1vLxQVkXqqLX5R1X345qqfHbsf67hvA3Nn",
        "x" + Multibase.base32.encode(good).dropFirst(),
    ] {
        #expect(throws: CodecError.self, "\(bad)") { try CID(string: bad) }
    }
}

@Test func fuzzedMultihashesAndCIDsNeverCrash() throws {
    var random = SeededRandom(seed: 32)
    let seeds = [
        CID.raw(sha256Of: [9]).bytes, Multihash.sha256([7]).bytes, Multihash(hashing: [1], with: .identity).bytes,
    ]
    let texts = [CID.raw(sha256Of: [9]).description, "QmUNLLsPACCz1vLxQVkXqqLX5R1X345qqfHbsf67hvA3Nn"].map {
        Array($0.utf8)
    }
    for _ in 0..<100_000 {
        let input = random.mutate(seeds.randomElement(using: &random)!)
        if let cid = try? CID(bytes: input) { #expect(cid.bytes == input) }
        if let multihash = try? Multihash(bytes: input) { #expect(multihash.bytes == input) }
        let text = String(decoding: random.mutate(texts.randomElement(using: &random)!), as: UTF8.self)
        if let cid = try? CID(string: text) { #expect(try CID(string: cid.description) == cid) }
    }
}
