import AttributionRules
import Codec
import Crypto

/// `DatanetRegistry`: Datanets, their contributed batches of records, curation, and each Datanet's snapshot
/// as an incremental PoA-SA v1 Merkle tree (`SnapshotMerkleTree`), so that the committed snapshot root is the
/// one attribution proofs are checked against.
public struct DatanetRegistry: Predeploy {
    /// The address the contract is installed at on every network.
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

    /// A Datanet as stored (its snapshot is read through `SnapshotLayout`).
    public struct Datanet: Equatable, Sendable {
        /// The account that created it.
        public var owner: Address
        /// Whether curators decide on batches (otherwise batches are appended at once).
        public var curated: Bool
        /// How many batches were contributed.
        public var batchCount: UInt256
        /// The Datanet's name.
        public var name: String
        /// The CID of its metadata.
        public var metadataCID: [UInt8]
    }

    /// A contributed batch as stored.
    public struct Batch: Equatable, Sendable {
        /// The account that contributed it.
        public var contributor: Address
        /// How many records it carries.
        public var count: UInt64
        /// The snapshot root of the batch's own leaves.
        public var leavesRoot: [UInt8]
        /// Its curation status.
        public var status: BatchStatus
        /// The CID of the batch's content.
        public var cid: [UInt8]
    }

    /// Where and how a Datanet is stored: slot 0 holds the Datanet counter, slot 1 the mapping datanetId →
    /// owner, curated, batch counter, leaf count, the 32 branch nodes of its snapshot, name, metadata CID.
    public enum DatanetLayout: StorageLayout {
        /// The registry at its default address.
        public static var contract: Address { DatanetRegistry.defaultAddress }
        /// The Datanet counter, in the record at slot 0.
        static let count = StorageField<UInt256>(0)
        static let owner = StorageField<Address>(0)
        static let curated = StorageField<Bool>(1)
        static let batchCount = StorageField<UInt256>(2)
        static let leafCount = StorageField<UInt64>(3)
        static let name = StorageBytesField(36)
        static let metadataCID = StorageBytesField(37)

        /// Node `level` of the snapshot's branch.
        static func branch(_ level: Int) -> StorageField<Bytes32> { StorageField(4 + UInt64(level)) }

        /// `datanets[id]` of the mapping at slot 1.
        public static func base(_ id: UInt256) -> UInt256 { ContractStorage.mappingSlot(1, key: id) }

        /// The stored Datanet, or nil when none has this id.
        public static func read(_ record: StorageRecord, from reader: some StorageReader) throws(ChainError)
            -> Datanet?
        {
            let owner = try record.get(owner, from: reader)
            guard owner != .zero else { return nil }
            return Datanet(
                owner: owner, curated: try record.get(curated, from: reader),
                batchCount: try record.get(batchCount, from: reader),
                name: String(decoding: try record.get(name, from: reader), as: UTF8.self),
                metadataCID: try record.get(metadataCID, from: reader))
        }
    }

    /// A Datanet's snapshot tree, kept in the Datanet's record: its leaf count and branch.
    public enum SnapshotLayout: StorageLayout {
        /// The registry at its default address.
        public static var contract: Address { DatanetRegistry.defaultAddress }

        /// The record of Datanet `id`.
        public static func base(_ id: UInt256) -> UInt256 { DatanetLayout.base(id) }

        /// The snapshot tree (empty for a Datanet that does not exist).
        public static func read(_ record: StorageRecord, from reader: some StorageReader) throws(ChainError)
            -> SnapshotMerkleTree
        {
            let count = try record.get(DatanetLayout.leafCount, from: reader)
            var branch: [[UInt8]] = []
            for level in 0..<SnapshotMerkleTree.depth {
                branch.append(try record.get(DatanetLayout.branch(level), from: reader).bytes)
            }
            return SnapshotMerkleTree(branch: branch, count: count)
        }

        /// Stores the tree's leaf count and branch.
        static func write(_ tree: SnapshotMerkleTree, to record: StorageRecord, in state: inout WorldState) {
            record.set(DatanetLayout.leafCount, tree.count, in: &state)
            for (level, node) in tree.branch.enumerated() {
                record.set(DatanetLayout.branch(level), Bytes32(node), in: &state)
            }
        }
    }

    /// Where and how a batch is stored: the mapping at slot 3 from keccak256(datanetId ‖ batchId) to
    /// contributor, count, leaves root, status, CID, and the record hashes from keccak256(base + 5).
    public enum BatchLayout: StorageLayout {
        /// The registry at its default address.
        public static var contract: Address { DatanetRegistry.defaultAddress }
        static let contributor = StorageField<Address>(0)
        static let count = StorageField<UInt64>(1)
        static let leavesRoot = StorageField<Bytes32>(2)
        static let status = StorageField<UInt256>(3)
        static let cid = StorageBytesField(4)
        /// The record hashes; their number is `count`.
        static let recordHashes = StorageArrayField<Bytes32>(5)

