import Foundation
import HTTP
import Synchronization

/// A JSON-RPC proxy in front of a real devnet that rewrites responses: the lying server of the tests.
final class TamperingProxy: Sendable {
    /// Rewrites the decoded response of `method` (return it unchanged to pass it through), or replaces the raw
    /// body altogether.
    enum Tamper: Sendable {
        case none
        case json(@Sendable (_ method: String, _ response: inout [String: Any]) -> Void)
        case raw(@Sendable (_ method: String, _ body: [UInt8]) -> [UInt8])
    }

    private let server: HTTPServer
    private let modeBox: ModeBox
    var port: Int { server.port }

    init(upstreamPort: Int) throws {
        let box = ModeBox()
        modeBox = box
        server = try HTTPServer(port: 0) { request in
            let upstream = HTTPClient(host: "127.0.0.1", port: upstreamPort)
            guard let response = try? upstream.post(body: request.body) else { return .text(502, "upstream down") }
            let method =
                ((try? JSONSerialization.jsonObject(with: Data(request.body))) as? [String: Any])?["method"] as? String
                ?? ""
            switch box.current() {
            case .none:
                return HTTPResponse(status: response.status, body: response.body)
            case .raw(let rewrite):
                return HTTPResponse(status: response.status, body: rewrite(method, response.body))
            case .json(let rewrite):
                guard var object = (try? JSONSerialization.jsonObject(with: Data(response.body))) as? [String: Any]
                else {
                    return HTTPResponse(status: response.status, body: response.body)
                }
                rewrite(method, &object)
                let data = (try? JSONSerialization.data(withJSONObject: object)) ?? Data()
                return HTTPResponse(status: 200, body: Array(data))
            }
        }
    }

    final class ModeBox: Sendable {
        let mode = Mutex<Tamper>(.none)
        func current() -> Tamper { mode.withLock { $0 } }
    }

    func set(_ tamper: Tamper) { modeBox.mode.withLock { $0 = tamper } }

    func stop() { server.stop() }
}
