import Codec

/// What can be wrong with a trie, a node read from a store, or a proof.
public enum TrieError: Error, Equatable, Sendable, CustomStringConvertible {
    /// A node referenced by hash is not in the node source (or the proof).
    case missingNode(hash: [UInt8])
    /// A node's bytes do not decode as a trie node.
    case malformedNode(String)
    /// A proof does not prove what it claims: says which node and what failed.
    case invalidProof(String)
    /// The node source could not be read (a database error, not a missing node).
    case sourceFailed(String)

    /// The error as a person reads it.
    public var description: String {
        switch self {
        case .missingNode(let hash): "missing trie node \(Hex.encode(hash))"
        case .malformedNode(let why): "malformed trie node: \(why)"
        case .invalidProof(let why): "invalid trie proof: \(why)"
        case .sourceFailed(let why): "trie node source failed: \(why)"
        }
    }
}
