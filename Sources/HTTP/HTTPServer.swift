import CEventLoop
import Foundation
import Synchronization

#if canImport(Glibc)
    import Glibc
#endif

/// An HTTP/1.1 server driven by one epoll loop thread: keep-alive, pipelined requests answered in order,
/// bounded header, body and output buffers, a connection cap, and timeouts for slow or idle clients. The
/// handler runs on the loop thread and must not block for long.
public final class HTTPServer: Sendable {
    public typealias Handler = @Sendable (HTTPRequest) -> HTTPResponse
    public typealias ReplyHandler = @Sendable (HTTPRequest) -> HTTPReply

    /// The port the server listens on (useful when started on port 0).
    public let port: Int
    private let listener: Int32
    private let epoll: Int32
    private let wakeup: Int32
    private let stopping = Atomic<Bool>(false)
    private let finished = Mutex<Bool>(false)
    private let limits: HTTPLimits
    private let handler: ReplyHandler
    /// Work for the loop thread from stream writers; each returns the connection it touched, if still open.
    private let jobs = Mutex<[@Sendable (inout [Int32: Connection]) -> Connection?]>([])
    /// Connections currently open (for tests and metrics).
    public var connectionCount: Int { openConnections.load(ordering: .relaxed) }
    private let openConnections = Atomic<Int>(0)

    public enum StartError: Error, CustomStringConvertible {
        case listen(host: String, port: Int, errno: Int32)
        case epoll

        public var description: String {
            switch self {
            case .listen(let host, let port, let code):
                "cannot listen on \(host):\(port): \(String(cString: strerror(code)))"
            case .epoll: "cannot create the event loop"
            }
        }
    }

    /// Binds `host:port` and starts the loop thread.
    public convenience init(
        host: String = "127.0.0.1", port: Int, limits: HTTPLimits = HTTPLimits(), handler: @escaping Handler
    ) throws(StartError) {
        try self.init(host: host, port: port, limits: limits, replying: { .response(handler($0)) })
    }

    /// A server whose handler may answer later, or stream (see `HTTPReply`).
    public init(
        host: String = "127.0.0.1", port: Int, limits: HTTPLimits = HTTPLimits(),
        replying handler: @escaping ReplyHandler
    ) throws(StartError) {
        let fd = CEventLoop_listen_tcp4(host, Int32(port), 512)
        guard fd >= 0 else { throw .listen(host: host, port: port, errno: -fd) }
        let epoll = CEventLoop_epoll_create()
        let wakeup = CEventLoop_eventfd()
        guard epoll >= 0, wakeup >= 0 else {
            close(fd)
            throw .epoll
        }
        listener = fd
        self.epoll = epoll
        self.wakeup = wakeup
        self.port = Int(CEventLoop_local_port(fd))
        self.limits = limits
        self.handler = handler
        _ = CEventLoop_epoll_ctl(epoll, 1, fd, 1, UInt64(UInt32(bitPattern: fd)))
        _ = CEventLoop_epoll_ctl(epoll, 1, wakeup, 1, UInt64(UInt32(bitPattern: wakeup)))
        let thread = Thread { [self] in run() }
        thread.name = "http-\(self.port)"
        thread.start()
    }

    /// Stops accepting, closes every connection and ends the loop; returns when the loop has ended.
    public func stop() {
        stopping.store(true, ordering: .releasing)
        var one: UInt64 = 1
        _ = write(wakeup, &one, 8)
        while !finished.withLock({ $0 }) { usleep(1_000) }
    }

    final class Connection {
        let fd: Int32
        /// Tells a stream writer apart from a later connection that reuses the descriptor.
        let serial: UInt64
        /// A deferred or streamed reply is in progress: later pipelined requests wait for it.
        var replying: HTTPStreamWriter?
        var input: [UInt8] = []
        var output: [UInt8] = []
        var outputOffset = 0
        var closeAfterOutput = false
        /// Its last response is out and its write side shut: input is read and discarded until the client closes,
        /// so that a client still sending (an oversized body) gets the response rather than a reset.
        var lingerSince: Double? = nil
        var lastActivity: Double
        var requestStarted: Double? = nil
        /// The epoll interest currently registered: bit 0 readable, bit 1 writable.
        var interest: UInt32 = 1
        /// Set when the socket failed or the peer left with nothing more to send; the loop then drops it.
        var closed = false