        /// `batches[keccak256(datanetId ‖ batchId)]` of the mapping at slot 3.
        public static func base(_ key: (datanet: UInt256, batch: UInt256)) -> UInt256 {
            ContractStorage.mappingSlot(3, key: Keccak256.hash(key.datanet.bigEndianBytes + key.batch.bigEndianBytes))
        }

        /// The stored batch, or nil when none has this id.
        public static func read(_ record: StorageRecord, from reader: some StorageReader) throws(ChainError)
            -> Batch?
        {
            let raw = try record.get(status, from: reader)
            guard let status = BatchStatus(rawValue: UInt8(truncatingIfNeeded: raw.low)), status != .none else {
                return nil
            }
            return Batch(
                contributor: try record.get(contributor, from: reader), count: try record.get(count, from: reader),
                leavesRoot: try record.get(leavesRoot, from: reader).bytes, status: status,
                cid: try record.get(cid, from: reader))
        }
    }

    /// Whether an account curates a Datanet: the mapping at slot 2 from keccak256(datanetId ‖ curator).
    public enum CuratorLayout: StorageLayout {
        /// The registry at its default address.
        public static var contract: Address { DatanetRegistry.defaultAddress }
        static let isCurator = StorageField<Bool>(0)

        /// `curators[keccak256(datanetId ‖ curator)]` of the mapping at slot 2.
        public static func base(_ key: (datanet: UInt256, curator: Address)) -> UInt256 {
            ContractStorage.mappingSlot(2, key: Keccak256.hash(key.datanet.bigEndianBytes + key.curator.bytes))
        }

        /// Whether the account curates the Datanet.
        public static func read(_ record: StorageRecord, from reader: some StorageReader) throws(ChainError) -> Bool {
            try record.get(isCurator, from: reader)
        }
    }

    /// Who contributed each snapshot leaf: the mapping at slot 4 from keccak256(datanetId ‖ uint256 index).
    public enum LeafContributorLayout: StorageLayout {
        /// The registry at its default address.
        public static var contract: Address { DatanetRegistry.defaultAddress }
        static let contributor = StorageField<Address>(0)

        /// `leafContributors[keccak256(datanetId ‖ index)]` of the mapping at slot 4.
        public static func base(_ key: (datanet: UInt256, index: UInt64)) -> UInt256 {
            ContractStorage.mappingSlot(
                4, key: Keccak256.hash(key.datanet.bigEndianBytes + UInt256(key.index).bigEndianBytes))
        }

        /// The contributor of the leaf (zero when unset).
        public static func read(_ record: StorageRecord, from reader: some StorageReader) throws(ChainError)
            -> Address
        {
            try record.get(contributor, from: reader)
        }
    }

    /// Every snapshot root the registry ever committed: the mapping at slot 5 from the root to the Datanet's id
    /// (zero for a root never committed), so a claim may cite any snapshot a Datanet has had.
    public enum CommittedRootLayout: StorageLayout {
        /// The registry at its default address.
        public static var contract: Address { DatanetRegistry.defaultAddress }
        static let datanet = StorageField<UInt256>(0)

        /// `committedRoots[root]` of the mapping at slot 5.
        public static func base(_ root: [UInt8]) -> UInt256 { ContractStorage.mappingSlot(5, key: root) }

        /// The id of the Datanet that committed the root, or nil.
        public static func read(_ record: StorageRecord, from reader: some StorageReader) throws(ChainError)
            -> UInt256?
        {
            let id = try record.get(datanet, from: reader)
            return id == .zero ? nil : id
        }
    }

    /// The module's address.
    public let address: Address

    /// The module at `address`.
    public init(address: Address = DatanetRegistry.defaultAddress) { self.address = address }

    /// Every function and view.
    public static let methods: [PredeployMethod<DatanetRegistry>] = [
        .init(
            "createDatanet(string name, bytes metadataCID, bool curated, address[] curators)", returns: "uint256",
            gas: 80_000, handler: createDatanet),
        .init(
            "contribute(uint256 datanetId, uint64 count, bytes batchCID, bytes32 leavesRoot, bytes32[] recordHashes)",
            returns: "uint256", gas: 40_000, handler: contribute),
        .init("approveBatch(uint256 datanetId, uint256 batchId)", gas: 30_000, handler: approveBatch),
        .init("rejectBatch(uint256 datanetId, uint256 batchId)", gas: 20_000, handler: rejectBatch),
        .init("snapshotRoot(uint256 datanetId)", returns: "bytes32", .view, handler: snapshotRoot),
        .init("snapshotSize(uint256 datanetId)", returns: "uint64", .view, handler: snapshotSize),
        .init("batchStatus(uint256 datanetId, uint256 batchId)", returns: "uint8", .view, handler: batchStatus),
        .init("contributorOf(uint256 datanetId, uint64 index)", returns: "address", .view, handler: contributorOf),
        .init("committedRoot(bytes32 snapshotRoot)", returns: "uint256", .view, handler: committedRoot),
    ]
    /// Every event.
    public static let events = [created, contributed, approved, rejected]

