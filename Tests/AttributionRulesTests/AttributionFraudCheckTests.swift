import Attribution
import Codec
import Crypto
import TestSupport
import Testing

@testable import AttributionRules

// Each fraud check run over many honest proofs finds nothing, and finds exactly its own fraud in a proof altered
// to commit it; evidence that is not the snapshot's, or not about the claim, does not count.

@Test(arguments: 0..<20)
func honestProofsSurviveEveryFraudCheck(seed: Int) throws {
    let (records, response, proof) = try scenario(seed: UInt64(seed))
    let chain = commitment(records)
    try AttributionVerifier.checkClaim(proof, response: response, against: chain)
    #expect(AttributionFraudCheck.wrongArithmetic(proof) == .noFraud)
    for (spanIndex, span) in proof.spans.enumerated() {
        for credited in span.records {
            let evidence = witness(records, Int(credited.index))
            #expect(
                AttributionFraudCheck.badSpan(
                    proof, response: response, spanIndex: spanIndex, witness: evidence, against: chain) == .noFraud)
            #expect(
                AttributionFraudCheck.shortOrMissingSpan(
                    proof, response: response, position: Int(span.start), length: Int(span.length),
                    offset: credited.offset, witness: evidence, against: chain) == .noFraud)
            #expect(
                AttributionFraudCheck.wrongCredit(
                    proof, response: response, spanIndex: spanIndex, offset: credited.offset, witness: evidence,
                    against: chain) == .noFraud)
        }
        // Every record that holds the span's bytes and is not credited ranks above the K credited ones.
        for index in records.indices where !span.records.contains(where: { $0.index == UInt64(index) }) {
            let bytes = response[Int(span.start)..<Int(span.start + span.length)]
            guard let offset = firstOffset(of: bytes, in: records[index].bytes) else { continue }
            #expect(
                AttributionFraudCheck.wrongCredit(
                    proof, response: response, spanIndex: spanIndex, offset: UInt64(offset),
                    witness: witness(records, index), against: chain) == .noFraud)
        }
    }
}

@Test func badSpanDetectsACreditedRecordThatLacksTheBytes() throws {
    let (records, response, proof) = try scenario(seed: 11)
    let chain = commitment(records)
    for spanIndex in proof.spans.indices {
        let credited = proof.spans[spanIndex].records[0]
        var lying = proof
        lying.spans[spanIndex].records[0].offset = UInt64(records[Int(credited.index)].bytes.count)  // past its end
        #expect(
            AttributionFraudCheck.badSpan(
                lying, response: response, spanIndex: spanIndex, witness: witness(records, Int(credited.index)),
                against: chain) == .fraud(.badSpan(span: spanIndex, record: credited.index)))
    }
    // A later occurrence of the span's bytes is not the first offset the proof must name.
    let repeated = try Address(bytes: [UInt8](repeating: 7, count: 20))
    let twice = [Record(contributor: repeated, bytes: Array("a hello world, and hello world!".utf8))]
    let answer = Array("hello world".utf8)
    let result = Attribution.attribute(answer, index: try AttributionIndex(records: twice), minSpan: 8, maxRecords: 2)
    let honest = AttributionProof(result: result, response: answer, records: twice, minSpan: 8, maxRecords: 2)
    let single = AttributionCommitment(
        snapshotRoot: honest.snapshotRoot, recordCount: 1, parameters: AttributionParameters(minSpan: 8, maxRecords: 2))
    #expect(honest.spans.count == 1 && honest.spans[0].records[0].offset == 2)
    #expect(
        AttributionFraudCheck.badSpan(
            honest, response: answer, spanIndex: 0, witness: witness(twice, 0), against: single)
            == .noFraud)
    var later = honest
    later.spans[0].records[0].offset = 19  // "hello world" occurs there too, but not first
    #expect(Array(twice[0].bytes[19..<30]) == answer)
    #expect(
        AttributionFraudCheck.badSpan(
            later, response: answer, spanIndex: 0, witness: witness(twice, 0), against: single)
            == .fraud(.badSpan(span: 0, record: 0)))

    // Not credited by the span, no such span, another response: the check does not apply.
    let uncredited = try #require(
        records.indices.first { index in !proof.spans[0].records.contains { $0.index == index } })
    #expect(
        AttributionFraudCheck.badSpan(
            proof, response: response, spanIndex: 0, witness: witness(records, uncredited), against: chain)
            == .inadmissible(.notCredited))
    #expect(
        AttributionFraudCheck.badSpan(
            proof, response: response, spanIndex: proof.spans.count, witness: witness(records, 0), against: chain)
            == .inadmissible(.noSuchSpan(proof.spans.count)))
    var other = response
    other[0] ^= 1
    #expect(
        AttributionFraudCheck.badSpan(
            proof, response: other, spanIndex: 0, witness: witness(records, Int(proof.spans[0].records[0].index)),
            against: chain) == .inadmissible(.responseMismatch))
}

