import AttributionRules
import Codec

/// Why `Staking`, `AttributionClaims`, `Governance` or `AgentRegistry` refused a call, with the values that broke the
/// rule: the typed half of `ChainError.refused`, which callers and tests branch on.
public enum EconomyRejection: Error, Hashable, Sendable, CustomStringConvertible {
    /// A role number that names no staking role.
    case unknownRole(UInt8)
    /// A stake below the role's minimum after the call.
    case belowMinimumStake(role: Staking.Role, minimum: UInt256)
    /// More than the free (staked and unlocked) amount was asked for.
    case insufficientFreeStake(role: Staking.Role, free: UInt256, needed: UInt256)
    /// Nothing is unbonding, or the unbonding period has not ended.
    case nothingToWithdraw(releaseAt: UInt64)
    /// A claim's bytes do not decode; says which part.
    case malformedClaim(String)
    /// A claim with no items or more than the most one claim may carry.
    case claimSize(items: Int, maximum: Int)
    /// A voucher's channel is not open to the claimant, or unknown.
    case channelNotPayable(channel: [UInt8])
    /// A voucher not signed by its channel's payer.
    case voucherSignature(item: Int)
    /// A voucher whose cumulative amount does not exceed what its channel has redeemed already: a replay.
    case voucherAlreadyRedeemed(item: Int, redeemed: UInt256)
    /// A voucher beyond its channel's deposit.
    case voucherExceedsDeposit(item: Int)
    /// A receipt not signed by the claimant.
    case receiptSignature(item: Int)
    /// A receipt whose request another claim (or this one) already carries.
    case receiptAlreadyClaimed(requestHash: [UInt8])
    /// The voucher and receipt disagree (request hash, or price against the voucher's increment).
    case voucherReceiptMismatch(item: Int)
    /// The response bytes do not hash to the receipt's response hash.
    case responseMismatch(item: Int)
    /// The item's proof is not the attribution the receipt signed (its attribution root).
    case attributionMismatch(item: Int)
    /// The receipt names no published adapter.
    case unknownAdapter(UInt256)
    /// The proof cites a snapshot root `DatanetRegistry` never committed.
    case snapshotNotCommitted(root: [UInt8])
    /// The attribution proof fails a submission check (shape, Merkle paths, weight bounds).
    case invalidProof(item: Int, reason: String)
    /// The claimant's free stake cannot back the claim bond.
    case bondNotCovered(free: UInt256, bond: UInt256)
    /// No claim has this id.
    case unknownClaim(UInt256)
    /// The claim is no longer pending.
    case claimNotPending(UInt256)
    /// The challenge window of the claim ended at `endedAt`.
    case challengeWindowClosed(claim: UInt256, endedAt: UInt64)
    /// The claim cannot be finalized yet: no quorum, and the window runs until `windowEnds`.
    case notFinalizable(claim: UInt256, windowEnds: UInt64)
    /// The attester already attested this claim.
    case alreadyAttested(claim: UInt256)
    /// The claimant may not attest its own claim.
    case claimantCannotAttest
    /// The caller has no attester stake.
    case notAnAttester
    /// The claim has as many attesters as one claim may carry.
    case tooManyAttesters(maximum: Int)
    /// A fraud kind number that names no fraud kind.
    case unknownFraudKind(UInt8)
    /// The item index is beyond the claim's items.
    case noSuchItem(claim: UInt256, item: UInt64)
    /// The item bytes offered do not hash to the item the claim committed.
    case itemMismatch(item: UInt64)
    /// The evidence does not decode for its fraud kind.
    case malformedEvidence(String)
    /// The fraud check found no fraud, or did not admit the evidence: the challenge fails with its verdict.
    case challengeFailed(FraudVerdict)
    /// Nothing is owed to the caller.
    case noRewards
    /// A parameter number that names no governed parameter.
    case unknownParameter(UInt8)
    /// A proposed value outside the parameter's bounds.
    case parameterOutOfBounds(parameter: ProtocolParameter, value: UInt256)
    /// The proposer's stake is below the proposal threshold.
    case belowProposalThreshold(stake: UInt256, threshold: UInt256)
    /// A grant above the per-proposal bound or the treasury.
    case grantTooLarge(amount: UInt256, bound: UInt256)
    /// A slash proposal naming an account that is not a registered agent.
    case notAnAgent(Address)
    /// No proposal has this id.
    case unknownProposal(UInt256)
    /// The vote is not within the proposal's voting period.
    case votingClosed(proposal: UInt256)
    /// The voter already voted on this proposal.
    case alreadyVoted(proposal: UInt256)
    /// A support value other than 0 against, 1 for, 2 abstain.
    case unknownSupport(UInt8)
    /// The voter had no stake at the proposal's snapshot block.
    case noStakeAtSnapshot(proposal: UInt256)
    /// The proposal did not pass (or its voting is not over).
    case proposalNotPassed(UInt256)
    /// The proposal was executed already.
    case proposalAlreadyExecuted(UInt256)
    /// The timelock of a passed proposal runs until `until`.
    case timelocked(until: UInt64)
    /// The account is already a registered agent.
    case alreadyRegistered
    /// A metadata CID longer than the bound.
    case metadataTooLong(Int)

