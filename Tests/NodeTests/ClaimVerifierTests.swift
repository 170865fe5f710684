import Attribution
import AttributionRules
import Chain
import Codec
import Crypto
import Foundation
import Node
import TestSupport
import Testing

/// A snapshot of nine records from three contributors cut into three shards, and an answer made of record chunks
/// joined by upper-case filler no (lower-case) record holds: span 0 over a chunk of record 0 that record 4 repeats,
/// span 1 over a chunk of record 3, span 2 over a chunk of record 7.
private struct ClaimFixture {
    static let contributors = [4, 5, 6]
    static let parameters = AttributionParameters.defaults

    let records: [Record]
    let snapshot: AnswerAttribution.Snapshot
    let response: [UInt8]
    /// The proof the serving path (`AnswerAttribution`) gives the answer.
    let honest: AttributionProof

    /// The fixture's records drawn from `seed`; `last` replaces the first byte of the last record.
    init(seed: UInt64 = 18, last: UInt8? = nil) throws {
        var random = SeededRandom(seed: seed)
        var records: [Record] = []
        let accounts = try devnet().devAccounts
        for contributor in Self.contributors.map({ accounts[$0].address }) {
            for _ in 0..<3 {
                records.append(
                    Record(contributor: contributor, bytes: (0..<300).map { _ in UInt8(97 + random.next() % 26) }))
            }
        }
        records[4].bytes.replaceSubrange(100..<164, with: records[0].bytes[40..<104])
        if let last { records[8].bytes[0] = last }
        self.records = records
        let shards = try AttributionIndex.build(records: records, maxShardBytes: 1_000, threads: 1)
        #expect(shards.count == 3)
        snapshot = AnswerAttribution.Snapshot(shards: shards)
        var response = Array("ANSWER".utf8)
        for (index, (record, range)) in [(0, 40..<104), (3, 10..<90), (7, 150..<200)].enumerated() {
            response += records[record].bytes[range]
            response += (0..<16).map { UInt8(65 + ($0 + index) % 26) }
        }
        self.response = response
        let attribution = AnswerAttribution(
            fallback: snapshot, minSpan: Self.parameters.minSpan, maxRecords: Self.parameters.maxRecords)
        honest = try #require(attribution.proof(for: response, model: "any"))
    }

    /// An answer of a claim carrying `proof` (signatures are the ledger's concern at submission, not the verdict's).
    func item(_ proof: AttributionProof) -> ClaimItem {
        ClaimItem(
            channelID: Keccak256.hash([7]), cumulativeAmount: 1, voucherSignature: [UInt8](repeating: 1, count: 65),
            receipt: ServingReceipt(
                requestHash: Keccak256.hash([8]), responseHash: Keccak256.hash(response), adapterID: 1,
                promptTokens: 12, completionTokens: 40, price: 1, temperatureMillis: 800, topPMillis: 950, topK: 40,
                seed: 3),
            receiptSignature: [UInt8](repeating: 2, count: 65), response: response, proof: proof)
    }

    /// Record `index` as a proof credits it: contributor, record hash and Merkle path, at `offset`.
    func credited(_ index: Int, offset: UInt64, like template: AttributionProof.CreditedRecord)
        -> AttributionProof.CreditedRecord
    {
        var record = template
        record.index = UInt64(index)
        record.offset = offset
        record.contributor = records[index].contributor
        record.recordHash = Keccak256.hash(records[index].bytes)
        record.path = snapshot.levels.path(index)
        return record
    }
}

private func devnet() throws -> NetworkConfig {
    try NetworkConfig.parse(Data(contentsOf: Fixtures.packageRoot.appendingPathComponent("netconfig/devnet.json")))
}

/// The proof with its weights recomputed from its own spans, as a careful liar would send it.
private func reweighed(_ proof: AttributionProof) -> AttributionProof {
    var spans: [AttributionSpan] = []
    var contributorOf: [Int: Address] = [:]
    for span in proof.spans {
        spans.append(
            AttributionSpan(
                start: Int(span.start), length: Int(span.length),
                records: span.records.map { (Int($0.index), Int($0.offset)) }))
        for record in span.records { contributorOf[Int(record.index)] = record.contributor }
    }
    var weights: [Address: UInt128] = [:]
    for (record, weight) in AttributionCredit.weights(spans: spans, responseLength: Int(proof.responseLength)).weights {
        weights[contributorOf[record]!, default: 0] += weight
    }
    var out = proof
    out.contributors = weights.sorted { $0.key < $1.key }.map { ($0.key, $0.value) }
    return out
}

