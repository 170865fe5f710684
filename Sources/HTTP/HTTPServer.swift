import EventLoop
import Foundation
import Runtime
import Synchronization

#if canImport(Glibc)
    import Glibc
#endif

/// An HTTP/1.1 server on its own `EventLoop`: keep-alive, pipelined requests answered in order, bounded header, body
/// and output buffers, a connection cap, and timeouts for slow or idle clients.
///
/// The listener and every connection are handlers on the loop, the timeout sweep is a loop timer, and deferred or
/// streamed replies reach the loop through `execute`. The handler runs on the loop thread and must not block for long.
public final class HTTPServer: @unchecked Sendable {
    /// Answers a request at once.
    public typealias Handler = @Sendable (HTTPRequest) -> HTTPResponse
    /// Answers a request at once or later (see `HTTPReply`).
    public typealias ReplyHandler = @Sendable (HTTPRequest) -> HTTPReply

    /// The port the server listens on (useful when started on port 0).
    public let port: Int
    private let listener: Int32
    private let loop: EventLoop
    private let limits: HTTPLimits
    private let handler: ReplyHandler
    /// Connections currently open (for tests and metrics).
    public var connectionCount: Int { openConnections.load(ordering: .relaxed) }
    private let openConnections = Atomic<Int>(0)

    // Loop-thread state.
    private var connections: [Int32: Connection] = [:]
    private var readBuffer = [UInt8](repeating: 0, count: 65_536)
    private var nextSerial: UInt64 = 0
    /// Tests waiting for a connection to be held back (see `waitUntilBackpressured`).
    private var backpressureWaiters: [CheckedContinuation<Void, Never>] = []

    /// Seconds between sweeps for timed-out connections.
    private static let sweepInterval = 0.5
    /// Seconds a lingering connection (response out, write side shut) may wait for the client to close.
    private static let lingerTimeout = 2.0

    /// Why a server could not start.
    public enum StartError: Error, CustomStringConvertible {
        /// The address could not be bound or listened on.
        case listen(host: String, port: Int, errno: Int32)
        /// The event loop could not be created.
        case epoll

        /// The failure for a person.
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

    /// A server whose handler may answer later, or stream (see `HTTPReply`); its timeouts run on `clock`.
    public init(
        host: String = "127.0.0.1", port: Int, limits: HTTPLimits = HTTPLimits(), clock: any Clock = SystemClock(),
        replying handler: @escaping ReplyHandler
    ) throws(StartError) {
        let fd: Int32
        switch Socket.listenTCP4(host: host, port: port, backlog: 512) {
        case .done(let descriptor): fd = Int32(descriptor)
        case .failed(let code): throw .listen(host: host, port: port, errno: code)
        case .wouldBlock, .closed: throw .listen(host: host, port: port, errno: EAGAIN)
        }
        let boundPort = Socket.localPort(fd) ?? -1
        do {
            loop = try EventLoop(name: "http-\(boundPort)", clock: clock)
        } catch {
            close(fd)
            throw .epoll
        }
        listener = fd
        self.port = boundPort
        self.limits = limits
        self.handler = handler
        loop.execute { [self] in
            loop.register(listener, Listener(server: self), interest: .readable)
            loop.scheduleRepeating(every: Self.sweepInterval) { [weak self] now in
                self?.sweepTimeouts(now: now.seconds)
            }
        }
    }

    /// Stops accepting, closes every connection and ends the loop; returns when the loop has ended.
    public func stop() {
        loop.stop { [self] in
            for connection in Array(connections.values) { drop(connection) }
            loop.deregister(listener)
            // Nothing will be held back any more: tests waiting for it go on.
            for waiter in backpressureWaiters { waiter.resume() }
            backpressureWaiters = []
        }
    }

    /// The listening socket's handler: accepts every pending connection.
    private final class Listener: LoopHandler {
        let server: HTTPServer
        init(server: HTTPServer) { self.server = server }
        func ready(readable: Bool, writable: Bool, hangup: Bool) { server.acceptAll() }
    }

    /// One client connection: its buffers and state, and its handler on the loop.
    final class Connection: LoopHandler {
        let fd: Int32
        let server: HTTPServer
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
        /// Set when the socket failed or the peer left with nothing more to send; the loop then drops it.
        var closed = false

        init(fd: Int32, server: HTTPServer, serial: UInt64, now: Double) {
            lastActivity = now
            self.fd = fd
            self.serial = serial
            self.server = server
        }

        var pendingOutput: Int { output.count - outputOffset }

        func ready(readable: Bool, writable: Bool, hangup: Bool) {
            server.ready(self, readable: readable || hangup, writable: writable)
        }
    }

    private func now() -> Double { loop.now().seconds }

    private func ready(_ connection: Connection, readable: Bool, writable: Bool) {
        let now = now()
        if readable && connection.lingerSince == nil { readAvailable(connection, now: now) }
        if writable { flush(connection) }
        settle(connection, now: now)
    }

    private func sweepTimeouts(now: Double) {
        for connection in Array(connections.values) where timedOut(connection, now: now) { drop(connection) }
    }

    private func acceptAll() {
        let now = now()
        while true {
            guard case .done(let accepted) = Syscall.accept(listener) else { return }
            let fd = Int32(accepted)
            guard connections.count < limits.maxConnections else {
                let response = HTTPResponse.text(503, "too many connections").serialized(keepAlive: false)
                _ = response.withUnsafeBytes { Syscall.send(fd, $0) }
                close(fd)
                continue
            }
            nextSerial += 1
            let connection = Connection(fd: fd, server: self, serial: nextSerial, now: now)
            connections[fd] = connection
            openConnections.add(1, ordering: .relaxed)
            loop.register(fd, connection, interest: .readable)
        }
    }

