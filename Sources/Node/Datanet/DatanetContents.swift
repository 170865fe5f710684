import AttributionRules
import Chain
import Codec
import Content
import LightClient

/// A Datanet's committed snapshot with its records, read through the light client and the content store and
/// checked against the ledger: every approved batch's content hashes to the leaves root its contributor sent, and
/// the batches appended in approval order give the snapshot root `DatanetRegistry` holds (docs/datanets.md).
public struct DatanetContents: Sendable {
    /// The most batches a Datanet may have for a read (a bound on the proofs one read asks for).
    public static let maximumBatches = 100_000

    /// One approved batch in leaf order.
    public struct Batch: Sendable {
        /// The batch's id in the registry.
        public var id: UInt256
        /// The CID of its content.
        public var cid: CID
        /// The index of its first record in the snapshot.
        public var firstLeaf: UInt64
        /// Its records.
        public var batch: DatanetBatch
    }

    /// The Datanet's id.
    public let datanetID: UInt256
    /// The Datanet as the registry stores it.
    public let datanet: DatanetRegistry.Datanet
    /// The snapshot root the registry holds.
    public let snapshotRoot: [UInt8]
    /// The approved batches, in the order their leaves were appended.
    public let batches: [Batch]
    /// Batches contributed but not (or not yet) approved: id and status.
    public let undecided: [(id: UInt256, status: DatanetRegistry.BatchStatus)]
    /// The verified header the reads are proven against.
    public let header: VerifiedHeader

    /// Every record of the snapshot, in leaf order.
    public var records: [Record] { batches.flatMap(\.batch.records) }

    /// The bytes of every batch in leaf order (a JSONL file of the whole snapshot).
    public var contents: [UInt8] { batches.flatMap(\.batch.contents) }

    /// The records of the snapshot the Datanet had when its root was `root`: the batches in approval order up to
    /// the one whose approval committed `root` (every approval commits the root after it); nil when no batch
    /// boundary has that root.
    public func records(atRoot root: [UInt8]) -> [Record]? {
        var tree = SnapshotMerkleTree()
        var records: [Record] = []
        for batch in batches {
            for record in batch.batch.records {
                tree.append(SnapshotMerkleTree.leaf(contributor: record.contributor, record: record.bytes))
                records.append(record)
            }
            if tree.snapshotRoot == root { return records }
        }
        return nil
    }

    /// Reads Datanet `id` at `header` (the synced head when nil): its record, snapshot and batches proven through
    /// `client`, each approved batch's content from `store` (fetched through `fetch` first when the store lacks it
    /// and `fetch` is given), all checked against the ledger.
    public static func read(
        _ id: UInt256, client: LightClient, store: ContentStore, at header: VerifiedHeader? = nil,
        fetch: ((CID) throws(NodeError) -> Void)? = nil
    ) throws(NodeError) -> DatanetContents {
        let requested = header
        let (datanet, tree, header) = try ledger { () throws(LightClientError) in
            let header: VerifiedHeader
            if let requested { header = requested } else { header = try client.syncHead() }
            let datanet = try client.read(DatanetRegistry.DatanetLayout.self, id, at: header).value
            let tree = try client.read(DatanetRegistry.SnapshotLayout.self, id, at: header).value
            return (datanet, tree, header)
        }
        guard let datanet else {
            throw .datanetContent(datanet: id, reason: "no such Datanet at block \(header.number)")
        }
        guard let batchCount = datanet.batchCount.uint64, batchCount <= UInt64(maximumBatches) else {
            throw .datanetContent(datanet: id, reason: "more than \(maximumBatches) batches")
        }
        var approved: [(UInt256, CID, DatanetBatch)] = []
        var undecided: [(id: UInt256, status: DatanetRegistry.BatchStatus)] = []
        var number: UInt64 = 1
        while number <= batchCount {
            let batchID = UInt256(number)
            number += 1
            let stored = try ledger { () throws(LightClientError) in
                try client.read(DatanetRegistry.BatchLayout.self, (id, batchID), at: header).value
            }
            guard let stored else { throw .datanetContent(datanet: id, reason: "batch \(batchID) is missing") }
            guard stored.status == .approved else {
                undecided.append((batchID, stored.status))
                continue
            }
            let cid = try cid(stored.cid, id: id, batch: batchID)
            if let fetch, (try? store.missing(cid, limit: 1).isEmpty) != true { try fetch(cid) }
            let batch = try load(cid, store: store, id: id, batchID: batchID)
            guard batch.contributor == stored.contributor, UInt64(batch.records.count) == stored.count,
                batch.leavesRoot == stored.leavesRoot
            else {
                throw .datanetContent(
                    datanet: id,
                    reason:
                        "batch \(batchID)'s content \(cid) does not match its on-chain record (contributor, count or leaves root)"
                )
            }
            approved.append((batchID, cid, batch))
        }
        let ordered = try approvalOrder(approved, id: id, client: client, header: header)
        var leaves = SnapshotMerkleTree()
        var batches: [Batch] = []
        for (batchID, cid, batch) in ordered {
            batches.append(Batch(id: batchID, cid: cid, firstLeaf: leaves.count, batch: batch))
            for record in batch.records {
                leaves.append(SnapshotMerkleTree.leaf(contributor: record.contributor, record: record.bytes))
            }
        }
        guard leaves.count == tree.count, leaves.snapshotRoot == tree.snapshotRoot else {
            throw .datanetContent(
                datanet: id,
                reason:
                    "the approved batches give snapshot root \(Hex.encode(leaves.snapshotRoot)) (\(leaves.count) records), the ledger holds \(Hex.encode(tree.snapshotRoot)) (\(tree.count))"
            )
        }
        return DatanetContents(
            datanetID: id, datanet: datanet, snapshotRoot: tree.snapshotRoot, batches: batches, undecided: undecided,
            header: header)
    }

