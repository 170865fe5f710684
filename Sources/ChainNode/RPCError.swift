/// A JSON-RPC error object, with geth's codes and messages where geth has them.
public struct RPCError: Error, Equatable, Sendable, CustomStringConvertible {
    /// The JSON-RPC error code.
    public var code: Int
    /// The error message a client sees.
    public var message: String

    /// An error object with `code` and `message`.
    public init(code: Int, message: String) {
        self.code = code
        self.message = message
    }

    /// The message followed by the code in parentheses.
    public var description: String { "\(message) (\(code))" }

    /// The request body is not JSON (-32700, "parse error").
    public static let invalidJSON = RPCError(code: -32700, message: "parse error")
    /// The JSON is not a valid request object (-32600).
    public static func invalidRequest(_ why: String) -> RPCError {
        RPCError(code: -32600, message: "invalid request: \(why)")
    }
    /// No method of that name is served (-32601), worded as geth words it.
    public static func methodNotFound(_ method: String) -> RPCError {
        RPCError(code: -32601, message: "the method \(method) does not exist/is not available")
    }
    /// The method's parameters are wrong (-32602), worded as geth words it.
    public static func invalidParams(_ why: String) -> RPCError {
        RPCError(code: -32602, message: "invalid argument: \(why)")
    }
    /// The server failed for a reason that is not the client's fault (-32603).
    public static func internalError(_ why: String) -> RPCError { RPCError(code: -32603, message: why) }
    /// geth's generic server error, used for transaction rejections ("nonce too low", …).
    public static func server(_ message: String) -> RPCError { RPCError(code: -32000, message: message) }
    /// eth_call / eth_estimateGas of a reverting call.
    public static func reverted(_ reason: String) -> RPCError {
        RPCError(code: 3, message: "execution reverted: \(reason)")
    }
}