@Test func shortOrMissingSpanDetectsALongerMatchThanClaimed() throws {
    let (records, response, proof) = try scenario(seed: 12)
    let chain = commitment(records)
    for spanIndex in proof.spans.indices {
        let span = proof.spans[spanIndex]
        let credited = span.records[0]
        let evidence = witness(records, Int(credited.index))
        var dropped = proof
        dropped.spans.remove(at: spanIndex)
        let claimed = AttributionVerifier.claimedMatch(dropped, at: Int(span.start))
        let verdict = AttributionFraudCheck.shortOrMissingSpan(
            dropped, response: response, position: Int(span.start), length: Int(span.length),
            offset: credited.offset, witness: evidence, against: chain)
        // Dropping a span leaves its start uncovered or covered less far: its own match proves the omission.
        #expect(claimed < Int(span.length))
        #expect(
            verdict
                == .fraud(
                    .shortOrMissingSpan(
                        position: Int(span.start), length: Int(span.length), claimed: claimed, record: credited.index)))
    }
    // A match shorter than L proves nothing, nor does a witness that does not hold what it is offered for.
    let span = proof.spans[0]
    let evidence = witness(records, Int(span.records[0].index))
    var uncovered = proof
    uncovered.spans.removeFirst()
    if AttributionVerifier.claimedMatch(uncovered, at: Int(span.start)) < 7 {
        #expect(
            AttributionFraudCheck.shortOrMissingSpan(
                uncovered, response: response, position: Int(span.start), length: 7, offset: span.records[0].offset,
                witness: evidence, against: chain) == .noFraud)
    }
    #expect(
        AttributionFraudCheck.shortOrMissingSpan(
            proof, response: response, position: Int(span.start), length: Int(span.length),
            offset: span.records[0].offset + 1, witness: evidence, against: chain) == .inadmissible(.witnessDoesNotHold)
    )
    #expect(
        AttributionFraudCheck.shortOrMissingSpan(
            proof, response: response, position: response.count + 1, length: 0, offset: 0, witness: evidence,
            against: chain) == .inadmissible(.witnessDoesNotHold))
}

@Test func wrongCreditDetectsAnOmittedOrDisplacedRecord() throws {
    let (records, response, proof) = try scenario(seed: 5)
    let chain = commitment(records)
    for spanIndex in proof.spans.indices {
        let span = proof.spans[spanIndex]
        // Omitting a credited record leaves the span short of K, or drops a lower index than one still credited.
        for (position, credited) in span.records.enumerated() {
            var omitted = proof
            omitted.spans[spanIndex].records.remove(at: position)
            #expect(
                AttributionFraudCheck.wrongCredit(
                    omitted, response: response, spanIndex: spanIndex, offset: credited.offset,
                    witness: witness(records, Int(credited.index)), against: chain)
                    == .fraud(.wrongCredit(span: spanIndex, record: credited.index)))
        }
    }
    // A witness that does not hold the span's bytes at the offset given proves nothing.
    let credited = proof.spans[0].records[0]
    var omitted = proof
    omitted.spans[0].records.removeFirst()
    #expect(
        AttributionFraudCheck.wrongCredit(
            omitted, response: response, spanIndex: 0, offset: credited.offset + 1,
            witness: witness(records, Int(credited.index)), against: chain) == .inadmissible(.witnessDoesNotHold))
}

@Test func wrongArithmeticDetectsEveryWeightChange() throws {
    let (_, _, proof) = try scenario(seed: 13)
    #expect(proof.contributors.count >= 2)
    var moved = proof  // the same total, split differently
    moved.contributors[0].weight += 1
    moved.contributors[1].weight -= 1
    var unordered = proof
    unordered.contributors.swapAt(0, 1)
    var split = proof  // one contributor listed twice, its weight halved in each entry
    let half = split.contributors[0].weight / 2
    split.contributors[0].weight -= half
    split.contributors.insert((split.contributors[0].address, half), at: 1)
    var dropped = proof
    dropped.contributors.removeLast()
    var longer = proof
    longer.responseLength += 1
    for bad in [moved, unordered, split, dropped, longer] {
        #expect(AttributionFraudCheck.wrongArithmetic(bad) == .fraud(.wrongArithmetic))
    }
    // A span list that cannot be evaluated is refused, not trapped on.
    var outside = proof
    outside.spans[0].length = UInt64.max
    #expect(AttributionFraudCheck.wrongArithmetic(outside) == .inadmissible(.malformedSpans))
    var huge = proof
    huge.responseLength = UInt64.max
    #expect(AttributionFraudCheck.wrongArithmetic(huge) == .inadmissible(.malformedSpans))
}

