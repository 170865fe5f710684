import Codec
import Crypto
import TestSupport
import Testing

@testable import AttributionRules

// What the ledger checks at submission bounds a claim's payout; the weights themselves are the wrong-arithmetic fraud
// proof's, and a serving peer contradicting its own receipt is the wrong-response one.

@Test(arguments: 0..<10)
func submissionAdmitsHonestProofsAndBoundsWhatAClaimCanPay(seed: Int) throws {
    let (records, response, proof) = try scenario(seed: UInt64(seed))
    let chain = commitment(records)
    try AttributionVerifier.checkSubmission(proof, response: response, against: chain)
    guard !proof.contributors.isEmpty else { return }
    let total = proof.contributors.map(\.weight).reduce(0, +)
    // A lie within SCALE passes submission and is left to the fraud proof; checkClaim still refuses it.
    if total < AttributionCredit.scale {
        var inflated = proof
        inflated.contributors[0].weight += AttributionCredit.scale - total
        try AttributionVerifier.checkSubmission(inflated, response: response, against: chain)
        #expect(throws: AttributionProofError.self) {
            try AttributionVerifier.checkClaim(inflated, response: response, against: chain)
        }
        #expect(AttributionFraudCheck.wrongArithmetic(inflated) == .fraud(.wrongArithmetic))
    }
    // Weights above SCALE, or contributors out of address order, never pass.
    var excessive = proof
    excessive.contributors[0].weight += AttributionCredit.scale - total + 1
    #expect(throws: AttributionProofError.self) {
        try AttributionVerifier.checkSubmission(excessive, response: response, against: chain)
    }
    if proof.contributors.count >= 2 {
        var disordered = proof
        disordered.contributors.swapAt(0, 1)
        #expect(throws: AttributionProofError.self) {
            try AttributionVerifier.checkSubmission(disordered, response: response, against: chain)
        }
    }
}

@Test func wrongResponseNeedsThePeersOwnReceiptForTheSameRequest() {
    let request = Keccak256.hash([1])
    let claimed = Keccak256.hash([2])
    let other = Keccak256.hash([3])
    #expect(
        AttributionFraudCheck.wrongResponse(
            claimedRequest: request, claimedResponse: claimed, otherRequest: request, otherResponse: other,
            signedByServingPeer: true) == .fraud(.wrongResponse))
    #expect(
        AttributionFraudCheck.wrongResponse(
            claimedRequest: request, claimedResponse: claimed, otherRequest: request, otherResponse: claimed,
            signedByServingPeer: true) == .noFraud)
    #expect(
        AttributionFraudCheck.wrongResponse(
            claimedRequest: request, claimedResponse: claimed, otherRequest: request, otherResponse: other,
            signedByServingPeer: false) == .inadmissible(.notTheServingPeersReceipt))
    #expect(
        AttributionFraudCheck.wrongResponse(
            claimedRequest: request, claimedResponse: claimed, otherRequest: other, otherResponse: other,
            signedByServingPeer: true) == .inadmissible(.notTheServingPeersReceipt))
}
