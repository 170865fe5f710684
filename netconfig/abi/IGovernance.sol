// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.20;

/// @title Governance predeploy at 0x4200000000000000000000000000000000000106
/// @notice Keeps the protocol parameters (docs/economy.md lists their numbers and bounds) and holds the genesis
/// community-and-ecosystem allocation as the treasury. A staker with at least the proposal threshold proposes; holders
/// vote with their stake at the end of the block before the proposal (support 0 against, 1 for, 2 abstain); a
/// proposal passes with the quorum and more for than against, and executes after the timelock.
/// Kinds: 0 parameter, 1 treasury grant, 2 agent slash.
interface IGovernance {
    event ProposalCreated(uint256 indexed proposalId, address indexed proposer, uint8 kind, uint8 parameter, uint256 value, address target, uint64 votingEnds, string description);
    event VoteCast(uint256 indexed proposalId, address indexed voter, uint8 support, uint256 weight);
    event ProposalExecuted(uint256 indexed proposalId);
    event ParameterChanged(uint8 indexed parameter, uint256 value);
    event TreasuryGrant(uint256 indexed proposalId, address indexed recipient, uint256 amount);

    /// Proposes a parameter change; a value outside the parameter's bounds is refused.
    function propose(uint8 parameter, uint256 value, string calldata description) external returns (uint256 proposalId);
    /// Proposes a grant from the treasury, at most the maximumGrant parameter.
    function proposeGrant(address recipient, uint256 amount, string calldata description) external returns (uint256 proposalId);
    /// Proposes slashing a registered agent's stake into the treasury.
    function proposeAgentSlash(address agent, uint256 amount, string calldata description) external returns (uint256 proposalId);
    function vote(uint256 proposalId, uint8 support) external;
    function execute(uint256 proposalId) external;

    function parameter(uint8 parameter) external view returns (uint256);
    function getProposal(uint256 proposalId) external view returns (
        address proposer, uint8 kind, uint8 parameter, uint256 value, address target, uint64 snapshotBlock,
        uint64 votingEnds, uint256 forVotes, uint256 againstVotes, uint256 abstainVotes, uint256 quorumVotes,
        bool executed);
    function treasury() external view returns (uint256);
}
