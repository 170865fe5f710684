import Codec
import Crypto

/// The checks of an attribution proof that need no search: the response it names, its Merkle paths, its structure and
/// arithmetic, and the comparison with a recomputed proof.
///
/// The chain runs `checkClaim` when a claim is submitted; `AttributionFraudCheck` holds the one-witness fraud checks;
/// the full verification against every record (module `Attribution`) recomputes the proof and ends with `compare`.
public enum AttributionVerifier {
    /// The response is the one the proof was computed for: its keccak256 and length match.
    public static func checkResponse(_ proof: AttributionProof, response: [UInt8]) throws(AttributionProofError) {
        guard Keccak256.hash(response) == proof.responseHash, UInt64(response.count) == proof.responseLength else {
            throw .invalidProof("response hash or length differs")
        }
    }

    /// Every credited record's Merkle path reaches the proof's snapshot root.
    public static func checkPaths(_ proof: AttributionProof) throws(AttributionProofError) {
        for (spanIndex, span) in proof.spans.enumerated() {
            for record in span.records
            where !recordIsInSnapshot(
                index: record.index, contributor: record.contributor, recordHash: record.recordHash,
                path: record.path, snapshotRoot: proof.snapshotRoot, recordCount: proof.recordCount)
            {
                throw .invalidProof(
                    "span \(spanIndex): Merkle path of record \(record.index) does not reach the snapshot root")
            }
        }
    }

    /// Everything the chain can check of a claim without record bytes: `checkSubmission`, and the arithmetic
    /// recomputed from the span list.
    ///
    /// Throws naming the first problem.
    public static func checkClaim(
        _ proof: AttributionProof, response: [UInt8], against commitment: AttributionCommitment
    ) throws(AttributionProofError) {
        try checkSubmission(proof, response: response, against: commitment)
        guard AttributionFraudCheck.wrongArithmetic(proof) == .noFraud else {
            throw .invalidProof("contributor weights differ")
        }
    }

    /// What the ledger checks when a claim is submitted: the response, the committed snapshot and the network's
    /// parameters, the span list's shape (inside the response, at least L long, starts and ends rising, 1 … K records by
    /// rising index), every Merkle path, and the bounds of the arithmetic (contributors by strictly rising address,
    /// weights summing to at most SCALE), so that no claim can pay out more than its fee.
    ///
    /// The weights themselves are left to the wrong-arithmetic fraud proof (`AttributionFraudCheck.wrongArithmetic`).
    /// Throws naming the first problem.
    public static func checkSubmission(
        _ proof: AttributionProof, response: [UInt8], against commitment: AttributionCommitment
    ) throws(AttributionProofError) {
        func fail(_ why: String) -> AttributionProofError { .invalidProof(why) }
        let parameters = commitment.parameters
        try checkResponse(proof, response: response)
        guard proof.snapshotRoot == commitment.snapshotRoot, proof.recordCount == commitment.recordCount else {
            throw fail("cites another snapshot than the committed one")
        }
        guard proof.minSpan == UInt64(exactly: parameters.minSpan),
            proof.maxRecords == UInt64(exactly: parameters.maxRecords)
        else {
            throw fail(
                "L = \(proof.minSpan), K = \(proof.maxRecords); the network's are \(parameters.minSpan), \(parameters.maxRecords)"
            )
        }
        var previous: Range<Int>? = nil
        for (index, span) in proof.spans.enumerated() {
            guard let bounds = bounds(span, responseLength: response.count) else {
                throw fail("span \(index) lies outside the response")
            }
            guard bounds.count >= parameters.minSpan else { throw fail("span \(index) is shorter than L") }
            // ℓ(i) ≥ ℓ(i−1) at a span's start and ℓ(i) ≥ ℓ(i−1) − 1 everywhere: later spans start and end later.
            if let previous, bounds.lowerBound <= previous.lowerBound || bounds.upperBound <= previous.upperBound {
                throw fail("span \(index) does not start and end after span \(index - 1)")
            }
            previous = bounds
            guard !span.records.isEmpty, span.records.count <= parameters.maxRecords else {
                throw fail("span \(index) credits \(span.records.count) records")
            }
            guard zip(span.records, span.records.dropFirst()).allSatisfy({ $0.index < $1.index }) else {
                throw fail("span \(index): credited records are not in rising index order")
            }
        }
        try checkPaths(proof)
        let addresses = proof.contributors.map(\.address)
        guard zip(addresses, addresses.dropFirst()).allSatisfy({ $0 < $1 }) else {
            throw fail("contributors are not in rising address order")
        }
        var total: UInt128 = 0
        for contributor in proof.contributors {
            let (sum, overflow) = total.addingReportingOverflow(contributor.weight)
            guard !overflow, sum <= AttributionCredit.scale else { throw fail("weights sum above SCALE") }
            total = sum
        }
    }

