// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.20;

/// @title DatanetRegistry predeploy at 0x4200000000000000000000000000000000000101
/// @notice Datanets, contributed batches of records, curation, and each Datanet's snapshot: an incremental
/// depth-32 keccak Merkle tree (PoA-SA v1) with leaf j = keccak256(0x00 ‖ contributor ‖ keccak256(record)),
/// node = keccak256(0x01 ‖ left ‖ right) and snapshot root = keccak256(0x02 ‖ treeRoot ‖ uint64 count).
interface IDatanetRegistry {
    event DatanetCreated(uint256 indexed datanetId, address indexed owner, string name, bytes metadataCID, bool curated);
    event BatchContributed(uint256 indexed datanetId, uint256 indexed batchId, address indexed contributor, uint64 count, bytes batchCID, bytes32 leavesRoot);
    event BatchApproved(uint256 indexed datanetId, uint256 indexed batchId, uint64 firstLeaf, bytes32 snapshotRoot);
    event BatchRejected(uint256 indexed datanetId, uint256 indexed batchId);

    /// Creates a Datanet owned by the caller: open (batches are appended at once) or curated (curators and the
    /// owner approve or reject each batch). Ids start at 1.
    function createDatanet(string calldata name, bytes calldata metadataCID, bool curated, address[] calldata curators)
        external returns (uint256 datanetId);
    /// Contributes count records (1…1024) by their keccak256 hashes; leavesRoot must be the snapshot root of
    /// the batch's own leaves (contributor = caller).
    function contribute(uint256 datanetId, uint64 count, bytes calldata batchCID, bytes32 leavesRoot, bytes32[] calldata recordHashes)
        external returns (uint256 batchId);
    function approveBatch(uint256 datanetId, uint256 batchId) external;
    function rejectBatch(uint256 datanetId, uint256 batchId) external;

    function snapshotRoot(uint256 datanetId) external view returns (bytes32);
    function snapshotSize(uint256 datanetId) external view returns (uint64);
    /// 0 none, 1 pending, 2 approved, 3 rejected.
    function batchStatus(uint256 datanetId, uint256 batchId) external view returns (uint8);
    function contributorOf(uint256 datanetId, uint64 index) external view returns (address);
    /// The id of the Datanet that committed `snapshotRoot` at some approval (0 when none ever did): the roots
    /// attribution claims may cite.
    function committedRoot(bytes32 snapshotRoot) external view returns (uint256 datanetId);
}
