import Attribution
import AttributionRules
import Chain
import Codec

/// What an attester concludes about one answer of a claim.
public enum ItemVerdict: Equatable, Sendable {
    /// The proof is the one recomputed from the snapshot held, and passes `AttributionVerifier.checkClaim`.
    case matches
    /// The proof is wrong, and `evidence` proves it: the ledger's `AttributionClaims.judge` calls it fraud.
    case fraud(kind: FraudKind, evidence: FraudEvidence)
    /// The answer cannot be judged with what is held.
    case unverifiable(UnverifiableReason)
}

/// What an attester does about a claim.
public enum ClaimVerdict: Equatable, Sendable {
    /// Every answer matches: attest the claim.
    case attest
    /// Answer `item` is wrong: challenge it with `evidence`.
    case challenge(item: Int, kind: FraudKind, evidence: FraudEvidence)
    /// No answer is proven wrong, but answer `item` cannot be judged: neither attest nor challenge.
    case abstain(item: Int, reason: UnverifiableReason)
}

/// Why an answer cannot be judged with the snapshots held.
public enum UnverifiableReason: Equatable, Sendable {
    /// No snapshot with the root the proof cites is held.
    case snapshotNotHeld(root: [UInt8])
    /// The proof cites another snapshot (root and record count) than the one held.
    case otherSnapshot(root: [UInt8], recordCount: UInt64)
    /// The proof names other L and K than the claim's, or those are not usable (below 1).
    case otherParameters(minSpan: UInt64, maxRecords: UInt64)
    /// The proof fails what the ledger checks at submission, so no submitted claim carries it and no fraud proof
    /// applies to it.
    case refusedAtSubmission(AttributionProofError)
    /// The proof differs from the recomputed one (the first difference named) in a way no fraud proof of kinds 0–3
    /// proves.
    case unprovable(AttributionProofError)
    /// The claim has no answers.
    case emptyClaim
}

/// The pure decision of an attester: recompute each answer's PoA-SA v1 proof from its own copy of the snapshot, and
/// attest, challenge with the fraud proof the ledger accepts, or abstain.
///
/// A fraud is returned only once the ledger's own judge (`AttributionClaims.judge`) has called the evidence fraud.
/// The wrong-response fraud (kind 4) needs a second receipt of the serving peer, which a claim does not carry; it is
/// not looked for here.
public enum ClaimVerifier {
    /// The verdict on one answer against `snapshot` under the claim's L and K (`parameters`).
    public static func judge(
        _ item: ClaimItem, snapshot: AnswerAttribution.Snapshot, parameters: AttributionParameters
    ) -> ItemVerdict {
        let proof = item.proof
        let response = item.response
        guard proof.snapshotRoot == snapshot.root, proof.recordCount == UInt64(snapshot.recordCount) else {
            return .unverifiable(.otherSnapshot(root: proof.snapshotRoot, recordCount: proof.recordCount))
        }
        guard parameters.minSpan >= 1, parameters.maxRecords >= 1, proof.minSpan == UInt64(parameters.minSpan),
            proof.maxRecords == UInt64(parameters.maxRecords)
        else { return .unverifiable(.otherParameters(minSpan: proof.minSpan, maxRecords: proof.maxRecords)) }
        let commitment = AttributionCommitment(
            snapshotRoot: snapshot.root, recordCount: UInt64(snapshot.recordCount), parameters: parameters)
        do {
            try AttributionVerifier.checkSubmission(proof, response: response, against: commitment)
        } catch {
            return .unverifiable(.refusedAtSubmission(error))
        }
        let result = Attribution.attribute(
            response, shards: snapshot.shards, minSpan: parameters.minSpan, maxRecords: parameters.maxRecords,
            threads: 1)
        let expected = AttributionProof(
            result: result, response: response, shards: snapshot.shards, levels: snapshot.levels,
            minSpan: parameters.minSpan, maxRecords: parameters.maxRecords)
        if proof == expected,
            (try? AttributionVerifier.checkClaim(proof, response: response, against: commitment)) != nil
        {
            return .matches
        }
        let search = FraudSearch(
            item: item, expected: expected, statistics: result.matchingStatistics, snapshot: snapshot,
            parameters: parameters)
        if let evidence = search.first() { return .fraud(kind: evidence.kind, evidence: evidence) }
        do {
            try AttributionVerifier.compare(proof, with: expected)
            return .unverifiable(.unprovable(.invalidProof("the proof fails the claim check")))
        } catch {
            return .unverifiable(.unprovable(error))
        }
    }

    /// The verdict on a claim's answers, each judged against the held snapshot its proof cites (`snapshots`, keyed by
    /// snapshot root): the first fraud is challenged; else any answer that cannot be judged makes the attester
    /// abstain; else it attests.
    public static func judge(
        claim items: [ClaimItem], snapshots: [[UInt8]: AnswerAttribution.Snapshot], parameters: AttributionParameters
    ) -> ClaimVerdict {
        guard !items.isEmpty else { return .abstain(item: 0, reason: .emptyClaim) }
        var abstention: (item: Int, reason: UnverifiableReason)? = nil
        for (index, item) in items.enumerated() {
            guard let snapshot = snapshots[item.proof.snapshotRoot] else {
                if abstention == nil { abstention = (index, .snapshotNotHeld(root: item.proof.snapshotRoot)) }
                continue
            }
            switch judge(item, snapshot: snapshot, parameters: parameters) {
            case .matches: continue
            case .fraud(let kind, let evidence): return .challenge(item: index, kind: kind, evidence: evidence)
            case .unverifiable(let reason): if abstention == nil { abstention = (index, reason) }
            }
        }
        if let abstention { return .abstain(item: abstention.item, reason: abstention.reason) }
        return .attest
    }
}