        init(fd: Int32, serial: UInt64, now: Double) {
            self.fd = fd
            self.serial = serial
            lastActivity = now
        }

        var pendingOutput: Int { output.count - outputOffset }
    }

    private static func now() -> Double {
        var time = timespec()
        clock_gettime(CLOCK_MONOTONIC, &time)
        return Double(time.tv_sec) + Double(time.tv_nsec) / 1e9
    }

    private func run() {
        var connections: [Int32: Connection] = [:]
        var tokens = [UInt64](repeating: 0, count: 256)
        var events = [UInt32](repeating: 0, count: 256)
        var readBuffer = [UInt8](repeating: 0, count: 65_536)
        var lastSweep = Self.now()
        while !stopping.load(ordering: .acquiring) {
            let count = CEventLoop_epoll_wait(epoll, &tokens, &events, 256, 250)
            let now = Self.now()
            for index in 0..<max(0, Int(count)) {
                let fd = Int32(truncatingIfNeeded: tokens[index])
                if fd == listener {
                    acceptAll(&connections, now: now)
                    continue
                }
                if fd == wakeup {
                    var value: UInt64 = 0
                    _ = read(wakeup, &value, 8)
                    let touched = jobs.withLock { queue in
                        defer { queue = [] }
                        return queue
                    }.compactMap { $0(&connections) }
                    // Only the connections the jobs wrote to can have changed state.
                    for connection in touched where connections[connection.fd] === connection {
                        settle(connection, in: &connections, buffer: &readBuffer, now: Self.now())
                    }
                    continue
                }
                guard let connection = connections[fd] else { continue }
                if events[index] & 1 != 0 || events[index] & 4 != 0 {
                    if connection.lingerSince == nil { readAvailable(connection, buffer: &readBuffer, now: now) }
                }
                if events[index] & 2 != 0 { flush(connection) }
                settle(connection, in: &connections, buffer: &readBuffer, now: now)
            }
            if now - lastSweep >= 0.5 {
                lastSweep = now
                for connection in Array(connections.values) where timedOut(connection, now: now) {
                    drop(connection, from: &connections)
                }
            }
        }
        for connection in Array(connections.values) { drop(connection, from: &connections) }
        close(listener)
        close(wakeup)
        close(epoll)
        finished.withLock { $0 = true }
    }

    private nonisolated(unsafe) var nextSerial: UInt64 = 0

