import Attribution
import AttributionRules
import Chain
import Codec
import Crypto
import Foundation
import Node
import Runtime

/// `openledger bench chain`: block application (what every validating node does) on 10,000-transaction
/// blocks: plain transfers, and payment-channel voucher redemptions; then attribution claims of 100 answers of 2 KB
/// with their proofs, each fraud proof's verification, and the bytes a claim spends per answer.
enum BenchChain {
    static let command = CommandSpec(
        name: "chain",
        summary:
            "Block application throughput: transfers/s, voucher redemptions/s, claims/s; fraud proofs (JSON lines).",
        discussion: """
            Builds blocks of --transactions signed transactions on the devnet genesis, then times applying each
            block as a validator does: sender recovery, execution, receipts, and every root. One thread.
            """,
        options: [
            OptionSpec(name: "transactions", valueName: "N", help: "Transactions per block.", defaultValue: "10000"),
            OptionSpec(name: "claims", valueName: "N", help: "Claims (of 100 answers) per block.", defaultValue: "4"),
            NodeOptions.config,
        ],
        action: { arguments, output throws(CLIError) in
            let count = try arguments.int("transactions", in: 10...100_000) ?? 10_000
            let claims = try arguments.int("claims", in: 1...32) ?? 4
            var config = try NodeOptions.configuration(arguments).network
            do {
                config.gasLimit = 4_000_000_000  // room for 10,000 calls in one block
                for figure in try run(config: config, count: count) + runClaims(config: config, claims: claims) {
                    output.line(figure.jsonLine(references: []))
                }
            } catch {
                throw .failure("\(error)")
            }
        }
    )

