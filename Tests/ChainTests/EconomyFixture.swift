import Attribution
import AttributionRules
import Codec
import Crypto
import TestSupport
import Testing

@testable import Chain

let oneOpen = NetworkConfig.weiPerOpen

/// The signatures the economy tests call.
enum Call {
    static let stake = "stake(uint8)"
    static let requestUnstake = "requestUnstake(uint8,uint256)"
    static let withdraw = "withdraw(uint8)"
    static let submitClaim = "submitClaim(bytes)"
    static let attest = "attest(uint256)"
    static let challenge = "challenge(uint256,uint64,uint8,bytes,bytes)"
    static let finalize = "finalize(uint256)"
    static let withdrawRewards = "withdrawRewards()"
    static let propose = "propose(uint8,uint256,string)"
    static let proposeGrant = "proposeGrant(address,uint256,string)"
    static let proposeAgentSlash = "proposeAgentSlash(address,uint256,string)"
    static let vote = "vote(uint256,uint8)"
    static let execute = "execute(uint256)"
    static let register = "register(bytes)"
    static let deregister = "deregister()"
}

/// A devnet with every predeploy and a working economy around one Datanet: dev account 0 pays, 1 serves, 2 and 3
/// attest, 4, 5 and 6 contributed the records, 7 owns the adapter, 8 challenges, 9 stands by.
///
/// Answers are built from record chunks joined by upper-case filler that no (lower-case) record holds, so the honest
/// proof from `Attribution` is the one the fraud checks agree with.
struct EconomyFixture {
    static let payer = 0
    static let servingPeer = 1
    static let attesters = [2, 3]
    static let contributors = [4, 5, 6]
    static let adapterOwner = 7
    static let challenger = 8

    var chain: TestChain
    /// The snapshot's records, in snapshot order.
    let records: [Record]
    let channelID: [UInt8]
    let adapterID: UInt256 = 1
    /// The channel's cumulative amount signed so far.
    var cumulative: UInt256 = .zero
    var requests: UInt64 = 0

    static let claims = AttributionClaims.defaultAddress
    static let staking = Staking.defaultAddress
    static let governance = Governance.defaultAddress

    init(adjust: (inout NetworkConfig) -> Void = { _ in }) throws {
        chain = try TestChain(standard: true, adjust: adjust)
        var random = SeededRandom(seed: 18)
        func text(_ count: Int) -> [UInt8] { (0..<count).map { _ in UInt8(97 + random.next() % 26) } }
        var collected: [Record] = []
        let datanets = DatanetRegistry.defaultAddress
        try chain.send(
            from: 4, to: datanets, function: "createDatanet(string,bytes,bool,address[])",
            [.string("poa"), .bytes([1]), .bool(false), .array([])]
        ).expectSuccess()
        for (batch, contributor) in Self.contributors.enumerated() {
            let owner = chain.address(contributor)
            var batchRecords = (0..<3).map { _ in Record(contributor: owner, bytes: text(300)) }
            if batch == 1 {
                // Record 4 repeats a chunk of record 0, so spans over that chunk credit two records.
                batchRecords[1].bytes.replaceSubrange(100..<164, with: collected[0].bytes[40..<104])
            }
            let hashes = batchRecords.map { Keccak256.hash($0.bytes) }
            try chain.send(
                from: contributor, to: datanets, function: "contribute(uint256,uint64,bytes,bytes32,bytes32[])",
                [
                    .uint(1), .uint(3), .bytes([2]),
                    .fixedBytes(
                        DatanetRegistry.leavesRoot(contributor: chain.address(contributor), recordHashes: hashes)),
                    .array(hashes.map { .fixedBytes($0) }),
                ]
            ).expectSuccess()
            collected += batchRecords
        }
        records = collected
        let models = ModelRegistry.defaultAddress
        try chain.send(
            from: Self.adapterOwner, to: models, function: "registerBaseModel(bytes32,string,bytes32)",
            [.fixedBytes(Keccak256.hash([1])), .string("llama"), .fixedBytes(Keccak256.hash([2]))]
        ).expectSuccess()
        try chain.send(
            from: Self.adapterOwner, to: models, function: "publishAdapter(bytes,uint256,bytes32[],uint256)",
            [.bytes([3]), .uint(1), .array([]), .uint(oneOpen)]
        ).expectSuccess()
        try chain.send(
            from: Self.servingPeer, to: Self.staking, function: Call.stake, [.uint(0)], value: 10_000 * oneOpen
        )
        .expectSuccess()
        for attester in Self.attesters {
            try chain.send(from: attester, to: Self.staking, function: Call.stake, [.uint(1)], value: 5_000 * oneOpen)
                .expectSuccess()
        }
        channelID = try chain.open(payer: Self.payer, payee: Self.servingPeer, deposit: 1_000 * oneOpen)
    }