    private func acceptAll(_ connections: inout [Int32: Connection], now: Double) {
        while true {
            let fd = CEventLoop_accept(listener)
            if fd < 0 { return }
            guard connections.count < limits.maxConnections else {
                let response = HTTPResponse.text(503, "too many connections").serialized(keepAlive: false)
                _ = response.withUnsafeBytes { send(fd, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
                close(fd)
                continue
            }
            nextSerial += 1
            connections[fd] = Connection(fd: fd, serial: nextSerial, now: now)
            openConnections.add(1, ordering: .relaxed)
            _ = CEventLoop_epoll_ctl(epoll, 1, fd, 1, UInt64(UInt32(bitPattern: fd)))
        }
    }

    /// After IO: drop a failed connection, linger on one whose last response is out, or update its interest.
    private func settle(
        _ connection: Connection, in connections: inout [Int32: Connection], buffer: inout [UInt8], now: Double
    ) {
        guard !connection.closed else {
            drop(connection, from: &connections)
            return
        }
        guard connection.closeAfterOutput && connection.pendingOutput == 0 else {
            updateInterest(connection)
            return
        }
        if connection.lingerSince == nil {
            connection.lingerSince = now
            shutdown(connection.fd, Int32(SHUT_WR))
            connection.input = []
        }
        while true {
            let received = buffer.withUnsafeMutableBytes { read(connection.fd, $0.baseAddress, $0.count) }
            if received > 0 { continue }
            if received < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR) { break }
            drop(connection, from: &connections)
            return
        }
        updateInterest(connection)
    }

    private func readAvailable(_ connection: Connection, buffer: inout [UInt8], now: Double) {
        // Backpressure: while a client does not read its responses, stop reading its requests.
        while !connection.closed && connection.pendingOutput < limits.maxPendingOutput && !connection.closeAfterOutput {
            let received = buffer.withUnsafeMutableBytes { read(connection.fd, $0.baseAddress, $0.count) }
            if received > 0 {
                if connection.input.isEmpty { connection.requestStarted = now }
                connection.input.append(contentsOf: buffer[0..<received])
                connection.lastActivity = now
                process(connection, now: now)
                if connection.input.count > limits.maxHeaderBytes + limits.maxBodyBytes + 8 {
                    reject(connection, .text(413, "request too large"))
                }
                continue
            }
            if received == 0 || (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR) {
                // The peer closed (or failed): finish sending what is queued, then close.
                connection.closeAfterOutput = true
                if connection.pendingOutput == 0 { closeConnection(connection) }
            }
            return
        }
    }

    private func process(_ connection: Connection, now: Double) {
        while !connection.closeAfterOutput && connection.replying == nil {
            switch HTTPParser.parse(connection.input, limits: limits) {
            case .needMore:
                if connection.input.isEmpty { connection.requestStarted = nil }
                flush(connection)
                return
            case .reject(let response):
                reject(connection, response)
                return
            case .request(let request, let consumed, let keepAlive):
                connection.input.removeFirst(consumed)
                connection.requestStarted = connection.input.isEmpty ? nil : now
                switch handler(request) {
                case .response(let response):
                    connection.output.append(contentsOf: response.serialized(keepAlive: keepAlive))
                    if !keepAlive { connection.closeAfterOutput = true }
                case .deferred(let body):
                    let writer = HTTPStreamWriter(
                        server: self, fd: connection.fd, serial: connection.serial, keepAlive: keepAlive)
                    connection.replying = writer
                    body(writer)
                }
            }
        }
        flush(connection)
    }

    private func reject(_ connection: Connection, _ response: HTTPResponse) {
        connection.output.append(contentsOf: response.serialized(keepAlive: false))
        connection.closeAfterOutput = true
        connection.input = []
        flush(connection)
    }

    private func flush(_ connection: Connection) {
        while !connection.closed && connection.pendingOutput > 0 {
            let sent = connection.output.withUnsafeBytes {
                send(
                    connection.fd, $0.baseAddress! + connection.outputOffset, connection.pendingOutput,
                    Int32(MSG_NOSIGNAL))
            }
            if sent > 0 {
                connection.outputOffset += sent
                continue
            }
            if sent < 0 && (errno == EAGAIN || errno == EWOULDBLOCK) { break }
            if sent < 0 && errno == EINTR { continue }
            closeConnection(connection)
            return
        }
        if connection.pendingOutput == 0 {
            connection.output.removeAll(keepingCapacity: connection.output.count < 65_536)
            connection.outputOffset = 0
        }
    }

    /// Readable while the client may send more (not backpressured, not closing); writable while output waits.
    /// Dropping read interest under backpressure keeps a level-triggered loop from spinning on unread input.
    private func updateInterest(_ connection: Connection) {
        let wantsRead =
            connection.lingerSince != nil
            || (connection.pendingOutput < limits.maxPendingOutput && !connection.closeAfterOutput)
        let interest: UInt32 = (wantsRead ? 1 : 0) | (connection.pendingOutput > 0 ? 2 : 0)
        guard interest != connection.interest else { return }
        connection.interest = interest
        _ = CEventLoop_epoll_ctl(epoll, 2, connection.fd, interest, UInt64(UInt32(bitPattern: connection.fd)))
    }

    private func timedOut(_ connection: Connection, now: Double) -> Bool {
        if let since = connection.lingerSince { return now - since > 2 }
        if connection.replying != nil { return false }
        if let started = connection.requestStarted, now - started > limits.requestTimeout { return true }
        return now - connection.lastActivity > limits.idleTimeout
    }

    private func closeConnection(_ connection: Connection) {
        connection.replying?.clientGone.store(true, ordering: .releasing)
        connection.closed = true
        connection.input = []
    }

    private func drop(_ connection: Connection, from connections: inout [Int32: Connection]) {
        let fd = connection.fd
        guard connections.removeValue(forKey: fd) != nil else { return }
        connection.replying?.clientGone.store(true, ordering: .releasing)
        _ = CEventLoop_epoll_ctl(epoll, 3, fd, 0, 0)
        close(fd)
        openConnections.subtract(1, ordering: .relaxed)
    }

    // MARK: Deferred and streamed replies

    /// Runs `job` on the loop thread with the connection `fd` if it is still the one with `serial`.
    func submit(fd: Int32, serial: UInt64, _ job: @escaping @Sendable (Connection, HTTPServer) -> Void) {
        jobs.withLock {
            $0.append { [self] connections in
                guard let connection = connections[fd], connection.serial == serial, !connection.closed else {
                    return nil
                }
                job(connection, self)
                return connection
            }
        }
        var one: UInt64 = 1
        _ = write(wakeup, &one, 8)
    }

    func append(_ bytes: [UInt8], to connection: Connection) {
        guard connection.pendingOutput + bytes.count <= limits.maxPendingOutput else {
            closeConnection(connection)
            return
        }
        connection.output.append(contentsOf: bytes)
        connection.lastActivity = Self.now()
        flush(connection)
    }

    func finishReply(_ connection: Connection, keepAlive: Bool) {
        connection.replying = nil
        if !keepAlive { connection.closeAfterOutput = true }
        flush(connection)
        if !connection.closeAfterOutput && !connection.input.isEmpty { process(connection, now: Self.now()) }
    }
}

/// What a handler answers: a response now, or later through a writer (from any thread) — a whole response,
/// or a chunked stream such as server-sent events. Later pipelined requests on the connection wait for it.
public enum HTTPReply: Sendable {
    case response(HTTPResponse)
    case deferred(@Sendable (HTTPStreamWriter) -> Void)
}

/// Completes a deferred reply from any thread. `isClientGone` turns true when the client disconnects, so a
/// producer can stop early; writes after that are dropped.
public final class HTTPStreamWriter: Sendable {
    private let server: HTTPServer
    private let fd: Int32
    private let serial: UInt64
    private let keepAlive: Bool
    let clientGone = Atomic<Bool>(false)

