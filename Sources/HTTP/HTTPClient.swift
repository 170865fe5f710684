import EventLoop
import Foundation

#if canImport(Glibc)
    import Glibc
#endif

/// A blocking HTTP/1.1 client on one keep-alive connection to an IPv4 address, with bounded responses and a receive
/// timeout.
///
/// Enough for JSON-RPC; not a general web client.
public final class HTTPClient {
    /// Why a request failed.
    public enum ClientError: Error, CustomStringConvertible {
        /// The connection could not be made.
        case connect(String)
        /// Sending or receiving failed (or timed out).
        case io(String)
        /// The server answered something that is not HTTP/1.1.
        case malformedResponse(String)
        /// The response exceeded the byte limit.
        case tooLarge(Int)

        /// The failure for a person.
        public var description: String {
            switch self {
            case .connect(let why): "cannot connect: \(why)"
            case .io(let why): "connection failed: \(why)"
            case .malformedResponse(let why): "malformed HTTP response: \(why)"
            case .tooLarge(let size): "response larger than \(size) bytes"
            }
        }
    }

    /// The server's IPv4 address.
    public let host: String
    /// The server's port.
    public let port: Int
    /// The largest response body accepted.
    public let maxResponseBytes: Int
    /// Seconds a receive may wait.
    public let timeoutSeconds: Int
    private var fd: Int32 = -1
    private var buffer: [UInt8] = []
    private var receivedAny = false

    /// A client of `host:port` (`localhost` means 127.0.0.1); it connects on the first request.
    public init(host: String, port: Int, maxResponseBytes: Int = 64 * 1024 * 1024, timeoutSeconds: Int = 30) {
        self.host = host == "localhost" ? "127.0.0.1" : host
        self.port = port
        self.maxResponseBytes = maxResponseBytes
        self.timeoutSeconds = timeoutSeconds
    }

    /// A client for an `http://host:port` URL.
    public convenience init(url: String) throws(ClientError) {
        guard url.hasPrefix("http://") else { throw .connect("only http:// URLs are supported: \(url)") }
        let rest = url.dropFirst(7).prefix { $0 != "/" }
        let parts = rest.split(separator: ":")
        guard parts.count == 2, let port = Int(parts[1]), (1...65_535).contains(port) else {
            throw .connect("URL needs host:port: \(url)")
        }
        self.init(host: String(parts[0]), port: port)
    }

    deinit { if fd >= 0 { close(fd) } }

