import Chain
import Codec
import Crypto

/// Checks attribution proofs: in full, given every record of the snapshot, and by the four one-witness fraud
/// checks the chain runs (DESIGN.md §8), each a pure function of one record, its Merkle path and the claim.
public enum AttributionVerifier {
    /// Verifies `proof` for `response` against the whole snapshot `records`: the root, every Merkle path, and
    /// every span, credited record, offset and weight, by recomputing the attribution. Throws naming the first
    /// difference.
    public static func verify(_ proof: AttributionProof, response: [UInt8], records: [Record]) throws(AttributionError)
    {
        func fail(_ why: String) -> AttributionError { .invalidProof(why) }
        guard Keccak256.hash(response) == proof.responseHash, UInt64(response.count) == proof.responseLength else {
            throw fail("response hash or length differs")
        }
        guard proof.recordCount == UInt64(records.count) else {
            throw fail("record count \(proof.recordCount), snapshot has \(records.count)")
        }
        let leaves = records.map { SnapshotMerkleTree.leaf(contributor: $0.contributor, record: $0.bytes) }
        guard SnapshotMerkleTree(leaves: leaves).snapshotRoot == proof.snapshotRoot else {
            throw fail("snapshot root does not match the records")
        }
        for (spanIndex, span) in proof.spans.enumerated() {
            for record in span.records {
                guard
                    recordIsInSnapshot(
                        index: record.index, contributor: record.contributor, recordHash: record.recordHash,
                        path: record.path,
                        proof: proof)
                else {
                    throw fail(
                        "span \(spanIndex): Merkle path of record \(record.index) does not reach the snapshot root")
                }
            }
        }
        let result = Attribution.attribute(
            response, shards: try AttributionIndex.build(records: records), minSpan: Int(proof.minSpan),
            maxRecords: Int(proof.maxRecords))
        let expected = AttributionProof(
            result: result, response: response, records: records, minSpan: Int(proof.minSpan),
            maxRecords: Int(proof.maxRecords))
        if proof.spans.count > expected.spans.count {
            throw fail("extra span: \(proof.spans.count) claimed, \(expected.spans.count) exist")
        }
        if proof.spans.count < expected.spans.count {
            throw fail("missing span: \(proof.spans.count) claimed, \(expected.spans.count) exist")
        }
        for (index, (claimed, actual)) in zip(proof.spans, expected.spans).enumerated() {
            guard claimed.start == actual.start, claimed.length == actual.length else {
                throw fail("span \(index): start or length differs")
            }
            guard claimed.records.map(\.index) == actual.records.map(\.index) else {
                throw fail("span \(index): credited records differ")
            }
            for (record, truth) in zip(claimed.records, actual.records) {
                guard record.offset == truth.offset else {
                    throw fail("span \(index): offset of record \(record.index) differs")
                }
                guard record.contributor == truth.contributor, record.recordHash == truth.recordHash else {
                    throw fail("span \(index): contributor or record hash of record \(record.index) differs")
                }
            }
        }
        guard proof.contributors.map(\.address) == expected.contributors.map(\.address),
            proof.contributors.map(\.weight) == expected.contributors.map(\.weight)
        else { throw fail("contributor weights differ") }
    }

    /// Whether a record with this contributor and hash sits at `index` of the proof's snapshot.
    public static func recordIsInSnapshot(
        index: UInt64, contributor: Address, recordHash: [UInt8], path: [[UInt8]], proof: AttributionProof
    ) -> Bool {
        SnapshotMerkleTree.verify(
            leaf: SnapshotMerkleTree.leaf(contributor: contributor, recordHash: recordHash), index: index,
            siblings: path,
            count: proof.recordCount, snapshotRoot: proof.snapshotRoot)
    }

    /// A record of the snapshot offered as evidence: its index, contributor, bytes and Merkle path.
    public struct Witness: Sendable {
        public var index: UInt64
        public var contributor: Address
        public var bytes: [UInt8]
        public var path: [[UInt8]]

        public init(index: UInt64, contributor: Address, bytes: [UInt8], path: [[UInt8]]) {
            self.index = index
            self.contributor = contributor
            self.bytes = bytes
            self.path = path
        }
    }

