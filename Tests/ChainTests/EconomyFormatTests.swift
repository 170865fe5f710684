import AttributionRules
import Codec
import Crypto
import Foundation
import TestSupport
import Testing

@testable import Chain

/// A storage reader that records the slots a layout reads.
private final class RecordingReader: StorageReader {
    let state: WorldState
    var slots: [Address: [[UInt8]]] = [:]
    init(_ state: WorldState) { self.state = state }
    func word(_ address: Address, slot: [UInt8]) throws(ChainError) -> [UInt8] {
        slots[address, default: []].append(slot)
        return try state.storage(address, slot: slot)
    }
}

/// Slots proven against a state root: reads of any other slot fail, as a light client's do.
private struct ProvenReader: StorageReader {
    var values: [Address: [[UInt8]: [UInt8]]] = [:]
    func word(_ address: Address, slot: [UInt8]) throws(ChainError) -> [UInt8] {
        guard let value = values[address]?[slot] else { throw .invalidBlock("slot not proven") }
        return value
    }
}

/// Reads `key` of `Layout` as a light client would: finds the slots, proves them against the state root, verifies the
/// proofs and decodes the record from the proven slots alone.
private func provenRead<Layout: StorageLayout>(_ layout: Layout.Type, _ key: Layout.Key, _ state: WorldState) throws
    -> Layout.Value
{
    var committed = state
    let root = try committed.commit()
    let recorder = RecordingReader(committed)
    _ = try Layout.read(key, from: recorder)
    var proven = ProvenReader()
    for (address, slots) in recorder.slots {
        let proof = try committed.proof(of: address, slots: slots)
        try proof.verify(stateRoot: root)
        for storage in proof.storageProofs { proven.values[address, default: [:]][storage.key] = storage.value }
    }
    return try Layout.read(key, from: proven)
}

@Test func claimsRewardsStakesParametersAndAgentsAreProvable() throws {
    var f = try EconomyFixture()
    let id = try f.submit([try f.item(f.standardAnswer)])
    try f.chain.send(from: 2, to: EconomyFixture.claims, function: Call.attest, [.uint(id)]).expectSuccess()
    let state = f.chain.state
    #expect(try provenRead(AttributionClaims.ClaimLayout.self, id, state) == f.claim(id))
    let peer = f.chain.address(EconomyFixture.servingPeer)
    #expect(try provenRead(Staking.StakeLayout.self, (peer, .servingPeer), state) == f.stake(1, .servingPeer))
    #expect(try provenRead(ParameterLayout.self, .claimBond, state) == 100 * oneOpen)
    #expect(
        try provenRead(
            DatanetRegistry.CommittedRootLayout.self, try f.honestProof(f.standardAnswer).snapshotRoot, state) == 1)
    try f.chain.send(from: 9, to: EconomyFixture.claims, function: Call.finalize, [.uint(id)], secondsLater: 600)
        .expectSuccess()
    #expect(try provenRead(AttributionClaims.RewardLayout.self, peer, f.chain.state) == f.rewards(1))
    #expect(try f.rewards(1) > .zero)
    try f.chain.send(from: 5, to: Staking.defaultAddress, function: Call.stake, [.uint(2)], value: 1_000 * oneOpen)
        .expectSuccess()
    try f.chain.send(from: 5, to: AgentRegistry.defaultAddress, function: Call.register, [.bytes([7, 7])])
        .expectSuccess()
    let agent = try #require(try provenRead(AgentRegistry.AgentLayout.self, f.chain.address(5), f.chain.state))
    #expect(agent.status == .active && agent.metadataCID == [7, 7])
    #expect(try provenRead(AgentRegistry.AgentListLayout.self, 0, f.chain.state) == f.chain.address(5))
}

@Test func receiptDigestIsStandardEIP712AndItemsRoundTrip() throws {
    var f = try EconomyFixture()
    let item = try f.item(f.standardAnswer)
    let digest = item.receipt.digest(chainId: 16_120_033, verifyingContract: EconomyFixture.claims)
    #expect(
        digest == (try item.receipt.typedData(chainId: 16_120_033, verifyingContract: EconomyFixture.claims).digest()))
    #expect(try ClaimItem(encoded: item.encoded) == item)
    #expect(item.proofBytes < item.proof.encoded.count / 2)
    for evidence in [
        FraudEvidence.badSpan(span: 1, witness: f.witness(2)),
        .shortOrMissingSpan(position: 3, length: 40, offset: 9, witness: f.witness(0)),
        .wrongCredit(span: 0, offset: 5, witness: f.witness(4)),
        .wrongArithmetic, .wrongResponse(receipt: item.receipt, signature: item.receiptSignature),
    ] {
        #expect(try FraudEvidence(kind: evidence.kind, encoded: evidence.encoded) == evidence)
    }
}

