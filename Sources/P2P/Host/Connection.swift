import Codec
import Crypto
import EventLoop
import Runtime

/// One TCP connection: the socket shell around `ConnectionUpgrade`.
///
/// `ConnectionUpgrade` does the whole libp2p upgrade and the Yamux session. The shell owns the descriptor, the
/// output buffer (bounded by the host's output high-water mark), the epoll interest and the connection's timer;
/// it turns socket news and the application's requests into the machine's events and carries out its actions:
/// writes, timers, stream news for `P2PStream`, the end of the connection with a logged reason. Lives on the
/// host's loop thread.
final class Connection: LoopHandler, @unchecked Sendable {
    let fd: Int32
    let host: P2PHost
    var loop: EventLoop { host.loop }
    let remoteAddress: Multiaddr
    private var machine: ConnectionUpgrade
    private var output: [UInt8] = []
    private var outputOffset = 0
    private var flushing = false
    private var timer: (handle: TimerHandle, deadline: Instant)?
    private var protocolsVersion: Int
    private(set) var streams: [UInt32: P2PStream] = [:]
    private var opens: [UInt64: CheckedContinuation<P2PStream, any Error>] = [:]
    private var nextRequest: UInt64 = 0
    private var waiters: [CheckedContinuation<PeerID, any Error>] = []
    /// The error behind `.transportFailed`, so that the connection ends with the same `P2PError`.
    private var transportError: P2PError?
    private(set) var isClosed = false
    private var closeReason: String?

    init(fd: Int32, host: P2PHost, expectedPeer: PeerID?, dialing: Bool, remoteAddress: Multiaddr) {
        self.fd = fd
        self.host = host
        self.remoteAddress = remoteAddress
        protocolsVersion = host.protocolsVersion
        machine = ConnectionUpgrade(
            role: dialing ? .dialer(expectedPeer: expectedPeer) : .listener,
            keys: ConnectionKeys(staticKey: host.staticKey, ephemeralKey: .generate(), payload: host.noisePayload),
            supportedProtocols: host.protocolNames, config: host.connectionConfig, now: host.loop.now())
        // A dialer's connect deadline runs before `.connected`.
        if dialing, let deadline = machine.nextTimer { schedule(deadline) }
    }

    var isInitiator: Bool { machine.isInitiator }
    var isOpen: Bool { machine.isOpen }
    var remotePeer: PeerID? { machine.remotePeer }
    private var pendingOutput: Int { output.count - outputOffset }
    private var label: String { "\(remoteAddress)\(remotePeer.map { "/p2p/\($0)" } ?? "")" }

    func addWaiter(_ continuation: CheckedContinuation<PeerID, any Error>) {
        if isOpen, let remotePeer {
            continuation.resume(returning: remotePeer)
        } else {
            waiters.append(continuation)
        }
    }

    /// Starts the upgrade once the socket is connected (a listener at once).
    func start() {
        Socket.capSendBufferOnShortPath(fd)
        handle(.connected)
    }

    // MARK: Socket events

    func ready(readable: Bool, writable: Bool, hangup: Bool) {
        guard !isClosed else { return }
        if machine.phase == .connecting {
            guard writable || hangup else { return }
            let error = Socket.pendingError(fd)
            guard error == 0 else {
                fail(.dialFailed("connect to \(remoteAddress): \(Socket.describe(errno: error))"))
                return
            }
            start()
        } else {
            if writable { flush() }
            if readable || hangup { readSocket() }
        }
        updateInterest()
    }

    private func readSocket() {
        for _ in 0..<16 where !isClosed && pendingOutput < host.config.outputHighWater {
            switch host.readBuffer.withUnsafeMutableBytes({ Syscall.read(fd, into: $0) }) {
            case .done(let received):
                refreshProtocols()
                handle(.received(host.readBuffer[0..<received]))
                continue
            case .closed: handle(.peerClosed)
            case .failed(let code): fail(.io("read: \(Socket.describe(errno: code))"))
            case .wouldBlock: break
            }
            return
        }
    }

    /// The host's handlers changed: inbound streams negotiate the new set.
    private func refreshProtocols() {
        let version = host.protocolsVersion
        guard version != protocolsVersion else { return }
        protocolsVersion = version
        machine.supportedProtocols = host.protocolNames
    }

    /// Readable unless output is backed up (then the peer's input waits in the kernel); writable while output waits.
    private func updateInterest() {
        guard !isClosed else { return }
        var interest: Interest = []
        if pendingOutput < host.config.outputHighWater { interest.insert(.readable) }
        if pendingOutput > 0 { interest.insert(.writable) }
        loop.setInterest(fd, interest)
    }

    /// Hands `event` to the machine, carries out its actions and writes what it sealed.
    private func handle(_ event: ConnectionUpgrade.Event) {
        guard !isClosed else { return }
        perform(machine.on(event, now: loop.now(), appendingTo: &output))
        flush()
    }

