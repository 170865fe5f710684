import Codec
import SQLite

/// Why the light client refused an answer.
///
/// Verification failures name what failed, so a lying server is reported precisely, never believed.
public enum LightClientError: Error, Equatable, Sendable, CustomStringConvertible {
    /// The server could not be reached or the connection broke.
    case transport(String)
    /// The response is not a well-formed JSON-RPC answer of the expected shape.
    case malformedResponse(String)
    /// The server answered with a JSON-RPC error.
    case rpc(code: Int, message: String)
    /// The answer contradicts what the client can verify: a signature, a chain id, a proof, a root.
    case verificationFailed(String)
    /// The local header store failed (a disk or database error, not the server's fault).
    case storage(SQLiteError)
    /// A transaction was not in a block the client could verify before the deadline.
    case notIncluded(transaction: [UInt8], timeoutSeconds: Double)

    /// The error as a person reads it.
    public var description: String {
        switch self {
        case .transport(let why): "RPC transport failed: \(why)"
        case .malformedResponse(let why): "malformed RPC response: \(why)"
        case .rpc(let code, let message): "RPC error \(code): \(message)"
        case .verificationFailed(let why): "verification failed: \(why)"
        case .storage(let error): "header store: \(error)"
        case .notIncluded(let transaction, let timeout):
            // The "RPC transport failed: " prefix is historical, not a claim about the cause: this was once reported as
            // `.transport(…)`, and the typed case keeps the exact text users and scripts already see.
            "RPC transport failed: transaction \(Hex.encode(transaction)) not included within \(timeout) s"
        }
    }
}
