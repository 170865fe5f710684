import Codec

/// A block: its header and body (transactions; ommers and withdrawals are always empty on this L2).
public struct Block: Hashable, Sendable {
    /// The block's header.
    public var header: BlockHeader
    /// The transactions in execution order.
    public var transactions: [SignedTransaction]

    /// A block of `transactions` under `header`.
    public init(header: BlockHeader, transactions: [SignedTransaction]) {
        self.header = header
        self.transactions = transactions
    }

    /// The block hash (the header's).
    public var hash: [UInt8] { header.hash }

    /// The transactions root for `transactions`.
    public static func transactionsRoot(_ transactions: [SignedTransaction]) -> [UInt8] {
        MerklePatriciaTrie.orderedRoot(transactions.map(\.encoded))
    }

    /// The receipts root for `receipts`.
    public static func receiptsRoot(_ receipts: [Receipt]) -> [UInt8] {
        MerklePatriciaTrie.orderedRoot(receipts.map(\.encoded))
    }

    /// The block's RLP: [header, transactions, ommers, withdrawals?].
    public var encoded: [UInt8] {
        var items: [RLPItem] = [header.rlpItem, .list(transactions.map(\.bodyItem)), .list([])]
        if header.withdrawalsRoot != nil { items.append(.list([])) }
        return RLP.encode(.list(items))
    }

    /// Decodes a block; transactions are decoded strictly and the header's transactions root must match.
    public init(encoded bytes: [UInt8]) throws(ChainError) {
        var fields = try RLPFields(decoding: bytes, what: "block")
        var headerFields = try RLPFields(try fields.item(), what: "block header")
        header = try BlockHeader(fields: &headerFields)
        transactions = []
        for item in try fields.list() {
            switch item {
            case .bytes(let envelope):
                guard let type = envelope.first, type < 0x80 else {
                    throw .malformed(what: "block", why: "a typed transaction envelope must start with its type")
                }
                transactions.append(try SignedTransaction(encoded: envelope))
            case .list: transactions.append(try SignedTransaction(encoded: RLP.encode(item)))
            }
        }
        guard try fields.list().isEmpty else { throw .malformed(what: "block", why: "ommers are not empty") }
        if header.withdrawalsRoot != nil {
            guard try fields.list().isEmpty else { throw .malformed(what: "block", why: "withdrawals are not empty") }
        }
        try fields.finish()
        guard Self.transactionsRoot(transactions) == header.transactionsRoot else {
            throw .invalidBlock("transactions root does not match the header")
        }
    }
}
