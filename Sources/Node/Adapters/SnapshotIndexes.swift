import Attribution
import AttributionRules
import Chain
import Codec
import Content
import FileIO
import Foundation
import LightClient
import Runtime
import Synchronization

/// The attribution index of a snapshot as files: `shard-NNNN.olai`, one per shard, in a directory of its own.
public enum SnapshotIndexFiles {
    /// Every `*.olai` file of `directory`, in name order, checked to fit together as one snapshot.
    public static func load(_ directory: String) throws(NodeError) -> [AttributionIndex] {
        let names = ((try? FileManager.default.contentsOfDirectory(atPath: directory)) ?? []).filter {
            $0.hasSuffix(".olai")
        }.sorted()
        guard !names.isEmpty else { throw .attributionIndex(path: directory, reason: "no *.olai index") }
        var shards: [AttributionIndex] = []
        for name in names {
            do {
                shards.append(try AttributionIndex(contentsOfFile: directory + "/" + name))
            } catch {
                throw .attributionIndex(path: directory + "/" + name, reason: "\(error)")
            }
        }
        do {
            return try AttributionIndex.snapshot(shards)
        } catch {
            throw .attributionIndex(path: directory, reason: "\(error)")
        }
    }

    /// The index of `records` (shards of at most 64 MiB of text, built on every core), checked to have the committed
    /// snapshot root `root`.
    public static func build(_ records: [Record], root: [UInt8]) throws(NodeError) -> [AttributionIndex] {
        let shards: [AttributionIndex]
        do {
            shards = try AttributionIndex.build(
                records: records, maxShardBytes: 64 << 20, threads: ProcessInfo.processInfo.activeProcessorCount)
        } catch {
            throw .attributionIndex(path: Hex.encode(root), reason: "\(error)")
        }
        guard shards.first?.snapshotRoot == root else {
            throw .attributionIndex(path: Hex.encode(root), reason: "the index's root differs from the committed root")
        }
        return shards
    }

    /// Writes each shard atomically as shard-NNNN.olai, then removes the *.olai files of an earlier index; returns
    /// the names written.
    @discardableResult
    public static func write(_ shards: [AttributionIndex], to directory: String) throws(NodeError) -> [String] {
        do {
            try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        } catch {
            throw .cannotCreateDirectory(path: directory, reason: "\(error)")
        }
        let names = shards.indices.map { String(format: "shard-%04d.olai", $0) }
        for (shard, name) in zip(shards, names) {
            do {
                try shard.write(to: directory + "/" + name)
            } catch {
                throw .attributionIndex(path: directory + "/" + name, reason: "\(error)")
            }
        }
        for stale in ((try? FileManager.default.contentsOfDirectory(atPath: directory)) ?? [])
        where stale.hasSuffix(".olai") && !names.contains(stale) {
            try? FileManager.default.removeItem(atPath: directory + "/" + stale)
        }
        return names
    }
}

/// The attribution indexes of the Datanet snapshots the node's adapters were trained on, by snapshot root: kept in
/// `DIR/attribution/<root>`, or built once from the snapshot's records, fetched by CID and checked against the
/// ledger (docs/datanets.md).
public final class SnapshotIndexes: Sendable {
    private let light: LightClient
    private let store: ContentStore
    private let fetch: @Sendable (CID) throws(NodeError) -> Void
    private let directory: DataDirectory
    private let logger: Logger
    private let cache = Mutex<[[UInt8]: AnswerAttribution.Snapshot]>([:])
    private let building = Mutex<Void>(())

    /// Indexes kept under `directory`, built from `store`'s content (missing batches fetched through `fetch`) and
    /// checked through `light`.
    public init(
        light: LightClient, store: ContentStore, directory: DataDirectory, logger: Logger,
        fetch: @escaping @Sendable (CID) throws(NodeError) -> Void
    ) {
        self.light = light
        self.store = store
        self.directory = directory
        self.logger = logger
        self.fetch = fetch
    }

    /// The snapshot with `root`: from memory, from its directory, or built (one build at a time).
    public func snapshot(root: [UInt8]) throws(NodeError) -> AnswerAttribution.Snapshot {
        if let held = cache.withLock({ $0[root] }) { return held }
        return try building.withLock { _ throws(NodeError) -> AnswerAttribution.Snapshot in
            if let held = cache.withLock({ $0[root] }) { return held }
            let path = directory.attributionIndex(root: root)
            if let shards = try? SnapshotIndexFiles.load(path), shards.first?.snapshotRoot == root {
                let snapshot = AnswerAttribution.Snapshot(shards: shards)
                cache.withLock { $0[root] = snapshot }
                return snapshot
            }
            let snapshot = try build(root: root, path: path)
            cache.withLock { $0[root] = snapshot }
            return snapshot
        }
    }

    /// Finds the Datanet that committed `root`, reads (and fetches) its batches, takes the records up to `root`,
    /// indexes them and writes the index.
    private func build(root: [UInt8], path: String) throws(NodeError) -> AnswerAttribution.Snapshot {
        let datanet: UInt256?
        do {
            datanet = try light.read(DatanetRegistry.CommittedRootLayout.self, root, at: try light.syncHead()).value
        } catch {
            throw .ledger(error)
        }
        guard let datanet else {
            throw .attributionIndex(path: path, reason: "snapshot root \(Hex.encode(root)) was never committed")
        }
        let fetch = self.fetch
        let contents = try DatanetContents.read(datanet, client: light, store: store, fetch: fetch)
        guard let records = contents.records(atRoot: root) else {
            throw .datanetContent(datanet: datanet, reason: "no approved batch ends at snapshot \(Hex.encode(root))")
        }
        let shards = try SnapshotIndexFiles.build(records, root: root)
        try SnapshotIndexFiles.write(shards, to: path)
        logger.info(
            "attribution index built",
            ["datanet": datanet.description, "root": Hex.encode(root), "records": "\(records.count)"])
        return AnswerAttribution.Snapshot(shards: shards)
    }
}
