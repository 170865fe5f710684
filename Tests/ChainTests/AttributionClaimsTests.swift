import AttributionRules
import Codec
import Crypto
import TestSupport
import Testing

@testable import Chain

/// The proof with its contributor weights recomputed from its (altered) spans: a dishonest peer's consistent lie.
func reweighed(_ proof: AttributionProof) -> AttributionProof {
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

/// Each answer's fee as the rules split it (docs/economy.md), for checking the module's books to the wei.
func expectedSplit(_ fee: UInt256, _ proof: AttributionProof, split: NetworkConfig.FeeSplit) -> (
    burn: UInt256, serving: UInt256, adapter: UInt256, contributors: [Address: UInt256]
) {
    let burn = fee * UInt256(split.burn) / 10_000
    let serving = fee * UInt256(split.servingPeer) / 10_000
    var adapter = fee * UInt256(split.adapterOwner) / 10_000
    let data = fee - burn - serving - adapter
    var shares: [Address: UInt256] = [:]
    for (address, weight) in proof.contributors {
        shares[address] = data * UInt256(high: 0, low: weight) / UInt256(high: 0, low: AttributionCredit.scale)
    }
    adapter += data - shares.values.reduce(.zero, +)
    return (burn, serving, adapter, shares)
}

@Test func aClaimLivesFromVoucherToWithdrawnRewardsToTheWei() throws {
    var f = try EconomyFixture()
    let response = f.standardAnswer
    let proof = try f.honestProof(response)
    #expect(proof.spans.count == 3 && proof.spans[0].records.map(\.index) == [0, 4])
    let fee = oneOpen + 7  // odd, so every floor leaves a remainder
    let item = try f.item(response, proof: proof, price: fee)
    let id = try f.submit([item])

    // Submission escrows the increment and locks the bond.
    var claim = try f.claim(id)
    #expect(claim.status == .pending && claim.fees == fee && claim.itemCount == 1 && claim.bond == 100 * oneOpen)
    #expect(try f.chain.state.account(EconomyFixture.claims).balance == fee)
    #expect(try f.chain.channels.channel(f.channelID, state: f.chain.state)?.redeemed == fee)
    #expect(try f.stake(EconomyFixture.servingPeer, .servingPeer).locked == 100 * oneOpen)
    #expect(
        try f.chain.view(
            EconomyFixture.claims, "receiptClaim(bytes32)", [.fixedBytes(item.receipt.requestHash)],
            returns: [.uint(256)])
            == [.uint(id)])
    // Not final before quorum or window.
    #expect(
        try f.chain.refusal(from: 9, to: EconomyFixture.claims, Call.finalize, [.uint(id)])
            == .notFinalizable(claim: id, windowEnds: claim.windowEnds))

    for attester in EconomyFixture.attesters {
        try f.chain.send(from: attester, to: EconomyFixture.claims, function: Call.attest, [.uint(id)]).expectSuccess()
    }
    claim = try f.claim(id)
    #expect(claim.attestedStake == 10_000 * oneOpen && claim.quorumStake == 5_000 * oneOpen && claim.attesterCount == 2)
    #expect(try f.stake(2, .attester).locked == 500 * oneOpen)

    // Quorum finalizes before the window ends.
    let burnedBefore = try StateTransition.burned(f.chain.state)
    let finalizing = try f.chain.send(from: 9, to: EconomyFixture.claims, function: Call.finalize, [.uint(id)])
    try finalizing.expectSuccess()
    let baseFee = try #require(f.chain.head.baseFeePerGas)
    let split = expectedSplit(fee, proof, split: f.chain.config.parameters.feeSplitBasisPoints)
    #expect(
        try StateTransition.burned(f.chain.state) - burnedBefore
            == split.burn + baseFee * UInt256(finalizing.cumulativeGasUsed))
    #expect(try f.claim(id).status == .finalized)
    #expect(try f.rewards(EconomyFixture.servingPeer) == split.serving)
    #expect(try f.rewards(EconomyFixture.adapterOwner) == split.adapter)
    for contributor in EconomyFixture.contributors {
        #expect(try f.rewards(contributor) == split.contributors[f.chain.address(contributor)] ?? .zero)
    }
    let paid = split.burn + split.serving + split.adapter + split.contributors.values.reduce(.zero, +)
    #expect(paid == fee)
    #expect(try f.chain.state.account(EconomyFixture.claims).balance == fee - split.burn)
    #expect(try f.stake(EconomyFixture.servingPeer, .servingPeer).locked == .zero)
    #expect(try f.stake(2, .attester).locked == .zero)

    // Contributors withdraw to the wei: reward minus gas at the base fee plus the 1 wei tip.
    let contributor = EconomyFixture.contributors[0]
    let owed = try f.rewards(contributor)
    #expect(owed > .zero)
    let before = try f.chain.balance(contributor)
    let withdrawal = try f.chain.send(from: contributor, to: EconomyFixture.claims, function: Call.withdrawRewards, [])
    try withdrawal.expectSuccess()
    let price = try #require(f.chain.head.baseFeePerGas) + 1
    #expect(try f.chain.balance(contributor) == before + owed - price * UInt256(withdrawal.cumulativeGasUsed))
    #expect(try f.rewards(contributor) == .zero)
    #expect(try f.chain.refusal(from: contributor, to: EconomyFixture.claims, Call.withdrawRewards, []) == .noRewards)
}

