import EventLoop
import Foundation

#if canImport(Glibc)
    import Glibc
#endif

/// A blocking HTTP/1.1 client on one keep-alive connection to an IPv4 address, with bounded responses and a
/// receive timeout. Enough for JSON-RPC; not a general web client.
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

    /// POSTs `body` and returns the status and body; retries once on a connection the server had closed.
    public func post(path: String = "/", body: [UInt8], contentType: String = "application/json") throws(ClientError)
        -> (status: Int, body: [UInt8])
    {
        for attempt in 0..<2 {
            try connectIfNeeded()
            let head =
                "POST \(path) HTTP/1.1\r\nHost: \(host):\(port)\r\nContent-Type: \(contentType)\r\nContent-Length: \(body.count)\r\n\r\n"
            do {
                try sendAll(Array(head.utf8) + body)
                return try readResponse()
            } catch {
                disconnect()
                if attempt == 1 { throw error }
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
        case .done(let received): buffer += chunk[0..<received]
        case .closed: throw .io("closed by server")
        // The receive timeout (SO_RCVTIMEO) of the blocking socket ran out.
        case .wouldBlock: throw .io(Socket.describe(errno: EAGAIN))
        case .failed(let code): throw .io(Socket.describe(errno: code))
        }
        guard buffer.count <= maxResponseBytes + 65_536 else { throw .tooLarge(maxResponseBytes) }
    }

    private func readResponse() throws(ClientError) -> (status: Int, body: [UInt8]) {
        var headerEnd: Int? = nil
        while headerEnd == nil {
            if buffer.count >= 4 {
                for index in 0...(buffer.count - 4)
                where buffer[index] == 13 && buffer[index + 1] == 10 && buffer[index + 2] == 13
                    && buffer[index + 3] == 10
                {
                    headerEnd = index
                    break
                }
            }
            if headerEnd == nil {
                guard buffer.count < 65_536 else { throw .malformedResponse("header too large") }
                try fill()
            }
        }
        let end = headerEnd!
        let head = String(decoding: buffer[..<end], as: UTF8.self)
        let lines = head.split(separator: "\r\n")
        guard let statusLine = lines.first, statusLine.hasPrefix("HTTP/1."),
            let status = Int(statusLine.split(separator: " ").dropFirst().first ?? "")
        else { throw .malformedResponse("bad status line") }
        var length = 0
        var closes = false
        for line in lines.dropFirst() {
            let parts = line.split(separator: ":", maxSplits: 1)
            guard parts.count == 2 else { continue }
            let name = parts[0].lowercased()
            let value = parts[1].trimmingCharacters(in: .whitespaces)
            if name == "content-length" {
                guard let parsed = Int(value), parsed >= 0 else { throw .malformedResponse("bad Content-Length") }
                length = parsed
            }
            if name == "connection" && value.lowercased() == "close" { closes = true }
        }
        guard length <= maxResponseBytes else { throw .tooLarge(maxResponseBytes) }
        while buffer.count < end + 4 + length { try fill() }
        let body = Array(buffer[(end + 4)..<(end + 4 + length)])
        buffer.removeFirst(end + 4 + length)
        if closes { disconnect() }
        return (status, body)
    }
}
