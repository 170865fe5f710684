import Chain
import Codec
import Crypto
import SQLite

/// Everything the devnet keeps, in one SQLite database in WAL mode: blocks with their sequencer signatures,
/// receipts, state trie nodes, transaction and log indexes, and acknowledged transactions not yet in a block.
/// A block and all it implies are written in one SQL transaction, so a crash leaves either all or none of it.
public final class ChainStore: TrieNodeSource {
    let database: Database

    /// Opens or creates the store at `path`.
    public init(path: String) throws(SQLiteError) {
        database = try Database(path: path)
        try database.execute(
            """
            CREATE TABLE IF NOT EXISTS blocks (
                number INTEGER PRIMARY KEY, hash BLOB NOT NULL UNIQUE, header BLOB NOT NULL,
                transactions BLOB NOT NULL, signature BLOB NOT NULL);
            CREATE TABLE IF NOT EXISTS receipts (
                number INTEGER NOT NULL, position INTEGER NOT NULL, encoded BLOB NOT NULL,
                PRIMARY KEY (number, position));
            CREATE TABLE IF NOT EXISTS transactions (
                hash BLOB PRIMARY KEY, number INTEGER NOT NULL, position INTEGER NOT NULL, sender BLOB NOT NULL);
            CREATE TABLE IF NOT EXISTS logs (
                number INTEGER NOT NULL, log_index INTEGER NOT NULL, position INTEGER NOT NULL,
                address BLOB NOT NULL, topic0 BLOB, topic1 BLOB, topic2 BLOB, topic3 BLOB, data BLOB NOT NULL,
                PRIMARY KEY (number, log_index));
            CREATE INDEX IF NOT EXISTS logs_address ON logs (address, number);
            CREATE INDEX IF NOT EXISTS logs_topic0 ON logs (topic0, number);
            CREATE TABLE IF NOT EXISTS trie_nodes (hash BLOB PRIMARY KEY, encoding BLOB NOT NULL) WITHOUT ROWID;
            CREATE TABLE IF NOT EXISTS pending (hash BLOB PRIMARY KEY, raw BLOB NOT NULL, received INTEGER NOT NULL);
            CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value BLOB NOT NULL);
            """)
    }

    /// The trie node with keccak256 `hash`; a database failure is reported as such, never as a missing node.
    public func node(hash: [UInt8]) throws(TrieError) -> [UInt8]? {
        do {
            return try database.first("SELECT encoding FROM trie_nodes WHERE hash = ?", [.blob(hash)])?.first?.blob
        } catch {
            throw .sourceFailed("\(error)")
        }
    }

    // MARK: Blocks

    /// A stored block with its sequencer signature.
    public struct StoredBlock: Sendable {
        public var block: Block
        public var signature: [UInt8]
    }

    /// The number of the newest block, or nil for an empty store.
    public func headNumber() throws(SQLiteError) -> UInt64? {
        guard let row = try database.first("SELECT MAX(number) FROM blocks"), let number = row[0].integer else {
            return nil
        }
        return UInt64(number)
    }

    /// The block at height `number` with its signature.
    public func block(number: UInt64) throws(SQLiteError) -> StoredBlock? {
        guard
            let row = try database.first(
                "SELECT header, transactions, signature FROM blocks WHERE number = ?", [.integer(Int64(number))])
        else { return nil }
        return try Self.decodeBlock(row)
    }

    /// The block with hash `hash` with its signature.
    public func block(hash: [UInt8]) throws(SQLiteError) -> StoredBlock? {
        guard
            let row = try database.first(
                "SELECT header, transactions, signature FROM blocks WHERE hash = ?", [.blob(hash)])
        else { return nil }
        return try Self.decodeBlock(row)
    }

    /// A block row decoded; bytes that do not decode are a corrupt store.
    private static func decodeBlock(_ row: [SQLiteValue]) throws(SQLiteError) -> StoredBlock {
        do {
            let header = try BlockHeader(rlp: row[0].blob ?? [])
            var transactions: [SignedTransaction] = []
            for item in try RLP.decodeSequence(row[1].blob ?? []) {
                guard case .bytes(let encoded) = item else {
                    throw ChainError.malformed(what: "stored block", why: "body")
                }
                transactions.append(try SignedTransaction(encoded: encoded))
            }
            return StoredBlock(block: Block(header: header, transactions: transactions), signature: row[2].blob ?? [])
        } catch {
            throw .corrupt("stored block: \(error)")
        }
    }

    /// The receipts of block `number`, in transaction order.
    public func receipts(number: UInt64) throws(SQLiteError) -> [Receipt] {
        try database.query(
            "SELECT encoded FROM receipts WHERE number = ? ORDER BY position", [.integer(Int64(number))]
        ).map { row throws(SQLiteError) in
            do {
                return try Receipt(encoded: row[0].blob ?? [])
            } catch {
                throw .corrupt("stored receipt: \(error)")
            }
        }
    }

    /// Where a transaction was included: block number, position and sender.
    public func location(ofTransaction hash: [UInt8]) throws(SQLiteError) -> (
        number: UInt64, position: Int, sender: Address
    )? {
        guard
            let row = try database.first(
                "SELECT number, position, sender FROM transactions WHERE hash = ?", [.blob(hash)]),
            let number = row[0].integer, let position = row[1].integer, let sender = row[2].blob
        else { return nil }
        return (UInt64(number), Int(position), try! Address(bytes: sender))
    }

