import AttributionRules
import Codec
import Crypto
import TestSupport
import Testing

@Test func snapshotTreeAppendsMatchFullRecomputationAndProve() throws {
    var random = SeededRandom(seed: 8)
    var tree = SnapshotMerkleTree()
    var leaves: [[UInt8]] = []
    #expect(tree.treeRoot == SnapshotMerkleTree.zeroHashes[32])
    for count in 1...70 {
        let leaf = SnapshotMerkleTree.leaf(
            contributor: try Address(bytes: random.bytes(20)), record: random.bytes(count))
        tree.append(leaf)
        leaves.append(leaf)
        #expect(SnapshotMerkleTree(leaves: leaves) == tree)
        // Recompute the root from every leaf's proof: the incremental branch and the full tree agree.
        for index in [0, leaves.count / 2, leaves.count - 1] {
            let proof = SnapshotMerkleTree.proof(leaves: leaves, index: index)
            #expect(
                SnapshotMerkleTree.verify(
                    leaf: leaves[index], index: UInt64(index), siblings: proof, count: UInt64(leaves.count),
                    snapshotRoot: tree.snapshotRoot))
            #expect(
                !SnapshotMerkleTree.verify(
                    leaf: leaves[index], index: UInt64(index), siblings: proof, count: UInt64(leaves.count + 1),
                    snapshotRoot: tree.snapshotRoot))
        }
    }
    // Z_1 is the node of two zero leaves, with the 0x01 domain byte.
    #expect(SnapshotMerkleTree.zeroHashes[1] == Keccak256.hash([0x01] + [UInt8](repeating: 0, count: 64)))
}
