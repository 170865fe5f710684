import Codec
import Crypto

/// An Ethereum block header with the London (base fee), Shanghai (withdrawals), Cancun (blob gas, beacon
/// root) and Prague (requests) fields; its hash is keccak256 of its RLP.
public struct BlockHeader: Hashable, Sendable {
    /// keccak256(rlp([])): the ommers hash of every post-merge block.
    public static let emptyOmmersHash: [UInt8] = Keccak256.hash(RLP.encode(.list([])))

    /// The hash of the previous block's header.
    public var parentHash: [UInt8]
    /// The hash of the ommer list: always `emptyOmmersHash`.
    public var ommersHash: [UInt8] = emptyOmmersHash
    /// The fee recipient (`miner` in JSON-RPC).
    public var beneficiary: Address
    /// The state trie's root after the block.
    public var stateRoot: [UInt8]
    /// The root of the block's transaction trie.
    public var transactionsRoot: [UInt8] = MerklePatriciaTrie.emptyRoot
    /// The root of the block's receipt trie.
    public var receiptsRoot: [UInt8] = MerklePatriciaTrie.emptyRoot
    /// The union of the blooms of the block's logs.
    public var logsBloom = Bloom()
    /// Always zero after the merge.
    public var difficulty: UInt256 = .zero
    /// The block number: genesis is 0.
    public var number: UInt64
    /// The most gas the block's transactions may use together.
    public var gasLimit: UInt64
    /// The gas the block's transactions used.
    public var gasUsed: UInt64 = 0
    /// The block's time, in seconds since the Unix epoch.
    public var timestamp: UInt64
    /// Free bytes chosen by the sequencer.
    public var extraData: [UInt8] = []
    /// `prevRandao` after the merge.
    public var mixHash = [UInt8](repeating: 0, count: 32)
    /// Always eight zero bytes after the merge.
    public var nonce = [UInt8](repeating: 0, count: 8)
    /// The EIP-1559 base fee per gas; nil before London.
    public var baseFeePerGas: UInt256? = nil
    /// The root of the withdrawals trie (EIP-4895); nil before Shanghai.
    public var withdrawalsRoot: [UInt8]? = nil
    /// The blob gas used (EIP-4844); nil before Cancun.
    public var blobGasUsed: UInt64? = nil
    /// The excess blob gas (EIP-4844); nil before Cancun.
    public var excessBlobGas: UInt64? = nil
    /// The parent beacon block root (EIP-4788); nil before Cancun.
    public var parentBeaconBlockRoot: [UInt8]? = nil
    /// The hash of the execution-layer requests (EIP-7685); nil before Prague.
    public var requestsHash: [UInt8]? = nil

    /// A header with the given fields; the rest take their post-merge defaults.
    public init(
        parentHash: [UInt8], beneficiary: Address, stateRoot: [UInt8], number: UInt64, gasLimit: UInt64,
        timestamp: UInt64
    ) {
        self.parentHash = parentHash
        self.beneficiary = beneficiary
        self.stateRoot = stateRoot
        self.number = number
        self.gasLimit = gasLimit
        self.timestamp = timestamp
    }

    /// The header's RLP list.
    public var rlpItem: RLPItem {
        var items: [RLPItem] = [
            .bytes(parentHash), .bytes(ommersHash), RLPItem(beneficiary), .bytes(stateRoot),
            .bytes(transactionsRoot), .bytes(receiptsRoot), .bytes(logsBloom.bytes), RLPItem(difficulty),
            RLPItem(number), RLPItem(gasLimit), RLPItem(gasUsed), RLPItem(timestamp), .bytes(extraData),
            .bytes(mixHash), .bytes(nonce),
        ]
        // Later forks append fields; each is present only when every earlier one is.
        let optional: [RLPItem?] = [
            baseFeePerGas.map { RLPItem($0) }, withdrawalsRoot.map { .bytes($0) }, blobGasUsed.map { RLPItem($0) },
            excessBlobGas.map { RLPItem($0) }, parentBeaconBlockRoot.map { .bytes($0) },
            requestsHash.map { .bytes($0) },
        ]
        for field in optional {
            guard let field else { break }
            items.append(field)
        }
        return .list(items)
    }

    /// The header's RLP encoding.
    public var encoded: [UInt8] { RLP.encode(rlpItem) }

    /// The block hash: keccak256 of the header's RLP.
    public var hash: [UInt8] { Keccak256.hash(encoded) }

    /// Decodes a header, rejecting wrong field sizes, non-minimal integers and fork fields out of order.
    public init(rlp bytes: [UInt8]) throws(ChainError) {
        var fields = try RLPFields(decoding: bytes, what: "block header")
        try self.init(fields: &fields)
    }

    init(fields: inout RLPFields) throws(ChainError) {
        guard (15...21).contains(fields.count) else {
            throw .malformed(what: "block header", why: "\(fields.count) fields, expected 15 to 21")
        }
        parentHash = try fields.bytes(count: 32)
        ommersHash = try fields.bytes(count: 32)
        beneficiary = try fields.address()
        stateRoot = try fields.bytes(count: 32)
        transactionsRoot = try fields.bytes(count: 32)
        receiptsRoot = try fields.bytes(count: 32)
        logsBloom = Bloom(bytes: try fields.bytes(count: 256))!
        difficulty = try fields.uint256()
        number = try fields.uint64()
        gasLimit = try fields.uint64()
        gasUsed = try fields.uint64()
        timestamp = try fields.uint64()
        extraData = try fields.bytes()
        mixHash = try fields.bytes(count: 32)
        nonce = try fields.bytes(count: 8)
        baseFeePerGas = try fields.optional { f throws(ChainError) in try f.uint256() }
        withdrawalsRoot = try fields.optional { f throws(ChainError) in try f.bytes(count: 32) }
        blobGasUsed = try fields.optional { f throws(ChainError) in try f.uint64() }
        excessBlobGas = try fields.optional { f throws(ChainError) in try f.uint64() }
        parentBeaconBlockRoot = try fields.optional { f throws(ChainError) in try f.bytes(count: 32) }
        requestsHash = try fields.optional { f throws(ChainError) in try f.bytes(count: 32) }
        try fields.finish()
        guard extraData.count <= 32 else {
            throw .malformed(what: "block header", why: "extraData of \(extraData.count) bytes exceeds 32")
        }
    }
}
