import Codec
import Crypto

/// A record of the snapshot offered as evidence: its index, contributor, bytes and Merkle path.
public struct AttributionWitness: Hashable, Sendable {
    /// The record's index in the snapshot.
    public var index: UInt64
    /// The record's contributor.
    public var contributor: Address
    /// The record's bytes.
    public var bytes: [UInt8]
    /// The record leaf's 32 Merkle siblings, from the leaf up.
    public var path: [[UInt8]]

    /// A witness for record `index`.
    public init(index: UInt64, contributor: Address, bytes: [UInt8], path: [[UInt8]]) {
        self.index = index
        self.contributor = contributor
        self.bytes = bytes
        self.path = path
    }
}

/// A wrong claim a fraud check proved.
public enum AttributionFraud: Hashable, Sendable {
    /// The record credited for span `span` does not hold the span's bytes first at the claimed offset.
    case badSpan(span: Int, record: UInt64)
    /// The record holds a match of `length` bytes (≥ L) at `position`, longer than the `claimed` ℓ there.
    case shortOrMissingSpan(position: Int, length: Int, claimed: Int, record: UInt64)
    /// The record holds span `span`'s bytes and is owed a credit the span gives elsewhere or not at all.
    case wrongCredit(span: Int, record: UInt64)
    /// The weights recomputed from the proof's own span list differ from the claimed ones (or are out of order).
    case wrongArithmetic
    /// The serving peer also signed another response for the same request.
    case wrongResponse
}

/// Why evidence offered to a fraud check does not count.
public enum InadmissibleEvidence: Error, Hashable, Sendable {
    /// The response does not hash to the proof's response hash, or its length differs.
    case responseMismatch
    /// The proof names another snapshot than the committed one (a claim `checkClaim` refuses at submission).
    case otherSnapshot
    /// The witness's leaf and Merkle path do not reach the committed snapshot root.
    case witnessNotInSnapshot
    /// The proof has no span with this index, or the span lies outside the response.
    case noSuchSpan(Int)
    /// Bad span: the span does not credit the witness.
    case notCredited
    /// The witness does not hold the bytes it is offered for at the offset given.
    case witnessDoesNotHold
    /// The span list cannot be evaluated: a span outside the response, or an index no snapshot has.
    case malformedSpans
    /// Wrong response: the other receipt is not signed by the serving peer, or is for another request.
    case notTheServingPeersReceipt
}

/// The outcome of a fraud check.
public enum FraudVerdict: Hashable, Sendable {
    /// The evidence proves the claim wrong.
    case fraud(AttributionFraud)
    /// The evidence is sound and the claim stands against it.
    case noFraud
    /// The evidence does not count.
    case inadmissible(InadmissibleEvidence)
}

/// The four one-witness fraud checks of PoA-SA v1 (DESIGN.md §8), each a pure function of the claim (proof and
/// response), at most one record with its Merkle path, and the commitment the chain holds; and the wrong-response
/// check of a serving peer's two receipts.
public enum AttributionFraudCheck {
    /// Bad span: `witness` is credited for span `spanIndex`, but does not hold the span's bytes at the offset the
    /// proof names, or holds them first at a lower offset (the proof must name the first).
    public static func badSpan(
        _ proof: AttributionProof, response: [UInt8], spanIndex: Int, witness: AttributionWitness,
        against commitment: AttributionCommitment
    ) -> FraudVerdict {
        let span: AttributionProof.Span
        let bounds: Range<Int>
        switch admittedSpan(proof, response: response, spanIndex: spanIndex, witness: witness, commitment) {
        case .failure(let problem): return .inadmissible(problem)
        case .success(let found): (span, bounds) = found
        }
        guard let credited = span.records.first(where: { $0.index == witness.index }) else {
            return .inadmissible(.notCredited)
        }
        return firstOffset(of: response[bounds], in: witness.bytes) == credited.offset
            ? .noFraud : .fraud(.badSpan(span: spanIndex, record: witness.index))
    }

    /// Short or missing span: `witness` holds response[position ..< position + length] at `offset`, a match of at
    /// least L that is longer than the ℓ the span list implies at `position`.
    public static func shortOrMissingSpan(
        _ proof: AttributionProof, response: [UInt8], position: Int, length: Int, offset: UInt64,
        witness: AttributionWitness, against commitment: AttributionCommitment
    ) -> FraudVerdict {
        if let problem = admit(proof, response: response, witness: witness, commitment) {
            return .inadmissible(problem)
        }
        guard position >= 0, length >= 0, position <= response.count, length <= response.count - position,
            holds(witness, response[position..<(position + length)], at: offset)
        else { return .inadmissible(.witnessDoesNotHold) }
        let claimed = AttributionVerifier.claimedMatch(proof, at: position)
        guard length >= commitment.parameters.minSpan, length > claimed else { return .noFraud }
        return .fraud(.shortOrMissingSpan(position: position, length: length, claimed: claimed, record: witness.index))
    }

    /// Wrong credit: `witness` holds span `spanIndex`'s bytes at `offset` and is not credited, although its index
    /// is lower than a credited record's or the span credits fewer than K records.
    public static func wrongCredit(
        _ proof: AttributionProof, response: [UInt8], spanIndex: Int, offset: UInt64, witness: AttributionWitness,
        against commitment: AttributionCommitment
    ) -> FraudVerdict {
        let span: AttributionProof.Span
        let bounds: Range<Int>
        switch admittedSpan(proof, response: response, spanIndex: spanIndex, witness: witness, commitment) {
        case .failure(let problem): return .inadmissible(problem)
        case .success(let found): (span, bounds) = found
        }
        guard holds(witness, response[bounds], at: offset) else { return .inadmissible(.witnessDoesNotHold) }
        guard !span.records.contains(where: { $0.index == witness.index }) else { return .noFraud }
        let displaces =
            span.records.count < commitment.parameters.maxRecords || span.records.contains { $0.index > witness.index }
        return displaces ? .fraud(.wrongCredit(span: spanIndex, record: witness.index)) : .noFraud
    }