    /// An answer: chunks of records (record index, range) joined by filler no record holds.
    func answer(_ chunks: [(record: Int, range: Range<Int>)], filler: Int = 16) -> [UInt8] {
        var out: [UInt8] = Array("ANSWER".utf8)
        for (index, chunk) in chunks.enumerated() {
            out += records[chunk.record].bytes[chunk.range]
            out += (0..<filler).map { UInt8(65 + ($0 + index) % 26) }
        }
        return out
    }

    /// The standard answer: a chunk of record 0 held by record 4 too, and chunks of records 3 and 7.
    var standardAnswer: [UInt8] { answer([(0, 40..<104), (3, 10..<90), (7, 150..<200)]) }

    /// The honest PoA-SA v1 proof of `response` over the snapshot.
    func honestProof(_ response: [UInt8], records: [Record]? = nil) throws -> AttributionProof {
        let records = records ?? self.records
        let parameters = AttributionParameters.defaults
        let result = Attribution.attribute(
            response, index: try AttributionIndex(records: records), minSpan: parameters.minSpan,
            maxRecords: parameters.maxRecords)
        return AttributionProof(
            result: result, response: response, records: records, minSpan: parameters.minSpan,
            maxRecords: parameters.maxRecords)
    }

    /// The evidence of record `index`: its bytes and Merkle path in the snapshot.
    func witness(_ index: Int) -> AttributionWitness {
        let leaves = records.map { SnapshotMerkleTree.leaf(contributor: $0.contributor, record: $0.bytes) }
        return AttributionWitness(
            index: UInt64(index), contributor: records[index].contributor, bytes: records[index].bytes,
            path: SnapshotMerkleTree.proof(leaves: leaves, index: index))
    }

    /// A fresh request's receipt for `response` at `price`.
    mutating func receipt(for response: [UInt8], price: UInt256) -> ServingReceipt {
        requests += 1
        return ServingReceipt(
            requestHash: Keccak256.hash(Array("request \(requests)".utf8)), responseHash: Keccak256.hash(response),
            adapterID: adapterID, promptTokens: 12, completionTokens: UInt64(response.count / 4), price: price,
            temperatureMillis: 700, topPMillis: 950, topK: 40, seed: requests)
    }

    /// A paid answer signed by the payer and the serving peer, drawing `price` more on the channel.
    mutating func item(
        _ response: [UInt8], proof: AttributionProof? = nil, price: UInt256 = oneOpen, receipt: ServingReceipt? = nil
    ) throws -> ClaimItem {
        var receipt = receipt ?? self.receipt(for: response, price: price)
        let proof = try proof ?? honestProof(response)
        // The peer's receipt signs the attribution it claims, unless a test gave it another root on purpose.
        if receipt.attributionRoot == ServingReceipt.noAttribution {
            receipt.attributionRoot = ServingReceipt.attributionRoot(of: proof)
        }
        cumulative += receipt.price
        return try ClaimItem.signed(
            channelID: channelID, cumulativeAmount: cumulative, payer: chain.keys[Self.payer], receipt: receipt,
            servingPeer: chain.keys[Self.servingPeer], response: response, proof: proof,
            chainId: chain.config.chainId)
    }