    private func connectIfNeeded() throws(ClientError) {
        guard fd < 0 else { return }
        let socketFD = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard socketFD >= 0 else { throw .connect(String(cString: strerror(errno))) }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = in_port_t(UInt16(port).bigEndian)
        guard inet_pton(AF_INET, host, &address.sin_addr) == 1 else {
            close(socketFD)
            throw .connect("\(host) is not an IPv4 address")
        }
        let result = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                connect(socketFD, $0, socklen_t(MemoryLayout<sockaddr_in>.size))
            }
        }
        guard result == 0 else {
            let why = String(cString: strerror(errno))
            close(socketFD)
            throw .connect("\(host):\(port): \(why)")
        }
        var timeout = timeval(tv_sec: timeoutSeconds, tv_usec: 0)
        setsockopt(socketFD, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
        var one: Int32 = 1
        setsockopt(socketFD, Int32(IPPROTO_TCP), TCP_NODELAY, &one, socklen_t(MemoryLayout<Int32>.size))
        fd = socketFD
        buffer = []
    }

    private func disconnect() {
        if fd >= 0 { close(fd) }
        fd = -1
        buffer = []
    }

    /// A whole response: status, headers and body.
    public struct Response: Sendable {
        /// The status code.
        public var status: Int
        /// The headers, in order.
        public var headers: [(name: String, value: String)]
        /// The body (a chunked body is joined).
        public var body: [UInt8]

        /// The first header named `name`, case-insensitively.
        public func header(_ name: String) -> String? {
            headers.first { $0.name.lowercased() == name.lowercased() }?.value
        }
    }

    /// POSTs `body` and returns the status and body; retries once on a connection the server had closed.
    public func post(path: String = "/", body: [UInt8], contentType: String = "application/json") throws(ClientError)
        -> (status: Int, body: [UInt8])
    {
        let response = try send(
            method: "POST", path: path, headers: [("Content-Type", contentType)], body: body)
        return (response.status, response.body)
    }

    /// Sends a request with `headers` and returns the whole response; retries once on a connection the server had
    /// closed.
    public func send(
        method: String, path: String, headers: [(name: String, value: String)] = [], body: [UInt8] = []
    ) throws(ClientError) -> Response {
        var parts: [[UInt8]] = []
        var result: (status: Int, headers: [(name: String, value: String)])?
        try stream(
            method: method, path: path, headers: headers, body: body,
            onHead: { status, headers in result = (status, headers) },
            onData: {
                parts.append($0)
                return true
            })
        guard let result else { throw .malformedResponse("no response") }
        return Response(status: result.status, headers: result.headers, body: Array(parts.joined()))
    }

    /// Sends a request and hands the response's head to `onHead`, then each piece of its body to `onData` as it arrives (Content-Length or chunked bodies).
    ///
    /// `onData` returning false stops reading and drops the connection. Retries once, before any byte of a response
    /// arrived, on a connection the server had closed.
    public func stream(
        method: String, path: String, headers: [(name: String, value: String)] = [], body: [UInt8] = [],
        onHead: (Int, [(name: String, value: String)]) -> Void, onData: ([UInt8]) -> Bool
    ) throws(ClientError) {
        var head = "\(method) \(path) HTTP/1.1\r\nHost: \(host):\(port)\r\n"
        for (name, value) in headers {
            guard !name.contains(where: { $0 == "\r" || $0 == "\n" || $0 == ":" }),
                !value.contains(where: { $0 == "\r" || $0 == "\n" })
            else { throw .io("header \(name) holds a line break") }
            head += "\(name): \(value)\r\n"
        }
        head += "Content-Length: \(body.count)\r\n\r\n"
        for attempt in 0..<2 {
            try connectIfNeeded()
            do {
                try sendAll(Array(head.utf8) + body)
                try readResponse(onHead: onHead, onData: onData)
                return
            } catch {
                disconnect()
                if attempt == 1 || receivedAny { throw error }
            }
        }
        throw .io("unreachable")
    }

    private func sendAll(_ bytes: [UInt8]) throws(ClientError) {
        var offset = 0
        while offset < bytes.count {
            switch bytes[offset...].withUnsafeBytes({ Syscall.send(fd, $0) }) {
            case .done(let sent) where sent > 0: offset += sent
            case .failed(let code): throw .io(Socket.describe(errno: code))
            // A send timeout on the blocking socket, or nothing sent.
            case .done, .wouldBlock, .closed: throw .io(Socket.describe(errno: EAGAIN))
            }
        }
    }

    private func fill() throws(ClientError) {
        var chunk = [UInt8](repeating: 0, count: 65_536)
        switch chunk.withUnsafeMutableBytes({ Syscall.read(fd, into: $0) }) {
        case .done(let received):
            buffer += chunk[0..<received]
            receivedAny = true
        case .closed: throw .io("closed by server")
        // The receive timeout (SO_RCVTIMEO) of the blocking socket ran out.
        case .wouldBlock: throw .io(Socket.describe(errno: EAGAIN))
        case .failed(let code): throw .io(Socket.describe(errno: code))
        }
        guard buffer.count <= maxResponseBytes + 65_536 else { throw .tooLarge(maxResponseBytes) }
    }

    private func readResponse(
        onHead: (Int, [(name: String, value: String)]) -> Void, onData: ([UInt8]) -> Bool
    ) throws(ClientError) {
        receivedAny = false
        var headerEnd: Int? = nil
        while headerEnd == nil {
            if let found = Self.find([13, 10, 13, 10], in: buffer, from: 0) {
                headerEnd = found
            } else {
                guard buffer.count < 65_536 else { throw .malformedResponse("header too large") }
                try fill()
            }
        }
        let end = headerEnd!
        let text = String(decoding: buffer[..<end], as: UTF8.self)
        let lines = text.split(separator: "\r\n")
        guard let statusLine = lines.first, statusLine.hasPrefix("HTTP/1."),
            let status = Int(statusLine.split(separator: " ").dropFirst().first ?? "")
        else { throw .malformedResponse("bad status line") }
        var length = 0
        var chunked = false
        var closes = false
        var headers: [(name: String, value: String)] = []
        for line in lines.dropFirst() {
            let parts = line.split(separator: ":", maxSplits: 1)
            guard parts.count == 2 else { continue }
            let name = parts[0].lowercased()
            let value = parts[1].trimmingCharacters(in: .whitespaces)
            headers.append((String(parts[0]), value))
            if name == "content-length" {
                guard let parsed = Int(value), parsed >= 0 else { throw .malformedResponse("bad Content-Length") }
                length = parsed
            }
            if name == "transfer-encoding" && value.lowercased().contains("chunked") { chunked = true }
            if name == "connection" && value.lowercased() == "close" { closes = true }
        }
        buffer.removeFirst(end + 4)
        onHead(status, headers)
        if chunked {
            var total = 0
            while true {
                var lineEnd = Self.find([13, 10], in: buffer, from: 0)
                while lineEnd == nil {
                    guard buffer.count < 1_024 else { throw .malformedResponse("chunk size line too long") }
                    try fill()
                    lineEnd = Self.find([13, 10], in: buffer, from: 0)
                }
                let sizeText =
                    String(decoding: buffer[..<lineEnd!], as: UTF8.self)
                    .split(separator: ";").first.map(String.init) ?? ""
                guard let size = Int(sizeText.trimmingCharacters(in: .whitespaces), radix: 16), size >= 0 else {
                    throw .malformedResponse("bad chunk size")
                }
                total += size
                guard total <= maxResponseBytes else { throw .tooLarge(maxResponseBytes) }
                while buffer.count < lineEnd! + 2 + size + 2 { try fill() }
                let data = Array(buffer[(lineEnd! + 2)..<(lineEnd! + 2 + size)])
                buffer.removeFirst(lineEnd! + 2 + size + 2)
                if size == 0 { break }
                guard onData(data) else {
                    disconnect()
                    return
                }
            }
        } else {
            guard length <= maxResponseBytes else { throw .tooLarge(maxResponseBytes) }
            while buffer.count < length { try fill() }
            let data = Array(buffer[..<length])
            buffer.removeFirst(length)
            if !onData(data) {
                disconnect()
                return
            }
        }
        if closes { disconnect() }
    }

    /// The index of the first occurrence of `needle` in `haystack` at or after `from`.
    private static func find(_ needle: [UInt8], in haystack: [UInt8], from: Int) -> Int? {
        guard haystack.count >= needle.count + from else { return nil }
        var index = from
        while index <= haystack.count - needle.count {
            if haystack[index] == needle[0] && Array(haystack[index..<(index + needle.count)]) == needle {
                return index
            }
            index += 1
        }
        return nil
    }
}
