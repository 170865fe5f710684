import Attribution
import AttributionRules
import Codec
import Crypto
import TestSupport
import Testing

/// The tree hashed once gives the same root and paths as hashing it per proof, and the same proofs.
@Suite struct SnapshotMerkleLevelsTests {
    func leaves(_ count: Int, seed: UInt64) -> [[UInt8]] {
        var random = SeededRandom(seed: seed)
        return (0..<count).map { _ in random.bytes(32) }
    }

    @Test(arguments: [1, 2, 3, 7, 8, 33, 1_000])
    func rootAndPathsMatchTheTree(count: Int) {
        let leaves = leaves(count, seed: UInt64(count))
        let levels = SnapshotMerkleLevels(leaves: leaves)
        #expect(levels.snapshotRoot == SnapshotMerkleTree(leaves: leaves).snapshotRoot)
        #expect(levels.count == count)
        for index in Set([0, count / 2, count - 1]) {
            #expect(levels.path(index) == SnapshotMerkleTree.proof(leaves: leaves, index: index))
            #expect(
                SnapshotMerkleTree.verify(
                    leaf: leaves[index], index: UInt64(index), siblings: levels.path(index), count: UInt64(count),
                    snapshotRoot: levels.snapshotRoot))
        }
    }

    @Test func theEmptyTreeHasTheEmptyRoot() {
        #expect(SnapshotMerkleLevels(leaves: []).snapshotRoot == SnapshotMerkleTree(leaves: []).snapshotRoot)
    }

    @Test func proofsOverLevelsEqualProofsOverLeaves() throws {
        var random = SeededRandom(seed: 5)
        let records = (0..<40).map { index in
            Record(
                contributor: try! Address(bytes: [UInt8](repeating: UInt8(index % 7 + 1), count: 20)),
                bytes: Array((0..<200).map { _ in UInt8(97 + random.next() % 26) }))
        }
        let shards = try AttributionIndex.build(records: records, maxShardBytes: 2_000, threads: 1)
        #expect(shards.count > 1)
        let response =
            Array(records[3].bytes[10..<120]) + Array("filler FILLER ".utf8) + Array(records[31].bytes[0..<90])
        let result = Attribution.attribute(response, shards: shards, minSpan: 32, maxRecords: 4)
        #expect(!result.spans.isEmpty)
        let byLeaves = AttributionProof(result: result, response: response, shards: shards, minSpan: 32, maxRecords: 4)
        let levels = SnapshotMerkleLevels(leaves: shards.flatMap(\.leaves))
        let byLevels = AttributionProof(
            result: result, response: response, shards: shards, levels: levels, minSpan: 32, maxRecords: 4)
        #expect(byLevels == byLeaves)
        #expect(byLevels.encoded == byLeaves.encoded)
    }
}