/// The search for a fraud proof against a claimed proof that differs from the recomputed one, each candidate built
/// from the snapshot held and kept only when the ledger's judge calls it fraud.
///
/// Candidates in order: wrong arithmetic (no witness); per claimed span that differs from the recomputed span at its
/// start, a bad span for each credited record, then a wrong credit with the lowest recomputed record it leaves out;
/// then a short or missing span at the first position where the snapshot holds a match of at least L longer than
/// the claimed spans imply.
struct FraudSearch {
    let item: ClaimItem
    let expected: AttributionProof
    /// ℓ per response position, recomputed from the snapshot.
    let statistics: [Int]
    let snapshot: AnswerAttribution.Snapshot
    let parameters: AttributionParameters

    /// The first candidate the ledger calls fraud, if any.
    func first() -> FraudEvidence? {
        if confirmed(.wrongArithmetic) { return .wrongArithmetic }
        let proof = item.proof
        let expectedByStart = Dictionary(expected.spans.map { ($0.start, $0) }, uniquingKeysWith: { first, _ in first })
        for (index, span) in proof.spans.enumerated() {
            // The recomputed span at the same start and of the same length, if there is one.
            let truth = expectedByStart[span.start].flatMap { $0.length == span.length ? $0 : nil }
            if let truth, truth == span { continue }
            // A record the recomputed span credits at the same offset holds the bytes first there.
            let sound = Set((truth?.records ?? []).map { [$0.index, $0.offset] })
            for record in span.records where !sound.contains([record.index, record.offset]) {
                guard let witness = witness(record.index) else { continue }
                let evidence = FraudEvidence.badSpan(span: index, witness: witness)
                if confirmed(evidence) { return evidence }
            }
            // The credited records hold the span first where the proof says: a lower holder may be left out.
            guard let truth else { continue }
            let credited = Set(span.records.map(\.index))
            for record in truth.records where !credited.contains(record.index) {
                guard let witness = witness(record.index) else { continue }
                let evidence = FraudEvidence.wrongCredit(span: index, offset: record.offset, witness: witness)
                if confirmed(evidence) { return evidence }
                break
            }
        }
        return shortOrMissingSpan()
    }

    /// A short or missing span: the first position whose recomputed ℓ (at least L) exceeds the ℓ the claimed spans
    /// imply, witnessed by the recomputed span that reaches furthest there.
    private func shortOrMissingSpan() -> FraudEvidence? {
        let spans = item.proof.spans
        let n = statistics.count
        var next = 0
        var reach: UInt64 = 0
        var covering = -1
        for position in 0..<n where statistics[position] >= parameters.minSpan {
            let point = UInt64(position)
            // Spans start strictly rising (the submission check), so the furthest end so far is one running maximum.
            while next < spans.count && spans[next].start <= point {
                reach = max(reach, spans[next].start &+ spans[next].length)
                next += 1
            }
            let claimed = reach > point ? Int(clamping: reach - point) : 0
            guard statistics[position] > claimed else { continue }
            // Recomputed spans start and end strictly rising: the last one starting here or before reaches furthest.
            while covering + 1 < expected.spans.count && expected.spans[covering + 1].start <= point { covering += 1 }
            guard covering >= 0, let holder = expected.spans[covering].records.first else { continue }
            let truth = expected.spans[covering]
            guard truth.start + truth.length == point + UInt64(statistics[position]),
                let witness = witness(holder.index)
            else { continue }
            let evidence = FraudEvidence.shortOrMissingSpan(
                position: position, length: statistics[position], offset: holder.offset + (point - truth.start),
                witness: witness)
            // The witness holds the match by construction, so one candidate decides.
            return confirmed(evidence) ? evidence : nil
        }
        return nil
    }

    /// Whether the ledger's judge calls `evidence` fraud against the item (kinds 0–3 need no claimant or chain).
    private func confirmed(_ evidence: FraudEvidence) -> Bool {
        let verdict = AttributionClaims.judge(item, evidence, parameters: parameters, claimant: .zero, chainId: 0)
        if case .fraud = verdict { return true }
        return false
    }

    /// Record `index` of the snapshot with its bytes and Merkle path, nil outside the snapshot.
    private func witness(_ index: UInt64) -> AttributionWitness? {
        guard index < UInt64(snapshot.recordCount) else { return nil }
        var first = 0
        for shard in snapshot.shards {
            let local = Int(index) - first
            if local < shard.recordCount {
                let record = shard.record(local)
                return AttributionWitness(
                    index: index, contributor: record.contributor, bytes: record.bytes,
                    path: snapshot.levels.path(Int(index)))
            }
            first += shard.recordCount
        }
        return nil
    }
}
