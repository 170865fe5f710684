import Chain
import Codec
import SQLite

/// The serving peer's payment ledger in SQLite (`DIR/serving.sqlite`).
///
/// It holds each channel's account, every accepted voucher, and every signed receipt with its response and
/// attribution proof.
///
/// A voucher is committed before its answer starts and its receipt when the answer ends, each in one transaction,
/// so a kill -9 loses neither. WAL with `synchronous=NORMAL`: a commit survives the process dying, which is what a
/// crash of the node is; a power loss may drop the last commits (docs/payments.md).
public final class ServingLedger: Sendable {
    private let database: Database

    /// A receipt as stored: the voucher that paid for it, the receipt, its signature and the response's bytes.
    public struct StoredReceipt: Sendable, Equatable {
        /// The voucher the request carried.
        public var voucher: SignedVoucher
        /// The signed receipt.
        public var receipt: ServingReceipt
        /// The peer's signature over it.
        public var signature: [UInt8]
        /// The response's UTF-8 bytes (keccak256 of them is the receipt's response hash).
        public var response: [UInt8]
        /// Whether a claim has carried it.
        public var claimed: Bool
    }

    /// Opens (or creates) the ledger at `path` (`:memory:` for a test's).
    public init(path: String) throws(SQLiteError) {
        database = try Database(path: path)
        try database.execute(
            """
            CREATE TABLE IF NOT EXISTS channels (id BLOB PRIMARY KEY, authorized TEXT NOT NULL, spent TEXT NOT NULL);
            CREATE TABLE IF NOT EXISTS vouchers (request_hash BLOB PRIMARY KEY, channel BLOB NOT NULL,
                cumulative BLOB NOT NULL, signature BLOB NOT NULL, price TEXT NOT NULL, maximum_cost TEXT NOT NULL,
                state TEXT NOT NULL, accepted_at INTEGER NOT NULL);
            CREATE INDEX IF NOT EXISTS vouchers_by_channel ON vouchers (channel, cumulative);
            CREATE TABLE IF NOT EXISTS receipts (request_hash BLOB PRIMARY KEY, receipt BLOB NOT NULL,
                signature BLOB NOT NULL, response BLOB NOT NULL, created_at INTEGER NOT NULL,
                claimed INTEGER NOT NULL DEFAULT 0);
            CREATE TABLE IF NOT EXISTS proofs (request_hash BLOB PRIMARY KEY, proof BLOB NOT NULL);
            CREATE TABLE IF NOT EXISTS requests (request_hash BLOB PRIMARY KEY, path TEXT NOT NULL, body BLOB NOT NULL);
            CREATE TABLE IF NOT EXISTS claims (local INTEGER PRIMARY KEY AUTOINCREMENT, kind TEXT NOT NULL,
                state TEXT NOT NULL, claim_id TEXT, transaction_hash BLOB, items INTEGER NOT NULL,
                fees TEXT NOT NULL, created_at INTEGER NOT NULL, reason TEXT);
            """)
    }

    /// Every channel's account as stored; nothing is reserved after a restart.
    public func credits() throws(SQLiteError) -> [[UInt8]: ChannelCredit] {
        var result: [[UInt8]: ChannelCredit] = [:]
        for row in try database.query("SELECT id, authorized, spent FROM channels") {
            guard let id = row[0].blob, let authorized = Self.wei(row[1]),
                let spent = Self.wei(row[2])
            else { throw .corrupt("a channel row of the serving ledger does not decode") }
            result[id] = ChannelCredit(authorized: authorized, spent: spent)
        }
        return result
    }

    /// Whether a voucher for `requestHash` was already accepted.
    public func hasRequest(_ requestHash: [UInt8]) throws(SQLiteError) -> Bool {
        try database.first("SELECT 1 FROM vouchers WHERE request_hash = ?", [.blob(requestHash)]) != nil
    }

