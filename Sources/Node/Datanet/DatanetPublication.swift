import Chain
import Codec
import Content
import Foundation

/// The shard list of a Datanet snapshot: the CIDs of its approved batches in leaf order, stored as content so a
/// peer that learns the snapshot (from the announce topic or the ledger) can fetch every record, check it against
/// the committed root and build the attribution index itself (docs/datanets.md).
public struct DatanetShardList: Codable, Equatable, Sendable {
    /// The most bytes a shard list may take.
    public static let maximumBytes = 4 << 20

    /// One shard: an approved batch.
    public struct Shard: Codable, Equatable, Sendable {
        /// The batch's id (decimal).
        public var batchId: String
        /// The CID of the batch's content.
        public var cid: String
        /// The index of its first record in the snapshot.
        public var firstLeaf: UInt64
        /// Its record count.
        public var records: Int
    }

    /// Always `datanet-shards`.
    public var kind: String
    /// The Datanet's id (decimal).
    public var datanetId: String
    /// The snapshot root (0x, 32 bytes).
    public var snapshotRoot: String
    /// The snapshot's record count.
    public var records: UInt64
    /// The shards in leaf order.
    public var shards: [Shard]

    /// The list of a checked snapshot.
    public init(_ contents: DatanetContents) {
        kind = "datanet-shards"
        datanetId = contents.datanetID.description
        snapshotRoot = Hex.encode(contents.snapshotRoot)
        records = UInt64(contents.records.count)
        shards = contents.batches.map {
            Shard(
                batchId: $0.id.description, cid: $0.cid.description, firstLeaf: $0.firstLeaf,
                records: $0.batch.records.count)
        }
    }

    /// The JSON bytes (sorted keys).
    public var encoded: [UInt8] {
        let encoder = JSONEncoder()
        encoder.outputFormatting = .sortedKeys
        return Array((try? encoder.encode(self)) ?? Data())
    }

    /// A shard list read from `bytes`, checked for form: kind, hex root, CIDs, contiguous leaves.
    public static func decode(_ bytes: [UInt8]) throws(NodeError) -> DatanetShardList {
        guard bytes.count <= maximumBytes else {
            throw .datanetBatchInvalid(line: nil, reason: "a shard list is at most \(maximumBytes) bytes")
        }
        guard let list = try? JSONDecoder().decode(DatanetShardList.self, from: Data(bytes)),
            list.kind == "datanet-shards", UInt256(decimal: list.datanetId) != nil,
            (try? Hex.decode(list.snapshotRoot))?.count == 32
        else { throw .datanetBatchInvalid(line: nil, reason: "not a Datanet shard list") }
        var next: UInt64 = 0
        for shard in list.shards {
            guard (try? CID(string: shard.cid)) != nil, UInt256(decimal: shard.batchId) != nil,
                shard.firstLeaf == next, (1...DatanetRegistry.maxBatchRecords).contains(shard.records)
            else { throw .datanetBatchInvalid(line: nil, reason: "a shard of the list is out of form") }
            next += UInt64(shard.records)
        }
        guard next == list.records else {
            throw .datanetBatchInvalid(
                line: nil, reason: "the shards hold \(next) records, the list says \(list.records)")
        }
        return list
    }
}

/// Publishing a checked snapshot: its shard list stored and pinned, and the announcement that names it.
public enum DatanetPublication {
    /// What `publish` stored and would announce.
    public struct Published: Sendable {
        /// The CID of the shard list.
        public var manifest: CID
        /// The announcement of the snapshot.
        public var announcement: Announcement

        /// The announcement as one JSON line.
        public var announcementJSON: String { String(decoding: announcement.encoded, as: UTF8.self) }
    }

    /// Stores `contents`' shard list in `store` (pinned as Datanet content) and builds its announcement.
    public static func publish(_ contents: DatanetContents, store: ContentStore) throws(NodeError) -> Published {
        let list = DatanetShardList(contents)
        let cid: CID
        do {
            cid = try store.add(list.encoded, pin: .datanetSnapshot)
        } catch {
            throw .datanetContent(datanet: contents.datanetID, reason: "storing the shard list: \(error)")
        }
        let announcement = Announcement.datanetSnapshot(
            .init(
                datanetId: contents.datanetID.description, snapshot: "\(contents.batches.count)",
                root: Hex.encode(contents.snapshotRoot), records: "\(contents.records.count)", cid: cid.description,
                block: Hex.encode(contents.header.hash)))
        return Published(manifest: cid, announcement: announcement)
    }
}
