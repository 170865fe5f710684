import AttributionRules
import Codec
import Crypto
import TestSupport
import Testing

@testable import Chain

/// A dishonest serving peer's claim for `kind` and the evidence that proves it wrong, next to an honest claim of the
/// same answer and the same kind of evidence (which must not count against it).
struct FraudCase {
    var wrongItem: ClaimItem
    var wrongEvidence: FraudEvidence
    var honestItem: ClaimItem
    var honestEvidence: FraudEvidence

    static func make(_ kind: FraudKind, _ f: inout EconomyFixture, honest known: AttributionProof? = nil) throws
        -> FraudCase
    {
        let response = f.standardAnswer
        let honest = try known ?? f.honestProof(response)
        var wrong = honest
        let wrongEvidence: FraudEvidence
        let honestEvidence: FraudEvidence
        var wrongReceipt: ServingReceipt? = nil
        switch kind {
        case .badSpan:
            // Credits record 0 for span 0 at offset 0 instead of 40, where its bytes first are.
            wrong.spans[0].records[0].offset = 0
            wrongEvidence = .badSpan(span: 0, witness: f.witness(0))
            honestEvidence = wrongEvidence
        case .shortOrMissingSpan:
            // Leaves out the span over record 3's chunk.
            let dropped = wrong.spans.remove(at: 1)
            wrong = reweighed(wrong)
            let evidence = FraudEvidence.shortOrMissingSpan(
                position: Int(dropped.start), length: Int(dropped.length), offset: dropped.records[0].offset,
                witness: f.witness(Int(dropped.records[0].index)))
            wrongEvidence = evidence
            honestEvidence = evidence
        case .wrongCredit:
            // Span 0's bytes are in records 0 and 4; the peer credits record 0 alone.
            #expect(wrong.spans[0].records.map(\.index) == [0, 4])
            wrong.spans[0].records.removeLast()
            wrong = reweighed(wrong)
            wrongEvidence = .wrongCredit(span: 0, offset: 100, witness: f.witness(4))
            honestEvidence = wrongEvidence
        case .wrongArithmetic:
            // Inflates the first contributor's weight (the total stays below SCALE, so submission accepts it).
            wrong.contributors[0].weight += 10_000_000_000_000_000
            wrongEvidence = .wrongArithmetic
            honestEvidence = .wrongArithmetic
        case .wrongResponse:
            // The peer also signed another response for the same request.
            let receipt = f.receipt(for: response, price: oneOpen)
            var other = receipt
            other.responseHash = Keccak256.hash(Array("another answer".utf8))
            let key = f.chain.keys[EconomyFixture.servingPeer]
            let chainId = f.chain.config.chainId
            wrongEvidence = .wrongResponse(
                receipt: other,
                signature: try other.sign(with: key, chainId: chainId, verifyingContract: EconomyFixture.claims))
            wrongReceipt = receipt
            honestEvidence = .wrongResponse(receipt: receipt, signature: Array(repeating: 0, count: 65))
        }
        let wrongItem = try f.item(response, proof: wrong, receipt: wrongReceipt)
        let honestItem = try f.item(response, proof: honest)
        var honestEvidenceSigned = honestEvidence
        if case .wrongResponse = kind {
            // The honest peer's own receipt for the request, signed: it names the same response.
            let key = f.chain.keys[EconomyFixture.servingPeer]
            honestEvidenceSigned = .wrongResponse(
                receipt: honestItem.receipt,
                signature: try honestItem.receipt.sign(
                    with: key, chainId: f.chain.config.chainId, verifyingContract: EconomyFixture.claims))
        }
        return FraudCase(
            wrongItem: wrongItem, wrongEvidence: wrongEvidence, honestItem: honestItem,
            honestEvidence: honestEvidenceSigned)
    }
}