    static func run(config: NetworkConfig, count: Int) throws(ChainError) -> [BenchFigure] {
        let rules = StateTransition.standard(config: config)
        let channels = PaymentChannels(minimumSettleDelay: config.parameters.minimumSettleDelaySeconds)
        let (genesis, state) = try rules.genesis()
        let keys = try config.devAccounts.map { account throws(ChainError) in
            do {
                return try Secp256k1PrivateKey(bytes: account.privateKey)
            } catch {
                throw .invalidTransaction("\(error)")
            }
        }
        let senders = keys.count
        guard senders >= 2 else { throw .invalidBlock("the config needs at least two dev accounts") }
        func transaction(
            _ from: Int, nonce: UInt64, to: Address, value: UInt256, data: [UInt8] = [], gas: UInt64 = 21_000
        )
            throws(ChainError) -> SignedTransaction
        {
            try Transaction.dynamicFee(
                chainId: config.chainId, nonce: nonce, maxPriorityFeePerGas: 1, maxFeePerGas: 50_000_000_000,
                gasLimit: gas, to: to, value: value, data: data
            ).signed(with: keys[from])
        }

        // Transfers: round-robin over the dev accounts.
        var transfers: [SignedTransaction] = []
        for index in 0..<count {
            let from = index % senders
            transfers.append(
                try transaction(
                    from, nonce: UInt64(index / senders), to: config.devAccounts[(from + 1) % senders].address,
                    value: 1_000))
        }
        let transferBlock = try rules.buildBlock(
            parent: genesis.header, state: state, transactions: transfers, timestamp: genesis.header.timestamp + 1,
            beneficiary: config.sequencer)
        guard transferBlock.skipped.isEmpty else { throw .invalidBlock("bench transfers were skipped") }
        let transferSeconds = timed { _ = try? rules.apply(transferBlock.block, parent: genesis.header, state: state) }
        guard (try? rules.apply(transferBlock.block, parent: genesis.header, state: state)) != nil else {
            throw .invalidBlock("bench transfer block does not apply")
        }

        // Voucher redemptions: each account opens a channel to the next, which redeems growing vouchers.
        let open = try! ABISignature(parsing: "open(address,uint64)")
        let redeem = try! ABISignature(parsing: "redeem(bytes32,uint256,bytes32,bytes)")
        var opens: [SignedTransaction] = []
        var channelIDs: [[UInt8]] = []
        for from in 0..<senders {
            let payee = config.devAccounts[(from + 1) % senders].address
            let data = try encode(open, [.address(payee), .uint(UInt256(config.parameters.minimumSettleDelaySeconds))])
            opens.append(
                try transaction(
                    from, nonce: 0, to: channels.address, value: UInt256(10_000_000_000), data: data, gas: 200_000))
            channelIDs.append(
                PaymentChannels.channelID(
                    chainId: config.chainId, payer: config.devAccounts[from].address, payee: payee,
                    counter: UInt256(from)))
        }
        let openBlock = try rules.buildBlock(
            parent: genesis.header, state: state, transactions: opens, timestamp: genesis.header.timestamp + 1,
            beneficiary: config.sequencer)
        var redemptions: [SignedTransaction] = []
        for index in 0..<count {
            let channel = index % senders
            let payee = (channel + 1) % senders
            let round = index / senders
            let voucher = PaymentVoucher(
                channelID: channelIDs[channel], cumulativeAmount: UInt256(UInt64(round + 1) * 1_000),
                requestHash: Keccak256.hash(UInt256(UInt64(index)).bigEndianBytes))
            let signature = try voucher.sign(
                with: keys[channel], chainId: config.chainId, verifyingContract: channels.address)
            let data = try encode(
                redeem,
                [
                    .fixedBytes(voucher.channelID), .uint(voucher.cumulativeAmount), .fixedBytes(voucher.requestHash),
                    .bytes(signature),
                ])
            redemptions.append(
                try transaction(
                    payee, nonce: UInt64(round + 1), to: channels.address, value: .zero, data: data, gas: 200_000))
        }
        let redeemBlock = try rules.buildBlock(
            parent: openBlock.block.header, state: openBlock.state, transactions: redemptions,
            timestamp: openBlock.block.header.timestamp + 1, beneficiary: config.sequencer)
        guard redeemBlock.skipped.isEmpty, redeemBlock.receipts.allSatisfy(\.succeeded) else {
            throw .invalidBlock("bench redemptions failed")
        }
        let redeemSeconds = timed {
            _ = try? rules.apply(redeemBlock.block, parent: openBlock.block.header, state: openBlock.state)
        }
        return [
            BenchFigure(
                bench: "chain_apply_transfers", unit: .operationsPerSecond, value: Double(count) / transferSeconds,
                details: ["transactions": "\(count)", "seconds": String(format: "%.3f", transferSeconds)]),
            BenchFigure(
                bench: "chain_apply_voucher_redemptions", unit: .operationsPerSecond,
                value: Double(count) / redeemSeconds,
                details: ["transactions": "\(count)", "seconds": String(format: "%.3f", redeemSeconds)]),
        ]
    }

    private static func encode(_ signature: ABISignature, _ values: [ABIValue]) throws(ChainError) -> [UInt8] {
        do {
            return try signature.encodeCall(values)
        } catch {
            throw .invalidTransaction("\(error)")
        }
    }

    /// The best of three runs of `body`, in seconds.
    private static func timed(_ body: () -> Void) -> Double {
        (0..<3).map { _ in BenchTimer.repeatFor(seconds: 0) { body() }.elapsed }.min()!
    }

    // MARK: Attribution claims

