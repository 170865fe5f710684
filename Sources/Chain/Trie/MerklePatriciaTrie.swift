import Codec
import Crypto

/// A hexary Merkle-Patricia trie (Ethereum Yellow Paper, App. D), as a value.
///
/// Reads resolve hash-referenced nodes through the node source given at creation; updates are kept in memory
/// until `commit()`, which hashes only what changed and hands back the new nodes for the caller to store.
public struct MerklePatriciaTrie: Sendable {
    /// keccak256(rlp("")): the root hash of the empty trie.
    public static let emptyRoot: [UInt8] = Keccak256.hash(TrieNode.emptyEncoding)

    private(set) var root: TrieNode
    let source: (any TrieNodeSource)?
    /// Nodes created by commits since the last `takeNewNodes()`: (hash, encoding).
    private var newNodes: [(hash: [UInt8], encoding: [UInt8])] = []

    /// An empty trie.
    public init() {
        root = .empty
        source = nil
    }

    /// The trie with root `rootHash`, whose nodes are read from `source`.
    public init(rootHash: [UInt8], source: any TrieNodeSource) {
        self.root = rootHash == Self.emptyRoot ? .empty : .hashed(rootHash)
        self.source = source
    }

    // MARK: Reads

    /// The value stored under `key`, or nil.
    public func get(_ key: some Collection<UInt8>) throws(TrieError) -> [UInt8]? {
        let path = Nibbles.of(key)
        var node = root
        var rest = path[...]
        while true {
            switch node {
            case .empty:
                return nil
            case .leaf(let leafPath, let value):
                return leafPath.elementsEqual(rest) ? value : nil
            case .extension(let extensionPath, let child):
                guard rest.starts(with: extensionPath) else { return nil }
                rest = rest.dropFirst(extensionPath.count)
                node = child
            case .branch(let children, let value):
                guard let nibble = rest.first else { return value }
                rest = rest.dropFirst()
                node = children[Int(nibble)]
            case .hashed(let hash):
                node = try resolve(hash)
            case .committed(let inner, _):
                node = inner
            }
        }
    }

    // MARK: Updates

    /// Stores `value` under `key`; an empty value removes the key, as in Ethereum.
    public mutating func set(_ key: some Collection<UInt8>, _ value: [UInt8]) throws(TrieError) {
        if value.isEmpty {
            try remove(key)
            return
        }
        root = try insert(root, Nibbles.of(key)[...], value)
    }

    /// Removes `key` if present.
    public mutating func remove(_ key: some Collection<UInt8>) throws(TrieError) {
        if let updated = try delete(root, Nibbles.of(key)[...]) { root = updated }
    }

    private func insert(_ node: TrieNode, _ path: ArraySlice<UInt8>, _ value: [UInt8]) throws(TrieError) -> TrieNode {
        switch node {
        case .empty:
            return .leaf(path: path, value: value)
        case .committed(let inner, _):
            return try insert(inner, path, value)
        case .hashed(let hash):
            return try insert(try resolve(hash), path, value)
        case .leaf(let leafPath, let leafValue):
            if leafPath.elementsEqual(path) { return .leaf(path: leafPath, value: value) }
            let common = Nibbles.commonPrefixLength(leafPath, path)
            var children = TrieNode.emptyChildren
            var branchValue: [UInt8]? = nil
            Self.place(&children, &branchValue, leafPath.dropFirst(common), leafValue)
            Self.place(&children, &branchValue, path.dropFirst(common), value)
            return Self.prefixed(path.prefix(common), .branch(children: children, value: branchValue))
        case .extension(let extensionPath, let child):
            let common = Nibbles.commonPrefixLength(extensionPath, path)
            if common == extensionPath.count {
                return .extension(path: extensionPath, child: try insert(child, path.dropFirst(common), value))
            }
            var children = TrieNode.emptyChildren
            var branchValue: [UInt8]? = nil
            let remainder = extensionPath.dropFirst(common + 1)
            children[Int(extensionPath[extensionPath.startIndex + common])] =
                remainder.isEmpty ? child : .extension(path: remainder, child: child)
            Self.place(&children, &branchValue, path.dropFirst(common), value)
            return Self.prefixed(path.prefix(common), .branch(children: children, value: branchValue))
        case .branch(var children, let branchValue):
            guard let nibble = path.first else { return .branch(children: children, value: value) }
            children[Int(nibble)] = try insert(children[Int(nibble)], path.dropFirst(), value)
            return .branch(children: children, value: branchValue)
        }
    }

    /// Puts a leaf for `path` into a new branch: as the branch value when the path ends here.
    private static func place(
        _ children: inout [TrieNode], _ branchValue: inout [UInt8]?, _ path: ArraySlice<UInt8>, _ value: [UInt8]
    ) {
        if let nibble = path.first {
            children[Int(nibble)] = .leaf(path: path.dropFirst(), value: value)
        } else {
            branchValue = value
        }
    }

