// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.20;

/// @title AgentRegistry predeploy at 0x4200000000000000000000000000000000000107
/// @notice Autonomous agents registered with at least the minimum agent stake (Staking role 2). Deregistration starts
/// the unbonding of the free agent stake. A claim an agent submits is bonded by its agent stake. Status: 0 none,
/// 1 active, 2 deregistered.
interface IAgentRegistry {
    event AgentRegistered(address indexed agent, uint64 index, bytes metadataCID);
    event AgentUpdated(address indexed agent, bytes metadataCID);
    event AgentDeregistered(address indexed agent, uint64 releaseAt);

    function register(bytes calldata metadataCID) external returns (uint64 index);
    function update(bytes calldata metadataCID) external;
    function deregister() external returns (uint64 releaseAt);

    function agentCount() external view returns (uint64);
    function agentAt(uint64 index) external view returns (address);
    function agent(address account) external view returns (uint8 status, uint64 registeredAt, bytes memory metadataCID, uint256 stake);
}