    /// Writes queued output until the socket would block, reporting each write to the machine (which may seal
    /// more writes into the room it made).
    private func flush() {
        guard !flushing else { return }
        flushing = true
        defer { flushing = false }
        while !isClosed && pendingOutput > 0 {
            let sent = writeOutput()
            guard sent > 0, !isClosed else { break }
            perform(machine.on(.sent(count: sent), now: loop.now(), appendingTo: &output))
        }
        if pendingOutput == 0 {
            output.removeAll(keepingCapacity: output.capacity <= bulkCapacity)
            outputOffset = 0
        } else if outputOffset >= 1 << 20 {
            output.removeFirst(outputOffset)
            outputOffset = 0
        }
    }

    /// Sends queued output until done or the socket would block; returns the bytes sent.
    ///
    /// A failure ends the connection unless `bestEffort` (the last go-away of a connection that is ending anyway).
    @discardableResult
    private func writeOutput(bestEffort: Bool = false) -> Int {
        var total = 0
        while pendingOutput > 0 {
            let result = output.withUnsafeBytes {
                Syscall.send(fd, UnsafeRawBufferPointer(rebasing: $0[outputOffset...]))
            }
            if case .done(let sent) = result, sent > 0 {
                outputOffset += sent
                total += sent
                continue
            }
            if result != .wouldBlock && !bestEffort {
                fail(.io("write: \(Socket.describe(errno: result.errorNumber))"))
            }
            break
        }
        return total
    }

    /// Arms the connection's timer for `deadline` unless it is armed earlier already (then that one stays).
    ///
    /// The machine asks for an earlier deadline than its last, or for any once the last has fired; an action list
    /// performed after a nested event's may carry an older, later deadline, which the earlier timer covers. A
    /// timer that fires early is harmless (the tick asks for the next).
    private func schedule(_ deadline: Instant) {
        if let timer {
            guard deadline < timer.deadline else { return }
            loop.cancel(timer.handle)
        }
        let handle = loop.schedule(at: deadline) { [weak self] in
            guard let self else { return }
            timer = nil
            self.handle(.tick)
            updateInterest()
        }
        timer = (handle, deadline)
    }

    // MARK: The machine's actions

    /// Carries out `actions` in order, stopping at once when one of them (or an event it handled in turn, such as a
    /// read's credit whose flush failed) ended the connection: no stream is made or dispatched on a closed one.
    private func perform(_ actions: [ConnectionUpgrade.Action]) {
        var admission: PeerID?
        for action in actions {
            guard !isClosed else { break }
            switch action {
            case .send(let bytes):
                output += bytes
            case .scheduleTimer(let deadline):
                schedule(deadline)
            case .halted:
                continue
            case .admissionRequired(let peer):
                admission = peer
            case .established(let peer):
                for waiter in waiters { waiter.resume(returning: peer) }
                waiters = []
                host.established(self)
            case .inboundStream(let id, let protocolID):
                let stream = P2PStream(id: id, connection: self, remotePeer: remotePeer!, protocolID: protocolID)
                streams[id] = stream
                host.dispatch(stream)
            case .outboundStreamReady(let request, let id, let protocolID):
                let stream = P2PStream(id: id, connection: self, remotePeer: remotePeer!, protocolID: protocolID)
                streams[id] = stream
                opens.removeValue(forKey: request)?.resume(returning: stream)
            case .outboundStreamFailed(let request, let reason):
                logStreamFailure(nil, reason)
                opens.removeValue(forKey: request)?.resume(
                    throwing: reason == .notOpen
                        ? P2PError.connectionClosed(closeReason ?? "not open") : P2PError(openFailure: reason))
            case .streamData(let id, let bytes):
                guard let stream = streams[id] else { continue }
                stream.receive(bytes)
                stream.serviceRead()
            case .streamWriteCompleted(let id):
                guard let stream = streams[id], let write = stream.pendingWrite else { continue }
                stream.pendingWrite = nil
                write.resume()
            case .streamRemoteClosed(let id):
                guard let stream = streams[id] else { continue }
                stream.remoteClosed = true
                stream.serviceRead()
                retireIfDone(stream)
            case .streamReset(let id, let reason):
                logStreamFailure(id, reason)
                if let stream = streams[id] { failStream(stream, P2PError(reason)) }
            case .peerGoingAway(let code):
                log("\(label): peer went away (code \(code))", ["code": "\(code)"])
            case .close(let reason):
                let error: P2PError =
                    if case .transportFailed = reason, let transportError { transportError } else { P2PError(reason) }
                finish(error, reason: reason.description)
            case .protocolViolation(let violation):
                finish(P2PError(violation), reason: violation.description)
            }
        }
        if let admission, !isClosed { handle(.admit(refusal: host.admissionRefusal(for: admission))) }
    }