    /// Records an accepted voucher and the channel's account after it, in one transaction.
    public func accept(
        _ voucher: SignedVoucher, acceptance: ChannelCredit.Acceptance, credit: ChannelCredit,
        request: (path: String, body: [UInt8])? = nil, at seconds: Int64
    ) throws(SQLiteError) {
        try database.transaction { () throws(SQLiteError) in
            if let request {
                try database.query(
                    "INSERT OR REPLACE INTO requests (request_hash, path, body) VALUES (?, ?, ?)",
                    [.blob(voucher.voucher.requestHash), .text(request.path), .blob(request.body)])
            }
            try database.query(
                """
                INSERT INTO vouchers (request_hash, channel, cumulative, signature, price, maximum_cost, state,
                    accepted_at) VALUES (?, ?, ?, ?, ?, ?, 'running', ?)
                """,
                [
                    .blob(voucher.voucher.requestHash), .blob(voucher.voucher.channelID),
                    .blob(voucher.voucher.cumulativeAmount.bigEndianBytes), .blob(voucher.signature),
                    .text(acceptance.price.description), .text(acceptance.maximumCost.description),
                    .integer(seconds),
                ])
            try storeCredit(voucher.voucher.channelID, credit)
        }
    }

    /// Records the signed receipt of an answered (or interrupted) request and the channel's account after it.
    public func finish(
        channelID: [UInt8], receipt: ServingReceipt, signature: [UInt8], response: [UInt8], credit: ChannelCredit,
        proof: [UInt8]? = nil, at seconds: Int64
    ) throws(SQLiteError) {
        try database.transaction { () throws(SQLiteError) in
            if let proof {
                try database.query(
                    "INSERT OR REPLACE INTO proofs (request_hash, proof) VALUES (?, ?)",
                    [.blob(receipt.requestHash), .blob(proof)])
            }
            try database.query(
                "INSERT OR REPLACE INTO receipts (request_hash, receipt, signature, response, created_at) VALUES (?, ?, ?, ?, ?)",
                [
                    .blob(receipt.requestHash), .blob(receipt.encoded), .blob(signature),
                    .blob(response), .integer(seconds),
                ])
            try database.query(
                "UPDATE vouchers SET state = 'answered' WHERE request_hash = ?", [.blob(receipt.requestHash)])
            try storeCredit(channelID, credit)
        }
    }

    /// The vouchers accepted whose answer never got a receipt (the process died while generating), oldest first:
    /// (voucher, price) pairs.
    public func unanswered() throws(SQLiteError) -> [(voucher: SignedVoucher, price: UInt256)] {
        try database.query(
            "SELECT channel, cumulative, request_hash, signature, price FROM vouchers WHERE state = 'running' ORDER BY accepted_at"
        ).map { row throws(SQLiteError) in
            guard let channel = row[0].blob, let cumulative = row[1].blob.flatMap({ UInt256(bigEndian: $0) }),
                let request = row[2].blob, let signature = row[3].blob,
                let price = Self.wei(row[4])
            else { throw .corrupt("a voucher row of the serving ledger does not decode") }
            return (
                SignedVoucher(
                    voucher: PaymentVoucher(channelID: channel, cumulativeAmount: cumulative, requestHash: request),
                    signature: signature), price
            )
        }
    }

    /// The stored receipt of `requestHash`, with its voucher.
    public func receipt(_ requestHash: [UInt8]) throws(SQLiteError) -> StoredReceipt? {
        guard
            let row = try database.first(
                """
                SELECT r.receipt, r.signature, r.response, r.claimed, v.channel, v.cumulative, v.signature
                FROM receipts r JOIN vouchers v ON v.request_hash = r.request_hash WHERE r.request_hash = ?
                """, [.blob(requestHash)])
        else { return nil }
        return try stored(row, requestHash: requestHash)
    }

    /// Receipts no claim has carried yet, by channel and cumulative amount (the order a claim needs).
    public func unclaimedReceipts(limit: Int = 256) throws(SQLiteError) -> [StoredReceipt] {
        try database.query(
            """
            SELECT r.receipt, r.signature, r.response, r.claimed, v.channel, v.cumulative, v.signature, r.request_hash
            FROM receipts r JOIN vouchers v ON v.request_hash = r.request_hash WHERE r.claimed = 0
            ORDER BY v.channel, v.cumulative LIMIT ?
            """, [.integer(Int64(limit))]
        ).map { row throws(SQLiteError) in try stored(row, requestHash: row[7].blob ?? []) }
    }