    private static func prefixed(_ path: ArraySlice<UInt8>, _ node: TrieNode) -> TrieNode {
        path.isEmpty ? node : .extension(path: path, child: node)
    }

    /// The node with `path` removed, or nil when nothing changed. The result is in canonical form: no branch
    /// with fewer than two entries, no extension followed by an extension or leaf.
    private func delete(_ node: TrieNode, _ path: ArraySlice<UInt8>) throws(TrieError) -> TrieNode? {
        switch node {
        case .empty:
            return nil
        case .committed(let inner, _):
            return try delete(inner, path)
        case .hashed(let hash):
            return try delete(try resolve(hash), path)
        case .leaf(let leafPath, _):
            return leafPath.elementsEqual(path) ? .empty : nil
        case .extension(let extensionPath, let child):
            guard path.starts(with: extensionPath),
                let updated = try delete(child, path.dropFirst(extensionPath.count))
            else { return nil }
            return try joined(extensionPath, updated)
        case .branch(var children, var value):
            if let nibble = path.first {
                guard let updated = try delete(children[Int(nibble)], path.dropFirst()) else { return nil }
                children[Int(nibble)] = updated
            } else {
                guard value != nil else { return nil }
                value = nil
            }
            let occupied = children.indices.filter { !children[$0].isEmpty }
            if occupied.count + (value == nil ? 0 : 1) >= 2 {
                return .branch(children: children, value: value)
            }
            if let value { return .leaf(path: [], value: value) }
            guard let only = occupied.first else { return .empty }
            return try joined([UInt8(only)], children[only])
        }
    }

    /// `prefix` followed by `node`, merging paths so that no extension points at an extension or a leaf.
    private func joined(_ prefix: ArraySlice<UInt8>, _ node: TrieNode) throws(TrieError) -> TrieNode {
        switch node {
        case .empty: return .empty
        case .committed(let inner, _): return try joined(prefix, inner)
        case .hashed(let hash): return try joined(prefix, try resolve(hash))
        case .leaf(let path, let value): return .leaf(path: (prefix + path)[...], value: value)
        case .extension(let path, let child): return .extension(path: (prefix + path)[...], child: child)
        case .branch: return .extension(path: prefix, child: node)
        }
    }

    func resolve(_ hash: [UInt8]) throws(TrieError) -> TrieNode {
        guard let encoding = try source?.node(hash: hash) else { throw .missingNode(hash: hash) }
        guard Keccak256.hash(encoding) == hash else {
            throw .malformedNode("node source returned bytes that do not hash to \(Hex.encode(hash))")
        }
        return try TrieNode.decode(encoding)
    }

    // MARK: Commit

    /// Hashes what changed since the last commit and returns the root hash.
    @discardableResult
    public mutating func commit() -> [UInt8] {
        let reference = Self.commit(&root, into: &newNodes)
        if let hash = reference.hash { return hash }
        // A root smaller than 32 bytes is still stored and referenced by its hash.
        let hash = Keccak256.hash(reference.encoding)
        if !root.isEmpty { newNodes.append((hash, reference.encoding)) }
        return hash
    }

    /// The root hash (commits pending updates first).
    public var rootHash: [UInt8] {
        mutating get { commit() }
    }

    /// The nodes created by commits since the last call, for the caller to store: (hash, RLP encoding).
    public mutating func takeNewNodes() -> [(hash: [UInt8], encoding: [UInt8])] {
        defer { newNodes = [] }
        return newNodes
    }

    private static func commit(
        _ node: inout TrieNode, into newNodes: inout [(hash: [UInt8], encoding: [UInt8])]
    ) -> NodeReference {
        let encoding: [UInt8]
        switch node {
        case .empty:
            return NodeReference(encoding: TrieNode.emptyEncoding)
        case .committed(_, let reference):
            return reference
        case .hashed(let hash):
            // Unchanged and unloaded: its encoding is only needed for proofs, which load it then.
            return NodeReference(hash: hash, encoding: [])
        case .leaf(let path, let value):
            encoding = RLP.encodeList(encoded: [
                RLP.encode(bytes: Nibbles.hexPrefix(path, leaf: true)), RLP.encode(bytes: value),
            ])
        case .extension(let path, var child):
            let childReference = commit(&child, into: &newNodes)
            encoding = RLP.encodeList(encoded: [
                RLP.encode(bytes: Nibbles.hexPrefix(path, leaf: false)), childReference.embedded,
            ])
            node = .extension(path: path, child: child)
        case .branch(var children, let value):
            var items = [[UInt8]]()
            items.reserveCapacity(17)
            for index in 0..<16 { items.append(commit(&children[index], into: &newNodes).embedded) }
            items.append(RLP.encode(bytes: value ?? []))
            encoding = RLP.encodeList(encoded: items)
            node = .branch(children: children, value: value)
        }
        let reference = NodeReference(encoding: encoding)
        if let hash = reference.hash { newNodes.append((hash, encoding)) }
        node = .committed(node, reference)
        return reference
    }
}