    /// The approved batches in the order the registry appended them: the next batch is the one whose leaves turn the
    /// snapshot so far into a root the registry committed for this Datanet (each approval commits its root).
    ///
    /// Batches are tried in id order, which is the approval order of an open Datanet.
    private static func approvalOrder(
        _ batches: [(UInt256, CID, DatanetBatch)], id: UInt256, client: LightClient, header: VerifiedHeader
    ) throws(NodeError) -> [(UInt256, CID, DatanetBatch)] {
        var remaining = batches
        var ordered: [(UInt256, CID, DatanetBatch)] = []
        var tree = SnapshotMerkleTree()
        while !remaining.isEmpty {
            var found: Int?
            for (index, candidate) in remaining.enumerated() {
                var next = tree
                for record in candidate.2.records {
                    next.append(SnapshotMerkleTree.leaf(contributor: record.contributor, record: record.bytes))
                }
                let committed = try ledger { () throws(LightClientError) in
                    try client.read(DatanetRegistry.CommittedRootLayout.self, next.snapshotRoot, at: header).value
                }
                if committed == id {
                    found = index
                    tree = next
                    break
                }
            }
            guard let found else {
                throw .datanetContent(
                    datanet: id,
                    reason: "no approved batch extends the snapshot after \(tree.count) records to a committed root")
            }
            ordered.append(remaining.remove(at: found))
        }
        return ordered
    }

    /// The CID the registry stores (as text) for a batch.
    private static func cid(_ bytes: [UInt8], id: UInt256, batch: UInt256) throws(NodeError) -> CID {
        guard let text = String(validating: bytes, as: UTF8.self), let cid = try? CID(string: text) else {
            throw .datanetContent(datanet: id, reason: "batch \(batch) has no valid content CID on-chain")
        }
        return cid
    }

    /// A batch's content from the store, whole and verified.
    private static func load(_ cid: CID, store: ContentStore, id: UInt256, batchID: UInt256) throws(NodeError)
        -> DatanetBatch
    {
        let bytes: [UInt8]
        do {
            guard try store.missing(cid, limit: 1).isEmpty else {
                throw NodeError.datanetContent(
                    datanet: id, reason: "batch \(batchID)'s content \(cid) is not in the store (fetch it first)")
            }
            bytes = try store.readFile(cid)
        } catch let error as NodeError {
            throw error
        } catch {
            throw .datanetContent(datanet: id, reason: "batch \(batchID)'s content \(cid): \(error)")
        }
        do {
            return try DatanetBatch(contents: bytes)
        } catch {
            throw .datanetContent(datanet: id, reason: "batch \(batchID)'s content \(cid): \(error)")
        }
    }

    private static func ledger<R>(_ body: () throws(LightClientError) -> R) throws(NodeError) -> R {
        do {
            return try body()
        } catch {
            throw .ledger(error)
        }
    }
}
