import Codec
import Foundation
import TestSupport
import Testing

/// Parses a multiformats/multibase test CSV: a header `encoding, "<input>"` then `name, "<text>"` rows.
private func rows(_ file: String) throws -> (input: [UInt8], rows: [(String, String)])? {
    guard let data = Fixtures.vector("multiformats/multibase/\(file)") else { return nil }
    let lines = String(decoding: data, as: UTF8.self).split(separator: "\n").map(String.init)
    func quoted(_ line: String) -> (String, String) {
        let comma = line.firstIndex(of: ",")!
        let value = line[line.index(after: comma)...].trimmingCharacters(in: .whitespaces)
        return (String(line[..<comma]), String(value.dropFirst().dropLast()))
    }
    let header = quoted(lines[0]).1
    var input: [UInt8] = []
    var index = header.startIndex
    while index < header.endIndex {
        if header[index...].hasPrefix("\\x") {
            let hex = header[header.index(index, offsetBy: 2)..<header.index(index, offsetBy: 4)]
            input.append(UInt8(hex, radix: 16)!)
            index = header.index(index, offsetBy: 4)
        } else {
            input += Array(String(header[index]).utf8)
            index = header.index(after: index)
        }
    }
    return (input, lines.dropFirst().map(quoted))
}

@Test(arguments: ["basic.csv", "leading_zero.csv", "two_leading_zeros.csv"])
func multibaseVectorsEncodeAndDecode(file: String) throws {
    guard let (input, rows) = try rows(file) else { return }
    #expect(rows.count == 23)
    for (name, text) in rows {
        let base = try #require(Multibase(rawValue: name), "unsupported \(name)")
        #expect(base.encode(input) == text, "\(file) \(name)")
        let decoded = try Multibase.decode(text)
        #expect(decoded.base == base)
        #expect(decoded.bytes == input, "\(file) \(name)")
    }
}

@Test func multibaseDecodingIsCaseInsensitiveWhereTheBaseIs() throws {
    guard let (input, rows) = try rows("case_insensitivity.csv") else { return }
    #expect(rows.count == 12)
    for (name, text) in rows {
        let decoded = try Multibase.decode(text)
        #expect(decoded.base.rawValue == name)
        #expect(decoded.bytes == input, "\(name)")
    }
}

@Test func malformedMultibaseIsRejected() {
    for bad in [
        "", "q123", "z0OIl", "f6", "fzz", "bnbswy3dpeb3w64tmmq0", "mAAA=", "cnbswy3dpeb3w64tmmq=====", "MAB==", "🚀x",
        "b" + "a", "z" + String(repeating: "2", count: 5000),
    ] {
        #expect(throws: CodecError.self, "\(bad)") { try Multibase.decode(bad) }
    }
}

@Test func fuzzedMultibaseNeverCrashesAndRoundTrips() throws {
    var random = SeededRandom(seed: 58)
    let input = Array("yes mani !".utf8)
    let seeds = Multibase.allCases.map { Array($0.encode(input).utf8) }
    var accepted = 0
    for _ in 0..<100_000 {
        let text = String(decoding: random.mutate(seeds.randomElement(using: &random)!), as: UTF8.self)
        if let (base, bytes) = try? Multibase.decode(text) {
            accepted += 1
            #expect(try Multibase.decode(base.encode(bytes)).bytes == bytes)
        }
    }
    #expect(accepted > 0)
}
