/// Why the light client refused an answer. Verification failures name what failed, so a lying server is
/// reported precisely, never believed.
public enum LightClientError: Error, Equatable, Sendable, CustomStringConvertible {
    /// The server could not be reached or the connection broke.
    case transport(String)
    /// The response is not a well-formed JSON-RPC answer of the expected shape.
    case malformedResponse(String)
    /// The server answered with a JSON-RPC error.
    case rpc(code: Int, message: String)
    /// The answer contradicts what the client can verify: a signature, a chain id, a proof, a root.
    case verificationFailed(String)

    public var description: String {
        switch self {
        case .transport(let why): "RPC transport failed: \(why)"
        case .malformedResponse(let why): "malformed RPC response: \(why)"
        case .rpc(let code, let message): "RPC error \(code): \(message)"
        case .verificationFailed(let why): "verification failed: \(why)"
        }
    }
}
