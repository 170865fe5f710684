import Synchronization

/// Trie nodes kept in memory, keyed by hash: the node source of tests, proofs and short-lived tries.
public final class InMemoryTrieNodes: TrieNodeSource {
    private let nodes = Mutex<[[UInt8]: [UInt8]]>([:])

    /// An empty set of nodes.
    public init() {}

    /// Adds nodes as returned by `takeNewNodes()`.
    public func insert(_ newNodes: [(hash: [UInt8], encoding: [UInt8])]) {
        nodes.withLock { stored in
            for node in newNodes { stored[node.hash] = node.encoding }
        }
    }

    /// The number of nodes held.
    public var count: Int { nodes.withLock { $0.count } }

    /// The node whose hash is `hash`, if held.
    public func node(hash: [UInt8]) -> [UInt8]? { nodes.withLock { $0[hash] } }
}