    /// Refuses OPEN in the contract's name (`DatanetRegistry does not accept OPEN`): none of its functions takes it.
    public static func valueRefusal(function: String) -> ChainError { .contractNotPayable(contract: "DatanetRegistry") }

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

    private func exists(_ id: UInt256, _ state: some StorageReader) throws(ChainError) -> Bool {
        try DatanetLayout.record(id, in: address).get(DatanetLayout.owner, from: state) != .zero
    }

    /// The snapshot tree of Datanet `id`.
    public func snapshot(_ id: UInt256, state: some StorageReader) throws(ChainError) -> SnapshotMerkleTree {
        try SnapshotLayout.read(id, in: address, from: state)
    }

    /// The leaves root a contributor must state for a batch: the snapshot root of the batch's leaves alone.
    public static func leavesRoot(contributor: Address, recordHashes: [[UInt8]]) -> [UInt8] {
        SnapshotMerkleTree(leaves: recordHashes.map { leaf(contributor: contributor, recordHash: $0) }).snapshotRoot
    }

    private static func leaf(contributor: Address, recordHash: [UInt8]) -> [UInt8] {
        SnapshotMerkleTree.leaf(contributor: contributor, recordHash: recordHash)
    }

    private func createDatanet(
        _ call: inout PredeployInvocation, name: String, cid: [UInt8], curated: Bool, curators: [Address]
    ) throws(ChainError) -> [ABIValue] {
        let nameBytes = Array(name.utf8)
        guard !nameBytes.isEmpty, nameBytes.count <= 128 else { throw .reverted("name must be 1 to 128 bytes") }
        guard cid.count <= 128, curators.count <= 64 else {
            throw .reverted("metadata CID or curator list too long")
        }
        let counter = StorageRecord(contract: address, base: 0)
        let id = try counter.get(DatanetLayout.count, from: call.state) &+ 1
        counter.set(DatanetLayout.count, id, in: &call.state)
        let record = DatanetLayout.record(id, in: address)
        record.set(DatanetLayout.owner, call.context.caller, in: &call.state)
        record.set(DatanetLayout.curated, curated, in: &call.state)
        record.set(DatanetLayout.name, nameBytes, in: &call.state)
        record.set(DatanetLayout.metadataCID, cid, in: &call.state)
        for curator in curators {
            CuratorLayout.record((id, curator), in: address).set(CuratorLayout.isCurator, true, in: &call.state)
        }
        call.gas += UInt64(curators.count) * 20_000
        call.logs = [
            Self.created.log(
                address, [.uint(id), .address(call.context.caller), .string(name), .bytes(cid), .bool(curated)])
        ]
        return [.uint(id)]
    }

    private func contribute(
        _ call: inout PredeployInvocation, id: UInt256, count: UInt64, batchCID: [UInt8], leavesRoot: [UInt8],
        hashes: [[UInt8]]
    ) throws(ChainError) -> [ABIValue] {
        guard try exists(id, call.state) else { throw .reverted("no Datanet \(id)") }
        guard count == UInt64(hashes.count), !hashes.isEmpty, hashes.count <= Self.maxBatchRecords else {
            throw .reverted("count must equal the number of record hashes (1…\(Self.maxBatchRecords))")
        }
        guard batchCID.count <= 128 else { throw .reverted("batch CID too long") }
        let caller = call.context.caller
        guard Self.leavesRoot(contributor: caller, recordHashes: hashes) == leavesRoot else {
            throw .reverted("leaves root does not match the record hashes")
        }
        let datanet = DatanetLayout.record(id, in: address)
        let batchID = try datanet.get(DatanetLayout.batchCount, from: call.state) &+ 1
        datanet.set(DatanetLayout.batchCount, batchID, in: &call.state)
        let batch = BatchLayout.record((id, batchID), in: address)
        batch.set(BatchLayout.contributor, caller, in: &call.state)
        batch.set(BatchLayout.count, UInt64(hashes.count), in: &call.state)
        batch.set(BatchLayout.leavesRoot, Bytes32(leavesRoot), in: &call.state)
        batch.set(BatchLayout.cid, batchCID, in: &call.state)
        batch.set(BatchLayout.recordHashes, hashes.map { Bytes32($0) }, in: &call.state)
        call.gas += UInt64(hashes.count) * Self.gasPerRecord
        call.logs = [
            Self.contributed.log(
                address,
                [
                    .uint(id), .uint(batchID), .address(caller), .uint(UInt256(hashes.count)), .bytes(batchCID),
                    .fixedBytes(leavesRoot),
                ])
        ]
        batch.set(BatchLayout.status, UInt256(BatchStatus.pending.rawValue), in: &call.state)
        // An open Datanet takes contributions as they come.
        if try !datanet.get(DatanetLayout.curated, from: call.state) {
            try appendBatch(id, batchID, &call)
        }
        return [.uint(batchID)]
    }

