import Chain
import Codec
import Crypto
import Runtime
import SQLite
import Synchronization

/// A payment channel as the payer keeps it: what it opened and topped up, and the status it last saw on the ledger.
public struct PayerChannel: Equatable, Sendable {
    /// The 32-byte channel id.
    public var id: [UInt8]
    /// The account that deposited and signs the channel's vouchers.
    public var payer: Address
    /// The serving peer the vouchers pay.
    public var payee: Address
    /// The chain the channel lives on (part of every voucher's EIP-712 domain).
    public var chainId: UInt64
    /// The wei deposited, as opened and topped up.
    public var deposit: UInt256
    /// The status last seen on the ledger.
    public var status: PaymentChannels.Status
    /// The seconds between starting to close and the channel closing.
    public var settleDelay: UInt64
    /// The block time from which the payer may withdraw; 0 until closing starts.
    public var closesAt: UInt64

    /// A channel record from its fields.
    public init(
        id: [UInt8], payer: Address, payee: Address, chainId: UInt64, deposit: UInt256,
        status: PaymentChannels.Status, settleDelay: UInt64, closesAt: UInt64 = 0
    ) {
        self.id = id
        self.payer = payer
        self.payee = payee
        self.chainId = chainId
        self.deposit = deposit
        self.status = status
        self.settleDelay = settleDelay
        self.closesAt = closesAt
    }
}

/// A voucher the payer signed, and when.
public struct PayerVoucher: Equatable, Sendable {
    /// The voucher and its signature.
    public var signed: SignedVoucher
    /// The wall time it was signed at, to the millisecond.
    public var signedAt: WallTime
}

/// The payer's channels and every voucher it signed, in SQLite (WAL) at `DataDirectory.payerStore`.
///
/// A voucher's row is committed, with a full sync, before the voucher is handed out: after a crash the next voucher
/// still goes above every one signed before it, so no cumulative amount is ever signed twice for two requests.
public final class PayerStore: Sendable {
    /// The file the store is in.
    public let path: String
    private let database: Database
    private let clock: any Clock
    /// Serializes voucher issuing inside this process; `BEGIN IMMEDIATE` serializes it between processes.
    private let issuing = Mutex(())

    /// The version of the tables below, kept in `PRAGMA user_version`.
    static let schemaVersion: Int64 = 1

    /// Opens (or creates) the store at `path`; `clock` stamps each voucher with the time it was signed.
    public init(path: String, clock: any Clock = SystemClock()) throws(NodeError) {
        self.path = path
        self.clock = clock
        do {
            database = try Database(path: path)
            try database.execute("PRAGMA synchronous=FULL")
            let version = try database.first("PRAGMA user_version")?.first?.integer ?? 0
            guard version <= Self.schemaVersion else {
                throw SQLiteError(code: 1, message: "schema version \(version) is newer than \(Self.schemaVersion)")
            }
            try database.execute(
                """
                CREATE TABLE IF NOT EXISTS channels (
                    id BLOB PRIMARY KEY, payer BLOB NOT NULL, payee BLOB NOT NULL, chain_id INTEGER NOT NULL,
                    deposit BLOB NOT NULL, status INTEGER NOT NULL, settle_delay INTEGER NOT NULL,
                    closes_at INTEGER NOT NULL);
                CREATE TABLE IF NOT EXISTS vouchers (
                    channel BLOB NOT NULL REFERENCES channels(id), cumulative BLOB NOT NULL,
                    request_hash BLOB NOT NULL, signature BLOB NOT NULL, signed_at_ms INTEGER NOT NULL,
                    PRIMARY KEY (channel, cumulative));
                PRAGMA user_version = \(Self.schemaVersion);
                """)
        } catch {
            throw .payerStoreFailed(path: path, reason: error)
        }
    }

    /// Every channel kept, of `payer` and to `payee` when given, in the order they were first recorded.
    public func channels(payer: Address? = nil, payee: Address? = nil) throws(NodeError) -> [PayerChannel] {
        let rows = try sql { database throws(SQLiteError) in
            try database.query(Self.selectChannels + " ORDER BY rowid")
        }
        return try rows.map { row throws(NodeError) in try channel(row) }.filter { channel in
            (payer == nil || channel.payer == payer) && (payee == nil || channel.payee == payee)
        }
    }