    /// Requires `claimed` to equal `expected`, the proof recomputed from the snapshot's records; throws naming the
    /// first difference.
    public static func compare(_ claimed: AttributionProof, with expected: AttributionProof)
        throws(AttributionProofError)
    {
        func fail(_ why: String) -> AttributionProofError { .invalidProof(why) }
        if claimed.spans.count > expected.spans.count {
            throw fail("extra span: \(claimed.spans.count) claimed, \(expected.spans.count) exist")
        }
        if claimed.spans.count < expected.spans.count {
            throw fail("missing span: \(claimed.spans.count) claimed, \(expected.spans.count) exist")
        }
        for (index, (span, actual)) in zip(claimed.spans, expected.spans).enumerated() {
            guard span.start == actual.start, span.length == actual.length else {
                throw fail("span \(index): start or length differs")
            }
            guard span.records.map(\.index) == actual.records.map(\.index) else {
                throw fail("span \(index): credited records differ")
            }
            for (record, truth) in zip(span.records, actual.records) {
                guard record.offset == truth.offset else {
                    throw fail("span \(index): offset of record \(record.index) differs")
                }
                guard record.contributor == truth.contributor, record.recordHash == truth.recordHash else {
                    throw fail("span \(index): contributor or record hash of record \(record.index) differs")
                }
            }
        }
        guard claimed.contributors.map(\.address) == expected.contributors.map(\.address),
            claimed.contributors.map(\.weight) == expected.contributors.map(\.weight)
        else { throw fail("contributor weights differ") }
    }

    /// Whether a record with this contributor and hash sits at `index` of the snapshot with root `snapshotRoot`
    /// and `recordCount` records.
    public static func recordIsInSnapshot(
        index: UInt64, contributor: Address, recordHash: [UInt8], path: [[UInt8]], snapshotRoot: [UInt8],
        recordCount: UInt64
    ) -> Bool {
        SnapshotMerkleTree.verify(
            leaf: SnapshotMerkleTree.leaf(contributor: contributor, recordHash: recordHash), index: index,
            siblings: path, count: recordCount, snapshotRoot: snapshotRoot)
    }

    /// Whether a record with this contributor and hash sits at `index` of the proof's snapshot.
    public static func recordIsInSnapshot(
        index: UInt64, contributor: Address, recordHash: [UInt8], path: [[UInt8]], proof: AttributionProof
    ) -> Bool {
        recordIsInSnapshot(
            index: index, contributor: contributor, recordHash: recordHash, path: path,
            snapshotRoot: proof.snapshotRoot, recordCount: proof.recordCount)
    }

    /// The ℓ(p) the span list implies: the largest start + length − p over spans covering p (0 where none does).
    public static func claimedMatch(_ proof: AttributionProof, at position: Int) -> Int {
        guard position >= 0 else { return 0 }
        let point = UInt64(position)
        return proof.spans.filter { $0.start <= point && point - $0.start < $0.length }
            .map { Int(clamping: $0.length - (point - $0.start)) }.max() ?? 0
    }

    /// A span's byte range when it lies inside a response of `responseLength` bytes (no overflow on hostile input).
    static func bounds(_ span: AttributionProof.Span, responseLength: Int) -> Range<Int>? {
        let n = UInt64(responseLength)
        guard span.start <= n, span.length <= n - span.start else { return nil }
        return Int(span.start)..<Int(span.start + span.length)
    }
}