    /// The rule that was broken, as a person reads it.
    public var description: String {
        switch self {
        case .unknownRole(let role): "no staking role \(role)"
        case .belowMinimumStake(let role, let minimum): "\(role) stake below the minimum of \(minimum) wei"
        case .insufficientFreeStake(let role, let free, let needed):
            "\(role) free stake \(free) wei, \(needed) wei needed"
        case .nothingToWithdraw(let releaseAt): "nothing to withdraw before \(releaseAt)"
        case .malformedClaim(let why): "malformed claim: \(why)"
        case .claimSize(let items, let maximum): "a claim carries 1 to \(maximum) items, not \(items)"
        case .channelNotPayable(let channel): "channel \(Hex.encode(channel)) does not pay the claimant"
        case .voucherSignature(let item): "item \(item): voucher not signed by the channel's payer"
        case .voucherAlreadyRedeemed(let item, let redeemed): "item \(item): voucher replayed (redeemed \(redeemed))"
        case .voucherExceedsDeposit(let item): "item \(item): voucher exceeds the channel's deposit"
        case .receiptSignature(let item): "item \(item): receipt not signed by the claimant"
        case .receiptAlreadyClaimed(let hash): "receipt for request \(Hex.encode(hash)) already claimed"
        case .voucherReceiptMismatch(let item): "item \(item): voucher and receipt disagree"
        case .responseMismatch(let item): "item \(item): response bytes do not match the receipt"
        case .attributionMismatch(let item): "item \(item): the proof is not the attribution the receipt signed"
        case .unknownAdapter(let id): "no adapter \(id)"
        case .snapshotNotCommitted(let root): "snapshot root \(Hex.encode(root)) is not committed"
        case .invalidProof(let item, let reason): "item \(item): \(reason)"
        case .bondNotCovered(let free, let bond): "free stake \(free) wei does not cover the bond of \(bond) wei"
        case .unknownClaim(let id): "no claim \(id)"
        case .claimNotPending(let id): "claim \(id) is not pending"
        case .challengeWindowClosed(let id, let endedAt): "challenge window of claim \(id) ended at \(endedAt)"
        case .notFinalizable(let id, let ends): "claim \(id) has no quorum and its window runs until \(ends)"
        case .alreadyAttested(let id): "already attested claim \(id)"
        case .claimantCannotAttest: "the claimant cannot attest its own claim"
        case .notAnAttester: "the caller has no attester stake"
        case .tooManyAttesters(let maximum): "a claim takes at most \(maximum) attesters"
        case .unknownFraudKind(let kind): "no fraud kind \(kind)"
        case .noSuchItem(let id, let item): "claim \(id) has no item \(item)"
        case .itemMismatch(let item): "item \(item) bytes differ from the claim's"
        case .malformedEvidence(let why): "malformed evidence: \(why)"
        case .challengeFailed(let verdict): "challenge failed: \(verdict)"
        case .noRewards: "no rewards to withdraw"
        case .unknownParameter(let id): "no parameter \(id)"
        case .parameterOutOfBounds(let parameter, let value): "\(parameter) = \(value) is out of bounds"
        case .belowProposalThreshold(let stake, let threshold): "stake \(stake) below the threshold \(threshold)"
        case .grantTooLarge(let amount, let bound): "grant \(amount) above \(bound)"
        case .notAnAgent(let address): "\(address) is not a registered agent"
        case .unknownProposal(let id): "no proposal \(id)"
        case .votingClosed(let id): "voting on proposal \(id) is closed"
        case .alreadyVoted(let id): "already voted on proposal \(id)"
        case .unknownSupport(let support): "support \(support) is not 0, 1 or 2"
        case .noStakeAtSnapshot(let id): "no stake at the snapshot of proposal \(id)"
        case .proposalNotPassed(let id): "proposal \(id) has not passed"
        case .proposalAlreadyExecuted(let id): "proposal \(id) was executed already"
        case .timelocked(let until): "timelocked until \(until)"
        case .alreadyRegistered: "already a registered agent"
        case .metadataTooLong(let count): "metadata CID of \(count) bytes"
        }
    }
}