    private static func valid(_ witness: Witness, _ proof: AttributionProof) -> Bool {
        recordIsInSnapshot(
            index: witness.index, contributor: witness.contributor, recordHash: Keccak256.hash(witness.bytes),
            path: witness.path, proof: proof)
    }

    private static func holds(_ witness: Witness, _ response: [UInt8], start: Int, length: Int, offset: Int) -> Bool {
        offset >= 0 && length >= 0 && start >= 0 && start + length <= response.count
            && offset + length <= witness.bytes.count
            && witness.bytes[offset..<(offset + length)].elementsEqual(response[start..<(start + length)])
    }

    /// Bad span: the proof credits `witness` for span `spanIndex`, but the record does not hold the span's bytes
    /// at the claimed offset. True when the fraud is proven.
    public static func badSpan(_ proof: AttributionProof, spanIndex: Int, witness: Witness, response: [UInt8]) -> Bool {
        guard valid(witness, proof), Keccak256.hash(response) == proof.responseHash, spanIndex < proof.spans.count
        else {
            return false
        }
        let span = proof.spans[spanIndex]
        guard let credited = span.records.first(where: { $0.index == witness.index }) else { return false }
        return !holds(witness, response, start: Int(span.start), length: Int(span.length), offset: Int(credited.offset))
    }

    /// The ℓ(p) the span list implies (0 where no span covers p).
    public static func claimedMatch(_ proof: AttributionProof, at position: Int) -> Int {
        proof.spans.filter { Int($0.start) <= position && position < Int($0.start + $0.length) }
            .map { Int($0.start + $0.length) - position }.max() ?? 0
    }

    /// Short or missing span: `witness` holds response[position ..< position + length] at `offset`, a match
    /// of at least L that is longer than what the span list claims there. True when the fraud is proven.
    public static func shortOrMissingSpan(
        _ proof: AttributionProof, position: Int, length: Int, witness: Witness, offset: Int, response: [UInt8]
    ) -> Bool {
        guard valid(witness, proof), Keccak256.hash(response) == proof.responseHash else { return false }
        return length >= Int(proof.minSpan) && length > claimedMatch(proof, at: position)
            && holds(witness, response, start: position, length: length, offset: offset)
    }

    /// Wrong credit: `witness` holds span `spanIndex`'s bytes at `offset` but is not credited although its index
    /// is lower than a credited record's (or the span credits fewer than K). True when the fraud is proven.
    public static func wrongCredit(
        _ proof: AttributionProof, spanIndex: Int, witness: Witness, offset: Int, response: [UInt8]
    ) -> Bool {
        guard valid(witness, proof), Keccak256.hash(response) == proof.responseHash, spanIndex < proof.spans.count
        else {
            return false
        }
        let span = proof.spans[spanIndex]
        guard !span.records.contains(where: { $0.index == witness.index }) else { return false }
        let displaces = span.records.count < Int(proof.maxRecords) || span.records.contains { $0.index > witness.index }
        return displaces && holds(witness, response, start: Int(span.start), length: Int(span.length), offset: offset)
    }

    /// Wrong arithmetic: the weights recomputed from the proof's own span list differ from the claimed ones.
    public static func wrongArithmetic(_ proof: AttributionProof) -> Bool {
        let spans = proof.spans.map { span in
            AttributionSpan(
                start: Int(span.start), length: Int(span.length),
                records: span.records.map { (Int($0.index), Int($0.offset)) })
        }
        let (weights, _) = Attribution.credit(spans: spans, responseLength: Int(proof.responseLength))
        var contributorOf: [Int: Address] = [:]
        for span in proof.spans { for record in span.records { contributorOf[Int(record.index)] = record.contributor } }
        var expected: [Address: UInt128] = [:]
        for (record, weight) in weights { expected[contributorOf[record] ?? .zero, default: 0] += weight }
        let claimed = Dictionary(proof.contributors.map { ($0.address, $0.weight) }, uniquingKeysWith: +)
        return claimed != expected || proof.contributors.map(\.address) != proof.contributors.map(\.address).sorted()
    }
}