    /// Stores a produced block, everything derived from it, and its new trie nodes, and forgets the included
    /// transactions' pending copies — atomically.
    public func append(
        _ block: Block, signature: [UInt8], receipts: [Receipt], senders: [Address],
        nodes: [(hash: [UInt8], encoding: [UInt8])]
    ) throws(SQLiteError) {
        let number = Int64(block.header.number)
        try database.transaction { () throws(SQLiteError) -> Void in
            var body: [UInt8] = []
            for transaction in block.transactions { body += RLP.encode(bytes: transaction.encoded) }
            try database.query(
                "INSERT INTO blocks (number, hash, header, transactions, signature) VALUES (?, ?, ?, ?, ?)",
                [.integer(number), .blob(block.hash), .blob(block.header.encoded), .blob(body), .blob(signature)])
            var logIndex: Int64 = 0
            for (position, (transaction, receipt)) in zip(block.transactions, receipts).enumerated() {
                try database.query(
                    "INSERT INTO receipts (number, position, encoded) VALUES (?, ?, ?)",
                    [.integer(number), .integer(Int64(position)), .blob(receipt.encoded)])
                try database.query(
                    "INSERT OR REPLACE INTO transactions (hash, number, position, sender) VALUES (?, ?, ?, ?)",
                    [
                        .blob(transaction.hash), .integer(number), .integer(Int64(position)),
                        .blob(senders[position].bytes),
                    ])
                try database.query("DELETE FROM pending WHERE hash = ?", [.blob(transaction.hash)])
                for log in receipt.logs {
                    let topics = (0..<4).map { $0 < log.topics.count ? SQLiteValue.blob(log.topics[$0]) : .null }
                    try database.query(
                        """
                        INSERT INTO logs (number, log_index, position, address, topic0, topic1, topic2, topic3, data)
                        VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)
                        """,
                        [.integer(number), .integer(logIndex), .integer(Int64(position)), .blob(log.address.bytes)]
                            + topics + [.blob(log.data)])
                    logIndex += 1
                }
            }
            for node in nodes {
                try database.query(
                    "INSERT OR IGNORE INTO trie_nodes (hash, encoding) VALUES (?, ?)",
                    [.blob(node.hash), .blob(node.encoding)])
            }
        }
    }

    // MARK: Logs

    /// A stored log with its position in the chain.
    public struct StoredLog: Sendable {
        public var log: Log
        public var blockNumber: UInt64
        public var logIndex: Int
        public var transactionPosition: Int
    }

    /// Logs in [from, to] matching `addresses` (any, when empty) and `topics` (position-wise; nil or empty
    /// matches anything), at most `limit` + 1 of them so the caller can tell the limit was passed.
    public func logs(from: UInt64, to: UInt64, addresses: [Address], topics: [[[UInt8]]?], limit: Int)
        throws(SQLiteError) -> [StoredLog]
    {
        var sql = "SELECT number, log_index, position, address, topic0, topic1, topic2, topic3, data FROM logs"
        var conditions = ["number >= ?", "number <= ?"]
        var parameters: [SQLiteValue] = [.integer(Int64(from)), .integer(Int64(to))]
        if !addresses.isEmpty {
            conditions.append("address IN (" + addresses.map { _ in "?" }.joined(separator: ",") + ")")
            parameters += addresses.map { .blob($0.bytes) }
        }
        for (position, options) in topics.prefix(4).enumerated() {
            guard let options, !options.isEmpty else { continue }
            conditions.append("topic\(position) IN (" + options.map { _ in "?" }.joined(separator: ",") + ")")
            parameters += options.map { .blob($0) }
        }
        sql += " WHERE " + conditions.joined(separator: " AND ") + " ORDER BY number, log_index LIMIT \(limit + 1)"
        return try database.query(sql, parameters).map { row throws(SQLiteError) in
            let topics = row[4...7].compactMap { $0.blob }
            guard let address = try? Address(bytes: row[3].blob ?? []) else {
                throw .corrupt("stored log address")
            }
            return StoredLog(
                log: Log(address: address, topics: topics, data: row[8].blob ?? []),
                blockNumber: UInt64(row[0].integer ?? 0), logIndex: Int(row[1].integer ?? 0),
                transactionPosition: Int(row[2].integer ?? 0))
        }
    }

    // MARK: Pending transactions

    /// Records an acknowledged transaction before its hash is returned to the sender.
    public func storePending(_ transaction: SignedTransaction, received: Int64) throws(SQLiteError) {
        try database.query(
            "INSERT OR REPLACE INTO pending (hash, raw, received) VALUES (?, ?, ?)",
            [.blob(transaction.hash), .blob(transaction.encoded), .integer(received)])
    }

    /// Forgets an acknowledged transaction (included, replaced or invalid).
    public func removePending(_ hash: [UInt8]) throws(SQLiteError) {
        try database.query("DELETE FROM pending WHERE hash = ?", [.blob(hash)])
    }

    /// Every acknowledged transaction not yet in a block, oldest first.
    public func pending() throws(SQLiteError) -> [[UInt8]] {
        try database.query("SELECT raw FROM pending ORDER BY received, hash").compactMap { $0[0].blob }
    }
}
