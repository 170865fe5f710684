import Codec

/// A log emitted by a transaction: the emitting address, up to four topics and data.
public struct Log: Hashable, Sendable {
    /// The contract that emitted the log.
    public var address: Address
    /// The indexed values, 32 bytes each, at most four.
    public var topics: [[UInt8]]
    /// The non-indexed data.
    public var data: [UInt8]

    /// A log from `address`.
    public init(address: Address, topics: [[UInt8]], data: [UInt8]) {
        self.address = address
        self.topics = topics
        self.data = data
    }

    var rlpItem: RLPItem { .list([RLPItem(address), .list(topics.map { .bytes($0) }), .bytes(data)]) }

    init(item: RLPItem) throws(ChainError) {
        var fields = try RLPFields(item, what: "log")
        address = try fields.address()
        topics = []
        for topic in try fields.list() {
            guard case .bytes(let bytes) = topic, bytes.count == 32 else {
                throw .malformed(what: "log", why: "topic is not 32 bytes")
            }
            topics.append(bytes)
        }
        data = try fields.bytes()
        try fields.finish()
        guard topics.count <= 4 else { throw .malformed(what: "log", why: "\(topics.count) topics, at most 4") }
    }
}

/// A transaction receipt (post-Byzantium: status instead of an intermediate state root), typed per EIP-2718.
public struct Receipt: Hashable, Sendable {
    /// The type of the transaction it is the receipt of.
    public var type: TransactionType
    /// Whether the transaction succeeded (status 1) or reverted (status 0).
    public var succeeded: Bool
    /// The gas used in the block up to and including this transaction.
    public var cumulativeGasUsed: UInt64
    /// The logs the transaction emitted, in order.
    public var logs: [Log]

    /// A receipt with the given fields.
    public init(type: TransactionType, succeeded: Bool, cumulativeGasUsed: UInt64, logs: [Log]) {
        self.type = type
        self.succeeded = succeeded
        self.cumulativeGasUsed = cumulativeGasUsed
        self.logs = logs
    }

    /// The bloom of every log's address and topics.
    public var bloom: Bloom {
        var bloom = Bloom()
        for log in logs {
            bloom.add(log.address.bytes)
            for topic in log.topics { bloom.add(topic) }
        }
        return bloom
    }

    /// The receipt as stored in the receipts trie: `rlp(...)` for legacy, `type ‖ rlp(...)` otherwise.
    public var encoded: [UInt8] {
        let body = RLP.encode(
            .list([
                .bytes(succeeded ? [1] : []), RLPItem(cumulativeGasUsed), .bytes(bloom.bytes),
                .list(logs.map(\.rlpItem)),
            ]))
        return type == .legacy ? body : [type.rawValue] + body
    }

    /// Decodes a receipt from its trie encoding; the bloom must match the logs.
    public init(encoded bytes: [UInt8]) throws(ChainError) {
        guard let first = bytes.first else { throw .malformed(what: "receipt", why: "empty") }
        if first < 0x80 {
            guard let type = TransactionType(rawValue: first), type != .legacy else {
                throw .malformed(what: "receipt", why: "unsupported receipt type \(first)")
            }
            self.type = type
        } else {
            self.type = .legacy
        }
        var fields = try RLPFields(
            decoding: type == .legacy ? bytes : Array(bytes.dropFirst()), what: "receipt")
        let status = try fields.bytes()
        guard status == [] || status == [1] else {
            throw .malformed(what: "receipt", why: "status is not 0 or 1")
        }
        succeeded = status == [1]
        cumulativeGasUsed = try fields.uint64()
        let bloom = try fields.bytes(count: 256)
        logs = try fields.list().map { item throws(ChainError) in try Log(item: item) }
        try fields.finish()
        guard bloom == self.bloom.bytes else { throw .malformed(what: "receipt", why: "bloom does not match logs") }
    }
}

extension MerklePatriciaTrie {
    /// The root of a trie mapping rlp(index) to each value: the transactions and receipts roots of a block.
    public static func orderedRoot(_ values: [[UInt8]]) -> [UInt8] {
        var trie = MerklePatriciaTrie()
        for (index, value) in values.enumerated() {
            try! trie.set(RLP.encode(RLPItem(UInt64(index))), value)
        }
        return trie.commit()
    }
}