@Test func aClaimWithoutQuorumFinalizesAfterItsWindow() throws {
    var f = try EconomyFixture { $0.economyParameters[.attestationQuorumBasisPoints] = 7_500 }
    let id = try f.submit([try f.item(f.standardAnswer)])
    let windowEnds = try f.claim(id).windowEnds
    #expect(
        try f.chain.refusal(from: 9, to: EconomyFixture.claims, Call.finalize, [.uint(id)])
            == .notFinalizable(claim: id, windowEnds: windowEnds))
    try f.chain.send(from: 2, to: EconomyFixture.claims, function: Call.attest, [.uint(id)]).expectSuccess()
    // Half the attester stake is short of a 75% quorum; the window's end is enough.
    #expect(try f.chain.refusal(from: 9, to: EconomyFixture.claims, Call.finalize, [.uint(id)]) != nil)
    try f.chain.send(from: 9, to: EconomyFixture.claims, function: Call.finalize, [.uint(id)], secondsLater: 600)
        .expectSuccess()
    #expect(try f.claim(id).status == .finalized)
}

@Test func replaysAndBadSubmissionsAreRefusedWithTypedErrorsAndNoStateChange() throws {
    var f = try EconomyFixture()
    let response = f.standardAnswer
    let first = try f.item(response)
    let id = try f.submit([first])
    let claims = EconomyFixture.claims
    let peer = EconomyFixture.servingPeer
    func submit(_ items: [ClaimItem]) -> [ABIValue] { [.bytes(ClaimItem.encodeClaim(items))] }

    // The same voucher again, in another claim.
    #expect(
        try f.chain.refusal(from: peer, to: claims, Call.submitClaim, submit([first]))
            == .voucherAlreadyRedeemed(item: 0, redeemed: oneOpen))
    // The same receipt with a fresh voucher, in another claim and twice in one claim.
    let replayedReceipt = try f.item(response, receipt: first.receipt)
    #expect(
        try f.chain.refusal(from: peer, to: claims, Call.submitClaim, submit([replayedReceipt]))
            == .receiptAlreadyClaimed(requestHash: first.receipt.requestHash))
    f.cumulative = oneOpen
    let fresh = try f.item(response)
    let twice = try f.item(response, receipt: fresh.receipt)
    #expect(
        try f.chain.refusal(from: peer, to: claims, Call.submitClaim, submit([fresh, twice]))
            == .receiptAlreadyClaimed(requestHash: fresh.receipt.requestHash))
    // A proof over a snapshot the registry never committed.
    f.cumulative = oneOpen
    let extra = Record(contributor: f.chain.address(9), bytes: Array("zzzz".utf8))
    let uncommitted = try f.honestProof(response, records: f.records + [extra])
    let overUncommitted = try f.item(response, proof: uncommitted)
    #expect(
        try f.chain.refusal(from: peer, to: claims, Call.submitClaim, submit([overUncommitted]))
            == .snapshotNotCommitted(root: uncommitted.snapshotRoot))
    // Response bytes that are not the receipt's, a receipt signed by someone else, an unknown adapter.
    f.cumulative = oneOpen
    var wrongBytes = try f.item(response)
    wrongBytes.response[0] ^= 1
    #expect(
        try f.chain.refusal(from: peer, to: claims, Call.submitClaim, submit([wrongBytes]))
            == .responseMismatch(item: 0))
    f.cumulative = oneOpen
    #expect(
        try f.chain.refusal(from: 9, to: claims, Call.submitClaim, submit([try f.item(response)]))
            == .channelNotPayable(channel: f.channelID))
    f.cumulative = oneOpen
    var unknownAdapter = f.receipt(for: response, price: oneOpen)
    unknownAdapter.adapterID = 99
    #expect(
        try f.chain.refusal(
            from: peer, to: claims, Call.submitClaim, submit([try f.item(response, receipt: unknownAdapter)]))
            == .unknownAdapter(99))
    // A proof the receipt did not sign: the receipt names another attribution root.
    f.cumulative = oneOpen
    var otherRoot = f.receipt(for: response, price: oneOpen)
    otherRoot.attributionRoot = Keccak256.hash(Array("another attribution".utf8))
    #expect(
        try f.chain.refusal(
            from: peer, to: claims, Call.submitClaim, submit([try f.item(response, receipt: otherRoot)]))
            == .attributionMismatch(item: 0))
    // Garbage is a typed malformed claim.
    #expect(
        try f.chain.refusal(from: peer, to: claims, Call.submitClaim, [.bytes([0xC0])])
            == .claimSize(items: 0, maximum: 256))
    if case .malformedClaim = try f.chain.refusal(from: peer, to: claims, Call.submitClaim, [.bytes([0x01, 0x02])]) {
    } else {
        Issue.record("garbage is not a malformed claim")
    }

    // Attestations: by the claimant, twice, without stake.
    #expect(try f.chain.refusal(from: peer, to: claims, Call.attest, [.uint(id)]) == .claimantCannotAttest)
    try f.chain.send(from: 2, to: claims, function: Call.attest, [.uint(id)]).expectSuccess()
    #expect(try f.chain.refusal(from: 2, to: claims, Call.attest, [.uint(id)]) == .alreadyAttested(claim: id))
    #expect(try f.chain.refusal(from: 9, to: claims, Call.attest, [.uint(id)]) == .notAnAttester)
    // A challenge after the window.
    let windowEnds = try f.claim(id).windowEnds
    try f.chain.advance(seconds: 600)
    #expect(
        try f.chain.refusal(
            from: EconomyFixture.challenger, to: claims, Call.challenge,
            EconomyFixture.challenge(id, item: 0, first, .wrongArithmetic))
            == .challengeWindowClosed(claim: id, endedAt: windowEnds))
    #expect(
        try f.chain.refusal(from: 3, to: claims, Call.attest, [.uint(id)])
            == .challengeWindowClosed(claim: id, endedAt: windowEnds))
}