/// Whether the ledger's judge calls `evidence` fraud against `item`, both as the ledger decodes them from a challenge.
private func ledgerCallsFraud(_ item: ClaimItem, _ evidence: FraudEvidence) throws -> Bool {
    let onLedger = try ClaimItem(encoded: item.encoded)
    let decoded = try FraudEvidence(kind: evidence.kind, encoded: evidence.encoded)
    let verdict = AttributionClaims.judge(
        onLedger, decoded, parameters: ClaimFixture.parameters, claimant: .zero, chainId: 0)
    if case .fraud = verdict { return true }
    return false
}

/// Ways a serving peer may lie in its proof, each with the fraud kind that proves it.
enum Tampering: String, CaseIterable, Sendable {
    /// Span 0 credits record 0 at offset 0 instead of 40.
    case offsetOfACreditedRecord
    /// Span 1 credits record 5, which does not hold its bytes, instead of record 3.
    case recordThatDoesNotHoldTheSpan
    /// Span 2 claims five filler bytes more than any record holds.
    case spanLongerThanItsMatch
    /// Span 1 is cut eight bytes short.
    case spanShortened
    /// Span 1 is left out.
    case spanDropped
    /// Span 0 credits record 0 alone, leaving out record 4 that holds it too.
    case creditedRecordLeftOut
    /// The first contributor's weight is inflated.
    case weightInflated
    /// Span 1 is left out but the weights are the honest ones.
    case spanDroppedWeightsKept

    var kind: FraudKind {
        switch self {
        case .offsetOfACreditedRecord, .recordThatDoesNotHoldTheSpan, .spanLongerThanItsMatch: .badSpan
        case .spanShortened, .spanDropped: .shortOrMissingSpan
        case .creditedRecordLeftOut: .wrongCredit
        case .weightInflated, .spanDroppedWeightsKept: .wrongArithmetic
        }
    }

    fileprivate func apply(to honest: AttributionProof, _ f: ClaimFixture) -> AttributionProof {
        var wrong = honest
        switch self {
        case .offsetOfACreditedRecord:
            wrong.spans[0].records[0].offset = 0
        case .recordThatDoesNotHoldTheSpan:
            wrong.spans[1].records[0] = f.credited(5, offset: 10, like: wrong.spans[1].records[0])
            wrong = reweighed(wrong)
        case .spanLongerThanItsMatch:
            wrong.spans[2].length += 5
            wrong = reweighed(wrong)
        case .spanShortened:
            wrong.spans[1].length -= 8
            wrong = reweighed(wrong)
        case .spanDropped:
            wrong.spans.remove(at: 1)
            wrong = reweighed(wrong)
        case .creditedRecordLeftOut:
            wrong.spans[0].records.removeLast()
            wrong = reweighed(wrong)
        case .weightInflated:
            wrong.contributors[0].weight += 10_000_000_000_000_000
        case .spanDroppedWeightsKept:
            wrong.spans.remove(at: 1)
        }
        return wrong
    }
}

@Suite struct ClaimVerifierTests {
    @Test func anHonestAnswerMatches() throws {
        let f = try ClaimFixture()
        #expect(f.honest.spans.map(\.records).map { $0.map(\.index) } == [[0, 4], [3], [7]])
        let item = f.item(f.honest)
        #expect(ClaimVerifier.judge(item, snapshot: f.snapshot, parameters: ClaimFixture.parameters) == .matches)
        // The same answer as the ledger stores it (compact Merkle paths) matches too.
        let stored = try ClaimItem(encoded: item.encoded)
        #expect(ClaimVerifier.judge(stored, snapshot: f.snapshot, parameters: ClaimFixture.parameters) == .matches)
    }

