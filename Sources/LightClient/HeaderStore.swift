import Chain
import Codec
import SQLite

/// The recent verified headers, a bounded window kept in SQLite (in memory when no path is given).
public final class HeaderStore: Sendable {
    /// How many headers below the newest one are kept.
    public static let window: UInt64 = 1_024
    private let database: Database

    /// Opens (or creates) the store at `path`, or an in-memory one.
    public init(path: String? = nil) throws(SQLiteError) {
        database = try Database(path: path ?? ":memory:")
        try database.execute(
            "CREATE TABLE IF NOT EXISTS headers (number INTEGER PRIMARY KEY, hash BLOB NOT NULL, rlp BLOB NOT NULL, signature BLOB NOT NULL)"
        )
    }

    /// Stores a verified header, replacing any at its height (a reorg), and drops headers past the window.
    public func put(_ header: VerifiedHeader) throws(SQLiteError) {
        try database.query(
            "INSERT OR REPLACE INTO headers (number, hash, rlp, signature) VALUES (?, ?, ?, ?)",
            [.integer(Int64(header.number)), .blob(header.hash), .blob(header.header.encoded), .blob(header.signature)])
        if header.number > Self.window {
            try database.query("DELETE FROM headers WHERE number <= ?", [.integer(Int64(header.number - Self.window))])
        }
    }

    /// Removes the headers from `number` upwards (a reorg replaces them).
    public func truncate(from number: UInt64) throws(SQLiteError) {
        try database.query("DELETE FROM headers WHERE number >= ?", [.integer(Int64(number))])
    }

    /// The stored header at `number`; a row that does not decode is reported as a corrupt store.
    public func header(_ number: UInt64) throws(SQLiteError) -> VerifiedHeader? {
        guard
            let row = try database.first(
                "SELECT hash, rlp, signature FROM headers WHERE number = ?", [.integer(Int64(number))])
        else { return nil }
        let header: BlockHeader
        do {
            header = try BlockHeader(rlp: row[1].blob ?? [])
        } catch {
            throw .corrupt("stored header \(number): \(error)")
        }
        return VerifiedHeader(header: header, hash: row[0].blob ?? [], signature: row[2].blob ?? [])
    }

    /// The highest stored header.
    public func head() throws(SQLiteError) -> VerifiedHeader? {
        guard let row = try database.first("SELECT MAX(number) FROM headers"), let number = row[0].integer else {
            return nil
        }
        return try header(UInt64(number))
    }
}
