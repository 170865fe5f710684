import Codec
import Glibc
import SQLite

/// Everything that can go wrong in the content store, with the block, path or limit concerned.
public enum ContentError: Error, Equatable, Sendable, CustomStringConvertible {
    /// A block refused: it does not hash to its CID, is too large, or is not a well-formed node of its codec.
    case invalidBlock(cid: String, reason: CodecError)
    /// A block the store does not hold.
    case missingBlock(cid: String)
    /// A block whose file no longer verifies; it has been removed from the store and must be fetched again.
    case corruptBlock(cid: String)
    /// A DAG that is not a UnixFS file, or whose blocks contradict each other.
    case invalidFile(root: String, reason: CodecError)
    /// The new blocks do not fit under the quota even after every unpinned block is collected.
    case quotaExceeded(needed: UInt64, quota: UInt64)
    /// Another process has the store open.
    case storeInUse(path: String)
    /// A file or directory operation failed.
    case io(path: String, operation: String, errno: Int32)
    /// The index refused a statement.
    case index(SQLiteError)

    /// The failure as a user reads it.
    public var description: String {
        switch self {
        case .invalidBlock(let cid, let reason): "block \(cid) refused: \(reason)"
        case .missingBlock(let cid): "block \(cid) is not in the store"
        case .corruptBlock(let cid): "block \(cid) failed verification and was removed from the store"
        case .invalidFile(let root, let reason): "\(root) is not a readable UnixFS file: \(reason)"
        case .quotaExceeded(let needed, let quota):
            "\(needed) more bytes do not fit in the quota of \(quota) bytes, even after collecting unpinned blocks"
        case .storeInUse(let path): "the content store \(path) is open in another process"
        case .io(let path, let operation, let code): "cannot \(operation) \(path): \(ContentError.reason(code))"
        case .index(let error): "content index: \(error)"
        }
    }

    static func reason(_ code: Int32) -> String { String(cString: strerror(code)) }
}