    @Test(arguments: Tampering.allCases)
    func aTamperedProofGetsTheFraudProofTheLedgerAccepts(tampering: Tampering) throws {
        let f = try ClaimFixture()
        let wrong = f.item(tampering.apply(to: f.honest, f))
        let verdict = ClaimVerifier.judge(wrong, snapshot: f.snapshot, parameters: ClaimFixture.parameters)
        guard case .fraud(let kind, let evidence) = verdict else {
            Issue.record("\(tampering): \(verdict)")
            return
        }
        #expect(kind == tampering.kind)
        #expect(evidence.kind == kind)
        #expect(try ledgerCallsFraud(wrong, evidence))
        // The same evidence does not count against the honest answer.
        #expect(!(try ledgerCallsFraud(f.item(f.honest), evidence)))
        switch (tampering, evidence) {
        case (.offsetOfACreditedRecord, .badSpan(let span, let witness)):
            #expect(span == 0 && witness.index == 0)
        case (.recordThatDoesNotHoldTheSpan, .badSpan(let span, let witness)):
            #expect(span == 1 && witness.index == 5)
        case (.spanLongerThanItsMatch, .badSpan(let span, let witness)):
            #expect(span == 2 && witness.index == 7)
        case (.spanShortened, .shortOrMissingSpan(let position, let length, let offset, let witness)),
            (.spanDropped, .shortOrMissingSpan(let position, let length, let offset, let witness)):
            let truth = f.honest.spans[1]
            #expect(UInt64(position) == truth.start && UInt64(length) == truth.length)
            #expect(offset == 10 && witness.index == 3)
        case (.creditedRecordLeftOut, .wrongCredit(let span, let offset, let witness)):
            #expect(span == 0 && offset == 100 && witness.index == 4)
        case (.weightInflated, .wrongArithmetic), (.spanDroppedWeightsKept, .wrongArithmetic):
            break
        default:
            Issue.record("\(tampering): unexpected evidence \(evidence)")
        }
        // The witness is the snapshot's own record.
        switch evidence {
        case .badSpan(_, let witness), .shortOrMissingSpan(_, _, _, let witness), .wrongCredit(_, _, let witness):
            #expect(witness.bytes == f.records[Int(witness.index)].bytes)
            #expect(witness.contributor == f.records[Int(witness.index)].contributor)
        default: break
        }
    }

