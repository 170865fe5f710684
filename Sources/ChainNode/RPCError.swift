/// A JSON-RPC error object, with geth's codes and messages where geth has them.
public struct RPCError: Error, Equatable, Sendable, CustomStringConvertible {
    public var code: Int
    public var message: String

    public init(code: Int, message: String) {
        self.code = code
        self.message = message
    }

    public var description: String { "\(message) (\(code))" }

    public static let parseError = RPCError(code: -32700, message: "parse error")
    public static func invalidRequest(_ why: String) -> RPCError {
        RPCError(code: -32600, message: "invalid request: \(why)")
    }
    public static func methodNotFound(_ method: String) -> RPCError {
        RPCError(code: -32601, message: "the method \(method) does not exist/is not available")
    }
    public static func invalidParams(_ why: String) -> RPCError {
        RPCError(code: -32602, message: "invalid argument: \(why)")
    }
    public static func internalError(_ why: String) -> RPCError { RPCError(code: -32603, message: why) }
    /// geth's generic server error, used for transaction rejections ("nonce too low", …).
    public static func server(_ message: String) -> RPCError { RPCError(code: -32000, message: message) }
    /// eth_call / eth_estimateGas of a reverting call.
    public static func reverted(_ reason: String) -> RPCError {
        RPCError(code: 3, message: "execution reverted: \(reason)")
    }
}
