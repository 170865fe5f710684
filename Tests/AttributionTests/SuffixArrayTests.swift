import TestSupport
import Testing

@testable import Attribution

/// The naive suffix array: sort suffixes by comparing them.
private func naive(_ text: [Int32]) -> [Int32] {
    (0..<text.count).sorted { a, b in text[a...].lexicographicallyPrecedes(text[b...]) }.map { Int32($0) }
}

@Test func suffixArrayMatchesNaiveSorting() {
    var random = SeededRandom(seed: 42)
    #expect(SuffixArray.build(Array("banana".utf8).map { Int32($0) }, alphabetSize: 256) == [5, 3, 1, 0, 4, 2])
    for trial in 0..<2_000 {
        let alphabet = [1, 2, 3, 4, 26, 256][trial % 6]
        let length = Int.random(in: 0...(trial % 10 == 0 ? 600 : 60), using: &random)
        let text = (0..<length).map { _ in Int32(Int.random(in: 0..<alphabet, using: &random)) }
        #expect(SuffixArray.build(text, alphabetSize: alphabet) == naive(text), "trial \(trial)")
    }
    // Periodic texts are the hard case for induced sorting.
    for period in 1...7 {
        let text = (0..<500).map { Int32($0 % period) }
        #expect(SuffixArray.build(text, alphabetSize: 8) == naive(text))
    }
}
