import Codec
import Crypto

/// The Datanet snapshot tree of PoA-SA v1 (DESIGN.md §8): a depth-32 keccak Merkle tree of the
/// deposit-contract kind with domain-separated leaves and nodes, appended to in O(32).
///
/// - leaf j = keccak256(0x00 ‖ contributor_j ‖ keccak256(bytes_j))
/// - node = keccak256(0x01 ‖ left ‖ right); empty subtrees are Z_0 = 0^32, Z_{d+1} = node(Z_d, Z_d)
/// - snapshot root = keccak256(0x02 ‖ treeRoot ‖ uint64 big-endian record count)
public struct SnapshotMerkleTree: Hashable, Sendable {
    /// The tree's fixed depth.
    public static let depth = 32

    /// Z_0 … Z_32.
    public static let zeroHashes: [[UInt8]] = {
        var hashes = [[UInt8](repeating: 0, count: 32)]
        for level in 0..<depth { hashes.append(node(hashes[level], hashes[level])) }
        return hashes
    }()

    /// The leaf of a record, from its contributor and the keccak256 of its bytes.
    public static func leaf(contributor: Address, recordHash: [UInt8]) -> [UInt8] {
        Keccak256.hash([0x00] + contributor.bytes + recordHash)
    }

    /// The leaf of a record from its bytes.
    public static func leaf(contributor: Address, record: some Collection<UInt8>) -> [UInt8] {
        leaf(contributor: contributor, recordHash: Keccak256.hash(record))
    }

    /// An interior node.
    public static func node(_ left: [UInt8], _ right: [UInt8]) -> [UInt8] { Keccak256.hash([0x01] + left + right) }

    /// The left siblings on the path of the next leaf (the deposit contract's `branch`).
    public private(set) var branch: [[UInt8]] = Array(repeating: [UInt8](repeating: 0, count: 32), count: depth)
    /// The number of leaves.
    public private(set) var count: UInt64 = 0

    /// An empty tree.
    public init() {}

    /// A tree restored from its stored branch and count.
    public init(branch: [[UInt8]], count: UInt64) {
        precondition(branch.count == Self.depth)
        self.branch = branch
        self.count = count
    }

    /// A tree of `leaves`.
    public init(leaves: [[UInt8]]) {
        for leaf in leaves { append(leaf) }
    }

    /// Appends a leaf: O(32) hashing at most.
    public mutating func append(_ leaf: [UInt8]) {
        precondition(count < UInt64(1) << 32, "snapshot tree is full")
        count += 1
        var node = leaf
        var size = count
        for level in 0..<Self.depth {
            if size & 1 == 1 {
                branch[level] = node
                return
            }
            node = Self.node(branch[level], node)
            size >>= 1
        }
    }

    /// The root of the depth-32 tree.
    public var treeRoot: [UInt8] {
        var node = Self.zeroHashes[0]
        var size = count
        for level in 0..<Self.depth {
            node = size & 1 == 1 ? Self.node(branch[level], node) : Self.node(node, Self.zeroHashes[level])
            size >>= 1
        }
        return node
    }

    /// keccak256(0x02 ‖ treeRoot ‖ uint64 count): what `DatanetRegistry` commits to and attribution proofs cite.
    public var snapshotRoot: [UInt8] { Self.snapshotRoot(treeRoot: treeRoot, count: count) }

    /// The snapshot root of a tree with root `treeRoot` and `count` leaves.
    public static func snapshotRoot(treeRoot: [UInt8], count: UInt64) -> [UInt8] {
        Keccak256.hash([0x02] + treeRoot + UInt256(count).bigEndianBytes.suffix(8))
    }

    /// The 32 sibling hashes from leaf `index` up to the root, for a tree of `leaves`.
    public static func proof(leaves: [[UInt8]], index: Int) -> [[UInt8]] {
        proofs(leaves: leaves, indices: [index])[index]!
    }

    /// The paths of several leaves, hashing the tree's levels once for all of them.
    public static func proofs(leaves: [[UInt8]], indices: some Sequence<Int>) -> [Int: [[UInt8]]] {
        var paths: [Int: [[UInt8]]] = [:]
        for index in indices {
            precondition(index >= 0 && index < leaves.count)
            paths[index] = []
        }
        var level = leaves
        for depth in 0..<Self.depth {
            for index in paths.keys {
                let sibling = (index >> depth) ^ 1
                paths[index]!.append(sibling < level.count ? level[sibling] : zeroHashes[depth])
            }
            var next: [[UInt8]] = []
            next.reserveCapacity((level.count + 1) / 2)
            for pair in stride(from: 0, to: level.count, by: 2) {
                next.append(node(level[pair], pair + 1 < level.count ? level[pair + 1] : zeroHashes[depth]))
            }
            level = next
        }
        return paths
    }

    /// Whether `leaf` sits at `index` of the tree whose snapshot root is `snapshotRoot` with `count` leaves.
    public static func verify(
        leaf: [UInt8], index: UInt64, siblings: [[UInt8]], count: UInt64, snapshotRoot expected: [UInt8]
    ) -> Bool {
        guard siblings.count == depth, index < count, siblings.allSatisfy({ $0.count == 32 }) else { return false }
        var node = leaf
        var position = index
        for sibling in siblings {
            node = position & 1 == 1 ? Self.node(sibling, node) : Self.node(node, sibling)
            position >>= 1
        }
        return snapshotRoot(treeRoot: node, count: count) == expected
    }
}

/// Every level of a snapshot's Merkle tree, hashed once, so that many proofs over one snapshot (a serving peer's
/// answers) take their paths without hashing the tree again.
public struct SnapshotMerkleLevels: Sendable {
    /// levels[0] are the leaves; levels[d] the nodes at height d, up to the single root below the zero-padded top.
    private let levels: [[[UInt8]]]
    /// The number of leaves.
    public let count: Int
    /// The snapshot root (the tree root bound to the count), as `SnapshotMerkleTree.snapshotRoot`.
    public let snapshotRoot: [UInt8]

    /// The levels of the tree of `leaves`.
    public init(leaves: [[UInt8]]) {
        var levels: [[[UInt8]]] = [leaves]
        var level = leaves
        var top = SnapshotMerkleTree.zeroHashes[0]
        for depth in 0..<SnapshotMerkleTree.depth {
            var next: [[UInt8]] = []
            next.reserveCapacity((level.count + 1) / 2)
            for pair in stride(from: 0, to: level.count, by: 2) {
                next.append(
                    SnapshotMerkleTree.node(
                        level[pair], pair + 1 < level.count ? level[pair + 1] : SnapshotMerkleTree.zeroHashes[depth]))
            }
            if next.isEmpty { next = [SnapshotMerkleTree.zeroHashes[depth + 1]] }
            level = next
            levels.append(level)
            top = level[0]
        }
        self.levels = levels
        count = leaves.count
        snapshotRoot = SnapshotMerkleTree.snapshotRoot(treeRoot: top, count: UInt64(leaves.count))
    }

    /// The 32 sibling hashes from leaf `index` up to the root.
    public func path(_ index: Int) -> [[UInt8]] {
        precondition(index >= 0 && index < count)
        return (0..<SnapshotMerkleTree.depth).map { depth in
            let sibling = (index >> depth) ^ 1
            let level = levels[depth]
            return sibling < level.count ? level[sibling] : SnapshotMerkleTree.zeroHashes[depth]
        }
    }
}
