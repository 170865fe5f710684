// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.20;

/// @title ModelRegistry predeploy at 0x4200000000000000000000000000000000000102
/// @notice Base models and the LoRA adapters published on them, with provenance and price.
interface IModelRegistry {
    event BaseModelRegistered(uint256 indexed modelId, bytes32 indexed ggufHash, address registrant, string architecture, bytes32 tokenizerHash);
    event AdapterPublished(uint256 indexed adapterId, uint256 indexed baseModelId, address indexed owner, bytes cid, uint256 pricePer1kTokens, bytes32[] datanetRoots);
    event AdapterDeprecated(uint256 indexed adapterId);
    event AdapterProvenanceRecorded(uint256 indexed adapterId, bytes32 trainingLogRoot, bytes32 trainingDataHash, bytes provenance);

    /// Registers a base model by the content hash of its GGUF file. Ids start at 1.
    function registerBaseModel(bytes32 ggufHash, string calldata architecture, bytes32 tokenizerHash)
        external returns (uint256 modelId);
    /// Publishes an adapter (content CID) on a registered base model, naming the Datanet snapshot roots it was
    /// trained on and its price per 1,000 tokens in wei of OPEN; the caller owns it.
    function publishAdapter(bytes calldata cid, uint256 baseModelId, bytes32[] calldata datanetRoots, uint256 pricePer1kTokens)
        external returns (uint256 adapterId);
    /// Marks an adapter deprecated (owner only, once).
    function deprecateAdapter(uint256 adapterId) external;
    /// Records how an adapter was trained (owner only, once): the Merkle root of its training log (one leaf per
    /// step), the SHA-256 of its training data, and the provenance document (JSON, 1…8,192 bytes: base model hash,
    /// Datanet ids and snapshot roots, hyper-parameters, final losses).
    function recordProvenance(uint256 adapterId, bytes32 trainingLogRoot, bytes32 trainingDataHash, bytes calldata provenance) external;

    function baseModel(uint256 modelId) external view returns (
        bytes32 ggufHash, string memory architecture, bytes32 tokenizerHash, address registrant);
    function adapter(uint256 adapterId) external view returns (
        bytes memory cid, uint256 baseModelId, address owner, uint256 pricePer1kTokens, bool deprecated, bytes32[] memory datanetRoots);
    function provenance(uint256 adapterId) external view returns (
        bytes32 trainingLogRoot, bytes32 trainingDataHash, bytes memory provenance);
}
