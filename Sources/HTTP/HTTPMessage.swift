/// An HTTP/1.1 request as the server hands it to its handler.
public struct HTTPRequest: Sendable {
    /// The request method, such as `POST`, as sent.
    public var method: String
    /// The request target: the path and query, as sent.
    public var target: String
    /// The header fields in the order received.
    public var headers: [(name: String, value: String)]
    /// The body, empty when the request has none.
    public var body: [UInt8]

    /// The first value of header `name` (case-insensitive).
    public func header(_ name: String) -> String? {
        headers.first { $0.name.lowercased() == name.lowercased() }?.value
    }
}

/// An HTTP response.
public struct HTTPResponse: Sendable {
    /// The status code.
    public var status: Int
    /// The header fields to send; `Content-Length` and `Connection` are added by the server.
    public var headers: [(name: String, value: String)]
    /// The body.
    public var body: [UInt8]

    /// A response with `status`, `headers` and `body`.
    public init(status: Int, headers: [(name: String, value: String)] = [], body: [UInt8] = []) {
        self.status = status
        self.headers = headers
        self.body = body
    }

    /// A plain-text response, for errors the server itself reports.
    public static func text(_ status: Int, _ message: String) -> HTTPResponse {
        HTTPResponse(
            status: status, headers: [("Content-Type", "text/plain; charset=utf-8")], body: Array((message + "\n").utf8)
        )
    }

    static func reason(_ status: Int) -> String {
        switch status {
        case 200: "OK"
        case 204: "No Content"
        case 400: "Bad Request"
        case 404: "Not Found"
        case 405: "Method Not Allowed"
        case 408: "Request Timeout"
        case 411: "Length Required"
        case 413: "Payload Too Large"
        case 415: "Unsupported Media Type"
        case 431: "Request Header Fields Too Large"
        case 500: "Internal Server Error"
        case 501: "Not Implemented"
        case 503: "Service Unavailable"
        case 505: "HTTP Version Not Supported"
        default: "Status"
        }
    }

    /// The bytes on the wire.
    func serialized(keepAlive: Bool) -> [UInt8] {
        var head = "HTTP/1.1 \(status) \(Self.reason(status))\r\n"
        for (name, value) in headers { head += "\(name): \(value)\r\n" }
        head += "Content-Length: \(body.count)\r\n"
        head += keepAlive ? "Connection: keep-alive\r\n\r\n" : "Connection: close\r\n\r\n"
        return Array(head.utf8) + body
    }
}

/// Limits that bound what one client can make the server hold.
public struct HTTPLimits: Sendable {
    /// The most bytes the request line and headers may take (beyond: 431).
    public var maxHeaderBytes = 16 * 1024
    /// The largest request body accepted (beyond: 413).
    public var maxBodyBytes = 5 * 1024 * 1024
    /// The most connections open at once; one past it is answered 503 and closed.
    public var maxConnections = 1024
    /// A request must arrive whole within this many seconds of its first byte.
    public var requestTimeout: Double = 10
    /// A keep-alive connection with nothing to do is closed after this many seconds.
    public var idleTimeout: Double = 60
    /// Reading from a client pauses while this much response data waits to be sent to it.
    public var maxPendingOutput = 4 * 1024 * 1024

    /// Limits with every field at its default.
    public init() {}
}

/// Incremental HTTP/1.1 request parsing over a connection's buffer.
enum HTTPParser {
    enum Outcome {
        case request(HTTPRequest, consumed: Int, keepAlive: Bool)
        case needMore
        case reject(HTTPResponse)
    }

    static func parse(_ buffer: [UInt8], limits: HTTPLimits) -> Outcome {
        guard let headerEnd = find(buffer, limit: limits.maxHeaderBytes) else {
            return buffer.count > limits.maxHeaderBytes ? .reject(.text(431, "request header too large")) : .needMore
        }
        guard let head = String(validating: buffer[..<headerEnd], as: UTF8.self) else {
            return .reject(.text(400, "request header is not UTF-8"))
        }
        var lines = head.split(separator: "\r\n", omittingEmptySubsequences: false)
        let requestLine = lines.removeFirst().split(separator: " ", omittingEmptySubsequences: false)
        guard requestLine.count == 3, !requestLine[0].isEmpty, !requestLine[1].isEmpty else {
            return .reject(.text(400, "malformed request line"))
        }
        let version = requestLine[2]
        guard version == "HTTP/1.1" || version == "HTTP/1.0" else {
            return .reject(.text(505, "only HTTP/1.0 and HTTP/1.1 are supported"))
        }
        var headers: [(name: String, value: String)] = []
        for line in lines {
            guard let colon = line.firstIndex(of: ":"), colon != line.startIndex else {
                return .reject(.text(400, "malformed header line"))
            }
            let name = String(line[..<colon])
            guard !name.contains(" ") else { return .reject(.text(400, "malformed header name")) }
            headers.append((name, line[line.index(after: colon)...].trimmingCharacters()))
        }
        let request = HTTPRequest(
            method: String(requestLine[0]), target: String(requestLine[1]), headers: headers, body: [])
        if request.header("Transfer-Encoding") != nil {
            return .reject(.text(501, "chunked request bodies are not supported; send Content-Length"))
        }
        var length = 0
        if let value = request.header("Content-Length") {
            guard let parsed = Int(value), parsed >= 0 else { return .reject(.text(400, "bad Content-Length")) }
            guard parsed <= limits.maxBodyBytes else {
                return .reject(.text(413, "request body over \(limits.maxBodyBytes) bytes"))
            }
            length = parsed
        } else if request.method == "POST" || request.method == "PUT" {
            return .reject(.text(411, "Content-Length required"))
        }
        let bodyStart = headerEnd + 4
        guard buffer.count - bodyStart >= length else { return .needMore }
        var complete = request
        complete.body = Array(buffer[bodyStart..<bodyStart + length])
        let connection = request.header("Connection")?.lowercased()
        let keepAlive = version == "HTTP/1.1" ? connection != "close" : connection == "keep-alive"
        return .request(complete, consumed: bodyStart + length, keepAlive: keepAlive)
    }

    /// The index of "\r\n\r\n" within the first `limit` bytes.
    private static func find(_ buffer: [UInt8], limit: Int) -> Int? {
        let end = min(buffer.count, limit + 4)
        guard end >= 4 else { return nil }
        for index in 0...(end - 4)
        where buffer[index] == 13 && buffer[index + 1] == 10 && buffer[index + 2] == 13 && buffer[index + 3] == 10 {
            return index
        }
        return nil
    }
}

extension Substring {
    fileprivate func trimmingCharacters() -> String {
        var text = self
        while let first = text.first, first == " " || first == "\t" { text = text.dropFirst() }
        while let last = text.last, last == " " || last == "\t" { text = text.dropLast() }
        return String(text)
    }
}
