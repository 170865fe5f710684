import Codec
import Crypto

/// The world state: accounts in a secure trie, each with a storage trie, as a value.
///
/// Writes land in per-account caches and reach the tries only at `commit()`, so a block of ten thousand
/// transfers hashes each touched trie path once. Copying a state is cheap (tries share nodes), which is how
/// the state transition rejects a block without partial effects: it works on a copy.
public struct WorldState: Sendable {
    private var accountTrie: SecureTrie
    private var storageTries: [Address: SecureTrie] = [:]
    /// Accounts read or written since the last commit.
    private var accounts: [Address: Account] = [:]
    private var dirtyAccounts: Set<Address> = []
    /// Storage written since the last commit: slot → 32-byte value (all zero deletes the slot).
    private var dirtySlots: [Address: [[UInt8]: [UInt8]]] = [:]
    private let source: (any TrieNodeSource)?
    private var newNodes: [(hash: [UInt8], encoding: [UInt8])] = []
    /// Undo records since `checkpoint()`, newest last; nil when no checkpoint is open.
    private var journal: [JournalEntry]? = nil

    private enum JournalEntry {
        case account(Address, previous: Account?, wasDirty: Bool)
        case slot(Address, slot: [UInt8], previous: [UInt8]?, wasDirty: Bool, hadSlots: Bool)
    }

    /// An empty state held in memory.
    public init() {
        accountTrie = SecureTrie()
        source = nil
    }

    /// The state with root `stateRoot`, whose trie nodes are read from `source`.
    public init(stateRoot: [UInt8], source: any TrieNodeSource) {
        accountTrie = SecureTrie(rootHash: stateRoot, source: source)
        self.source = source
    }

    // MARK: Accounts

    /// The account at `address` (an empty account if there is none).
    public func account(_ address: Address) throws(ChainError) -> Account {
        if let account = accounts[address] { return account }
        return try storedAccount(address) ?? Account()
    }

    private func storedAccount(_ address: Address) throws(ChainError) -> Account? {
        let encoded: [UInt8]?
        do {
            encoded = try accountTrie.get(address.bytes)
        } catch {
            throw .invalidBlock("state unavailable: \(error)")
        }
        return try encoded.map { bytes throws(ChainError) in try Account(encoded: bytes) }
    }

    /// Replaces the account at `address`.
    public mutating func setAccount(_ address: Address, _ account: Account) {
        journal?.append(.account(address, previous: accounts[address], wasDirty: dirtyAccounts.contains(address)))
        accounts[address] = account
        dirtyAccounts.insert(address)
    }

    // MARK: Checkpoints

    /// Starts recording changes so that `revertToCheckpoint()` can undo them (one level; a transaction).
    public mutating func checkpoint() {
        precondition(journal == nil, "checkpoints do not nest")
        journal = []
    }

    /// Keeps the changes made since `checkpoint()`.
    public mutating func commitCheckpoint() { journal = nil }

    /// Undoes every change made since `checkpoint()`.
    public mutating func revertToCheckpoint() {
        guard let entries = journal else { return }
        journal = nil
        for entry in entries.reversed() {
            switch entry {
            case .account(let address, let previous, let wasDirty):
                accounts[address] = previous
                if !wasDirty { dirtyAccounts.remove(address) }
            case .slot(let address, let slot, let previous, let wasDirty, let hadSlots):
                if hadSlots {
                    dirtySlots[address]?[slot] = previous
                } else {
                    dirtySlots[address] = nil
                }
                if !wasDirty { dirtyAccounts.remove(address) }
            }
        }
    }

    /// Changes the account at `address` in place.
    public mutating func updateAccount(
        _ address: Address, _ change: (inout Account) throws(ChainError) -> Void
    ) throws(ChainError) {
        var account = try self.account(address)
        try change(&account)
        setAccount(address, account)
    }

    // MARK: Storage

    /// The 32-byte value of storage `slot` (32 bytes) of `address`; zero when unset.
    public func storage(_ address: Address, slot: [UInt8]) throws(ChainError) -> [UInt8] {
        if let value = dirtySlots[address]?[slot] { return value }
        let trie: SecureTrie
        if let loaded = storageTries[address] {
            trie = loaded
        } else {
            let root = try account(address).storageRoot
            if root == MerklePatriciaTrie.emptyRoot { return Self.zeroWord }
            guard let source else { throw .invalidBlock("storage of \(address) unavailable") }
            trie = SecureTrie(rootHash: root, source: source)
        }
        do {
            guard let encoded = try trie.get(slot) else { return Self.zeroWord }
            return try Self.decodeSlotValue(encoded)
        } catch let error as TrieError {
            throw .invalidBlock("storage unavailable: \(error)")
        } catch {
            throw error as! ChainError
        }
    }