    /// The channel with `id`, if kept.
    public func channel(_ id: [UInt8]) throws(NodeError) -> PayerChannel? {
        let row = try sql { database throws(SQLiteError) in try database.first(Self.selectChannel, [.blob(id)]) }
        return try row.map { row throws(NodeError) in try channel(row) }
    }

    /// Records `channel`, replacing what was kept about it (its vouchers stay).
    public func record(_ channel: PayerChannel) throws(NodeError) {
        try sql { database throws(SQLiteError) in
            try database.query(
                """
                INSERT INTO channels (id, payer, payee, chain_id, deposit, status, settle_delay, closes_at)
                VALUES (?, ?, ?, ?, ?, ?, ?, ?)
                ON CONFLICT(id) DO UPDATE SET payer = excluded.payer, payee = excluded.payee,
                    chain_id = excluded.chain_id, deposit = excluded.deposit, status = excluded.status,
                    settle_delay = excluded.settle_delay, closes_at = excluded.closes_at
                """,
                [
                    .blob(channel.id), .blob(channel.payer.bytes), .blob(channel.payee.bytes),
                    .integer(Int64(bitPattern: channel.chainId)), .blob(channel.deposit.bigEndianBytes),
                    .integer(Int64(channel.status.rawValue)), .integer(Int64(bitPattern: channel.settleDelay)),
                    .integer(Int64(bitPattern: channel.closesAt)),
                ])
        }
    }

    /// Signs and records the next voucher on channel `channelID` for `requestHash` (32 bytes).
    ///
    /// Its cumulative amount is the larger of `atLeast` and one wei above the channel's last voucher, so vouchers only
    /// ever grow. It is refused above the channel's deposit, on a channel last seen other than open, for a key that is
    /// not the channel's payer, or for another chain than the channel's. The voucher is committed before it is
    /// returned.
    public func issueVoucher(
        channelID: [UInt8], atLeast: UInt256, requestHash: [UInt8], key: Secp256k1PrivateKey, chainId: UInt64,
        verifyingContract: Address
    ) throws(NodeError) -> SignedVoucher {
        guard requestHash.count == 32 else {
            throw .voucherRequestInvalid("the request hash has \(requestHash.count) bytes, not 32")
        }
        let signer = WalletKeyFile.address(of: key)
        return try issuing.withLock { _ throws(NodeError) in
            let outcome = try sql { database throws(SQLiteError) in
                try database.transaction { () throws(SQLiteError) -> Result<SignedVoucher, NodeError> in
                    guard let row = try database.first(Self.selectChannel, [.blob(channelID)]) else {
                        return .failure(.unknownChannel(id: channelID))
                    }
                    let channel: PayerChannel
                    do throws(NodeError) {
                        channel = try self.channel(row)
                    } catch {
                        return .failure(error)
                    }
                    guard channel.status == .open else {
                        return .failure(.channelInWrongState(id: channelID, status: channel.status, expected: .open))
                    }
                    guard channel.payer == signer else {
                        return .failure(.notChannelPayer(id: channelID, payer: channel.payer, account: signer))
                    }
                    guard channel.chainId == chainId else {
                        return .failure(
                            .voucherRequestInvalid("channel is on chain \(channel.chainId), not \(chainId)"))
                    }
                    let (next, overflow) = try lastCumulative(database, channelID).addingReportingOverflow(1)
                    let cumulative = overflow ? UInt256.max : max(atLeast, next)
                    guard !overflow, cumulative <= channel.deposit else {
                        return .failure(
                            .voucherOverDeposit(id: channelID, cumulative: cumulative, deposit: channel.deposit))
                    }
                    let voucher = PaymentVoucher(
                        channelID: channelID, cumulativeAmount: cumulative, requestHash: requestHash)
                    let signature: [UInt8]
                    do {
                        signature = try voucher.sign(with: key, chainId: chainId, verifyingContract: verifyingContract)
                    } catch {
                        return .failure(.voucherRequestInvalid("\(error)"))
                    }
                    try database.query(
                        """
                        INSERT INTO vouchers (channel, cumulative, request_hash, signature, signed_at_ms)
                        VALUES (?, ?, ?, ?, ?)
                        """,
                        [
                            .blob(channelID), .blob(cumulative.bigEndianBytes), .blob(requestHash), .blob(signature),
                            .integer(clock.wallNow().millisecondsSinceEpoch),
                        ])
                    return .success(SignedVoucher(voucher: voucher, signature: signature))
                }
            }
            return try outcome.get()
        }
    }

