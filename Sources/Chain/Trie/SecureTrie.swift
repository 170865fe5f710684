import Crypto

/// The secure trie of Ethereum state: a Merkle-Patricia trie keyed by keccak256(key), so that paths are
/// uniformly spread and of fixed length.
public struct SecureTrie: Sendable {
    /// The underlying trie, keyed by hashes.
    public private(set) var trie: MerklePatriciaTrie

    /// An empty secure trie.
    public init() { trie = MerklePatriciaTrie() }

    /// The secure trie with root `rootHash`, whose nodes are read from `source`.
    public init(rootHash: [UInt8], source: any TrieNodeSource) {
        trie = MerklePatriciaTrie(rootHash: rootHash, source: source)
    }

    /// The value under keccak256(`key`), or nil.
    public func get(_ key: some Collection<UInt8>) throws(TrieError) -> [UInt8]? { try trie.get(Keccak256.hash(key)) }

    /// Stores `value` under keccak256(`key`); an empty value removes it.
    public mutating func set(_ key: some Collection<UInt8>, _ value: [UInt8]) throws(TrieError) {
        try trie.set(Keccak256.hash(key), value)
    }

    /// Hashes what changed and returns the root hash.
    @discardableResult
    public mutating func commit() -> [UInt8] { trie.commit() }

    /// The nodes created since the last call: (hash, RLP encoding).
    public mutating func takeNewNodes() -> [(hash: [UInt8], encoding: [UInt8])] { trie.takeNewNodes() }

    /// The proof for `key` (nodes on the path of keccak256(`key`), root first).
    public func proof(for key: some Collection<UInt8>) throws(TrieError) -> [[UInt8]] {
        try trie.proof(for: Keccak256.hash(key))
    }

    /// Verifies a secure-trie proof for `key`; returns the value or nil for proven absence.
    public static func verifyProof(
        rootHash: [UInt8], key: some Collection<UInt8>, proof: [[UInt8]]
    ) throws(TrieError) -> [UInt8]? {
        try MerklePatriciaTrie.verifyProof(rootHash: rootHash, key: Keccak256.hash(key), proof: proof)
    }
}
