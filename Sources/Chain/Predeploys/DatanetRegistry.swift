import AttributionRules
import Codec
import Crypto

/// `DatanetRegistry`: Datanets, their contributed batches of records, curation, and each Datanet's snapshot
/// as an incremental PoA-SA v1 Merkle tree (`SnapshotMerkleTree`), so that the committed snapshot root is the
/// one attribution proofs are checked against.
public struct DatanetRegistry: Predeploy {
    public static let defaultAddress = try! Address(hex: "0x4200000000000000000000000000000000000101")
    /// The most records one batch may carry.
    public static let maxBatchRecords = 1024

    /// A batch's curation status.
    public enum BatchStatus: UInt8, Sendable {
        case none = 0
        case pending = 1
        case approved = 2
        case rejected = 3
    }

    public let address: Address

    /// The canonical signatures of every function, view and event: the contract's interface.
    public static var interface: Set<String> {
        Set((functions + views).map(\.signature.canonical) + events.map(\.signature.canonical))
    }
    private var storage: ContractStorage { ContractStorage(address: address) }

    public init(address: Address = DatanetRegistry.defaultAddress) { self.address = address }

    static let create = PredeployFunction(
        "createDatanet(string name, bytes metadataCID, bool curated, address[] curators)", returns: "uint256",
        gas: 80_000)
    static let contribute = PredeployFunction(
        "contribute(uint256 datanetId, uint64 count, bytes batchCID, bytes32 leavesRoot, bytes32[] recordHashes)",
        returns: "uint256", gas: 40_000)
    static let approve = PredeployFunction("approveBatch(uint256 datanetId, uint256 batchId)", gas: 30_000)
    static let reject = PredeployFunction("rejectBatch(uint256 datanetId, uint256 batchId)", gas: 20_000)
    static let snapshotRootView = PredeployFunction("snapshotRoot(uint256 datanetId)", returns: "bytes32")
    static let sizeView = PredeployFunction("snapshotSize(uint256 datanetId)", returns: "uint64")
    static let batchStatusView = PredeployFunction("batchStatus(uint256 datanetId, uint256 batchId)", returns: "uint8")
    static let contributorView = PredeployFunction("contributorOf(uint256 datanetId, uint64 index)", returns: "address")
    static let functions = [create, contribute, approve, reject]
    static let events = [created, contributed, approved, rejected]
    static let views = [snapshotRootView, sizeView, batchStatusView, contributorView]

    /// Gas per record contributed, and per leaf appended to the snapshot.
    static let gasPerRecord: UInt64 = 22_000
    static let gasPerLeaf: UInt64 = 8_000

    static let created = PredeployEvent(
        "DatanetCreated(uint256 indexed datanetId, address indexed owner, string name, bytes metadataCID, bool curated)"
    )
    static let contributed = PredeployEvent(
        "BatchContributed(uint256 indexed datanetId, uint256 indexed batchId, address indexed contributor, uint64 count, bytes batchCID, bytes32 leavesRoot)"
    )
    static let approved = PredeployEvent(
        "BatchApproved(uint256 indexed datanetId, uint256 indexed batchId, uint64 firstLeaf, bytes32 snapshotRoot)")
    static let rejected = PredeployEvent("BatchRejected(uint256 indexed datanetId, uint256 indexed batchId)")

    // Storage: 0 datanet counter; 1 datanets; 2 curators; 3 batches; 4 leaf contributors.
    private static let counterSlot = UInt256.zero

    private func datanetSlot(_ id: UInt256) -> UInt256 { ContractStorage.mappingSlot(1, key: id) }
    private func curatorSlot(_ id: UInt256, _ curator: Address) -> UInt256 {
        ContractStorage.mappingSlot(2, key: Keccak256.hash(id.bigEndianBytes + curator.bytes))
    }
    private func batchSlot(_ id: UInt256, _ batch: UInt256) -> UInt256 {
        ContractStorage.mappingSlot(3, key: Keccak256.hash(id.bigEndianBytes + batch.bigEndianBytes))
    }
    private func leafContributorSlot(_ id: UInt256, _ index: UInt64) -> UInt256 {
        ContractStorage.mappingSlot(4, key: Keccak256.hash(id.bigEndianBytes + UInt256(index).bigEndianBytes))
    }

    // Datanet fields: +0 owner, +1 curated, +2 batch counter, +3 leaf count, +4 … +35 branch, +36 name, +37 CID.
    private static let branchOffset: UInt64 = 4

