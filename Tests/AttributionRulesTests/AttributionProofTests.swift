import Attribution
import Codec
import Crypto
import TestSupport
import Testing

@testable import AttributionRules

/// A snapshot and response with several overlapping spans and shared records; the honest proof comes from the
/// real search (module `Attribution`), L = 8, K = 2.
func scenario(seed: UInt64) throws -> (records: [Record], response: [UInt8], proof: AttributionProof) {
    var random = SeededRandom(seed: seed)
    let words = ["model", "data", "attribution", "token", "ledger", "peer", "proof", "span", "record", "open"]
    func sentence(_ count: Int) -> [UInt8] {
        Array((0..<count).map { _ in words.randomElement(using: &random)! }.joined(separator: " ").utf8)
    }
    let contributors = try (0..<3).map { _ in try Address(bytes: random.bytes(20)) }
    var records = (0..<8).map { index in Record(contributor: contributors[index % 3], bytes: sentence(12)) }
    records.append(Record(contributor: contributors[1], bytes: records[2].bytes))  // a duplicate, higher index
    var response = Array(records[2].bytes[5...]) + Array(" and ".utf8) + Array(records[6].bytes.prefix(40))
    response += sentence(3)
    let result = Attribution.attribute(
        response, index: try AttributionIndex(records: records), minSpan: 8, maxRecords: 2)
    #expect(result.spans.count >= 2)
    return (
        records, response,
        AttributionProof(result: result, response: response, records: records, minSpan: 8, maxRecords: 2)
    )
}

@Test func proofsRoundTripAndVerify() throws {
    for seed in 0..<50 {
        let (records, response, proof) = try scenario(seed: UInt64(seed))
        #expect(try AttributionProof(encoded: proof.encoded) == proof)
        try AttributionVerifier.verify(proof, response: response, records: records)
        #expect(AttributionFraudCheck.wrongArithmetic(proof) == .noFraud)
        #expect(proof.contributors.map(\.weight).reduce(0, +) > 0)
    }
}

@Test func everyTamperingIsRejected() throws {
    let (records, response, proof) = try scenario(seed: 3)
    var tampered: [(String, AttributionProof)] = []
    var copy = proof
    copy.spans[0].records[0].offset += 1
    tampered.append(("offset", copy))
    copy = proof
    copy.spans[0].records[0].recordHash[0] ^= 1
    tampered.append(("byte", copy))
    copy = proof
    copy.spans[0].records[0].index += 1
    tampered.append(("record index", copy))
    copy = proof
    copy.contributors[0].weight += 1
    tampered.append(("weight", copy))
    copy = proof
    copy.spans[0].records[0].path[3][7] ^= 1
    tampered.append(("Merkle path", copy))
    copy = proof
    copy.spans.removeLast()
    tampered.append(("omitted span", copy))
    copy = proof
    copy.spans.append(copy.spans[0])
    tampered.append(("extra span", copy))
    copy = proof
    copy.contributors.swapAt(0, copy.contributors.count - 1)
    tampered.append(("swapped contributor", copy))
    copy = proof
    copy.spans[0].records[0].contributor =
        records[(Int(copy.spans[0].records[0].index) + 1) % records.count].contributor
    tampered.append(("record contributor", copy))
    for (name, bad) in tampered {
        #expect(throws: AttributionError.self, "\(name)") {
            try AttributionVerifier.verify(bad, response: response, records: records)
        }
    }
    var altered = response
    altered[0] ^= 1
    #expect(throws: AttributionError.self) {
        try AttributionVerifier.verify(proof, response: altered, records: records)
    }
    #expect(throws: AttributionProofError.self) { try AttributionProof(encoded: Array(proof.encoded.dropLast())) }
    var random = SeededRandom(seed: 77)
    for _ in 0..<20_000 {
        if let decoded = try? AttributionProof(encoded: random.mutate(proof.encoded)) {
            #expect(decoded.encoded.count > 0)
        }
    }
}

/// The commitment the chain holds for the scenario's snapshot, with its L = 8 and K = 2.
func commitment(_ records: [Record]) -> AttributionCommitment {
    let leaves = records.map { SnapshotMerkleTree.leaf(contributor: $0.contributor, record: $0.bytes) }
    return AttributionCommitment(
        snapshotRoot: SnapshotMerkleTree(leaves: leaves).snapshotRoot, recordCount: UInt64(records.count),
        parameters: AttributionParameters(minSpan: 8, maxRecords: 2))
}

