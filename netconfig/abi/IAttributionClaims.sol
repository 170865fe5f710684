// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.20;

/// @title AttributionClaims predeploy at 0x4200000000000000000000000000000000000105
/// @notice A serving peer claims the fees of the answers it served. `claim` is the RLP list of items
/// [channelId, cumulativeAmount, voucherSignature, receipt, receiptSignature, response, proof] (docs/economy.md):
/// the payer's PaymentChannels voucher, the peer's EIP-712 receipt over the domain
/// {name: "OpenLedger AttributionClaims", version: "1", chainId, verifyingContract: this address} and the type
/// Receipt(bytes32 requestHash,bytes32 responseHash,uint256 adapterId,uint64 promptTokens,uint64 completionTokens,
/// uint256 price,uint32 temperatureMillis,uint32 topPMillis,uint32 topK,uint64 seed,bytes32 attributionRoot), the
/// response's bytes and the PoA-SA v1 proof, whose compact bytes hash to the receipt's attributionRoot. Submission escrows the vouchers' increments and locks the claim bond. Fraud kinds:
/// 0 bad span, 1 short or missing span, 2 wrong credit, 3 wrong arithmetic, 4 wrong response.
/// Claim status: 0 none, 1 pending, 2 finalized, 3 voided.
interface IAttributionClaims {
    event ClaimSubmitted(uint256 indexed claimId, address indexed claimant, uint64 items, uint256 fees, uint64 windowEnds);
    event ClaimAttested(uint256 indexed claimId, address indexed attester, uint256 stake, uint256 attestedStake);
    event ClaimVoided(uint256 indexed claimId, address indexed challenger, uint8 kind, uint64 item, uint256 slashed);
    event ClaimFinalized(uint256 indexed claimId, uint256 fees, uint256 burned);
    event RewardsWithdrawn(address indexed owner, uint256 amount);

    function submitClaim(bytes calldata claim) external returns (uint256 claimId);
    /// Attests a pending claim within its window (staked attesters other than the claimant, once each).
    function attest(uint256 claimId) external;
    /// Challenges item `item` (its canonical RLP as `itemData`) with fraud evidence of `kind`; a failed challenge
    /// reverts. A successful one voids the claim, refunds the channels, slashes the bond (half to the caller, half
    /// burned) and the attesters' locked share (burned).
    function challenge(uint256 claimId, uint64 item, uint8 kind, bytes calldata itemData, bytes calldata evidence) external;
    /// Finalizes a pending claim at quorum or after its window: credits the rewards and burns the burn share.
    function finalize(uint256 claimId) external;
    function withdrawRewards() external returns (uint256 amount);

    function getClaim(uint256 claimId) external view returns (
        address claimant, uint8 status, uint64 submittedAt, uint64 windowEnds, uint256 bond, uint64 items, uint256 fees,
        uint256 attestedStake, uint256 quorumStake, uint64 attesters);
    function claimItemHash(uint256 claimId, uint64 item) external view returns (bytes32);
    function claimAttester(uint256 claimId, uint64 index) external view returns (address attester, uint256 locked);
    function claimPayout(uint256 claimId, uint64 index) external view returns (address recipient, uint256 amount);
    function rewardsOf(address owner) external view returns (uint256);
    /// The claim that carries the receipt of `requestHash` (0 for none).
    function receiptClaim(bytes32 requestHash) external view returns (uint256);
}
