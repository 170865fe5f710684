import HTTP
import Synchronization

/// The OpenAI-compatible API on a port, as a node service: an HTTP server whose limits suit completion requests
/// (bodies up to 1 MiB, 30 seconds to send a request), answering through `OpenAIAPI`.
public final class OpenAIServer: Service {
    /// "openai-api".
    public let name = "openai-api"
    /// The API answering the requests.
    public let api: OpenAIAPI
    /// The address to listen on.
    public let host: String
    private let requestedPort: Int
    private let limits: HTTPLimits
    private let server = Mutex<HTTPServer?>(nil)

    /// The HTTP limits `serve` has always used.
    public static var defaultLimits: HTTPLimits {
        var limits = HTTPLimits()
        limits.maxBodyBytes = 1 << 20
        limits.requestTimeout = 30
        return limits
    }

    /// A server for `api` that will listen on `host:port` (port 0 picks one) once started.
    public init(api: OpenAIAPI, host: String, port: Int, limits: HTTPLimits = OpenAIServer.defaultLimits) {
        self.api = api
        self.host = host
        requestedPort = port
        self.limits = limits
    }

    /// The port listened on once started (the one picked when asked for port 0), else the one asked for.
    public var port: Int { server.withLock { $0?.port } ?? requestedPort }

    /// The API's base URL, such as `http://127.0.0.1:8080/v1`.
    public var baseURL: String { "http://\(host):\(port)/v1" }

    /// Binds the port and starts answering.
    public func start() throws(NodeError) {
        do {
            let started = try HTTPServer(host: host, port: requestedPort, limits: limits, replying: api.handle)
            server.withLock { $0 = started }
        } catch {
            throw .serviceFailed(service: name, reason: error)
        }
    }

    /// Stops accepting, closes every connection; returns when the server's loop has ended.
    public func stop() {
        server.withLock { $0 }?.stop()
    }
}
