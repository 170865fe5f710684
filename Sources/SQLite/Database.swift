import CSQLite
import Synchronization

/// A value in or out of SQLite.
public enum SQLiteValue: Hashable, Sendable {
    case integer(Int64)
    case blob([UInt8])
    case text(String)
    case null

    public var integer: Int64? {
        if case .integer(let value) = self { return value }
        return nil
    }

    public var blob: [UInt8]? {
        switch self {
        case .blob(let value): return value
        case .null: return nil
        case .text(let value): return Array(value.utf8)
        case .integer: return nil
        }
    }
}

/// What SQLite refused, with its result code, message and the SQL: a storage failure, never a network one.
public struct SQLiteError: Error, Equatable, CustomStringConvertible, Sendable {
    /// SQLite's result code (`SQLITE_BUSY`, `SQLITE_CORRUPT` …).
    public let code: Int32
    /// SQLite's message for the failure.
    public let message: String
    /// The statement that failed, when there was one.
    public let sql: String?

    /// An error with SQLite's result code and message.
    public init(code: Int32, message: String, sql: String? = nil) {
        self.code = code
        self.message = message
        self.sql = sql
    }

    /// A row whose content does not decode as what was stored there (SQLite's `SQLITE_CORRUPT`).
    public static func corrupt(_ what: String) -> SQLiteError { SQLiteError(code: SQLITE_CORRUPT, message: what) }

    /// The failure as a person reads it.
    public var description: String { "SQLite error \(code): \(message)" + (sql.map { " in: \($0)" } ?? "") }
}

/// One SQLite database connection. Every call goes through one lock, so a connection may be shared by
/// threads; statements are prepared once per SQL text and cached.
public final class Database: Sendable {
    private let state: Mutex<Connection>

    private final class Connection {
        let handle: OpaquePointer
        var statements: [String: Statement] = [:]
        var transactionDepth = 0

        init(handle: OpaquePointer) { self.handle = handle }

        deinit {
            statements.removeAll()
            sqlite3_close_v2(handle)
        }
    }

    /// Opens (creating if needed) the database at `path`, in WAL mode with foreign keys on.
    public init(path: String) throws(SQLiteError) {
        var handle: OpaquePointer?
        let flags = SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX
        let result = sqlite3_open_v2(path, &handle, flags, nil)
        guard result == SQLITE_OK, let handle else {
            let message = handle.map { String(cString: sqlite3_errmsg($0)) } ?? "cannot open"
            if let handle { sqlite3_close_v2(handle) }
            throw SQLiteError(code: result, message: message, sql: nil)
        }
        sqlite3_busy_timeout(handle, 5_000)
        state = Mutex(Connection(handle: handle))
        try execute("PRAGMA journal_mode=WAL")
        try execute("PRAGMA synchronous=NORMAL")
        try execute("PRAGMA foreign_keys=ON")
    }

    /// Runs SQL that returns no rows (one or more statements, no parameters).
    public func execute(_ sql: String) throws(SQLiteError) {
        try state.withLock { connection throws(SQLiteError) in
            var error: UnsafeMutablePointer<CChar>?
            let result = sqlite3_exec(connection.handle, sql, nil, nil, &error)
            if result != SQLITE_OK {
                let message = error.map { String(cString: $0) } ?? "error"
                sqlite3_free(error)
                throw SQLiteError(code: result, message: message, sql: sql)
            }
        }
    }

    /// Runs one statement with `parameters`; returns every row.
    @discardableResult
    public func query(_ sql: String, _ parameters: [SQLiteValue] = []) throws(SQLiteError) -> [[SQLiteValue]] {
        try state.withLock { connection throws(SQLiteError) in
            let statement = try Self.statement(sql, connection)
            defer { statement.reset() }
            try statement.bind(parameters)
            var rows: [[SQLiteValue]] = []
            while try statement.step() { rows.append(statement.row()) }
            return rows
        }
    }

    /// The first row of a query, if any.
    public func first(_ sql: String, _ parameters: [SQLiteValue] = []) throws(SQLiteError) -> [SQLiteValue]? {
        try query(sql, parameters).first
    }

    /// Runs `body` inside one transaction: all of it is stored, or none of it when it throws.
    public func transaction<R>(_ body: () throws(SQLiteError) -> R) throws(SQLiteError) -> R {
        try execute("BEGIN IMMEDIATE")
        do {
            let result = try body()
            try execute("COMMIT")
            return result
        } catch {
            try? execute("ROLLBACK")
            throw error
        }
    }

    private static func statement(_ sql: String, _ connection: Connection) throws(SQLiteError) -> Statement {
        if let cached = connection.statements[sql] { return cached }
        var handle: OpaquePointer?
        let result = sqlite3_prepare_v2(connection.handle, sql, -1, &handle, nil)
        guard result == SQLITE_OK, let handle else {
            throw SQLiteError(code: result, message: String(cString: sqlite3_errmsg(connection.handle)), sql: sql)
        }
        let statement = Statement(handle: handle, database: connection.handle, sql: sql)
        connection.statements[sql] = statement
        return statement
    }
}

/// A prepared statement, finalized when released.
final class Statement {
    let handle: OpaquePointer
    let database: OpaquePointer
    let sql: String

    init(handle: OpaquePointer, database: OpaquePointer, sql: String) {
        self.handle = handle
        self.database = database
        self.sql = sql
    }

    deinit { sqlite3_finalize(handle) }

    func bind(_ values: [SQLiteValue]) throws(SQLiteError) {
        for (offset, value) in values.enumerated() {
            let index = Int32(offset + 1)
            let result: Int32
            switch value {
            case .integer(let number): result = sqlite3_bind_int64(handle, index, number)
            case .blob(let bytes):
                result = bytes.withUnsafeBytes {
                    sqlite3_bind_blob(
                        handle, index, $0.baseAddress ?? UnsafeRawPointer(bitPattern: 1), Int32($0.count),
                        CSQLite_transient())
                }
            case .text(let text): result = sqlite3_bind_text(handle, index, text, -1, CSQLite_transient())
            case .null: result = sqlite3_bind_null(handle, index)
            }
            guard result == SQLITE_OK else { throw error(result) }
        }
    }

    /// Advances; true when a row is available.
    func step() throws(SQLiteError) -> Bool {
        let result = sqlite3_step(handle)
        switch result {
        case SQLITE_ROW: return true
        case SQLITE_DONE: return false
        default: throw error(result)
        }
    }

    func row() -> [SQLiteValue] {
        (0..<sqlite3_column_count(handle)).map { column in
            switch sqlite3_column_type(handle, column) {
            case SQLITE_INTEGER: return .integer(sqlite3_column_int64(handle, column))
            case SQLITE_NULL: return .null
            case SQLITE_TEXT: return .text(String(cString: sqlite3_column_text(handle, column)))
            default:
                let count = Int(sqlite3_column_bytes(handle, column))
                guard count > 0, let pointer = sqlite3_column_blob(handle, column) else { return .blob([]) }
                return .blob(Array(UnsafeRawBufferPointer(start: pointer, count: count)))
            }
        }
    }

    func reset() {
        sqlite3_reset(handle)
        sqlite3_clear_bindings(handle)
    }

    private func error(_ code: Int32) -> SQLiteError {
        SQLiteError(code: code, message: String(cString: sqlite3_errmsg(database)), sql: sql)
    }
}
