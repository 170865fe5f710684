import Foundation

#if canImport(Glibc)
    import Glibc
#endif

/// A minimal blocking HTTP/1.1 client over a real TCP socket, for tests that talk to real servers, including
/// tests that misbehave on purpose (partial requests, oversized bodies).
public final class HTTPTestClient: @unchecked Sendable {
    /// The connected socket.
    public let fd: Int32
    /// Bytes received past the last response (pipelined responses arrive together).
    private var buffer: [UInt8] = []

    /// Connects to 127.0.0.1:`port`; nil when nothing listens.
    public init?(port: Int, timeoutSeconds: Int = 60) {
        let socketFD = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard socketFD >= 0 else { return nil }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = in_port_t(UInt16(port).bigEndian)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        let connected = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                connect(socketFD, $0, socklen_t(MemoryLayout<sockaddr_in>.size))
            }
        }
        guard connected == 0 else {
            close(socketFD)
            return nil
        }
        var timeout = timeval(tv_sec: timeoutSeconds, tv_usec: 0)
        setsockopt(socketFD, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
        fd = socketFD
    }

    deinit { close(fd) }

    /// Up to `count` raw bytes as they arrive: empty at end of stream, nil on timeout or error.
    public func receive(upTo count: Int) -> [UInt8]? {
        var chunk = [UInt8](repeating: 0, count: count)
        let received = chunk.withUnsafeMutableBytes { recv(fd, $0.baseAddress, count, 0) }
        guard received >= 0 else { return errno == ECONNRESET ? [] : nil }
        return Array(chunk.prefix(received))
    }

    /// Waits until the peer closes the connection (true) or `timeoutSeconds` of silence pass (false); discards
    /// whatever arrives before.
    public func waitForClose() -> Bool {
        while let chunk = receive(upTo: 65_536) {
            if chunk.isEmpty { return true }
        }
        return false
    }

    /// Sends raw bytes.
    @discardableResult
    public func send(_ bytes: [UInt8]) -> Bool {
        var offset = 0
        while offset < bytes.count {
            let sent = bytes[offset...].withUnsafeBytes {
                Glibc.send(fd, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL))
            }
            if sent <= 0 { return false }
            offset += sent
        }
        return true
    }

    /// Reads one response: (status, body), or nil when the connection closed or timed out first.
    public func readResponse() -> (status: Int, body: [UInt8])? {
        var chunk = [UInt8](repeating: 0, count: 65_536)
        while true {
            if let end = find(buffer) {
                let head = String(decoding: buffer[..<end], as: UTF8.self)
                let status = Int(head.split(separator: " ").dropFirst().first ?? "") ?? 0
                let length =
                    head.split(separator: "\r\n").compactMap { line -> Int? in
                        let parts = line.split(separator: ":", maxSplits: 1)
                        guard parts.count == 2, parts[0].lowercased() == "content-length" else { return nil }
                        return Int(parts[1].trimmingCharacters(in: .whitespaces))
                    }.first ?? 0
                while buffer.count < end + 4 + length {
                    let received = chunk.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, 0) }
                    if received <= 0 { return nil }
                    buffer += chunk[0..<received]
                }
                let body = Array(buffer[(end + 4)..<(end + 4 + length)])
                buffer.removeFirst(end + 4 + length)
                return (status, body)
            }
            let received = chunk.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, 0) }
            if received <= 0 { return nil }
            buffer += chunk[0..<received]
        }
    }

    /// POSTs `body` and reads the response.
    public func post(_ body: [UInt8], path: String = "/") -> (status: Int, body: [UInt8])? {
        let head =
            "POST \(path) HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\nContent-Length: \(body.count)\r\n\r\n"
        guard send(Array(head.utf8) + body) else { return nil }
        return readResponse()
    }

    private func find(_ buffer: [UInt8]) -> Int? {
        guard buffer.count >= 4 else { return nil }
        for index in 0...(buffer.count - 4)
        where buffer[index] == 13 && buffer[index + 1] == 10 && buffer[index + 2] == 13 && buffer[index + 3] == 10 {
            return index
        }
        return nil
    }
}

/// A JSON-RPC client over `HTTPTestClient`, one keep-alive connection.
public final class RPCTestClient {
    /// The server's port on 127.0.0.1.
    public let port: Int
    private var connection: HTTPTestClient?

    /// A client of the server on `port`; it connects on the first call.
    public init(port: Int) { self.port = port }

    /// Calls `method`; returns the decoded response object (with "result" or "error"), or nil on a transport failure.
    public func call(_ method: String, _ params: [Any] = []) -> [String: Any]? {
        let request: [String: Any] = ["jsonrpc": "2.0", "id": 1, "method": method, "params": params]
        guard let body = try? JSONSerialization.data(withJSONObject: request) else { return nil }
        return raw(Array(body)).flatMap { try? JSONSerialization.jsonObject(with: Data($0.body)) as? [String: Any] }
    }

    /// POSTs raw bytes on the kept-alive connection (reconnecting once if it was closed).
    public func raw(_ body: [UInt8]) -> (status: Int, body: [UInt8])? {
        for _ in 0..<2 {
            if connection == nil { connection = HTTPTestClient(port: port) }
            guard let connection else { return nil }
            if let response = connection.post(body) { return response }
            self.connection = nil
        }
        return nil
    }

    /// The result of `method`, or nil on error.
    public func result(_ method: String, _ params: [Any] = []) -> Any? { call(method, params)?["result"] }
}
