import Codec
import Crypto

/// An account of the state trie: [nonce, balance, storageRoot, codeHash], balances in wei of OPEN (18 decimals).
public struct Account: Hashable, Sendable {
    /// keccak256 of empty code: the code hash of every account without code.
    public static let emptyCodeHash: [UInt8] = Keccak256.hash([UInt8]())

    /// The number of transactions the account has sent.
    public var nonce: UInt64
    /// The balance in wei.
    public var balance: UInt256
    /// The root hash of the account's storage trie.
    public var storageRoot: [UInt8]
    /// keccak256 of the account's code.
    public var codeHash: [UInt8]

    /// An account with the given fields; by default an empty one.
    public init(
        nonce: UInt64 = 0, balance: UInt256 = .zero, storageRoot: [UInt8] = MerklePatriciaTrie.emptyRoot,
        codeHash: [UInt8] = Account.emptyCodeHash
    ) {
        self.nonce = nonce
        self.balance = balance
        self.storageRoot = storageRoot
        self.codeHash = codeHash
    }

    /// An account that EIP-161 treats as absent: no nonce, no balance, no code (and here, no storage).
    public var isEmpty: Bool {
        nonce == 0 && balance == .zero && codeHash == Self.emptyCodeHash && storageRoot == MerklePatriciaTrie.emptyRoot
    }

    /// The state trie's value for this account.
    public var encoded: [UInt8] {
        RLP.encode(.list([RLPItem(nonce), RLPItem(balance), .bytes(storageRoot), .bytes(codeHash)]))
    }

    /// Decodes a state trie value.
    public init(encoded bytes: [UInt8]) throws(ChainError) {
        var fields = try RLPFields(decoding: bytes, what: "account")
        nonce = try fields.uint64()
        balance = try fields.uint256()
        storageRoot = try fields.bytes(count: 32)
        codeHash = try fields.bytes(count: 32)
        try fields.finish()
    }
}