    /// The request a claimed answer answered (its path and exact body), for attesters to re-execute; nil for a
    /// request no claim carries yet, whose prompt stays private until the peer claims it.
    public func claimedRequest(_ requestHash: [UInt8]) throws(SQLiteError) -> (path: String, body: [UInt8])? {
        guard
            let row = try database.first(
                """
                SELECT q.path, q.body FROM requests q JOIN receipts r ON r.request_hash = q.request_hash
                WHERE q.request_hash = ? AND r.claimed != 0
                """, [.blob(requestHash)]),
            case .text(let path) = row[0], let body = row[1].blob
        else { return nil }
        return (path, body)
    }

    /// The encoded attribution proof of the answer to `requestHash`, if it had one.
    public func proof(_ requestHash: [UInt8]) throws(SQLiteError) -> [UInt8]? {
        try database.first("SELECT proof FROM proofs WHERE request_hash = ?", [.blob(requestHash)])?[0].blob
    }

    /// Where a claim (or a direct redemption) is in its life.
    public enum ClaimState: String, Sendable {
        /// Recorded with its receipts, about to be sent (or sent, and the process died before it learned more).
        case submitting
        /// In a verified block: a claim waiting for its window or quorum, or a redemption done.
        case included
        /// Finalized on the ledger: the rewards are credited.
        case finalized
        /// Voided by a challenge.
        case voided
        /// Refused by the ledger (the reason says why); its receipts stay with it.
        case refused
    }

    /// What a claim row holds.
    public struct ClaimRow: Sendable, Equatable {
        /// The local number.
        public var local: Int64
        /// "claim" (`AttributionClaims.submitClaim`) or "redeem" (`PaymentChannels.redeem` of a channel's last voucher).
        public var kind: String
        /// Its state.
        public var state: ClaimState
        /// The ledger's claim id, once included.
        public var claimID: UInt256?
        /// The transaction, once sent.
        public var transaction: [UInt8]?
        /// The receipts it carries.
        public var items: Int
        /// The wei it carries.
        public var fees: UInt256
        /// When it was recorded, seconds since the epoch.
        public var createdAt: Int64
        /// Why the ledger refused it.
        public var reason: String?
    }

    /// Records a claim (or redemption) of `requestHashes` in state `submitting` and attaches the receipts to it.
    ///
    /// One transaction: none of them can be put in another claim, also after a restart. Throws when one is already
    /// attached.
    public func beginClaim(kind: String, requestHashes: [[UInt8]], fees: UInt256, at seconds: Int64)
        throws(SQLiteError) -> Int64
    {
        try database.transaction { () throws(SQLiteError) -> Int64 in
            try database.query(
                "INSERT INTO claims (kind, state, items, fees, created_at) VALUES (?, 'submitting', ?, ?, ?)",
                [.text(kind), .integer(Int64(requestHashes.count)), .text(fees.description), .integer(seconds)])
            guard let local = try database.first("SELECT last_insert_rowid()")?[0].integer else {
                throw .corrupt("no claim row")
            }
            for hash in requestHashes {
                try database.query(
                    "UPDATE receipts SET claimed = ? WHERE request_hash = ? AND claimed = 0",
                    [.integer(local), .blob(hash)])
                guard try database.first("SELECT changes()")?[0].integer == 1 else {
                    throw .corrupt("receipt \(Hex.encode(hash)) is not unclaimed")
                }
            }
            return local
        }
    }

    /// Moves claim `local` to `state`, with what was learned.
    public func updateClaim(
        _ local: Int64, state: ClaimState, claimID: UInt256? = nil, transaction: [UInt8]? = nil, reason: String? = nil
    ) throws(SQLiteError) {
        try database.query(
            """
            UPDATE claims SET state = ?, claim_id = COALESCE(?, claim_id),
                transaction_hash = COALESCE(?, transaction_hash), reason = COALESCE(?, reason) WHERE local = ?
            """,
            [
                .text(state.rawValue), claimID.map { .text($0.description) } ?? .null,
                transaction.map { .blob($0) } ?? .null, reason.map { .text($0) } ?? .null, .integer(local),
            ])
    }