    /// Submits a claim of `items` as the serving peer; returns its id.
    @discardableResult
    mutating func submit(_ items: [ClaimItem], from: Int = servingPeer) throws -> UInt256 {
        let receipt = try chain.send(
            from: from, to: Self.claims, function: Call.submitClaim, [.bytes(ClaimItem.encodeClaim(items))])
        try receipt.expectSuccess()
        let log = try #require(receipt.logs.first { $0.address == Self.claims })
        return try #require(UInt256(bigEndian: log.topics[1]))
    }

    /// The arguments of a challenge of item `item` of claim `id`.
    static func challenge(_ id: UInt256, item: Int, _ claimed: ClaimItem, _ evidence: FraudEvidence) -> [ABIValue] {
        [
            .uint(id), .uint(UInt256(item)), .uint(UInt256(evidence.kind.rawValue)), .bytes(claimed.encoded),
            .bytes(evidence.encoded),
        ]
    }

    /// The stored claim.
    func claim(_ id: UInt256) throws -> AttributionClaims.Claim {
        try #require(try AttributionClaims.ClaimLayout.read(id, from: chain.state))
    }

    func rewards(_ index: Int) throws -> UInt256 {
        try AttributionClaims.RewardLayout.read(chain.address(index), from: chain.state)
    }

    func stake(_ index: Int, _ role: Staking.Role) throws -> Staking.Stake {
        try Staking.stake(chain.address(index), role, chain.state)
    }
}

extension Receipt {
    /// Fails the test when the transaction's call reverted.
    func expectSuccess(sourceLocation: SourceLocation = #_sourceLocation) throws {
        #expect(succeeded, sourceLocation: sourceLocation)
    }
}

extension TestChain {
    /// Moves the clock on by `seconds` with a block of one plain transfer (account 9 to itself).
    mutating func advance(seconds: UInt64) throws {
        try send(from: 9, to: address(9), function: "noop()", [], secondsLater: seconds).expectSuccess()
    }

    /// Every account whose balance the economy moves, once each: genesis balances, predeploys, the fee recipient.
    var accounts: [Address] {
        Array(Set(config.genesisBalances.map(\.0) + Array(rules.predeploys.keys) + [config.sequencer])).sorted()
    }

    /// The economy's typed refusal of a call as dev account `from` would make it in the next block, on a copy.
    ///
    /// Nil when the call succeeds or fails otherwise. Then includes it as a transaction and checks that it failed and
    /// changed no module account and no other account than the sender's and the fee recipient's.
    mutating func refusal(from: Int, to: Address, _ function: String, _ arguments: [ABIValue], value: UInt256 = .zero)
        throws -> EconomyRejection?
    {
        let data = try ABISignature(parsing: function).encodeCall(arguments)
        var scratch = state
        if value > .zero { try scratch.transfer(value, from: address(from), to: to) }
        let context = CallContext(
            caller: address(from), value: value, blockNumber: head.number + 1, timestamp: head.timestamp + 1,
            chainId: config.chainId)
        let predeploy = try #require(rules.predeploys[to])
        var rejection: EconomyRejection? = nil
        do throws(ChainError) {
            _ = try predeploy.call(data, context: context, state: &scratch)
        } catch .refused(let why) {
            rejection = why
        } catch {}
        let watched = accounts.filter { $0 != address(from) && $0 != config.sequencer }
        let before = try watched.map { try state.account($0) }
        let receipt = try send(from: from, to: to, function: function, arguments, value: value)
        #expect(!receipt.succeeded)
        #expect(try watched.map { try state.account($0) } == before)
        return rejection
    }
}