@Test func fraudChecksJudgeAgainstTheCommittedSnapshot() throws {
    let (records, response, proof) = try scenario(seed: 14)
    let credited = proof.spans[0].records[0]
    var otherRoot = commitment(records)
    otherRoot.snapshotRoot[0] ^= 1
    var otherCount = commitment(records)
    otherCount.recordCount += 1
    for chain in [otherRoot, otherCount] {
        #expect(
            AttributionFraudCheck.badSpan(
                proof, response: response, spanIndex: 0, witness: witness(records, Int(credited.index)), against: chain)
                == .inadmissible(.otherSnapshot))
        #expect(throws: AttributionProofError.self) {
            try AttributionVerifier.checkClaim(proof, response: response, against: chain)
        }
    }
    // A witness at an index it does not hold in the snapshot.
    var moved = witness(records, Int(credited.index))
    moved.index = (moved.index + 1) % UInt64(records.count)
    #expect(
        AttributionFraudCheck.badSpan(
            proof, response: response, spanIndex: 0, witness: moved, against: commitment(records))
            == .inadmissible(.witnessNotInSnapshot))
}

@Test func claimChecksRefuseMalformedSpanLists() throws {
    let (records, response, proof) = try scenario(seed: 15)
    let chain = commitment(records)
    try AttributionVerifier.checkClaim(proof, response: response, against: chain)
    var cases: [(String, AttributionProof)] = []
    var copy = proof
    copy.minSpan += 1
    cases.append(("L", copy))
    copy = proof
    copy.maxRecords += 1
    cases.append(("K", copy))
    copy = proof
    copy.spans[0].length = UInt64(response.count) + 1
    cases.append(("outside the response", copy))
    copy = proof
    copy.spans[0].length = 7
    cases.append(("shorter than L", copy))
    copy = proof
    copy.spans.swapAt(0, 1)
    cases.append(("out of order", copy))
    copy = proof
    copy.spans[0].records = []
    cases.append(("no records", copy))
    copy = proof
    copy.spans[0].records += copy.spans[0].records + copy.spans[0].records
    cases.append(("more than K", copy))
    copy = proof
    copy.spans[0].records.reverse()
    copy.spans[0].records.append(copy.spans[0].records[0])
    cases.append(("records not rising", copy))
    copy = proof
    copy.spans[0].records[0].path[5][0] ^= 1
    cases.append(("Merkle path", copy))
    copy = proof
    copy.contributors[0].weight += 1
    cases.append(("weights", copy))
    for (name, bad) in cases {
        #expect(throws: AttributionProofError.self, "\(name)") {
            try AttributionVerifier.checkClaim(bad, response: response, against: chain)
        }
    }
    #expect(throws: AttributionProofError.self) {
        try AttributionVerifier.checkClaim(proof, response: Array(response.dropLast()), against: chain)
    }
}

@Test(arguments: 0..<50)
func creditArithmeticMatchesItsPerByteDefinition(seed: Int) {
    var random = SeededRandom(seed: UInt64(seed))
    let n = 1 + Int(random.next() % 200)
    let spans = (0..<Int(random.next() % 12)).map { _ -> AttributionSpan in
        let start = Int(random.next() % UInt64(n))
        let length = Int(random.next() % UInt64(n - start + 1))
        let records = (0..<Int(random.next() % 4)).map { _ in (index: Int(random.next() % 9), offset: 0) }
        return AttributionSpan(start: start, length: length, records: records)
    }
    // §8 byte by byte: c(p) spans cover p; each record of each covering span gets floor(floor(SCALE / c(p)) / k).
    var units: [Int: UInt128] = [:]
    var covered = 0
    for position in 0..<n {
        let covering = spans.filter { $0.start <= position && position < $0.start + $0.length }
        if covering.isEmpty { continue }
        covered += 1
        for span in covering where !span.records.isEmpty {
            let share = AttributionCredit.scale / UInt128(covering.count) / UInt128(span.records.count)
            for record in span.records { units[record.index, default: 0] += share }
        }
    }
    var expected = units.mapValues { $0 / UInt128(n) }
    let total = spans.isEmpty ? 0 : AttributionCredit.scale * UInt128(covered) / UInt128(n)
    if let lowest = expected.keys.min() { expected[lowest]! += total - expected.values.reduce(0, +) }
    let (weights, share) = AttributionCredit.weights(spans: spans, responseLength: n)
    #expect(weights == expected)
    #expect(share == total)
}

/// The first offset of `pattern` in `bytes`.
private func firstOffset(of pattern: ArraySlice<UInt8>, in bytes: [UInt8]) -> Int? {
    guard pattern.count <= bytes.count else { return nil }
    return (0...(bytes.count - pattern.count)).first { bytes[$0..<($0 + pattern.count)].elementsEqual(pattern) }
}
