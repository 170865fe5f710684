import Codec

/// One storage slot's value and its proof against the account's storage root (EIP-1186 `storageProof`).
public struct StorageProof: Hashable, Sendable {
    /// The 32-byte slot key.
    public var key: [UInt8]
    /// The claimed 32-byte slot value (zero for an absent slot).
    public var value: [UInt8]
    /// The trie nodes from the storage root to the slot, RLP-encoded.
    public var proof: [[UInt8]]

    /// A claim that slot `key` holds `value`, with its proof.
    public init(key: [UInt8], value: [UInt8], proof: [[UInt8]]) {
        self.key = key
        self.value = value
        self.proof = proof
    }
}

/// An account, some of its storage, and the proofs of both (the result of `eth_getProof`).
public struct AccountProof: Hashable, Sendable {
    /// The proven account's address.
    public var address: Address
    /// The claimed account (an empty one for an absent account).
    public var account: Account
    /// The trie nodes from the state root to the account, RLP-encoded.
    public var accountProof: [[UInt8]]
    /// The claims about the account's storage, each with its proof.
    public var storageProofs: [StorageProof]

    /// A claim about `account` at `address`, with its proofs.
    public init(address: Address, account: Account, accountProof: [[UInt8]], storageProofs: [StorageProof]) {
        self.address = address
        self.account = account
        self.accountProof = accountProof
        self.storageProofs = storageProofs
    }

    /// Checks every claim against `stateRoot`: the account (or its absence, as an empty account) and each storage value
    /// (or its absence, as zero).
    ///
    /// Throws naming the first claim that the proofs contradict.
    public func verify(stateRoot: [UInt8]) throws(ChainError) {
        let proven: [UInt8]?
        do {
            proven = try SecureTrie.verifyProof(rootHash: stateRoot, key: address.bytes, proof: accountProof)
        } catch {
            throw .invalidBlock("account proof of \(address): \(error)")
        }
        let provenAccount = try proven.map { bytes throws(ChainError) in try Account(encoded: bytes) } ?? Account()
        guard provenAccount == account else {
            throw .invalidBlock("account proof of \(address) proves a different account")
        }
        for storage in storageProofs {
            let value: [UInt8]?
            do {
                value = try SecureTrie.verifyProof(
                    rootHash: account.storageRoot, key: storage.key, proof: storage.proof)
            } catch {
                throw .invalidBlock("storage proof of \(Hex.encode(storage.key)): \(error)")
            }
            let provenValue = try value.map { bytes throws(ChainError) in try WorldState.decodeSlotValue(bytes) }
            guard (provenValue ?? WorldState.zeroWord) == storage.value else {
                throw .invalidBlock("storage proof of \(Hex.encode(storage.key)) proves a different value")
            }
        }
    }
}