    /// The cumulative amount of the last voucher signed on channel `channelID`; zero before the first.
    public func lastCumulative(channelID: [UInt8]) throws(NodeError) -> UInt256 {
        try sql { database throws(SQLiteError) in try lastCumulative(database, channelID) }
    }

    /// Every voucher signed on channel `channelID`, lowest cumulative amount first, with when it was signed.
    public func vouchers(channelID: [UInt8]) throws(NodeError) -> [PayerVoucher] {
        let rows = try sql { database throws(SQLiteError) in
            try database.query(
                """
                SELECT cumulative, request_hash, signature, signed_at_ms FROM vouchers WHERE channel = ?
                ORDER BY cumulative
                """, [.blob(channelID)])
        }
        return try rows.map { row throws(NodeError) in
            guard row.count == 4, let amount = row[0].blob, amount.count == 32,
                let cumulative = UInt256(bigEndian: amount), let requestHash = row[1].blob, requestHash.count == 32,
                let signature = row[2].blob, let milliseconds = row[3].integer
            else {
                throw .payerStoreFailed(
                    path: path, reason: SQLiteError.corrupt("a voucher row of \(Hex.encode(channelID)) does not decode")
                )
            }
            let voucher = PaymentVoucher(channelID: channelID, cumulativeAmount: cumulative, requestHash: requestHash)
            return PayerVoucher(
                signed: SignedVoucher(voucher: voucher, signature: signature),
                signedAt: WallTime(nanosecondsSinceEpoch: milliseconds &* 1_000_000))
        }
    }

    private func lastCumulative(_ database: Database, _ channelID: [UInt8]) throws(SQLiteError) -> UInt256 {
        // Amounts are 32-byte big-endian blobs, whose byte order is their numeric order.
        guard
            let row = try database.first("SELECT MAX(cumulative) FROM vouchers WHERE channel = ?", [.blob(channelID)]),
            let bytes = row[0].blob
        else { return .zero }
        guard bytes.count == 32, let value = UInt256(bigEndian: bytes) else {
            throw .corrupt("voucher amount of \(Hex.encode(channelID))")
        }
        return value
    }

    /// The columns `channel(_ row:)` decodes.
    static let selectChannels =
        "SELECT id, payer, payee, chain_id, deposit, status, settle_delay, closes_at FROM channels"
    /// One channel by id.
    static let selectChannel = selectChannels + " WHERE id = ?"

    /// A channel row decoded; a row that does not decode is a corrupt store.
    private func channel(_ row: [SQLiteValue]) throws(NodeError) -> PayerChannel {
        guard row.count == 8, let id = row[0].blob, id.count == 32, let payer = try? Address(bytes: row[1].blob ?? []),
            let payee = try? Address(bytes: row[2].blob ?? []), let chainId = row[3].integer,
            let deposit = row[4].blob.flatMap({ $0.count == 32 ? UInt256(bigEndian: $0) : nil }),
            let status = row[5].integer.flatMap({ UInt8(exactly: $0) }).flatMap(PaymentChannels.Status.init),
            let settleDelay = row[6].integer, let closesAt = row[7].integer
        else { throw .payerStoreFailed(path: path, reason: SQLiteError.corrupt("a channel row does not decode")) }
        return PayerChannel(
            id: id, payer: payer, payee: payee, chainId: UInt64(bitPattern: chainId), deposit: deposit, status: status,
            settleDelay: UInt64(bitPattern: settleDelay), closesAt: UInt64(bitPattern: closesAt))
    }

    /// Runs `body` on the database, turning its failure into the store's error.
    @discardableResult
    private func sql<R>(_ body: (Database) throws(SQLiteError) -> R) throws(NodeError) -> R {
        do {
            return try body(database)
        } catch {
            throw .payerStoreFailed(path: path, reason: error)
        }
    }
}
