import AttributionRules
import Codec

extension AttributionProof {
    /// The proof of `result` for `response` over a snapshot's shard indexes, which carry the record hashes.
    public init(
        result: AttributionResult, response: [UInt8], shards: [AttributionIndex], minSpan: Int, maxRecords: Int
    ) {
        self.init(
            result: result, response: response, shards: shards,
            levels: SnapshotMerkleLevels(leaves: shards.flatMap(\.leaves)), minSpan: minSpan, maxRecords: maxRecords)
    }

    /// The same over shards whose tree was hashed once (`SnapshotMerkleLevels` of the snapshot's leaves).
    public init(
        result: AttributionResult, response: [UInt8], shards: [AttributionIndex], levels: SnapshotMerkleLevels,
        minSpan: Int, maxRecords: Int
    ) {
        var owners: [(shard: AttributionIndex, first: Int)] = []
        var first = 0
        for shard in shards {
            owners.append((shard, first))
            first += shard.recordCount
        }
        func owner(_ record: Int) -> (AttributionIndex, Int) {
            let found = owners.last { $0.first <= record }!
            return (found.shard, record - found.first)
        }
        self.init(
            result: result, response: response, snapshotRoot: levels.snapshotRoot, recordCount: levels.count,
            path: levels.path,
            contributor: {
                let (shard, j) = owner($0)
                return shard.contributor(j)
            },
            recordHash: {
                let (shard, j) = owner($0)
                return shard.recordHash(j)
            },
            minSpan: minSpan, maxRecords: maxRecords)
    }
}