    @Test func aProofOfAnotherSnapshotOrUnderOtherRulesIsUnverifiable() throws {
        let f = try ClaimFixture()
        let other = try ClaimFixture(last: UInt8(ascii: "Z"))
        #expect(other.snapshot.root != f.snapshot.root)
        let item = f.item(f.honest)
        #expect(
            ClaimVerifier.judge(item, snapshot: other.snapshot, parameters: ClaimFixture.parameters)
                == .unverifiable(.otherSnapshot(root: f.snapshot.root, recordCount: 9)))
        // Other L and K than the claim's.
        #expect(
            ClaimVerifier.judge(
                item, snapshot: f.snapshot, parameters: AttributionParameters(minSpan: 16, maxRecords: 4))
                == .unverifiable(.otherParameters(minSpan: 32, maxRecords: 4)))
        // A response the proof was not computed for: the ledger would have refused the claim.
        var changed = item
        changed.response[8] ^= 0x01
        guard
            case .unverifiable(.refusedAtSubmission) = ClaimVerifier.judge(
                changed, snapshot: f.snapshot, parameters: ClaimFixture.parameters)
        else {
            Issue.record("a changed response is not refused")
            return
        }
        // A Merkle path that does not reach the root: refused as well.
        var forged = f.honest
        forged.spans[0].records[0].path[0][0] ^= 1
        guard
            case .unverifiable(.refusedAtSubmission) = ClaimVerifier.judge(
                f.item(forged), snapshot: f.snapshot, parameters: ClaimFixture.parameters)
        else {
            Issue.record("a forged path is not refused")
            return
        }
    }

    @Test func aClaimIsAttestedChallengedAtItsFirstFraudOrAbstainedFrom() throws {
        let f = try ClaimFixture()
        let other = try ClaimFixture(seed: 99)
        let held = [f.snapshot.root: f.snapshot]
        let honest = f.item(f.honest)
        let foreign = other.item(other.honest)
        let wrong = f.item(Tampering.creditedRecordLeftOut.apply(to: f.honest, f))
        let rules = ClaimFixture.parameters
        #expect(ClaimVerifier.judge(claim: [honest, honest], snapshots: held, parameters: rules) == .attest)
        guard
            case .challenge(item: 1, kind: .wrongCredit, let evidence) = ClaimVerifier.judge(
                claim: [honest, wrong, wrong], snapshots: held, parameters: rules)
        else {
            Issue.record("the wrong answer is not challenged")
            return
        }
        #expect(try ledgerCallsFraud(wrong, evidence))
        // A fraud is challenged even when an earlier answer cannot be judged.
        guard
            case .challenge(item: 1, kind: .wrongCredit, _) = ClaimVerifier.judge(
                claim: [foreign, wrong], snapshots: held, parameters: rules)
        else {
            Issue.record("the wrong answer after a foreign one is not challenged")
            return
        }
        #expect(
            ClaimVerifier.judge(claim: [honest, foreign], snapshots: held, parameters: rules)
                == .abstain(item: 1, reason: .snapshotNotHeld(root: other.snapshot.root)))
        #expect(
            ClaimVerifier.judge(
                claim: [honest, foreign], snapshots: held.merging([other.snapshot.root: other.snapshot]) { a, _ in a },
                parameters: rules) == .attest)
        #expect(
            ClaimVerifier.judge(claim: [], snapshots: held, parameters: rules)
                == .abstain(item: 0, reason: .emptyClaim))
    }

    @Test func claimsSubmittedInABlockAreFoundJudgedAndChallengedOnTheLedger() throws {
        var ledger = try Ledger()
        let f = try ClaimFixture()
        let channel = try ledger.economy(records: f.records)
        let servingPeer = ledger.address(Ledger.servingPeer)
        func item(_ proof: AttributionProof, request: UInt8, cumulative: UInt256) throws -> ClaimItem {
            let receipt = ServingReceipt(
                requestHash: Keccak256.hash([request]), responseHash: Keccak256.hash(f.response), adapterID: 1,
                promptTokens: 12, completionTokens: 40, price: NetworkConfig.weiPerOpen, temperatureMillis: 800,
                topPMillis: 950, topK: 40, seed: UInt64(request),
                attributionRoot: ServingReceipt.attributionRoot(of: proof))
            return try ClaimItem.signed(
                channelID: channel, cumulativeAmount: cumulative, payer: ledger.keys[Ledger.payer],
                receipt: receipt, servingPeer: ledger.keys[Ledger.servingPeer], response: f.response, proof: proof,
                chainId: ledger.config.chainId)
        }
        let open = NetworkConfig.weiPerOpen
        let honest = [try item(f.honest, request: 1, cumulative: open)]
        let wrong = [
            try item(f.honest, request: 2, cumulative: 2 * open),
            try item(Tampering.spanDropped.apply(to: f.honest, f), request: 3, cumulative: 3 * open),
        ]
        let claims = AttributionClaims.defaultAddress
        let (block, receipts) = try ledger.block([
            try ledger.transaction(
                from: Ledger.servingPeer, to: claims, "submitClaim(bytes)", [.bytes(ClaimItem.encodeClaim(honest))]),
            try ledger.transaction(from: 9, to: ledger.address(9), "noop()", []),
            // A claim the ledger refuses (its items do not decode): the transaction fails.
            try ledger.transaction(from: Ledger.servingPeer, to: claims, "submitClaim(bytes)", [.bytes([0xC1, 0x80])]),
            try ledger.transaction(
                from: Ledger.servingPeer, to: claims, "submitClaim(bytes)", [.bytes(ClaimItem.encodeClaim(wrong))]),
        ])
        #expect(receipts.map(\.succeeded) == [true, true, false, true])

        let found = ClaimWatch.submittedClaims(in: block, receipts: receipts)
        #expect(found.map { $0.claimId } == [1, 2])
        #expect(found.map { $0.claimant } == [servingPeer, servingPeer])
        #expect(found.map { $0.items } == [honest, wrong])

        // The attester holds the snapshot: it attests the honest claim and challenges the wrong one.
        let held = [f.snapshot.root: f.snapshot]
        #expect(ClaimVerifier.judge(claim: found[0].items, snapshots: held, parameters: .defaults) == .attest)
        let verdict = ClaimVerifier.judge(claim: found[1].items, snapshots: held, parameters: .defaults)
        guard case .challenge(let index, let kind, let evidence) = verdict else {
            Issue.record("the wrong claim is not challenged: \(verdict)")
            return
        }
        #expect(index == 1 && kind == .shortOrMissingSpan)
        let attested = try ledger.send(from: 2, to: claims, "attest(uint256)", [.uint(found[0].claimId)])
        let challenged = try ledger.send(
            from: 8, to: claims, "challenge(uint256,uint64,uint8,bytes,bytes)",
            [
                .uint(found[1].claimId), .uint(UInt256(index)), .uint(UInt256(kind.rawValue)),
                .bytes(found[1].items[index].encoded), .bytes(evidence.encoded),
            ])
        #expect(attested.succeeded && challenged.succeeded)
        let voided = challenged.logs.compactMap { try? PredeployEvents.decode($0) }.first { $0.name == "ClaimVoided" }
        #expect(voided?["claimId"] == .uint(2))
        #expect(voided?["kind"] == .uint(UInt256(kind.rawValue)))
    }

    @Test func hostileOrInconsistentBlocksYieldNoClaims() throws {
        var ledger = try Ledger()
        let f = try ClaimFixture()
        let channel = try ledger.economy(records: f.records)
        let receipt = ServingReceipt(
            requestHash: Keccak256.hash([1]), responseHash: Keccak256.hash(f.response), adapterID: 1,
            promptTokens: 12, completionTokens: 40, price: NetworkConfig.weiPerOpen, temperatureMillis: 800,
            topPMillis: 950, topK: 40, seed: 1, attributionRoot: ServingReceipt.attributionRoot(of: f.honest))
        let item = try ClaimItem.signed(
            channelID: channel, cumulativeAmount: NetworkConfig.weiPerOpen, payer: ledger.keys[Ledger.payer],
            receipt: receipt, servingPeer: ledger.keys[Ledger.servingPeer], response: f.response, proof: f.honest,
            chainId: ledger.config.chainId)
        let claims = AttributionClaims.defaultAddress
        let garbage = try ledger.transaction(
            from: 9, to: claims, "submitClaim(bytes)", [.bytes(Array("not a claim".utf8))])
        let (block, receipts) = try ledger.block([
            try ledger.transaction(
                from: Ledger.servingPeer, to: claims, "submitClaim(bytes)", [.bytes(ClaimItem.encodeClaim([item]))])
        ])
        #expect(ClaimWatch.submittedClaims(in: block, receipts: receipts).map { $0.claimId } == [1])
        // Receipts that do not pair with the transactions.
        #expect(ClaimWatch.submittedClaims(in: block, receipts: []).isEmpty)
        #expect(ClaimWatch.submittedClaims(in: block, receipts: receipts + receipts).isEmpty)
        // A failed receipt, one without its log, one with the log twice, one whose log names another claimant.
        var failed = receipts
        failed[0].succeeded = false
        var silent = receipts
        silent[0].logs.removeAll()
        var doubled = receipts
        doubled[0].logs += doubled[0].logs
        var impostor = receipts
        impostor[0].logs = impostor[0].logs.map { log in
            var log = log
            if log.address == claims && log.topics.count == 3 {
                log.topics[2] = [UInt8](repeating: 0, count: 12) + ledger.address(9).bytes
            }
            return log
        }
        var truncated = receipts
        truncated[0].logs = truncated[0].logs.map { log in
            var log = log
            if log.address == claims { log.data.removeLast() }
            return log
        }
        for forged in [failed, silent, doubled, impostor, truncated] {
            #expect(ClaimWatch.submittedClaims(in: block, receipts: forged).isEmpty)
        }
        // Garbage calldata under a receipt claiming success with the real log: skipped, no crash.
        let hostile = Block(header: block.header, transactions: [garbage])
        #expect(ClaimWatch.submittedClaims(in: hostile, receipts: receipts).isEmpty)
        // Flipped bits in a claim's bytes: refused (in its structure), or decoded as strictly as the ledger does, so
        // that the answers re-encode to the very bytes (a flip in a response or a signature).
        var mutations = SeededRandom(seed: 7)
        var refused = 0
        var decodedCount = 0
        for _ in 0..<200 {
            var data = ClaimItem.encodeClaim([item])
            let position = Int(mutations.next() % UInt64(data.count))
            data[position] ^= UInt8(truncatingIfNeeded: mutations.next() | 1)
            var call = garbage.transaction
            call.data = try ABISignature(parsing: "submitClaim(bytes)").encodeCall([.bytes(data)])
            let signed = try call.signed(with: ledger.keys[Ledger.servingPeer])
            let mutated = Block(header: block.header, transactions: [signed])
            let decoded = ClaimWatch.submittedClaims(in: mutated, receipts: receipts)
            if let first = decoded.first {
                #expect(ClaimItem.encodeClaim(first.items) == data)
                decodedCount += 1
            } else {
                refused += 1
            }
        }
        #expect(refused > 0 && decodedCount > 0)
    }
}

