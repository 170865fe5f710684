import AttributionRules
import CAttributionKernels
import Codec
import TestSupport
import Testing

@testable import Attribution

/// The suffix array of a shard equals sorting its text's suffixes naively, those starting with a separator left
/// out; the prefix table counts every two-byte prefix.
@Test(arguments: 0..<60)
func suffixArrayMatchesNaiveSorting(seed: Int) throws {
    var random = SeededRandom(seed: UInt64(seed))
    let alphabet: [UInt8] = seed % 3 == 0 ? [0x61] : seed % 3 == 1 ? Array("ab".utf8) : (0...254).map { UInt8($0) }
    let contributor = try Address(bytes: random.bytes(20))
    let records = (0..<Int.random(in: 0...8, using: &random)).map { _ in
        Record(
            contributor: contributor,
            bytes: (0..<Int.random(in: 0...30, using: &random)).map { _ in alphabet.randomElement(using: &random)! })
    }
    let index = try AttributionIndex(records: records)
    var text: [UInt8] = []
    for record in records { text += record.bytes + [0xFF] }
    #expect(Array(index.text) == text)
    let naive = text.indices.filter { text[$0] != 0xFF }.sorted {
        text[$0...].lexicographicallyPrecedes(text[$1...])
    }
    #expect(index.suffixes.map(Int.init) == naive)
    for (rank, position) in naive.enumerated() {
        let pair = Int(text[position]) << 8 | Int(text[position + 1])
        #expect(Int(index.pairs[pair]) <= rank && rank < Int(index.pairs[pair + 1]))
    }
}

/// XXH64 known answers (the reference implementation's published values).
@Test func xxh64KnownAnswers() {
    func hash(_ text: String, seed: UInt64 = 0) -> UInt64 {
        Array(text.utf8).withUnsafeBytes { ola_xxh64($0.baseAddress, $0.count, seed) }
    }
    #expect(hash("") == 0xEF46_DB37_51D8_E999)
    #expect(hash("a") == 0xD24E_C4F1_A98C_6E5B)
    #expect(hash("abc") == 0x44BC_2CF5_AD77_0999)
    let long = String(repeating: "Nobody inspects the spammish repetition", count: 3)  // 117 bytes: the 32-byte rounds
    #expect(hash(long) == 0x0367_2E8D_8944_3A6F)
    #expect(hash(long, seed: 7) == 0xE4E9_DC5A_2129_90F7)
}