    /// Wrong arithmetic: the weights recomputed from the proof's own span list (`AttributionCredit`) differ from the
    /// claimed ones, or the contributors are not in strictly increasing address order.
    ///
    /// Needs no witness.
    public static func wrongArithmetic(_ proof: AttributionProof) -> FraudVerdict {
        guard let n = Int(exactly: proof.responseLength) else { return .inadmissible(.malformedSpans) }
        var spans: [AttributionSpan] = []
        var contributorOf: [Int: Address] = [:]
        for span in proof.spans {
            guard let bounds = AttributionVerifier.bounds(span, responseLength: n) else {
                return .inadmissible(.malformedSpans)
            }
            var records: [(index: Int, offset: Int)] = []
            for record in span.records {
                // A snapshot holds at most 2^32 records.
                guard record.index < UInt64(1) << 32 else { return .inadmissible(.malformedSpans) }
                records.append((Int(record.index), Int(clamping: record.offset)))
                contributorOf[Int(record.index)] = record.contributor
            }
            spans.append(AttributionSpan(start: bounds.lowerBound, length: bounds.count, records: records))
        }
        let (weights, _) = AttributionCredit.weights(spans: spans, responseLength: n)
        var expected: [Address: UInt128] = [:]
        for (record, weight) in weights { expected[contributorOf[record] ?? .zero, default: 0] += weight }
        let addresses = proof.contributors.map(\.address)
        let claimed = Dictionary(proof.contributors.map { ($0.address, $0.weight) }, uniquingKeysWith: +)
        let ordered = zip(addresses, addresses.dropFirst()).allSatisfy { $0 < $1 }
        return claimed == expected && ordered ? .noFraud : .fraud(.wrongArithmetic)
    }

    /// Wrong response: a receipt the serving peer signed (`signedByServingPeer`, checked by the caller, which knows the
    /// signature domain) for the claimed request, naming another response hash than the claimed receipt.
    ///
    /// Needs no record: the peer contradicts itself.
    public static func wrongResponse(
        claimedRequest: [UInt8], claimedResponse: [UInt8], otherRequest: [UInt8], otherResponse: [UInt8],
        signedByServingPeer: Bool
    ) -> FraudVerdict {
        guard signedByServingPeer, otherRequest == claimedRequest else {
            return .inadmissible(.notTheServingPeersReceipt)
        }
        return otherResponse == claimedResponse ? .noFraud : .fraud(.wrongResponse)
    }

    /// Why the claim and witness cannot be judged, or nil when they can: the response must be the proof's, the
    /// proof must cite the committed snapshot, and the witness must sit in it.
    static func admit(
        _ proof: AttributionProof, response: [UInt8], witness: AttributionWitness, _ commitment: AttributionCommitment
    ) -> InadmissibleEvidence? {
        guard (try? AttributionVerifier.checkResponse(proof, response: response)) != nil else {
            return .responseMismatch
        }
        guard proof.snapshotRoot == commitment.snapshotRoot, proof.recordCount == commitment.recordCount else {
            return .otherSnapshot
        }
        guard
            AttributionVerifier.recordIsInSnapshot(
                index: witness.index, contributor: witness.contributor, recordHash: Keccak256.hash(witness.bytes),
                path: witness.path, snapshotRoot: commitment.snapshotRoot, recordCount: commitment.recordCount)
        else { return .witnessNotInSnapshot }
        return nil
    }

    /// The evidence admitted (`admit`) and span `spanIndex` with its response bounds, or why it does not count.
    static func admittedSpan(
        _ proof: AttributionProof, response: [UInt8], spanIndex: Int, witness: AttributionWitness,
        _ commitment: AttributionCommitment
    ) -> Result<(AttributionProof.Span, Range<Int>), InadmissibleEvidence> {
        if let problem = admit(proof, response: response, witness: witness, commitment) { return .failure(problem) }
        guard let found = span(proof, spanIndex, response) else { return .failure(.noSuchSpan(spanIndex)) }
        return .success(found)
    }

    /// Span `index` of the proof and its byte range, when it exists and lies inside the response.
    static func span(_ proof: AttributionProof, _ index: Int, _ response: [UInt8]) -> (
        AttributionProof.Span, Range<Int>
    )? {
        guard proof.spans.indices.contains(index),
            let bounds = AttributionVerifier.bounds(proof.spans[index], responseLength: response.count)
        else { return nil }
        return (proof.spans[index], bounds)
    }

    /// The first offset at which `bytes` occur in `record`, if they do.
    static func firstOffset(of bytes: ArraySlice<UInt8>, in record: [UInt8]) -> UInt64? {
        guard bytes.count <= record.count else { return nil }
        guard let first = bytes.first else { return 0 }
        var offset = 0
        while offset <= record.count - bytes.count {
            if record[offset] == first && record[offset..<(offset + bytes.count)].elementsEqual(bytes) {
                return UInt64(offset)
            }
            offset += 1
        }
        return nil
    }

    /// Whether the witness holds `bytes` at `offset`.
    static func holds(_ witness: AttributionWitness, _ bytes: ArraySlice<UInt8>, at offset: UInt64) -> Bool {
        guard offset <= UInt64(witness.bytes.count), UInt64(bytes.count) <= UInt64(witness.bytes.count) - offset
        else { return false }
        let start = Int(offset)
        return witness.bytes[start..<(start + bytes.count)].elementsEqual(bytes)
    }
}