/// The devnet's ledger with every predeploy in this process: dev account 0 pays, 1 serves, 2 attests, 4, 5 and 6
/// contributed the records, 7 owns the adapter, 8 challenges, 9 stands by.
private struct Ledger {
    static let payer = 0
    static let servingPeer = 1
    static let attester = 2
    static let adapterOwner = 7

    let config: NetworkConfig
    let rules: StateTransition
    let keys: [Secp256k1PrivateKey]
    var head: BlockHeader
    var state: WorldState
    var nonces: [Int: UInt64] = [:]

    init() throws {
        config = try devnet()
        rules = StateTransition.standard(config: config)
        keys = try config.devAccounts.map { try Secp256k1PrivateKey(bytes: $0.privateKey) }
        let genesis = try rules.genesis()
        head = genesis.block.header
        state = genesis.state
    }

    func address(_ index: Int) -> Address { config.devAccounts[index].address }

    /// A signed call from dev account `from`, at its next nonce.
    mutating func transaction(
        from: Int, to: Address, _ function: String, _ arguments: [ABIValue], value: UInt256 = .zero
    ) throws -> SignedTransaction {
        let nonce = nonces[from, default: 0]
        nonces[from] = nonce + 1
        return try Transaction.dynamicFee(
            chainId: config.chainId, nonce: nonce, maxPriorityFeePerGas: 1, maxFeePerGas: 100_000_000_000,
            gasLimit: 30_000_000, to: to, value: value,
            data: try ABISignature(parsing: function).encodeCall(arguments)
        ).signed(with: keys[from])
    }

