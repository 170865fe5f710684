import Foundation
import HTTP
import Synchronization

/// A JSON-RPC 2.0 client over one keep-alive HTTP connection.
///
/// It returns what the server said and nothing more; deciding whether to believe it is the light client's job.
public final class RPCClient: Sendable {
    private let http: Mutex<HTTPClient>
    private let nextID = Atomic<Int>(1)

    /// A client for `url` (http://host:port).
    public init(url: String) throws(LightClientError) {
        do {
            http = Mutex(try HTTPClient(url: url))
        } catch {
            throw .transport("\(error)")
        }
    }

    /// Calls `method` and returns its `result` (NSNull for null).
    public func call(_ method: String, _ params: [Any] = []) throws(LightClientError) -> Any {
        let id = nextID.add(1, ordering: .relaxed).newValue
        let request: [String: Any] = ["jsonrpc": "2.0", "id": id, "method": method, "params": params]
        guard let body = try? JSONSerialization.data(withJSONObject: request) else {
            throw .malformedResponse("cannot encode request")
        }
        let response: (status: Int, body: [UInt8])
        do {
            response = try http.withLock { client in try client.post(body: Array(body)) }
        } catch {
            throw .transport("\(error)")
        }
        guard response.status == 200 else { throw .transport("HTTP status \(response.status)") }
        guard let object = try? JSONSerialization.jsonObject(with: Data(response.body)) as? [String: Any] else {
            throw .malformedResponse("\(method): not a JSON object (\(response.body.count) bytes)")
        }
        if let error = object["error"] as? [String: Any] {
            throw .rpc(code: (error["code"] as? Int) ?? 0, message: (error["message"] as? String) ?? "")
        }
        guard object["jsonrpc"] as? String == "2.0", (object["id"] as? Int) == id else {
            throw .malformedResponse("\(method): wrong jsonrpc version or id")
        }
        guard let result = object["result"] else { throw .malformedResponse("\(method): no result") }
        return result
    }
}
