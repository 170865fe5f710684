import Foundation
import HTTP

/// JSON-RPC 2.0 over HTTP: single and batch requests, notifications, and error objects for anything a client can get
/// wrong.
///
/// Methods are plain functions from parameters to a JSON value.
public struct JSONRPCServer: Sendable {
    /// A method: positional parameters in, a JSON-serializable value or an error object out.
    public typealias Method = @Sendable ([Any]) throws(RPCError) -> Any

    /// The methods served, by name.
    public let methods: [String: Method]
    /// The most requests one batch may carry.
    public let maxBatch: Int

    /// A server of `methods`, accepting batches of at most `maxBatch` requests.
    public init(methods: [String: Method], maxBatch: Int = 1_000) {
        self.methods = methods
        self.maxBatch = maxBatch
    }

    /// Answers an HTTP request: POST with a JSON body.
    public func handle(_ request: HTTPRequest) -> HTTPResponse {
        guard request.method == "POST" else {
            if request.method == "GET" && request.target == "/health" { return .text(200, "ok") }
            return .text(405, "JSON-RPC requests are POSTed")
        }
        let body = respond(to: request.body)
        guard let body else { return HTTPResponse(status: 200) }
        return HTTPResponse(status: 200, headers: [("Content-Type", "application/json")], body: body)
    }

    /// The response body for a request body, or nil when it held only notifications.
    public func respond(to body: [UInt8]) -> [UInt8]? {
        guard let parsed = try? JSONSerialization.jsonObject(with: Data(body), options: [.fragmentsAllowed]) else {
            return Self.encode(Self.errorObject(id: NSNull(), .invalidJSON))
        }
        if let batch = parsed as? [Any] {
            guard !batch.isEmpty else {
                return Self.encode(Self.errorObject(id: NSNull(), .invalidRequest("empty batch")))
            }
            guard batch.count <= maxBatch else {
                return Self.encode(
                    Self.errorObject(id: NSNull(), .invalidRequest("batch of more than \(maxBatch) requests")))
            }
            let responses = batch.compactMap(call)
            return responses.isEmpty ? nil : Self.encode(responses)
        }
        guard let response = call(parsed) else { return nil }
        return Self.encode(response)
    }

    private func call(_ request: Any) -> [String: Any]? {
        guard let object = request as? [String: Any] else {
            return Self.errorObject(id: NSNull(), .invalidRequest("a request is a JSON object"))
        }
        let id = object["id"]
        let isNotification = id == nil
        if let id, !(id is String || id is NSNumber || id is NSNull) {
            return Self.errorObject(id: NSNull(), .invalidRequest("id must be a string, number or null"))
        }
        guard object["jsonrpc"] as? String == "2.0" else {
            return Self.errorObject(id: id ?? NSNull(), .invalidRequest("jsonrpc must be \"2.0\""))
        }
        guard let name = object["method"] as? String else {
            return Self.errorObject(id: id ?? NSNull(), .invalidRequest("method must be a string"))
        }
        var parameters: [Any] = []
        switch object["params"] {
        case nil, is NSNull: break
        case let list as [Any]: parameters = list
        default: return Self.errorObject(id: id ?? NSNull(), .invalidParams("params must be an array"))
        }
        guard let method = methods[name] else {
            return isNotification ? nil : Self.errorObject(id: id!, .methodNotFound(name))
        }
        do {
            let result = try method(parameters)
            return isNotification ? nil : ["jsonrpc": "2.0", "id": id!, "result": result]
        } catch {
            return isNotification ? nil : Self.errorObject(id: id!, error)
        }
    }

    static func errorObject(id: Any, _ error: RPCError) -> [String: Any] {
        ["jsonrpc": "2.0", "id": id, "error": ["code": error.code, "message": error.message]]
    }

    static func encode(_ value: Any) -> [UInt8] {
        let data =
            (try? JSONSerialization.data(withJSONObject: value, options: [.fragmentsAllowed, .withoutEscapingSlashes]))
            ?? Data()
        return Array(data)
    }
}