    private func exists(_ id: UInt256, _ state: some StorageReader) throws(ChainError) -> Bool {
        try storage.word(state, datanetSlot(id)) != .zero
    }

    /// The snapshot tree of Datanet `id`.
    public func snapshot(_ id: UInt256, state: some StorageReader) throws(ChainError) -> SnapshotMerkleTree {
        let base = datanetSlot(id)
        guard let count = try storage.word(state, base &+ 3).uint64 else { throw .invalidBlock("corrupt leaf count") }
        var branch: [[UInt8]] = []
        for level in 0..<UInt64(SnapshotMerkleTree.depth) {
            branch.append(try storage.bytes32(state, base &+ UInt256(Self.branchOffset + level)))
        }
        return SnapshotMerkleTree(branch: branch, count: count)
    }

    private func storeSnapshot(_ id: UInt256, _ tree: SnapshotMerkleTree, state: inout WorldState) {
        let base = datanetSlot(id)
        storage.setWord(&state, base &+ 3, UInt256(tree.count))
        for (level, node) in tree.branch.enumerated() {
            storage.setBytes32(&state, base &+ UInt256(Self.branchOffset + UInt64(level)), node)
        }
    }

    /// The leaves root a contributor must state for a batch: the snapshot root of the batch's leaves alone.
    public static func leavesRoot(contributor: Address, recordHashes: [[UInt8]]) -> [UInt8] {
        SnapshotMerkleTree(leaves: recordHashes.map { leaf(contributor: contributor, recordHash: $0) }).snapshotRoot
    }

    private static func leaf(contributor: Address, recordHash: [UInt8]) -> [UInt8] {
        SnapshotMerkleTree.leaf(contributor: contributor, recordHash: recordHash)
    }

    public func call(_ calldata: [UInt8], context: CallContext, state: inout WorldState) throws(ChainError)
        -> CallOutcome
    {
        let function = try selectFunction(calldata, in: Self.functions)
        guard context.value == .zero else { throw .reverted("DatanetRegistry does not accept OPEN") }
        let arguments = try function.arguments(calldata)
        var outcome = CallOutcome(gas: function.gas)
        switch function.selector {
        case Self.create.selector:
            let name = arguments[0].bytesValue
            let cid = arguments[1].bytesValue
            let curated = arguments[2].boolValue
            let curators = arguments[3].arrayValue.map(\.addressValue)
            guard !name.isEmpty, name.count <= 128 else { throw .reverted("name must be 1 to 128 bytes") }
            guard cid.count <= 128, curators.count <= 64 else {
                throw .reverted("metadata CID or curator list too long")
            }
            let id = try storage.word(state, Self.counterSlot) &+ 1
            storage.setWord(&state, Self.counterSlot, id)
            let base = datanetSlot(id)
            storage.setAddress(&state, base, context.caller)
            storage.setWord(&state, base &+ 1, curated ? 1 : 0)
            storage.setBytes(&state, base &+ 36, name)
            storage.setBytes(&state, base &+ 37, cid)
            for curator in curators { storage.setWord(&state, curatorSlot(id, curator), 1) }
            outcome.gas += UInt64(curators.count) * 20_000
            outcome.output = function.returning([.uint(id)])
            outcome.logs = [
                Self.created.log(
                    address, [.uint(id), .address(context.caller), arguments[0], .bytes(cid), .bool(curated)])
            ]
        case Self.contribute.selector:
            let id = arguments[0].uintValue
            let batchCID = arguments[2].bytesValue
            let leavesRoot = arguments[3].bytesValue
            let hashes = arguments[4].arrayValue.map(\.bytesValue)
            guard try exists(id, state) else { throw .reverted("no Datanet \(id)") }
            guard arguments[1].uintValue == UInt256(hashes.count), !hashes.isEmpty, hashes.count <= Self.maxBatchRecords
            else { throw .reverted("count must equal the number of record hashes (1…\(Self.maxBatchRecords))") }
            guard batchCID.count <= 128 else { throw .reverted("batch CID too long") }
            guard Self.leavesRoot(contributor: context.caller, recordHashes: hashes) == leavesRoot else {
                throw .reverted("leaves root does not match the record hashes")
            }
            let base = datanetSlot(id)
            let batchID = try storage.word(state, base &+ 2) &+ 1
            storage.setWord(&state, base &+ 2, batchID)
            let batch = batchSlot(id, batchID)
            storage.setAddress(&state, batch, context.caller)
            storage.setWord(&state, batch &+ 1, UInt256(hashes.count))
            storage.setBytes32(&state, batch &+ 2, leavesRoot)
            storage.setBytes(&state, batch &+ 4, batchCID)
            let hashesBase = ContractStorage.dataSlot(batch &+ 5)
            for (index, hash) in hashes.enumerated() { storage.setBytes32(&state, hashesBase &+ UInt256(index), hash) }
            outcome.gas += UInt64(hashes.count) * Self.gasPerRecord
            outcome.output = function.returning([.uint(batchID)])
            outcome.logs = [
                Self.contributed.log(
                    address,
                    [
                        .uint(id), .uint(batchID), .address(context.caller), .uint(UInt256(hashes.count)),
                        .bytes(batchCID),
                        .fixedBytes(leavesRoot),
                    ])
            ]
            storage.setWord(&state, batch &+ 3, UInt256(BatchStatus.pending.rawValue))
            // An open Datanet takes contributions as they come.
            if try storage.word(state, base &+ 1) == .zero {
                let (gas, log) = try approveBatch(id, batchID, state: &state)
                outcome.gas += gas
                outcome.logs.append(log)
            }
        default:  // approve or reject
            let id = arguments[0].uintValue
            let batchID = arguments[1].uintValue
            guard try exists(id, state) else { throw .reverted("no Datanet \(id)") }
            let isCurator = try storage.word(state, curatorSlot(id, context.caller)) != .zero
            let isOwner = try storage.address(state, datanetSlot(id)) == context.caller
            guard isCurator || isOwner else {
                throw .reverted("only curators decide on batches")
            }
            guard try storage.word(state, batchSlot(id, batchID) &+ 3) == UInt256(BatchStatus.pending.rawValue) else {
                throw .reverted("batch \(batchID) is not pending")
            }
            if function.selector == Self.approve.selector {
                let (gas, log) = try approveBatch(id, batchID, state: &state)
                outcome.gas += gas
                outcome.logs = [log]
            } else {
                storage.setWord(&state, batchSlot(id, batchID) &+ 3, UInt256(BatchStatus.rejected.rawValue))
                outcome.logs = [Self.rejected.log(address, [.uint(id), .uint(batchID)])]
            }
        }
        return outcome
    }

