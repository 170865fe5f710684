import Codec
import Crypto

extension MerklePatriciaTrie {
    /// The proof for `key`: the RLP encodings of the nodes on its path that are referenced by hash, root first
    /// (the form of EIP-1186 `accountProof` and `storageProof`). It proves the value, or its absence.
    public func proof(for key: some Collection<UInt8>) throws(TrieError) -> [[UInt8]] {
        var trie = self
        trie.commit()
        var nodes: [[UInt8]] = []
        var node = trie.root
        var rest = Nibbles.of(key)[...]
        var atRoot = true
        while true {
            switch node {
            case .committed(let inner, let reference):
                if reference.hash != nil || atRoot { nodes.append(reference.encoding) }
                node = inner
                atRoot = false
                continue
            case .hashed(let hash):
                guard let encoding = try source?.node(hash: hash) else { throw .missingNode(hash: hash) }
                nodes.append(encoding)
                node = try TrieNode.decode(encoding)
                atRoot = false
                continue
            case .empty, .leaf:
                return nodes
            case .extension(let path, let child):
                guard rest.starts(with: path) else { return nodes }
                rest = rest.dropFirst(path.count)
                node = child
            case .branch(let children, _):
                guard let nibble = rest.first else { return nodes }
                rest = rest.dropFirst()
                node = children[Int(nibble)]
            }
        }
    }

    /// Verifies a proof for `key` against `rootHash` and returns the proven value, or nil when the proof shows
    /// that `key` is absent.
    ///
    /// Strict: the nodes must be exactly those on the key's path that are referenced by hash, root first, each
    /// hashing to its parent's reference, with nothing missing, reordered or left over. (Copies of inline nodes
    /// in their place on the path are allowed, as py-trie emits them.)
    public static func verifyProof(
        rootHash: [UInt8], key: some Collection<UInt8>, proof: [[UInt8]]
    ) throws(TrieError) -> [UInt8]? {
        if rootHash == emptyRoot && proof.isEmpty { return nil }
        var index = 0
        func next(_ hash: [UInt8]) throws(TrieError) -> TrieNode {
            guard index < proof.count else {
                throw .invalidProof("proof ends at node \(index), before the node \(Hex.encode(hash))")
            }
            guard Keccak256.hash(proof[index]) == hash else {
                throw .invalidProof("node \(index) does not hash to the reference \(Hex.encode(hash)) in its parent")
            }
            let node: TrieNode
            do {
                node = try TrieNode.decode(proof[index])
            } catch {
                throw .invalidProof("node \(index): \(error)")
            }
            index += 1
            return node
        }
        var node = try next(rootHash)
        var rest = Nibbles.of(key)[...]
        var value: [UInt8]? = nil
        walk: while true {
            switch node {
            case .hashed(let hash):
                node = try next(hash)
            case .committed(let inner, let reference):
                // Some implementations also list inline nodes; an exact copy of the inline node is tolerated.
                if reference.hash == nil, index < proof.count, proof[index] == reference.encoding { index += 1 }
                node = inner
            case .empty:
                break walk
            case .leaf(let path, let leafValue):
                if path.elementsEqual(rest) { value = leafValue }
                break walk
            case .extension(let path, let child):
                guard rest.starts(with: path) else { break walk }
                rest = rest.dropFirst(path.count)
                node = child
            case .branch(let children, let branchValue):
                guard let nibble = rest.first else {
                    value = branchValue
                    break walk
                }
                rest = rest.dropFirst()
                node = children[Int(nibble)]
            }
        }
        guard index == proof.count else {
            throw .invalidProof("\(proof.count - index) node(s) after the end of the key's path")
        }
        return value
    }
}