    /// Applies a block of `claims` claims of 100 paid answers of 2 KB each, with their PoA-SA v1 proofs; times each
    /// fraud proof's verification; reports the bytes per answer.
    static func runClaims(config: NetworkConfig, claims: Int) throws(ChainError) -> [BenchFigure] {
        let answersPerClaim = 100
        var scenario = try ClaimScenario(config: config, answers: claims * answersPerClaim)
        var transactions: [SignedTransaction] = []
        var items: [ClaimItem] = []
        for claim in 0..<claims {
            let batch = try (0..<answersPerClaim).map { answer throws(ChainError) in
                try scenario.item(claim * answersPerClaim + answer)
            }
            items += batch
            transactions.append(
                try scenario.transaction(
                    scenario.peer, to: AttributionClaims.defaultAddress,
                    data: try encode(
                        try! ABISignature(parsing: "submitClaim(bytes)"), [.bytes(ClaimItem.encodeClaim(batch))])))
        }
        let built = try scenario.rules.buildBlock(
            parent: scenario.head, state: scenario.state, transactions: transactions,
            timestamp: scenario.head.timestamp + 1, beneficiary: config.sequencer)
        guard built.skipped.isEmpty, built.receipts.allSatisfy(\.succeeded) else {
            throw .invalidBlock("bench claims failed: \(built.skipped.map(\.1))")
        }
        let seconds = timed {
            _ = try? scenario.rules.apply(built.block, parent: scenario.head, state: scenario.state)
        }
        let proofBytes = items.map(\.proofBytes).reduce(0, +)
        let fullProofBytes = items.map(\.proof.encoded.count).reduce(0, +)
        let itemBytes = items.map(\.encoded.count).reduce(0, +)
        let credited = items.map { $0.proof.spans.map(\.records.count).reduce(0, +) }.reduce(0, +)
        var figures = [
            BenchFigure(
                bench: "chain_apply_claims", unit: .operationsPerSecond, value: Double(claims) / seconds,
                details: [
                    "claims": "\(claims)", "answers_per_claim": "\(answersPerClaim)", "response_bytes": "2048",
                    "answers_per_second": String(format: "%.0f", Double(items.count) / seconds),
                    "seconds": String(format: "%.3f", seconds),
                ]),
            BenchFigure(
                bench: "chain_claim_proof_bytes_per_answer", unit: .bytes,
                value: Double(proofBytes) / Double(items.count),
                details: [
                    "uncompacted_proof_bytes": String(format: "%.0f", Double(fullProofBytes) / Double(items.count)),
                    "item_bytes_per_answer": String(format: "%.0f", Double(itemBytes) / Double(items.count)),
                    "credited_records_per_answer": String(format: "%.2f", Double(credited) / Double(items.count)),
                    "K": "\(config.parameters.attributionMaxRecords)", "target_bytes": "4096",
                ]),
        ]
        for (kind, item, evidence) in try scenario.fraudCases() {
            let rules = AttributionParameters(
                minSpan: config.parameters.attributionMinSpan, maxRecords: config.parameters.attributionMaxRecords)
            let peer = config.devAccounts[scenario.peer].address
            guard
                case .fraud = AttributionClaims.judge(
                    item, evidence, parameters: rules, claimant: peer, chainId: config.chainId)
            else {
                throw .invalidBlock("bench fraud case \(kind) is not a fraud")
            }
            let run = BenchTimer.repeatFor(seconds: 0.2) {
                blackHole(
                    AttributionClaims.judge(item, evidence, parameters: rules, claimant: peer, chainId: config.chainId))
            }
            figures.append(
                BenchFigure(
                    bench: "chain_fraud_proof_\(kind)", unit: .milliseconds,
                    value: run.elapsed * 1_000 / Double(run.count), details: ["runs": "\(run.count)"]))
        }
        return figures
    }
}

/// The economy the claims bench runs in: a Datanet of 96 records of 1 KB from three contributors, an adapter, a staked
/// serving peer (dev account 1) and a channel from dev account 0 deep enough for every answer.
private struct ClaimScenario {
    let config: NetworkConfig
    let rules: StateTransition
    let keys: [Secp256k1PrivateKey]
    var head: BlockHeader
    var state: WorldState
    var nonces: [Int: UInt64] = [:]
    let records: [Record]
    let index: AttributionIndex
    var channelID: [UInt8] = []
    let peer = 1
    let payer = 0
    static let price = UInt256(1_000_000_000_000_000)