@Test func hostileClaimBytesAreTypedRefusalsNeverCrashes() throws {
    var f = try EconomyFixture()
    let claim = ClaimItem.encodeClaim([try f.item(f.standardAnswer)])
    let claims = try #require(f.chain.rules.predeploys[EconomyFixture.claims])
    var random = SeededRandom(seed: 7)
    var refused = 0
    for _ in 0..<300 {
        let bytes = random.mutate(claim)
        var scratch = f.chain.state
        let context = CallContext(
            caller: f.chain.address(1), value: .zero, blockNumber: f.chain.head.number + 1,
            timestamp: f.chain.head.timestamp + 1, chainId: f.chain.config.chainId)
        do throws(ChainError) {
            _ = try claims.call(
                try! ABISignature(parsing: Call.submitClaim).encodeCall([.bytes(bytes)]), context: context,
                state: &scratch)
        } catch .refused {
            refused += 1
        } catch {
            Issue.record("untyped refusal: \(error)")
        }
    }
    // A mutation inside a proof offset or weight may still pass submission (it is what fraud proofs are for).
    #expect(refused >= 290)
}

@Test func economyParametersComeFromTheConfigWithinTheirBounds() throws {
    let root = Fixtures.packageRoot.appendingPathComponent("netconfig/devnet.json")
    var json = try #require(try JSONSerialization.jsonObject(with: Data(contentsOf: root)) as? [String: Any])
    json["economy"] = ["claimBond": "250 OPEN", "unbondingSeconds": "3600"]
    let config = try NetworkConfig.parse(try JSONSerialization.data(withJSONObject: json))
    #expect(config.economyParameters == [.claimBond: 250 * oneOpen, .unbondingSeconds: 3_600])
    let (_, state) = try StateTransition.standard(config: config).genesis()
    let parameters = try ProtocolParameters.read(from: state)
    #expect(parameters[.claimBond] == 250 * oneOpen && parameters[.unbondingSeconds] == 3_600)
    #expect(parameters.feeSplit == config.parameters.feeSplitBasisPoints)
    #expect(parameters.attribution == AttributionParameters(minSpan: 32, maxRecords: 4))
    json["economy"] = ["claimBond": "1 wei"]
    #expect(throws: ChainError.self) { try NetworkConfig.parse(try JSONSerialization.data(withJSONObject: json)) }
    json["economy"] = ["noSuchParameter": "1"]
    #expect(throws: ChainError.self) { try NetworkConfig.parse(try JSONSerialization.data(withJSONObject: json)) }
}

@Test func anAgentsClaimIsBondedByItsAgentStakeAndSlashedByAFraudProof() throws {
    var f = try EconomyFixture()
    let peer = EconomyFixture.servingPeer
    try f.chain.send(from: peer, to: Staking.defaultAddress, function: Call.stake, [.uint(2)], value: 2_000 * oneOpen)
        .expectSuccess()
    try f.chain.send(from: peer, to: AgentRegistry.defaultAddress, function: Call.register, [.bytes([1])])
        .expectSuccess()
    let fraud = try FraudCase.make(.wrongArithmetic, &f)
    let id = try f.submit([fraud.wrongItem])
    #expect(try f.claim(id).bondRole == .agent && f.stake(peer, .agent).locked == 100 * oneOpen)
    try f.chain.send(
        from: EconomyFixture.challenger, to: EconomyFixture.claims, function: Call.challenge,
        EconomyFixture.challenge(id, item: 0, fraud.wrongItem, fraud.wrongEvidence)
    ).expectSuccess()
    #expect(try f.stake(peer, .agent).staked == 1_900 * oneOpen)
    #expect(try f.stake(peer, .servingPeer).staked == 10_000 * oneOpen)
}
