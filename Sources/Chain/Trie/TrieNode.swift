import Codec
import Crypto

/// Where trie nodes referenced by hash are read from: a database, a proof, or memory.
public protocol TrieNodeSource: Sendable {
    /// The RLP encoding of the node whose keccak256 is `hash`, nil when unknown; a store that cannot be read
    /// throws `TrieError.sourceFailed`.
    func node(hash: [UInt8]) throws(TrieError) -> [UInt8]?
}

/// How a parent refers to a child: by keccak hash when the child's encoding is 32 bytes or more, else inline.
struct NodeReference: Sendable {
    /// The node's RLP encoding.
    let encoding: [UInt8]
    /// keccak256(encoding) when the node is referenced by hash.
    let hash: [UInt8]?

    init(encoding: [UInt8]) {
        self.encoding = encoding
        self.hash = encoding.count >= 32 ? Keccak256.hash(encoding) : nil
    }

    init(hash: [UInt8], encoding: [UInt8]) {
        self.encoding = encoding
        self.hash = hash
    }

    /// What the parent's RLP list holds: the 32-byte hash as an RLP string, or the child's encoding itself.
    var embedded: [UInt8] { hash.map { RLP.encode(bytes: $0) } ?? encoding }
}

/// A node of a hexary Merkle-Patricia trie. Paths are nibbles. Updates build new nodes and share the rest,
/// so a trie is a value: copying one is O(1) and the copy is unaffected by later updates.
indirect enum TrieNode: Sendable {
    case empty
    case leaf(path: ArraySlice<UInt8>, value: [UInt8])
    case `extension`(path: ArraySlice<UInt8>, child: TrieNode)
    case branch(children: [TrieNode], value: [UInt8]?)
    /// A node not loaded yet: only its hash is known; the trie's node source has its encoding.
    case hashed([UInt8])
    /// A node whose encoding (and hash) has been computed; any update replaces it with the plain node.
    case committed(TrieNode, NodeReference)

    static let emptyChildren = [TrieNode](repeating: .empty, count: 16)

    /// The encoding of the empty trie's root node (the RLP empty string).
    static let emptyEncoding: [UInt8] = [0x80]

    var isEmpty: Bool {
        if case .empty = self { return true }
        return false
    }

    /// Decodes a node from its RLP encoding. Children that are hashes become `.hashed`; inline children are
    /// decoded in place.
    static func decode(_ encoding: [UInt8]) throws(TrieError) -> TrieNode {
        let item: RLPItem
        do {
            item = try RLP.decode(encoding)
        } catch {
            throw .malformedNode("\(error)")
        }
        return try decode(item: item)
    }

    static func decode(item: RLPItem) throws(TrieError) -> TrieNode {
        switch item {
        case .bytes(let bytes):
            guard bytes.isEmpty else { throw .malformedNode("a node is a list or the empty string") }
            return .empty
        case .list(let items) where items.count == 2:
            guard case .bytes(let encodedPath) = items[0] else { throw .malformedNode("path is not a string") }
            let (path, isLeaf) = try Nibbles.decodeHexPrefix(encodedPath)
            if isLeaf {
                guard case .bytes(let value) = items[1], !value.isEmpty else {
                    throw .malformedNode("leaf value is not a nonempty string")
                }
                return .leaf(path: path[...], value: value)
            }
            guard !path.isEmpty else { throw .malformedNode("extension with an empty path") }
            return .extension(path: path[...], child: try decodeChild(items[1]))
        case .list(let items) where items.count == 17:
            var children = emptyChildren
            for index in 0..<16 { children[index] = try decodeChild(items[index]) }
            guard case .bytes(let value) = items[16] else { throw .malformedNode("branch value is not a string") }
            return .branch(children: children, value: value.isEmpty ? nil : value)
        case .list(let items):
            throw .malformedNode("a node list has 2 or 17 items, not \(items.count)")
        }
    }

    private static func decodeChild(_ item: RLPItem) throws(TrieError) -> TrieNode {
        switch item {
        case .bytes(let bytes) where bytes.isEmpty: return .empty
        case .bytes(let bytes) where bytes.count == 32: return .hashed(bytes)
        case .bytes(let bytes): throw .malformedNode("child reference of \(bytes.count) bytes")
        case .list:
            let child = try decode(item: item)
            let encoding = RLP.encode(item)
            guard encoding.count < 32 else { throw .malformedNode("inline child of \(encoding.count) bytes") }
            return .committed(child, NodeReference(encoding: encoding))
        }
    }
}