/// Record `index` of `records` with its Merkle path, as a fraud proof offers it.
func witness(_ records: [Record], _ index: Int) -> AttributionWitness {
    let leaves = records.map { SnapshotMerkleTree.leaf(contributor: $0.contributor, record: $0.bytes) }
    return AttributionWitness(
        index: UInt64(index), contributor: records[index].contributor, bytes: records[index].bytes,
        path: SnapshotMerkleTree.proof(leaves: leaves, index: index))
}

@Test func fraudChecksAcceptValidWitnessesAndRejectInvalidOnes() throws {
    let (records, response, proof) = try scenario(seed: 5)
    let leaves = records.map { SnapshotMerkleTree.leaf(contributor: $0.contributor, record: $0.bytes) }
    let chain = commitment(records)
    func witness(_ index: Int) -> AttributionWitness { AttributionRulesTests.witness(records, index) }
    let span = proof.spans[0]
    let credited = Int(span.records[0].index)

    // Bad span: honest proof — no fraud; a proof with a wrong offset — fraud, proven by the record itself.
    #expect(
        AttributionFraudCheck.badSpan(
            proof, response: response, spanIndex: 0, witness: witness(credited), against: chain)
            == .noFraud)
    var badOffset = proof
    badOffset.spans[0].records[0].offset += 1
    #expect(
        AttributionFraudCheck.badSpan(
            badOffset, response: response, spanIndex: 0, witness: witness(credited), against: chain)
            == .fraud(.badSpan(span: 0, record: UInt64(credited))))
    var forged = witness(credited)
    forged.bytes[0] ^= 1  // a witness that is not the snapshot's record proves nothing
    #expect(
        AttributionFraudCheck.badSpan(badOffset, response: response, spanIndex: 0, witness: forged, against: chain)
            == .inadmissible(.witnessNotInSnapshot))

    // Short or missing span: honest — the true match is not longer; shortened span — fraud.
    let start = Int(span.start)
    let length = Int(span.length)
    let offset = span.records[0].offset
    #expect(
        AttributionFraudCheck.shortOrMissingSpan(
            proof, response: response, position: start, length: length, offset: offset, witness: witness(credited),
            against: chain) == .noFraud)
    var short = proof
    short.spans[0].length -= 1
    #expect(
        AttributionFraudCheck.shortOrMissingSpan(
            short, response: response, position: start, length: length, offset: offset, witness: witness(credited),
            against: chain)
            == .fraud(
                .shortOrMissingSpan(position: start, length: length, claimed: length - 1, record: UInt64(credited))))
    var missing = proof
    missing.spans.removeFirst()
    if AttributionVerifier.claimedMatch(missing, at: start) < length {
        #expect(
            AttributionFraudCheck.shortOrMissingSpan(
                missing, response: response, position: start, length: length, offset: offset,
                witness: witness(credited), against: chain)
                == .fraud(
                    .shortOrMissingSpan(
                        position: start, length: length, claimed: AttributionVerifier.claimedMatch(missing, at: start),
                        record: UInt64(credited))))
    }

    // Wrong credit: the duplicate record 8 holds record 2's bytes; crediting 8 instead of 2 is fraud.
    let duplicateSpan = try #require(proof.spans.firstIndex { $0.records.contains { $0.index == 2 } })
    var wrong = proof
    let position = wrong.spans[duplicateSpan].records.firstIndex { $0.index == 2 }!
    wrong.spans[duplicateSpan].records[position].index = 8
    wrong.spans[duplicateSpan].records[position].path = SnapshotMerkleTree.proof(leaves: leaves, index: 8)
    wrong.spans[duplicateSpan].records.sort { $0.index < $1.index }
    let honestOffset = proof.spans[duplicateSpan].records[position].offset
    #expect(
        AttributionFraudCheck.wrongCredit(
            wrong, response: response, spanIndex: duplicateSpan, offset: honestOffset, witness: witness(2),
            against: chain) == .fraud(.wrongCredit(span: duplicateSpan, record: 2)))
    #expect(
        AttributionFraudCheck.wrongCredit(
            proof, response: response, spanIndex: duplicateSpan, offset: honestOffset, witness: witness(2),
            against: chain) == .noFraud)

    // Wrong arithmetic.
    var inflated = proof
    inflated.contributors[0].weight += 1
    #expect(AttributionFraudCheck.wrongArithmetic(inflated) == .fraud(.wrongArithmetic))
    #expect(AttributionFraudCheck.wrongArithmetic(proof) == .noFraud)
}