    /// Appends a pending batch's leaves to the snapshot and marks it approved.
    private func approveBatch(_ id: UInt256, _ batchID: UInt256, state: inout WorldState) throws(ChainError)
        -> (gas: UInt64, log: Log)
    {
        let batch = batchSlot(id, batchID)
        let contributor = try storage.address(state, batch)
        guard let count = try storage.word(state, batch &+ 1).uint64 else { throw .invalidBlock("corrupt batch") }
        var tree = try snapshot(id, state: state)
        let firstLeaf = tree.count
        let hashesBase = ContractStorage.dataSlot(batch &+ 5)
        for index in 0..<count {
            let hash = try storage.bytes32(state, hashesBase &+ UInt256(index))
            storage.setAddress(&state, leafContributorSlot(id, tree.count), contributor)
            tree.append(Self.leaf(contributor: contributor, recordHash: hash))
        }
        storeSnapshot(id, tree, state: &state)
        storage.setWord(&state, batch &+ 3, UInt256(BatchStatus.approved.rawValue))
        let log = Self.approved.log(
            address, [.uint(id), .uint(batchID), .uint(UInt256(firstLeaf)), .fixedBytes(tree.snapshotRoot)])
        return (count * Self.gasPerLeaf, log)
    }

    public func view(_ calldata: [UInt8], state: WorldState, context: CallContext) throws(ChainError) -> [UInt8] {
        let function = try selectFunction(calldata, in: Self.views)
        let arguments = try function.arguments(calldata)
        let id = arguments[0].uintValue
        switch function.selector {
        case Self.snapshotRootView.selector:
            return function.returning([.fixedBytes(try snapshot(id, state: state).snapshotRoot)])
        case Self.sizeView.selector:
            return function.returning([.uint(UInt256(try snapshot(id, state: state).count))])
        case Self.batchStatusView.selector:
            return function.returning([.uint(try storage.word(state, batchSlot(id, arguments[1].uintValue) &+ 3))])
        default:
            guard let index = arguments[1].uintValue.uint64, index < (try snapshot(id, state: state).count) else {
                throw .reverted("leaf index out of range")
            }
            return function.returning([.address(try storage.address(state, leafContributorSlot(id, index)))])
        }
    }
}