    /// After IO: drop a failed connection, linger on one whose last response is out, or update its interest.
    private func settle(_ connection: Connection, now: Double) {
        guard !connection.closed else {
            drop(connection)
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
            switch readBuffer.withUnsafeMutableBytes({ Syscall.read(connection.fd, into: $0) }) {
            case .done: continue
            case .wouldBlock: updateInterest(connection)
            case .closed, .failed: drop(connection)
            }
            return
        }
    }

    private func readAvailable(_ connection: Connection, now: Double) {
        // Backpressure: while a client does not read its responses, stop reading its requests.
        while !connection.closed && connection.pendingOutput < limits.maxPendingOutput && !connection.closeAfterOutput {
            switch readBuffer.withUnsafeMutableBytes({ Syscall.read(connection.fd, into: $0) }) {
            case .done(let received):
                if connection.input.isEmpty { connection.requestStarted = now }
                connection.input.append(contentsOf: readBuffer[0..<received])
                connection.lastActivity = now
                process(connection, now: now)
                if connection.input.count > limits.maxHeaderBytes + limits.maxBodyBytes + 8 {
                    reject(connection, .text(413, "request too large"))
                }
                continue
            case .wouldBlock:
                return
            case .closed, .failed:
                // The peer closed (or failed): finish sending what is queued, then close.
                connection.closeAfterOutput = true
                if connection.pendingOutput == 0 { closeConnection(connection) }
                return
            }
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
            let result = connection.output.withUnsafeBytes {
                Syscall.send(connection.fd, UnsafeRawBufferPointer(rebasing: $0[connection.outputOffset...]))
            }
            if case .done(let sent) = result, sent > 0 {
                connection.outputOffset += sent
                continue
            }
            if result == .wouldBlock { break }
            closeConnection(connection)
            return
        }
        if connection.pendingOutput == 0 {
            connection.output.removeAll(keepingCapacity: connection.output.count < 65_536)
            connection.outputOffset = 0
        }
    }

    /// Readable while the client may send more (not backpressured, not closing); writable while output waits.
    ///
    /// Dropping read interest under backpressure keeps a level-triggered loop from spinning on unread input.
    private func updateInterest(_ connection: Connection) {
        let wantsRead =
            connection.lingerSince != nil
            || (connection.pendingOutput < limits.maxPendingOutput && !connection.closeAfterOutput)
        var interest: Interest = []
        if wantsRead { interest.insert(.readable) }
        if connection.pendingOutput > 0 { interest.insert(.writable) }
        loop.setInterest(connection.fd, interest)
        if !backpressureWaiters.isEmpty && isBackpressured(connection) {
            for waiter in backpressureWaiters { waiter.resume() }
            backpressureWaiters = []
        }
    }

    private func isBackpressured(_ connection: Connection) -> Bool {
        connection.lingerSince == nil && !connection.closeAfterOutput
            && connection.pendingOutput >= limits.maxPendingOutput
    }

    /// Returns once some connection's reads are paused because its client does not read its responses (tests).
    func waitUntilBackpressured() async {
        await withCheckedContinuation { continuation in
            loop.execute { [self] in
                if connections.values.contains(where: isBackpressured) {
                    continuation.resume()
                } else {
                    backpressureWaiters.append(continuation)
                }
            }
        }
    }

    private func timedOut(_ connection: Connection, now: Double) -> Bool {
        if let since = connection.lingerSince { return now - since > Self.lingerTimeout }
        if connection.replying != nil { return false }
        if let started = connection.requestStarted, now - started > limits.requestTimeout { return true }
        return now - connection.lastActivity > limits.idleTimeout
    }

    private func closeConnection(_ connection: Connection) {
        connection.replying?.clientGone.store(true, ordering: .releasing)
        connection.closed = true
        connection.input = []
    }

    private func drop(_ connection: Connection) {
        let fd = connection.fd
        guard connections.removeValue(forKey: fd) != nil else { return }
        connection.replying?.clientGone.store(true, ordering: .releasing)
        loop.deregister(fd)
        openConnections.subtract(1, ordering: .relaxed)
    }

    // MARK: Deferred and streamed replies

    /// Runs `job` on the loop thread with the connection `fd` if it is still the one with `serial`, then settles
    /// the connection (only the connections jobs wrote to can have changed state).
    func submit(fd: Int32, serial: UInt64, _ job: @escaping @Sendable (Connection, HTTPServer) -> Void) {
        loop.execute { [self] in
            guard let connection = connections[fd], connection.serial == serial, !connection.closed else { return }
            job(connection, self)
            if connections[fd] === connection { settle(connection, now: now()) }
        }
    }

    func append(_ bytes: [UInt8], to connection: Connection) {
        guard connection.pendingOutput + bytes.count <= limits.maxPendingOutput else {
            closeConnection(connection)
            return
        }
        connection.output.append(contentsOf: bytes)
        connection.lastActivity = now()
        flush(connection)
    }

    func finishReply(_ connection: Connection, keepAlive: Bool) {
        connection.replying = nil
        if !keepAlive { connection.closeAfterOutput = true }
        flush(connection)
        if !connection.closeAfterOutput && !connection.input.isEmpty { process(connection, now: now()) }
    }
}

/// What a handler answers: a response now, or later through a writer (from any thread) — a whole response, or a chunked
/// stream such as server-sent events.
///
/// Later pipelined requests on the connection wait for it.
public enum HTTPReply: Sendable {
    case response(HTTPResponse)
    case deferred(@Sendable (HTTPStreamWriter) -> Void)
}

/// Completes a deferred reply from any thread.
///
/// `isClientGone` turns true when the client disconnects, so a producer can stop early; writes after that are dropped.
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

    /// Whether the client has disconnected (later writes are dropped).
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