@Test(arguments: FraudKind.allCases)
func aWrongClaimIsSlashedAndACorrectOneSurvivesTheSameEvidence(kind: FraudKind) throws {
    var f = try EconomyFixture()
    let fraud = try FraudCase.make(kind, &f)
    let wrongID = try f.submit([fraud.wrongItem])
    let honestID = try f.submit([fraud.honestItem])
    let claims = EconomyFixture.claims
    let challenger = EconomyFixture.challenger
    for id in [wrongID, honestID] {
        try f.chain.send(from: 2, to: claims, function: Call.attest, [.uint(id)]).expectSuccess()
    }

    // The correct claim stands: the challenge fails with a typed error and changes nothing.
    let refused = try f.chain.refusal(
        from: challenger, to: claims, Call.challenge,
        EconomyFixture.challenge(honestID, item: 0, fraud.honestItem, fraud.honestEvidence))
    guard case .challengeFailed(let verdict) = refused else {
        Issue.record("challenge of a correct claim: \(String(describing: refused))")
        return
    }
    #expect(verdict == .noFraud)
    #expect(try f.claim(honestID).status == .pending)

    // The wrong claim falls: voided, fees back in the channel, bond slashed half to the challenger, half burned,
    // and its attester loses its locked share.
    let channelBefore = try #require(try f.chain.channels.channel(f.channelID, state: f.chain.state))
    let peerStake = try f.stake(EconomyFixture.servingPeer, .servingPeer)
    let attesterStake = try f.stake(2, .attester)
    let challengerBalance = try f.chain.balance(challenger)
    let burned = try StateTransition.burned(f.chain.state)
    let receipt = try f.chain.send(
        from: challenger, to: claims, function: Call.challenge,
        EconomyFixture.challenge(wrongID, item: 0, fraud.wrongItem, fraud.wrongEvidence))
    try receipt.expectSuccess()
    let baseFee = try #require(f.chain.head.baseFeePerGas)
    let gas = UInt256(receipt.cumulativeGasUsed)
    let bond = 100 * oneOpen
    #expect(try f.claim(wrongID).status == .voided)
    let channel = try #require(try f.chain.channels.channel(f.channelID, state: f.chain.state))
    #expect(channel.deposit == channelBefore.deposit + oneOpen && channel.redeemed == channelBefore.redeemed)
    let peerAfter = try f.stake(EconomyFixture.servingPeer, .servingPeer)
    #expect(peerAfter.staked == peerStake.staked - bond && peerAfter.locked == peerStake.locked - bond)
    #expect(try f.chain.balance(challenger) == challengerBalance + bond / 2 - (baseFee + 1) * gas)
    let penalty = 500 * oneOpen  // 10% of the attester's 5,000 OPEN, locked when it attested
    #expect(try f.stake(2, .attester).staked == attesterStake.staked - penalty)
    #expect(try StateTransition.burned(f.chain.state) == burned + bond / 2 + penalty + baseFee * gas)
    // The voided claim can be neither finalized nor challenged again; the honest one finalizes.
    #expect(
        try f.chain.refusal(
            from: challenger, to: claims, Call.challenge,
            EconomyFixture.challenge(wrongID, item: 0, fraud.wrongItem, fraud.wrongEvidence))
            == .claimNotPending(wrongID))
    try f.chain.send(from: 9, to: claims, function: Call.finalize, [.uint(honestID)], secondsLater: 600)
        .expectSuccess()
    #expect(try f.claim(honestID).status == .finalized)
}

@Test func challengesWithForeignItemsOrBadEvidenceAreRefused() throws {
    var f = try EconomyFixture()
    let item = try f.item(f.standardAnswer)
    let id = try f.submit([item])
    let claims = EconomyFixture.claims
    var other = item
    other.response[0] ^= 1
    #expect(
        try f.chain.refusal(
            from: 8, to: claims, Call.challenge, EconomyFixture.challenge(id, item: 0, other, .wrongArithmetic))
            == .itemMismatch(item: 0))
    #expect(
        try f.chain.refusal(
            from: 8, to: claims, Call.challenge, EconomyFixture.challenge(id, item: 1, item, .wrongArithmetic))
            == .noSuchItem(claim: id, item: 1))
    var arguments = EconomyFixture.challenge(id, item: 0, item, .wrongArithmetic)
    arguments[2] = .uint(9)
    #expect(try f.chain.refusal(from: 8, to: claims, Call.challenge, arguments) == .unknownFraudKind(9))
    arguments[2] = .uint(0)
    if case .malformedEvidence = try f.chain.refusal(from: 8, to: claims, Call.challenge, arguments) {
    } else {
        Issue.record("bad-span evidence of the wrong shape is not malformed")
    }
    // A witness from outside the snapshot does not count.
    var forged = f.witness(0)
    forged.bytes[0] ^= 1
    let forgedArguments = EconomyFixture.challenge(id, item: 0, item, .badSpan(span: 0, witness: forged))
    #expect(
        try f.chain.refusal(from: 8, to: claims, Call.challenge, forgedArguments)
            == .challengeFailed(.inadmissible(.witnessNotInSnapshot)))
}
