import Attribution
import AttributionRules
import Codec
import Foundation
import Synchronization

/// The Datanet snapshots answers are attributed against, by model or adapter, with the network's L and K: every
/// answer gets its PoA-SA v1 proof, computed locally from the snapshot's shard indexes.
public final class AnswerAttribution: Sendable {
    /// One snapshot's shard indexes, in record order.
    public struct Snapshot: Sendable {
        /// The shards (each an `AttributionIndex` over its records).
        public let shards: [AttributionIndex]
        /// The snapshot's Merkle tree, hashed once for every answer's paths.
        public let levels: SnapshotMerkleLevels
        /// The snapshot's Merkle root.
        public var root: [UInt8] { levels.snapshotRoot }
        /// The snapshot's number of records.
        public var recordCount: Int { levels.count }

        /// A snapshot of `shards` (as `AttributionIndex.snapshot` checked them to fit together); hashes its tree.
        public init(shards: [AttributionIndex]) {
            self.shards = shards
            levels = SnapshotMerkleLevels(leaves: shards.flatMap(\.leaves))
        }
    }

    private let byModel: Mutex<[String: Snapshot]>
    private let fallback: Snapshot?
    /// The minimum span L.
    public let minSpan: Int
    /// The records credited per span, K.
    public let maxRecords: Int

    /// Attribution against `byModel[model]`, else `fallback`, under L = `minSpan` and K = `maxRecords`.
    public init(fallback: Snapshot?, byModel: [String: Snapshot] = [:], minSpan: Int, maxRecords: Int) {
        self.fallback = fallback
        self.byModel = Mutex(byModel)
        self.minSpan = minSpan
        self.maxRecords = maxRecords
    }

    /// The snapshot answers of `model` are attributed against, if any.
    public func snapshot(for model: String) -> Snapshot? { byModel.withLock { $0[model] } ?? fallback }

    /// Attributes `model`'s answers against `snapshot` from now on (an adapter loaded on demand brings the snapshot
    /// it was trained on).
    public func register(_ snapshot: Snapshot, for model: String) { byModel.withLock { $0[model] = snapshot } }

    /// The proof of `response` for `model`, nil when it has no snapshot; it runs on the caller's thread.
    public func proof(for response: [UInt8], model: String) -> AttributionProof? {
        guard let snapshot = snapshot(for: model) else { return nil }
        let result = Attribution.attribute(
            response, shards: snapshot.shards, minSpan: minSpan, maxRecords: maxRecords, threads: 1)
        return AttributionProof(
            result: result, response: response, shards: snapshot.shards, levels: snapshot.levels, minSpan: minSpan,
            maxRecords: maxRecords)
    }

    /// The summary an answer carries as `openledger.attribution`: the snapshot, the spans and the credited
    /// contributors with their weights (`attribute run --json`'s object, without the Merkle paths).
    public static func summary(_ proof: AttributionProof) -> [String: Any] {
        (try? JSONSerialization.jsonObject(with: Data(AttributionCLIFormat.json(proof).utf8))) as? [String: Any]
            ?? [:]
    }
}