    /// Logs an info line with the connection's address and, once known, peer (building nothing when discarded).
    private func log(_ message: @autoclosure () -> String, _ extra: KeyValuePairs<String, String>) {
        guard host.logger.isEnabled(.info) else { return }
        var logger = host.logger.with(["address": "\(remoteAddress)"])
        if let remotePeer { logger = logger.with(["peer": "\(remotePeer)"]) }
        logger.info(message(), extra)
    }

    /// Logs a stream's failed negotiation (an inbound one the application never saw, too; an outbound one has
    /// no stream id in the machine's answer).
    private func logStreamFailure(_ id: UInt32?, _ reason: StreamFailure) {
        let stream = id.map { "stream \($0)" } ?? "outbound stream"
        switch reason {
        case .negotiation(let error):
            log("\(label): \(stream) negotiation failed: \(error)", ["reason": "\(error)"])
        case .negotiationTimeout:
            log("\(label): \(stream) did not negotiate a protocol in time", ["reason": "\(reason)"])
        default:
            break
        }
    }

    // MARK: Streams (called by P2PStream on the loop thread)

    /// Opens an outbound stream and negotiates the first of `protocols` the peer supports.
    func openStream(protocols: [String], continuation: CheckedContinuation<P2PStream, any Error>) {
        guard !isClosed, isOpen else {
            continuation.resume(throwing: P2PError.connectionClosed(closeReason ?? "not open"))
            return
        }
        nextRequest += 1
        opens[nextRequest] = continuation
        handle(.openStream(protocols: protocols, request: nextRequest))
        updateInterest()
    }

    /// The application took `count` bytes of the stream: the peer's window is credited.
    func consumed(_ stream: P2PStream, _ count: Int) {
        handle(.consumed(stream: stream.id, count: count))
        updateInterest()
    }

    /// The output capacity a bulk writer needs: the high-water mark and 512 KiB more.
    ///
    /// That holds one more sealed write (256 KiB) with room to spare. It is reserved at a stream's first bulk write
    /// and kept while output drains, so a busy connection does not grow its buffer again (copying it) on every
    /// burst; anything larger is given back.
    private var bulkCapacity: Int { host.config.outputHighWater + (1 << 19) }

    /// Queues the stream's pending write; the machine reports it complete once sealed within the window.
    func write(_ stream: P2PStream, _ bytes: [UInt8]) {
        if bytes.count >= 1 << 16 && output.capacity < bulkCapacity { output.reserveCapacity(bulkCapacity) }
        handle(.write(stream: stream.id, bytes: bytes))
        updateInterest()
    }

    func closeWrite(_ stream: P2PStream) {
        guard !stream.localClosed, stream.failure == nil, !isClosed, isOpen else { return }
        stream.localClosed = true
        handle(.closeWrite(stream: stream.id))
        updateInterest()
        retireIfDone(stream)
    }

    /// The application abandons the stream: the peer is sent a reset.
    func reset(_ stream: P2PStream) {
        guard streams[stream.id] === stream else { return }
        failStream(stream, .streamReset)
        handle(.reset(stream: stream.id))
        updateInterest()
    }

    /// Forgets a stream both sides have closed and the application has read to the end.
    func retireIfDone(_ stream: P2PStream) {
        if stream.isDone { streams[stream.id] = nil }
    }

    /// Ends the stream for the application with `error`.
    private func failStream(_ stream: P2PStream, _ error: P2PError) {
        guard streams[stream.id] === stream else { return }
        streams[stream.id] = nil
        stream.fail(error)
    }

    // MARK: Closing

    /// Ends the connection normally (go-away first when open).
    func close(reason: String) {
        handle(.close(reason: reason))
    }

    /// Ends the connection on a socket failure.
    private func fail(_ error: P2PError) {
        transportError = error
        handle(.transportFailed(error.description))
    }

    /// The machine ended the connection: the last bytes (a go-away) go out if the socket takes them, every stream,
    /// pending open and dial waiter fails with `error`, and the host forgets the connection.
    private func finish(_ error: P2PError, reason: String) {
        guard !isClosed else { return }
        isClosed = true
        closeReason = reason
        writeOutput(bestEffort: true)
        if let timer { loop.cancel(timer.handle) }
        timer = nil
        log("connection \(label) closed: \(reason)", ["reason": reason])
        for stream in Array(streams.values) { failStream(stream, error) }
        for (_, open) in opens { open.resume(throwing: P2PError.streamReset) }
        opens = [:]
        for waiter in waiters { waiter.resume(throwing: error) }
        waiters = []
        output = []
        outputOffset = 0
        loop.deregister(fd)
        host.removed(self)
    }
}