    /// The pending batch a curator (or the owner) decides on.
    private func decidable(_ call: PredeployInvocation, _ id: UInt256, _ batchID: UInt256) throws(ChainError)
        -> StorageRecord
    {
        guard try exists(id, call.state) else { throw .reverted("no Datanet \(id)") }
        let caller = call.context.caller
        let isCurator = try CuratorLayout.read((id, caller), in: address, from: call.state)
        let isOwner = try DatanetLayout.record(id, in: address).get(DatanetLayout.owner, from: call.state) == caller
        guard isCurator || isOwner else { throw .reverted("only curators decide on batches") }
        let batch = BatchLayout.record((id, batchID), in: address)
        guard try batch.get(BatchLayout.status, from: call.state) == UInt256(BatchStatus.pending.rawValue) else {
            throw .reverted("batch \(batchID) is not pending")
        }
        return batch
    }

    private func approveBatch(_ call: inout PredeployInvocation, id: UInt256, batchID: UInt256) throws(ChainError)
        -> [ABIValue]
    {
        _ = try decidable(call, id, batchID)
        try appendBatch(id, batchID, &call)
        return []
    }

    private func rejectBatch(_ call: inout PredeployInvocation, id: UInt256, batchID: UInt256) throws(ChainError)
        -> [ABIValue]
    {
        let batch = try decidable(call, id, batchID)
        batch.set(BatchLayout.status, UInt256(BatchStatus.rejected.rawValue), in: &call.state)
        call.logs = [Self.rejected.log(address, [.uint(id), .uint(batchID)])]
        return []
    }

    /// Appends a pending batch's leaves to the snapshot and marks it approved.
    private func appendBatch(_ id: UInt256, _ batchID: UInt256, _ call: inout PredeployInvocation)
        throws(ChainError)
    {
        let batch = BatchLayout.record((id, batchID), in: address)
        let contributor = try batch.get(BatchLayout.contributor, from: call.state)
        let count = try batch.get(BatchLayout.count, from: call.state)
        let snapshot = SnapshotLayout.record(id, in: address)
        var tree = try SnapshotLayout.read(snapshot, from: call.state)
        let firstLeaf = tree.count
        for hash in try batch.get(BatchLayout.recordHashes, count: count, from: call.state) {
            LeafContributorLayout.record((id, tree.count), in: address)
                .set(LeafContributorLayout.contributor, contributor, in: &call.state)
            tree.append(Self.leaf(contributor: contributor, recordHash: hash.bytes))
        }
        SnapshotLayout.write(tree, to: snapshot, in: &call.state)
        CommittedRootLayout.record(tree.snapshotRoot, in: address).set(CommittedRootLayout.datanet, id, in: &call.state)
        batch.set(BatchLayout.status, UInt256(BatchStatus.approved.rawValue), in: &call.state)
        call.gas += count * Self.gasPerLeaf
        call.logs.append(
            Self.approved.log(
                address, [.uint(id), .uint(batchID), .uint(UInt256(firstLeaf)), .fixedBytes(tree.snapshotRoot)]))
    }

    private func snapshotRoot(_ call: inout PredeployInvocation, id: UInt256) throws(ChainError) -> [ABIValue] {
        [.fixedBytes(try snapshot(id, state: call.state).snapshotRoot)]
    }

    private func snapshotSize(_ call: inout PredeployInvocation, id: UInt256) throws(ChainError) -> [ABIValue] {
        [.uint(UInt256(try snapshot(id, state: call.state).count))]
    }

    private func batchStatus(_ call: inout PredeployInvocation, id: UInt256, batchID: UInt256) throws(ChainError)
        -> [ABIValue]
    {
        [.uint(try BatchLayout.record((id, batchID), in: address).get(BatchLayout.status, from: call.state))]
    }

    private func contributorOf(_ call: inout PredeployInvocation, id: UInt256, index: UInt64) throws(ChainError)
        -> [ABIValue]
    {
        guard index < (try snapshot(id, state: call.state).count) else { throw .reverted("leaf index out of range") }
        return [.address(try LeafContributorLayout.read((id, index), in: address, from: call.state))]
    }

    private func committedRoot(_ call: inout PredeployInvocation, root: [UInt8]) throws(ChainError) -> [ABIValue] {
        [.uint(try CommittedRootLayout.read(root, in: address, from: call.state) ?? .zero)]
    }
}
