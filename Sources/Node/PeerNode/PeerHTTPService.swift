import Dispatch
import HTTP
import Synchronization

/// The peer's HTTP port, as a service: GET `/metrics` (Prometheus text) and GET `/status` (JSON) on every role, and
/// the OpenAI API of an inferencer on the same port.
public final class PeerHTTPService: Service {
    /// "http".
    public let name = "http"
    /// The address to listen on.
    public let host: String
    private let requestedPort: Int
    private let api: OpenAIAPI?
    private let metrics: @Sendable () -> NodeMetrics
    private let server = Mutex<HTTPServer?>(nil)

    /// A port on `host:port` (0 picks one) answering the figures `metrics` reads, and `api` when given.
    public init(host: String, port: Int, api: OpenAIAPI?, metrics: @escaping @Sendable () -> NodeMetrics) {
        self.host = host
        requestedPort = port
        self.api = api
        self.metrics = metrics
    }

    /// The port listened on once started, else the one asked for.
    public var port: Int { server.withLock { $0?.port } ?? requestedPort }

    /// `http://HOST:PORT`.
    public var baseURL: String { "http://\(host):\(port)" }

    /// Binds the port and starts answering.
    public func start() throws(NodeError) {
        let api = api
        let read = metrics
        do {
            // The figures carry this server's own address (weak: the server holds the handler).
            let started = try HTTPServer(host: host, port: requestedPort, limits: OpenAIServer.defaultLimits) {
                [weak self] request in
                let address = self?.baseURL ?? ""
                return Self.reply(
                    request, api: api,
                    metrics: {
                        var metrics = read()
                        metrics.api = address
                        return metrics
                    })
            }
            server.withLock { $0 = started }
        } catch {
            throw .serviceFailed(service: name, reason: error)
        }
    }

    /// Stops accepting, closes every connection; returns when the server's loop has ended.
    public func stop() { server.withLock { $0 }?.stop() }

    /// Routes one request: the figures are read off the loop thread (the store's index is a query), the rest goes
    /// to the API, or is a 404.
    static func reply(_ request: HTTPRequest, api: OpenAIAPI?, metrics: @escaping @Sendable () -> NodeMetrics)
        -> HTTPReply
    {
        let path = request.target.split(separator: "?").first.map(String.init) ?? request.target
        switch (request.method, path) {
        case ("GET", "/metrics"):
            return .deferred { writer in
                DispatchQueue.global().async {
                    writer.respond(
                        HTTPResponse(
                            status: 200, headers: [("Content-Type", PrometheusText.contentType)],
                            body: Array(metrics().prometheusText.utf8)))
                }
            }
        case ("GET", "/status"):
            return .deferred { writer in
                DispatchQueue.global().async {
                    writer.respond(
                        HTTPResponse(
                            status: 200, headers: [("Content-Type", "application/json")],
                            body: NodeStatus.json(metrics())))
                }
            }
        case (_, "/metrics"), (_, "/status"):
            return .response(.text(405, "method \(request.method) not allowed on \(path)"))
        default:
            if let api { return api.handle(request) }
            return .response(.text(404, "no route \(request.method) \(path)"))
        }
    }
}