    init(server: HTTPServer, fd: Int32, serial: UInt64, keepAlive: Bool) {
        self.server = server
        self.fd = fd
        self.serial = serial
        self.keepAlive = keepAlive
    }

    public var isClientGone: Bool { clientGone.load(ordering: .acquiring) }

    /// Sends a whole response and ends the reply.
    public func respond(_ response: HTTPResponse) {
        let keepAlive = self.keepAlive
        server.submit(fd: fd, serial: serial) { connection, server in
            server.append(response.serialized(keepAlive: keepAlive), to: connection)
            server.finishReply(connection, keepAlive: keepAlive)
        }
    }

    /// Starts a chunked response with `status` and `headers` (no Content-Length).
    public func start(status: Int, headers: [(name: String, value: String)]) {
        var head = "HTTP/1.1 \(status) \(HTTPResponse.reason(status))\r\n"
        for (name, value) in headers { head += "\(name): \(value)\r\n" }
        head += "Transfer-Encoding: chunked\r\nConnection: \(keepAlive ? "keep-alive" : "close")\r\n\r\n"
        let bytes = Array(head.utf8)
        server.submit(fd: fd, serial: serial) { connection, server in server.append(bytes, to: connection) }
    }

    /// Sends one chunk; false once the client has gone.
    @discardableResult
    public func write(_ bytes: [UInt8]) -> Bool {
        guard !isClientGone else { return false }
        guard !bytes.isEmpty else { return true }
        let chunk = Array(String(bytes.count, radix: 16).utf8) + [13, 10] + bytes + [13, 10]
        server.submit(fd: fd, serial: serial) { connection, server in server.append(chunk, to: connection) }
        return true
    }

    /// Ends a chunked response.
    public func finish() {
        let keepAlive = self.keepAlive
        server.submit(fd: fd, serial: serial) { connection, server in
            server.append(Array("0\r\n\r\n".utf8), to: connection)
            server.finishReply(connection, keepAlive: keepAlive)
        }
    }
}
