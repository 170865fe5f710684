// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.20;

/// @title Staking predeploy at 0x4200000000000000000000000000000000000104
/// @notice OPEN staked per role (0 serving peer, 1 attester, 2 agent). Stake is locked while it backs a claim bond or an
/// attestation, withdrawn after the unbonding period, and slashed only by AttributionClaims (a proven fraud) and
/// Governance (a passed proposal), never by more than is staked and unbonding. Votes weigh the stake over every role
/// at a block (checkpoints).
interface IStaking {
    event Staked(address indexed staker, uint8 indexed role, uint256 amount, uint256 staked);
    event UnstakeRequested(address indexed staker, uint8 indexed role, uint256 amount, uint64 releaseAt);
    event Withdrawn(address indexed staker, uint8 indexed role, uint256 amount);
    event Slashed(address indexed staker, uint8 indexed role, uint256 amount, address recipient);
    event StakeLocked(address indexed staker, uint8 indexed role, uint256 amount);
    event StakeUnlocked(address indexed staker, uint8 indexed role, uint256 amount);

    /// Adds msg.value to the caller's stake in `role`; the result must reach the role's minimum stake.
    function stake(uint8 role) external payable returns (uint256 staked);
    /// Moves `amount` of free (unlocked) stake into unbonding; what stays must be zero or at least the minimum.
    function requestUnstake(uint8 role, uint256 amount) external returns (uint64 releaseAt);
    /// Pays out the unbonding stake once the unbonding period has passed.
    function withdraw(uint8 role) external returns (uint256 amount);

    function stakeOf(address staker, uint8 role) external view returns (
        uint256 staked, uint256 locked, uint256 unbonding, uint64 releaseAt);
    function totalStaked(uint8 role) external view returns (uint256);
    /// The staker's stake over every role at the end of block `blockNumber` (address 0: every staker's).
    function votingStakeAt(address staker, uint64 blockNumber) external view returns (uint256);
}