    /// The next block of `transactions`, a second after the head; becomes the head.
    mutating func block(_ transactions: [SignedTransaction]) throws -> (block: Block, receipts: [Receipt]) {
        let built = try rules.buildBlock(
            parent: head, state: state, transactions: transactions, timestamp: head.timestamp + 1,
            beneficiary: config.sequencer)
        #expect(built.skipped.isEmpty)
        head = built.block.header
        state = built.state
        return (built.block, built.receipts)
    }

    /// One call in its own block; returns its receipt.
    @discardableResult
    mutating func send(
        from: Int, to: Address, _ function: String, _ arguments: [ABIValue], value: UInt256 = .zero
    ) throws -> Receipt {
        let transaction = try transaction(from: from, to: to, function, arguments, value: value)
        return try #require(try block([transaction]).receipts.first)
    }

    /// A Datanet whose committed snapshot is `records` (three batches of three, by dev accounts 4, 5 and 6), an
    /// adapter, a staked serving peer and attester, and a channel from the payer to the serving peer.
    mutating func economy(records: [Record]) throws -> [UInt8] {
        let open = NetworkConfig.weiPerOpen
        let datanets = DatanetRegistry.defaultAddress
        #expect(
            try send(
                from: 4, to: datanets, "createDatanet(string,bytes,bool,address[])",
                [.string("poa"), .bytes([1]), .bool(false), .array([])]
            ).succeeded)
        for (batch, contributor) in ClaimFixture.contributors.enumerated() {
            let hashes = records[(3 * batch)..<(3 * batch + 3)].map { Keccak256.hash($0.bytes) }
            #expect(records[3 * batch].contributor == address(contributor))
            #expect(
                try send(
                    from: contributor, to: datanets, "contribute(uint256,uint64,bytes,bytes32,bytes32[])",
                    [
                        .uint(1), .uint(3), .bytes([2]),
                        .fixedBytes(
                            DatanetRegistry.leavesRoot(contributor: address(contributor), recordHashes: hashes)),
                        .array(hashes.map { .fixedBytes($0) }),
                    ]
                ).succeeded)
        }
        let models = ModelRegistry.defaultAddress
        #expect(
            try send(
                from: Self.adapterOwner, to: models, "registerBaseModel(bytes32,string,bytes32)",
                [.fixedBytes(Keccak256.hash([1])), .string("llama"), .fixedBytes(Keccak256.hash([2]))]
            ).succeeded)
        #expect(
            try send(
                from: Self.adapterOwner, to: models, "publishAdapter(bytes,uint256,bytes32[],uint256)",
                [.bytes([3]), .uint(1), .array([]), .uint(open)]
            ).succeeded)
        let staking = Staking.defaultAddress
        #expect(
            try send(from: Self.servingPeer, to: staking, "stake(uint8)", [.uint(0)], value: 10_000 * open).succeeded)
        #expect(try send(from: Self.attester, to: staking, "stake(uint8)", [.uint(1)], value: 5_000 * open).succeeded)
        let opened = try send(
            from: Self.payer, to: PaymentChannels.defaultAddress, "open(address,uint64)",
            [.address(address(Self.servingPeer)), .uint(60)], value: 1_000 * open)
        #expect(opened.succeeded)
        return try #require(opened.logs.first?.topics[1])
    }
}