    init(config: NetworkConfig, answers: Int) throws(ChainError) {
        self.config = config
        rules = StateTransition.standard(config: config)
        keys = try config.devAccounts.map { account throws(ChainError) in
            do {
                return try Secp256k1PrivateKey(bytes: account.privateKey)
            } catch {
                throw .invalidTransaction("\(error)")
            }
        }
        guard keys.count >= 8 else { throw .invalidBlock("the config needs eight dev accounts") }
        let genesis = try rules.genesis()
        head = genesis.block.header
        state = genesis.state
        var random = SeededRandom(seed: 19)
        var records: [Record] = []
        for contributor in 4...6 {
            let address = config.devAccounts[contributor].address
            records += (0..<32).map { _ in
                Record(contributor: address, bytes: (0..<1_024).map { _ in UInt8(97 + random.next() % 26) })
            }
        }
        // Every fourth record repeats a stretch of the one before, so some spans credit two records.
        for index in stride(from: 1, to: records.count, by: 4) {
            records[index].bytes.replaceSubrange(0..<200, with: records[index - 1].bytes[300..<500])
        }
        self.records = records
        do {
            index = try AttributionIndex(records: records)
        } catch {
            throw .invalidBlock("\(error)")
        }
        let one = NetworkConfig.weiPerOpen
        try step(
            4, DatanetRegistry.defaultAddress, "createDatanet(string,bytes,bool,address[])",
            [.string("bench"), .bytes([1]), .bool(false), .array([])])
        for (batch, contributor) in (4...6).enumerated() {
            let hashes = records[(batch * 32)..<((batch + 1) * 32)].map { Keccak256.hash($0.bytes) }
            try step(
                contributor, DatanetRegistry.defaultAddress, "contribute(uint256,uint64,bytes,bytes32,bytes32[])",
                [
                    .uint(1), .uint(32), .bytes([2]),
                    .fixedBytes(
                        DatanetRegistry.leavesRoot(
                            contributor: config.devAccounts[contributor].address, recordHashes: hashes)),
                    .array(hashes.map { .fixedBytes($0) }),
                ])
        }
        try step(
            7, ModelRegistry.defaultAddress, "registerBaseModel(bytes32,string,bytes32)",
            [.fixedBytes(Keccak256.hash([1])), .string("llama"), .fixedBytes(Keccak256.hash([2]))])
        try step(
            7, ModelRegistry.defaultAddress, "publishAdapter(bytes,uint256,bytes32[],uint256)",
            [.bytes([3]), .uint(1), .array([]), .uint(one)])
        try step(peer, Staking.defaultAddress, "stake(uint8)", [.uint(0)], value: 100_000 * one)
        let deposit = Self.price * UInt256(answers)
        try step(
            payer, PaymentChannels.defaultAddress, "open(address,uint64)",
            [.address(config.devAccounts[peer].address), .uint(UInt256(config.parameters.minimumSettleDelaySeconds))],
            value: deposit)
        channelID = PaymentChannels.channelID(
            chainId: config.chainId, payer: config.devAccounts[payer].address, payee: config.devAccounts[peer].address,
            counter: 0)
    }

    /// A signed transaction from dev account `from` with its next nonce.
    mutating func transaction(_ from: Int, to: Address, data: [UInt8], value: UInt256 = .zero) throws(ChainError)
        -> SignedTransaction
    {
        let nonce = nonces[from, default: 0]
        nonces[from] = nonce + 1
        return try Transaction.dynamicFee(
            chainId: config.chainId, nonce: nonce, maxPriorityFeePerGas: 1, maxFeePerGas: 50_000_000_000,
            gasLimit: 1_000_000_000, to: to, value: value, data: data
        ).signed(with: keys[from])
    }

    /// One call in a block of its own, which must succeed.
    private mutating func step(
        _ from: Int, _ to: Address, _ function: String, _ arguments: [ABIValue], value: UInt256 = .zero
    )
        throws(ChainError)
    {
        let data: [UInt8]
        do {
            data = try ABISignature(parsing: function).encodeCall(arguments)
        } catch {
            throw .invalidTransaction("\(error)")
        }
        let signed = try transaction(from, to: to, data: data, value: value)
        let built = try rules.buildBlock(
            parent: head, state: state, transactions: [signed], timestamp: head.timestamp + 1,
            beneficiary: config.sequencer)
        guard built.receipts.first?.succeeded == true else {
            throw .invalidBlock("bench set-up call \(function) failed")
        }
        head = built.block.header
        state = built.state
    }

    /// Answer `n`: 2,048 bytes in which four stretches of 100 bytes come from records (one of them held by two
    /// records), the rest filler no record holds.
    func response(_ n: Int) -> [UInt8] {
        var out: [UInt8] = []
        for chunk in 0..<4 {
            let record = chunk == 0 ? (n * 4) % records.count : (n * 7 + chunk * 13) % records.count
            let start = chunk == 0 ? 300 : (n + chunk * 97) % 600
            out += records[record].bytes[start..<(start + 100)]
            while out.count < (chunk + 1) * 512 { out += Array("-FILLER-\(n)-\(chunk)-".utf8) }
        }
        return Array(out.prefix(2_048))
    }