    /// Every claim row, oldest first; only those in `states` when given.
    public func claims(in states: Set<ClaimState>? = nil) throws(SQLiteError) -> [ClaimRow] {
        var rows: [ClaimRow] = []
        for row in try database.query(
            "SELECT local, kind, state, claim_id, transaction_hash, items, fees, created_at, reason FROM claims ORDER BY local"
        ) {
            guard let local = row[0].integer, case .text(let kind) = row[1], case .text(let stateText) = row[2],
                let state = ClaimState(rawValue: stateText), let items = row[5].integer,
                let fees = Self.wei(row[6]), let created = row[7].integer
            else { throw .corrupt("a claim row of the serving ledger does not decode") }
            guard states?.contains(state) ?? true else { continue }
            var claimID: UInt256?
            if case .text(let text) = row[3] { claimID = UInt256(decimal: text) }
            var reason: String?
            if case .text(let text) = row[8] { reason = text }
            rows.append(
                ClaimRow(
                    local: local, kind: kind, state: state, claimID: claimID, transaction: row[4].blob,
                    items: Int(items), fees: fees, createdAt: created, reason: reason))
        }
        return rows
    }

    /// The receipts attached to claim `local`, by channel and cumulative amount.
    public func receipts(ofClaim local: Int64) throws(SQLiteError) -> [StoredReceipt] {
        try database.query(
            """
            SELECT r.receipt, r.signature, r.response, r.claimed, v.channel, v.cumulative, v.signature, r.request_hash
            FROM receipts r JOIN vouchers v ON v.request_hash = r.request_hash WHERE r.claimed = ?
            ORDER BY v.channel, v.cumulative
            """, [.integer(local)]
        ).map { row throws(SQLiteError) in try stored(row, requestHash: row[7].blob ?? []) }
    }

    /// The lowest cumulative amount of a voucher on `channel` still running (its receipt not signed yet): no receipt
    /// above it can be claimed before it, since claims redeem in cumulative order.
    public func runningFloor(channel: [UInt8]) throws(SQLiteError) -> UInt256? {
        try database.first(
            "SELECT MIN(cumulative) FROM vouchers WHERE channel = ? AND state = 'running'", [.blob(channel)])?[0].blob
            .flatMap { UInt256(bigEndian: $0) }
    }

    /// The unclaimed receipts: how many, and when the oldest was signed.
    public func unclaimedSummary() throws(SQLiteError) -> (count: Int, oldest: Int64?) {
        let row = try database.first("SELECT COUNT(*), MIN(created_at) FROM receipts WHERE claimed = 0")
        return (Int(row?[0].integer ?? 0), row?[1].integer)
    }

    /// The number of stored receipts.
    public func receiptCount() throws(SQLiteError) -> Int {
        Int(try database.first("SELECT COUNT(*) FROM receipts")?[0].integer ?? 0)
    }

    private func stored(_ row: [SQLiteValue], requestHash: [UInt8]) throws(SQLiteError) -> StoredReceipt {
        guard let encoded = row[0].blob, let receipt = try? ServingReceipt(encoded: encoded),
            let signature = row[1].blob,
            let response = row[2].blob, let channel = row[4].blob,
            let cumulative = row[5].blob.flatMap({ UInt256(bigEndian: $0) }), let voucherSignature = row[6].blob
        else { throw .corrupt("a receipt row of the serving ledger does not decode") }
        return StoredReceipt(
            voucher: SignedVoucher(
                voucher: PaymentVoucher(channelID: channel, cumulativeAmount: cumulative, requestHash: requestHash),
                signature: voucherSignature),
            receipt: receipt, signature: signature, response: response, claimed: (row[3].integer ?? 0) != 0)
    }

    /// A wei amount stored as decimal text.
    private static func wei(_ value: SQLiteValue) -> UInt256? {
        guard case .text(let text) = value else { return nil }
        return UInt256(decimal: text)
    }

    private func storeCredit(_ id: [UInt8], _ credit: ChannelCredit) throws(SQLiteError) {
        try database.query(
            "INSERT OR REPLACE INTO channels (id, authorized, spent) VALUES (?, ?, ?)",
            [.blob(id), .text(credit.authorized.description), .text(credit.spent.description)])
    }
}