    /// Writes storage `slot` of `address`; an all-zero value deletes the slot.
    public mutating func setStorage(_ address: Address, slot: [UInt8], value: [UInt8]) {
        precondition(slot.count == 32 && value.count == 32, "storage slots and values are 32-byte words")
        if journal != nil {
            if accounts[address] == nil {
                journal?.append(.account(address, previous: nil, wasDirty: dirtyAccounts.contains(address)))
            }
            journal?.append(
                .slot(
                    address, slot: slot, previous: dirtySlots[address]?[slot],
                    wasDirty: dirtyAccounts.contains(address),
                    hadSlots: dirtySlots[address] != nil))
        }
        dirtySlots[address, default: [:]][slot] = value
        if accounts[address] == nil { accounts[address] = try? account(address) }
        dirtyAccounts.insert(address)
    }

    static let zeroWord = [UInt8](repeating: 0, count: 32)

    /// Storage values are stored RLP-encoded without leading zeros, as in Ethereum.
    static func encodeSlotValue(_ value: [UInt8]) -> [UInt8] {
        let trimmed = Array(value.drop { $0 == 0 })
        return trimmed.isEmpty ? [] : RLP.encode(.bytes(trimmed))
    }

    /// A storage value from its trie encoding (minimal big-endian RLP string), as a 32-byte word.
    public static func decodeSlotValue(_ encoded: [UInt8]) throws(ChainError) -> [UInt8] {
        let item: RLPItem
        do {
            item = try RLP.decode(encoded)
        } catch {
            throw .malformed(what: "storage value", why: error.description)
        }
        guard case .bytes(let bytes) = item, bytes.count <= 32, bytes.first != 0 else {
            throw .malformed(what: "storage value", why: "not a minimal integer of at most 32 bytes")
        }
        return [UInt8](repeating: 0, count: 32 - bytes.count) + bytes
    }

    // MARK: Commit and proofs

    /// Writes cached changes into the tries, hashes them and returns the state root.
    @discardableResult
    public mutating func commit() throws(ChainError) -> [UInt8] {
        precondition(journal == nil, "commit the checkpoint before committing the state")
        do {
            for (address, slots) in dirtySlots {
                var trie = try storageTrie(address)
                for (slot, value) in slots { try trie.set(slot, Self.encodeSlotValue(value)) }
                var account = try self.account(address)
                account.storageRoot = trie.commit()
                newNodes += trie.takeNewNodes()
                storageTries[address] = trie
                accounts[address] = account
            }
            dirtySlots = [:]
            for address in dirtyAccounts {
                let account = accounts[address] ?? Account()
                try accountTrie.set(address.bytes, account.isEmpty ? [] : account.encoded)
            }
            dirtyAccounts = []
        } catch let error as TrieError {
            throw .invalidBlock("state unavailable: \(error)")
        } catch {
            throw error as! ChainError
        }
        let root = accountTrie.commit()
        newNodes += accountTrie.takeNewNodes()
        return root
    }

    /// The trie nodes created by commits since the last call, for the caller to persist.
    public mutating func takeNewNodes() -> [(hash: [UInt8], encoding: [UInt8])] {
        defer { newNodes = [] }
        return newNodes
    }

    private func storageTrie(_ address: Address) throws(ChainError) -> SecureTrie {
        if let trie = storageTries[address] { return trie }
        let root = try account(address).storageRoot
        if root == MerklePatriciaTrie.emptyRoot { return SecureTrie() }
        guard let source else { throw .invalidBlock("storage of \(address) unavailable") }
        return SecureTrie(rootHash: root, source: source)
    }

    /// An EIP-1186 proof of `address` and its storage `slots` against the committed state root.
    ///
    /// Pending changes must be committed first.
    public func proof(of address: Address, slots: [[UInt8]]) throws(ChainError) -> AccountProof {
        precondition(dirtyAccounts.isEmpty && dirtySlots.isEmpty, "commit the state before proving it")
        do {
            let account = try self.account(address)
            let accountProof = try accountTrie.proof(for: address.bytes)
            let trie = try storageTrie(address)
            var storage: [StorageProof] = []
            for slot in slots {
                let encoded = try trie.get(slot)
                let value = try encoded.map { bytes throws(ChainError) in try Self.decodeSlotValue(bytes) }
                storage.append(
                    StorageProof(key: slot, value: value ?? Self.zeroWord, proof: try trie.proof(for: slot)))
            }
            return AccountProof(
                address: address, account: account, accountProof: accountProof, storageProofs: storage)
        } catch let error as TrieError {
            throw .invalidBlock("state unavailable: \(error)")
        } catch {
            throw error as! ChainError
        }
    }
}