    /// The honest proof of a response.
    func proof(_ response: [UInt8]) -> AttributionProof {
        let parameters = AttributionParameters(
            minSpan: config.parameters.attributionMinSpan, maxRecords: config.parameters.attributionMaxRecords)
        let result = Attribution.attribute(
            response, shards: [index], minSpan: parameters.minSpan, maxRecords: parameters.maxRecords, threads: 1)
        return AttributionProof(
            result: result, response: response, records: records, minSpan: parameters.minSpan,
            maxRecords: parameters.maxRecords)
    }

    /// Paid answer `n` (the n-th voucher on the channel), signed by the payer and the peer.
    func item(_ n: Int, proof override: AttributionProof? = nil, responseHash: [UInt8]? = nil) throws(ChainError)
        -> ClaimItem
    {
        let response = response(n)
        let receipt = ServingReceipt(
            requestHash: Keccak256.hash(Array("bench request \(n)".utf8)),
            responseHash: responseHash ?? Keccak256.hash(response), adapterID: 1, promptTokens: 64,
            completionTokens: 512, price: Self.price, temperatureMillis: 700, topPMillis: 950, topK: 40,
            seed: UInt64(n))
        return try ClaimItem.signed(
            channelID: channelID, cumulativeAmount: Self.price * UInt256(n + 1), payer: keys[payer], receipt: receipt,
            servingPeer: keys[peer], response: response, proof: override ?? proof(response), chainId: config.chainId)
    }

    /// One wrong item per fraud kind with the evidence that proves it.
    func fraudCases() throws(ChainError) -> [(String, ClaimItem, FraudEvidence)] {
        let honest = proof(response(0))
        guard let span = honest.spans.first, let credited = span.records.first else {
            throw .invalidBlock("bench answer has no span")
        }
        let leaves = records.map { SnapshotMerkleTree.leaf(contributor: $0.contributor, record: $0.bytes) }
        func witness(_ index: UInt64) -> AttributionWitness {
            AttributionWitness(
                index: index, contributor: records[Int(index)].contributor, bytes: records[Int(index)].bytes,
                path: SnapshotMerkleTree.proof(leaves: leaves, index: Int(index)))
        }
        var badSpan = honest
        badSpan.spans[0].records[0].offset += 1
        var missing = honest
        missing.spans.removeFirst()
        var arithmetic = honest
        arithmetic.contributors[0].weight += 1
        var other = try item(0).receipt
        other.responseHash = Keccak256.hash(Array("another answer".utf8))
        let signature = try other.sign(
            with: keys[peer], chainId: config.chainId, verifyingContract: AttributionClaims.defaultAddress)
        var cases: [(String, ClaimItem, FraudEvidence)] = [
            ("bad_span", try item(0, proof: badSpan), .badSpan(span: 0, witness: witness(credited.index))),
            (
                "short_or_missing_span", try item(0, proof: missing),
                .shortOrMissingSpan(
                    position: Int(span.start), length: Int(span.length), offset: credited.offset,
                    witness: witness(credited.index))
            ),
            ("wrong_arithmetic", try item(0, proof: arithmetic), .wrongArithmetic),
            ("wrong_response", try item(0), .wrongResponse(receipt: other, signature: signature)),
        ]
        // Wrong credit: a span crediting two records, with the second left out.
        guard let spanIndex = honest.spans.firstIndex(where: { $0.records.count >= 2 }) else {
            throw .invalidBlock("bench answer has no span crediting two records")
        }
        var wrongCredit = honest
        let dropped = wrongCredit.spans[spanIndex].records.removeLast()
        cases.insert(
            (
                "wrong_credit", try item(0, proof: wrongCredit),
                .wrongCredit(span: spanIndex, offset: dropped.offset, witness: witness(dropped.index))
            ), at: 2)
        return cases
    }
}
