import Chain
import Codec
import Crypto
import Dispatch
import Foundation
import HTTP
import Runtime
import Synchronization

/// A local OpenAI-compatible endpoint that pays a remote serving peer.
///
/// Each completion request gets a voucher from the user's key and channel (`PayingClient`), is forwarded, and its
/// answer — whole or streamed — comes back as the peer sent it, receipt included. A stock OpenAI client pointed at it
/// pays unchanged. Each forwarded body gains an `openledger_nonce` field, so that a client repeating a request word
/// for word still sends a new request hash (a peer serves a paid request hash once).
public final class PayProxy: Service {
    /// "pay-proxy".
    public let name = "pay-proxy"
    private let client: PayingClient
    private let host: String
    private let requestedPort: Int
    private let logger: Logger
    private let server = Mutex<HTTPServer?>(nil)
    private let offers = Mutex<[PayingClient.Offer]?>(nil)
    private let counter = Atomic<UInt64>(0)

    /// A proxy paying through `client`, listening on `host:port` once started (port 0 picks one).
    public init(client: PayingClient, host: String, port: Int, logger: Logger) {
        self.client = client
        self.host = host
        requestedPort = port
        self.logger = logger
    }

    /// The port listened on once started.
    public var port: Int { server.withLock { $0?.port } ?? requestedPort }

    /// Binds the port and starts forwarding.
    public func start() throws(NodeError) {
        do {
            var limits = HTTPLimits()
            limits.maxBodyBytes = 1 << 20
            limits.requestTimeout = 30
            let started = try HTTPServer(host: host, port: requestedPort, limits: limits) { [self] request in
                .deferred { writer in DispatchQueue.global().async { self.forward(request, writer) } }
            }
            server.withLock { $0 = started }
        } catch {
            throw .serviceFailed(service: name, reason: error)
        }
    }

    /// Stops accepting and closes every connection.
    public func stop() {
        server.withLock { $0 }?.stop()
    }

    private func forward(_ request: HTTPRequest, _ writer: HTTPStreamWriter) {
        let path = request.target.split(separator: "?").first.map(String.init) ?? request.target
        switch (request.method, path) {
        case ("GET", "/v1/models"):
            do {
                let response = try client.connection(timeoutSeconds: 30).send(method: "GET", path: "/v1/models")
                writer.respond(
                    HTTPResponse(
                        status: response.status, headers: [("Content-Type", "application/json")], body: response.body))
            } catch {
                writer.respond(Self.error(502, "the serving peer: \(error)"))
            }
        case ("POST", "/v1/chat/completions"), ("POST", "/v1/completions"):
            pay(path: path, request: request, writer: writer)
        default:
            writer.respond(Self.error(404, "no route \(request.method) \(path)"))
        }
    }

    private func pay(path: String, request: HTTPRequest, writer: HTTPStreamWriter) {
        guard var object = (try? JSONSerialization.jsonObject(with: Data(request.body))) as? [String: Any] else {
            writer.respond(Self.error(400, "the body must be a JSON object"))
            return
        }
        let number = counter.add(1, ordering: .relaxed).newValue
        object["openledger_nonce"] = Hex.encode(Keccak256.hash(SecureRandom.bytes(16) + Array(String(number).utf8)))
        let body = Array((try? JSONSerialization.data(withJSONObject: object, options: [.sortedKeys])) ?? Data())
        do throws(PayingClient.Failure) {
            let known = try offers.withLock { cached throws(PayingClient.Failure) -> [PayingClient.Offer] in
                if let cached { return cached }
                let fetched = try client.offers()
                cached = fetched
                return fetched
            }
            let model = object["model"] as? String
            guard let offer = PayingClient.Offer.choose(model, in: known) ?? known.first else {
                throw .endpoint("the peer offers no paid model")
            }
            let channel = try client.channel(to: offer.payee, chainId: offer.chainId)
            var attempt = 0
            while true {
                attempt += 1
                let (payment, free) = try client.pay(path: path, body: body, channel: channel)
                guard let payment else {
                    if let free {
                        writer.respond(
                            HTTPResponse(
                                status: free.status, headers: [("Content-Type", "application/json")], body: free.body))
                    }
                    return
                }
                var refused: (Int, [UInt8])?
                do {
                    try client.connection().stream(
                        method: "POST", path: path,
                        headers: [
                            ("Content-Type", "application/json"),
                            (SignedVoucher.headerName, payment.voucher.headerValue),
                        ], body: body,
                        onHead: { status, headers in
                            if status == 402 && attempt == 1 {
                                refused = (status, [])
                                return
                            }
                            let kept = headers.filter {
                                ["content-type", "cache-control", SignedReceipt.headerName.lowercased()].contains(
                                    $0.name.lowercased())
                            }
                            writer.start(status: status, headers: kept)
                        },
                        onData: { bytes in
                            if refused != nil {
                                refused?.1 += bytes
                                return true
                            }
                            return writer.write(bytes)
                        })
                } catch {
                    throw .endpoint("\(error)")
                }
                if let refused {
                    // The channel's account moved between the quote and the voucher (another request raced): once more.
                    logger.debug(
                        "voucher refused, asking a new quote", ["reason": PayingClient.refusal(refused.1).message])
                    continue
                }
                writer.finish()
                return
            }
        } catch {
            logger.warning("payment failed", ["error": error.description])
            writer.respond(Self.error(502, "paying the serving peer: \(error.description)"))
        }
    }

    private static func error(_ status: Int, _ message: String) -> HTTPResponse {
        let object: [String: Any] = [
            "error": ["message": message, "type": status >= 500 ? "server_error" : "invalid_request_error"]
        ]
        return HTTPResponse(
            status: status, headers: [("Content-Type", "application/json")],
            body: Array((try? JSONSerialization.data(withJSONObject: object, options: [.sortedKeys])) ?? Data()))
    }
}
