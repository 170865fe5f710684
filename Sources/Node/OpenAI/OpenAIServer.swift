import HTTP

/// The OpenAI-compatible API on a port: an HTTP server whose limits suit completion requests (bodies up to 1 MiB,
/// 30 seconds to send a request), answering through `OpenAIAPI`.
public final class OpenAIServer: Sendable {
    /// The API answering the requests.
    public let api: OpenAIAPI
    /// The address listened on.
    public let host: String
    /// The port listened on (the one picked when started on port 0).
    public var port: Int { server.port }
    private let server: HTTPServer

    /// The HTTP limits `serve` has always used.
    public static var defaultLimits: HTTPLimits {
        var limits = HTTPLimits()
        limits.maxBodyBytes = 1 << 20
        limits.requestTimeout = 30
        return limits
    }

    /// Binds `host:port` and starts answering with `api`.
    public init(api: OpenAIAPI, host: String, port: Int, limits: HTTPLimits = OpenAIServer.defaultLimits)
        throws(HTTPServer.StartError)
    {
        self.api = api
        self.host = host
        server = try HTTPServer(host: host, port: port, limits: limits, replying: api.handle)
    }

    /// The API's base URL, e.g. `http://127.0.0.1:8080/v1`.
    public var baseURL: String { "http://\(host):\(port)/v1" }

    /// Stops accepting, closes every connection; returns when the server's loop has ended.
    public func stop() { server.stop() }
}
