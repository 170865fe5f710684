import Codec
import Crypto
import EventLoop
import Foundation

#if canImport(Glibc)
    import Glibc
#endif

/// One TCP connection through the whole libp2p upgrade — multistream-select `/noise`, the Noise XX handshake
/// with identity payloads, multistream-select `/yamux/1.0.0` inside the encrypted channel — and then the Yamux
/// session and its streams. Lives on the host's loop thread; every failure closes only this connection, with
/// a logged reason.
final class Connection: LoopHandler, @unchecked Sendable {
    enum Phase { case connecting, securitySelect, handshake, muxerSelect, open, closed }

    static let noiseProtocol = "/noise"
    static let yamuxProtocol = "/yamux/1.0.0"

    let fd: Int32
    let host: P2PHost
    var loop: EventLoop { host.loop }
    let isInitiator: Bool
    let expectedPeer: PeerID?
    let remoteAddress: Multiaddr
    private(set) var phase: Phase
    private(set) var remotePeer: PeerID?
    private var select: MultistreamSelect?
    private var handshake: NoiseXXHandshake?
    private var handshakeBuffer: [UInt8] = []
    private var transport: NoiseTransport?
    private var session: YamuxSession?
    private var output: [UInt8] = []
    private var outputOffset = 0
    private(set) var streams: [UInt32: P2PStream] = [:]
    private var writers: Set<UInt32> = []
    private var handshakeDeadline: Double
    private var lastActivity: Double
    private var waiters: [CheckedContinuation<PeerID, any Error>] = []
    private(set) var closeReason: String?

    init(fd: Int32, host: P2PHost, isInitiator: Bool, expectedPeer: PeerID?, remoteAddress: Multiaddr, now: Double) {
        self.fd = fd
        self.host = host
        self.isInitiator = isInitiator
        self.expectedPeer = expectedPeer
        self.remoteAddress = remoteAddress
        phase = isInitiator ? .connecting : .securitySelect
        handshakeDeadline = now + (isInitiator ? host.config.dialTimeout : 0) + host.config.handshakeTimeout
        lastActivity = now
    }

    var isOpen: Bool { phase == .open }
    private var pendingOutput: Int { output.count - outputOffset }
    private var label: String { "\(remoteAddress)\(remotePeer.map { "/p2p/\($0)" } ?? "")" }

    func addWaiter(_ continuation: CheckedContinuation<PeerID, any Error>) {
        if phase == .open, let remotePeer {
            continuation.resume(returning: remotePeer)
        } else {
            waiters.append(continuation)
        }
    }

    /// Starts the upgrade once the socket is connected (the listener side starts at once).
    func start() {
        select = MultistreamSelect(
            role: isInitiator
                ? .initiator(proposals: [Self.noiseProtocol]) : .listener(supported: [Self.noiseProtocol]))
        phase = .securitySelect
        queue(select!.start())
        flush()
    }

    // MARK: Socket events

    func ready(readable: Bool, writable: Bool, hangup: Bool) {
        if phase == .connecting {
            guard writable || hangup else { return }
            let error = Socket.pendingError(fd)
            guard error == 0 else {
                fail(.dialFailed("connect to \(remoteAddress): \(String(cString: strerror(error)))"))
                return
            }
            start()
            updateInterest()
            return
        }
        if writable {
            flush()
            if !writers.isEmpty && pendingOutput < host.config.outputHighWater { serviceWriters() }
        }
        if readable || hangup { readSocket() }
        if phase != .closed { updateInterest() }
    }

    private func readSocket() {
        for _ in 0..<16 where phase != .closed && pendingOutput < host.config.outputHighWater {
            switch host.readBuffer.withUnsafeMutableBytes({ Syscall.read(fd, into: $0) }) {
            case .done(let received):
                lastActivity = loop.now().seconds
                receive(host.readBuffer[0..<received])
                continue
            case .closed: fail(.connectionClosed("the peer closed the connection"))
            case .failed(let code): fail(.io("read: \(Socket.describe(errno: code))"))
            case .wouldBlock: break
            }
            return
        }
    }

    /// Readable unless output is backed up (then the peer's input waits in the kernel); writable while output waits.
    private func updateInterest() {
        var interest: Interest = []
        if pendingOutput < host.config.outputHighWater { interest.insert(.readable) }
        if pendingOutput > 0 { interest.insert(.writable) }
        loop.setInterest(fd, interest)
    }

    private func queue(_ bytes: [UInt8]) {
        if outputOffset > 0 && outputOffset == output.count {
            output.removeAll(keepingCapacity: true)
            outputOffset = 0
        }
        output += bytes
    }

    private func queueEncrypted(_ plaintext: [UInt8]) {
        guard !plaintext.isEmpty, transport != nil else { return }
        do {
            try transport!.sealAppending(plaintext, to: &output)
        } catch {
            fail(.protocolViolation("\(error)"))
        }
    }

    func flush() {
        while phase != .closed && pendingOutput > 0 {
            let result = output.withUnsafeBytes {
                Syscall.send(fd, UnsafeRawBufferPointer(rebasing: $0[outputOffset...]))
            }
            if case .done(let sent) = result, sent > 0 {
                outputOffset += sent
                lastActivity = loop.now().seconds
                continue
            }
            if result == .wouldBlock { break }
            fail(.io("write: \(Socket.describe(errno: result.errorNumber))"))
            return
        }
        if pendingOutput == 0 {
            output.removeAll(keepingCapacity: output.capacity <= 1 << 20)
            outputOffset = 0
        } else if outputOffset >= 1 << 20 {
            output.removeFirst(outputOffset)
            outputOffset = 0
        }
    }

    // MARK: The upgrade

    private func receive(_ bytes: ArraySlice<UInt8>) {
        do {
            switch phase {
            case .securitySelect:
                try receiveSecuritySelect(bytes)
            case .handshake:
                handshakeBuffer += bytes
                while phase == .handshake, let frame = NoiseTransport.unframe(&handshakeBuffer) {
                    try handshakeMessage(frame)
                }
                if phase != .handshake && !handshakeBuffer.isEmpty {
                    let rest = handshakeBuffer
                    handshakeBuffer = []
                    receive(rest[...])
                }
            case .muxerSelect:
                try receiveMuxerSelect(try transport!.open(bytes))
            case .open:
                try receiveYamux(try transport!.open(bytes))
            case .connecting, .closed:
                return
            }
        } catch let error as P2PError {
            fail(error)
        } catch {
            fail(.protocolViolation("\(error)"))
        }
        flush()
    }

    private func receiveSecuritySelect(_ bytes: ArraySlice<UInt8>) throws {
        queue(try select!.receive(Array(bytes)))
        guard let outcome = select!.outcome else { return }
        guard outcome == .selected(Self.noiseProtocol) else {
            throw P2PError.protocolNotSupported([Self.noiseProtocol])
        }
        let rest = select!.remainder
        select = nil
        phase = .handshake
        handshake = NoiseXXHandshake(
            role: isInitiator ? .initiator : .responder, hash: .sha256, prologue: [], staticKey: host.staticKey,
            ephemeralKey: .generate())
        if isInitiator { queue(try NoiseTransport.frame(try handshake!.writeMessage(payload: []))) }
        if !rest.isEmpty { receive(rest[...]) }
    }

    private func handshakeMessage(_ frame: [UInt8]) throws {
        let payload = try handshake!.readMessage(frame)
        if !isInitiator && handshake!.step == 1 {
            queue(try NoiseTransport.frame(try handshake!.writeMessage(payload: host.noisePayload)))
            return
        }
        let peer = try NoiseHandshakePayload(encoded: payload).verify(remoteStatic: handshake!.remoteStatic!)
        if let expectedPeer, expectedPeer != peer {
            throw P2PError.peerIDMismatch(expected: expectedPeer, actual: peer)
        }
        remotePeer = peer
        if isInitiator { queue(try NoiseTransport.frame(try handshake!.writeMessage(payload: host.noisePayload))) }
        let keys = try handshake!.split()
        handshake = nil
        transport = NoiseTransport(send: keys.send, receive: keys.receive)
        phase = .muxerSelect
        select = MultistreamSelect(
            role: isInitiator ? .initiator(proposals: [Self.yamuxProtocol]) : .listener(supported: [Self.yamuxProtocol])
        )
        queueEncrypted(select!.start())
    }

    private func receiveMuxerSelect(_ plaintext: [UInt8]) throws {
        queueEncrypted(try select!.receive(plaintext))
        guard let outcome = select!.outcome else { return }
        guard outcome == .selected(Self.yamuxProtocol) else {
            throw P2PError.protocolNotSupported([Self.yamuxProtocol])
        }
        let rest = select!.remainder
        select = nil
        try host.admit(self, peer: remotePeer!)
        session = YamuxSession(
            isClient: isInitiator, maxStreams: host.config.maxStreamsPerConnection,
            maxReceiveWindow: host.config.maxStreamWindow, receiveBudget: host.config.connectionReceiveBudget)
        phase = .open
        for waiter in waiters { waiter.resume(returning: remotePeer!) }
        waiters = []
        host.established(self)
        if !rest.isEmpty { try receiveYamux(rest) }
    }

    // MARK: Yamux and streams

    private func receiveYamux(_ plaintext: [UInt8]) throws {
        guard !plaintext.isEmpty else { return }
        let (events, reply) = try session!.receive(plaintext)
        queueEncrypted(reply)
        for event in events {
            switch event {
            case .streamOpened(let id):
                let stream = P2PStream(
                    id: id, connection: self, remotePeer: remotePeer!,
                    deadline: loop.now().seconds + host.config.handshakeTimeout)
                stream.negotiation = MultistreamSelect(role: .listener(supported: host.protocolNames))
                streams[id] = stream
                queueStream(stream, stream.negotiation!.start())
            case .data(let id, let payload):
                guard let stream = streams[id] else { continue }
                if stream.negotiation != nil {
                    try negotiate(stream, payload)
                } else {
                    if stream.buffered == 0 {
                        stream.inbound = payload
                        stream.inboundOffset = 0
                    } else {
                        stream.inbound += payload
                    }
                    serviceRead(stream)
                }
            case .remoteClosed(let id):
                guard let stream = streams[id] else { continue }
                stream.remoteClosed = true
                if stream.negotiation != nil {
                    resetStream(stream, reason: .connectionClosed("stream closed during negotiation"), notifyPeer: true)
                } else {
                    serviceRead(stream)
                    retireIfDone(stream)
                }
            case .streamReset(let id):
                if let stream = streams[id] { resetStream(stream, reason: .streamReset, notifyPeer: false) }
            case .pong:
                continue
            case .goAway(let code):
                host.log("\(label): peer went away (code \(code))")
            }
        }
        if !writers.isEmpty { serviceWriters() }
    }

    private func queueStream(_ stream: P2PStream, _ bytes: [UInt8]) {
        guard !bytes.isEmpty else { return }
        do {
            let (frame, sent) = try session!.send(stream.id, bytes)
            guard sent == bytes.count else {
                resetStream(stream, reason: .protocolViolation("negotiation exceeded the window"), notifyPeer: true)
                return
            }
            queueEncrypted(frame)
        } catch {
            resetStream(stream, reason: .connectionClosed("\(error)"), notifyPeer: true)
        }
    }

    private func negotiate(_ stream: P2PStream, _ payload: [UInt8]) throws {
        let reply: [UInt8]
        do {
            reply = try stream.negotiation!.receive(payload)
        } catch {
            host.log("\(label): stream \(stream.id) negotiation failed: \(error)")
            resetStream(stream, reason: .protocolViolation("\(error)"), notifyPeer: true)
            return
        }
        queueStream(stream, reply)
        guard let outcome = stream.negotiation!.outcome else {
            credit(stream, payload.count)
            return
        }
        let rest = stream.negotiation!.remainder
        stream.negotiation = nil
        credit(stream, payload.count - rest.count)
        switch outcome {
        case .selected(let name):
            stream.protocolID = name
            stream.inbound = rest
            if let opened = stream.openContinuation {
                stream.openContinuation = nil
                opened.resume(returning: stream)
            } else {
                host.dispatch(stream)
            }
            serviceRead(stream)
        case .unsupported:
            resetStream(stream, reason: .protocolNotSupported([]), notifyPeer: true)
        }
    }

    private func credit(_ stream: P2PStream, _ count: Int) {
        guard count > 0, session != nil else { return }
        queueEncrypted(session!.consumed(stream.id, count))
    }

    /// Opens an outbound stream and negotiates the first of `protocols` the peer supports.
    func openStream(protocols: [String], continuation: CheckedContinuation<P2PStream, any Error>) {
        guard phase == .open, let remotePeer else {
            continuation.resume(throwing: P2PError.connectionClosed(closeReason ?? "not open"))
            return
        }
        do {
            let (id, syn) = try session!.openStream()
            let stream = P2PStream(
                id: id, connection: self, remotePeer: remotePeer,
                deadline: loop.now().seconds + host.config.handshakeTimeout)
            var negotiation = MultistreamSelect(role: .initiator(proposals: protocols))
            stream.openContinuation = continuation
            streams[id] = stream
            queueEncrypted(syn)
            let hello = negotiation.start()
            stream.negotiation = negotiation
            queueStream(stream, hello)
            flush()
        } catch {
            continuation.resume(throwing: P2PError.limit("cannot open a stream: \(error)"))
        }
    }

    func serviceRead(_ stream: P2PStream) {
        guard let pending = stream.pendingRead else { return }
        if stream.buffered > 0 {
            let count = min(pending.max, stream.buffered)
            let chunk: [UInt8]
            if stream.inboundOffset == 0 && count == stream.inbound.count {
                chunk = stream.inbound
                stream.inbound = []
            } else {
                chunk = Array(stream.inbound[stream.inboundOffset..<(stream.inboundOffset + count)])
                stream.inboundOffset += count
                if stream.inboundOffset == stream.inbound.count {
                    stream.inbound = []
                    stream.inboundOffset = 0
                }
            }
            stream.pendingRead = nil
            credit(stream, count)
            flush()
            pending.continuation.resume(returning: chunk)
        } else if let failure = stream.failure {
            stream.pendingRead = nil
            pending.continuation.resume(throwing: failure)
        } else if stream.remoteClosed {
            stream.pendingRead = nil
            pending.continuation.resume(returning: nil)
            retireIfDone(stream)
        }
    }

    func serviceWrite(_ stream: P2PStream) {
        guard var write = stream.pendingWrite else { return }
        if let failure = stream.failure {
            stream.pendingWrite = nil
            writers.remove(stream.id)
            write.continuation.resume(throwing: failure)
            return
        }
        while write.offset < write.bytes.count && pendingOutput < host.config.outputHighWater {
            let window = Int(session!.sendWindow(stream.id))
            guard window > 0 else { break }
            let count = min(write.bytes.count - write.offset, window, 1 << 18)
            do {
                let header = try session!.reserve(stream.id, count)
                try transport!.sealAppending(
                    header: header, body: write.bytes[write.offset..<(write.offset + count)], to: &output)
            } catch {
                fail(.protocolViolation("\(error)"))
                return
            }
            write.offset += count
        }
        if write.offset == write.bytes.count {
            stream.pendingWrite = nil
            writers.remove(stream.id)
            write.continuation.resume()
        } else {
            stream.pendingWrite = write
            writers.insert(stream.id)
        }
        flush()
    }

    private func serviceWriters() {
        for id in writers {
            if let stream = streams[id] { serviceWrite(stream) } else { writers.remove(id) }
        }
    }

    func closeWrite(_ stream: P2PStream) {
        guard !stream.localClosed, stream.failure == nil, phase == .open else { return }
        stream.localClosed = true
        queueEncrypted(session!.close(stream.id))
        flush()
        retireIfDone(stream)
    }

    private func retireIfDone(_ stream: P2PStream) {
        if stream.localClosed && stream.remoteClosed && stream.buffered == 0 && stream.pendingRead == nil {
            streams[stream.id] = nil
        }
    }

    func resetStream(_ stream: P2PStream, reason: P2PError, notifyPeer: Bool) {
        guard streams[stream.id] === stream else { return }
        streams[stream.id] = nil
        writers.remove(stream.id)
        stream.failure = reason
        if notifyPeer, phase == .open { queueEncrypted(session!.reset(stream.id)) }
        if let read = stream.pendingRead {
            stream.pendingRead = nil
            read.continuation.resume(throwing: reason)
        }
        if let write = stream.pendingWrite {
            stream.pendingWrite = nil
            write.continuation.resume(throwing: reason)
        }
        if let opened = stream.openContinuation {
            stream.openContinuation = nil
            opened.resume(throwing: reason == .protocolNotSupported([]) ? reason : P2PError.streamReset)
        }
    }

    // MARK: Timeouts and closing

    func tick(_ now: Double) {
        switch phase {
        case .closed:
            return
        case .open:
            if streams.isEmpty && now - lastActivity > host.config.idleTimeout {
                close(reason: "idle for \(Int(host.config.idleTimeout)) s")
                return
            }
            if !streams.isEmpty && now - lastActivity > host.config.stallTimeout {
                fail(.timeout("no progress for \(Int(host.config.stallTimeout)) s"))
                return
            }
            for stream in streams.values where stream.negotiation != nil && now > stream.negotiationDeadline {
                host.log("\(label): stream \(stream.id) did not negotiate a protocol in time")
                resetStream(stream, reason: .timeout("protocol negotiation"), notifyPeer: true)
            }
        default:
            if now > handshakeDeadline { fail(.timeout(phase == .connecting ? "connect" : "handshake")) }
        }
    }

    /// Ends the connection normally: go-away, then close.
    func close(reason: String) {
        guard phase != .closed else { return }
        if phase == .open {
            queueEncrypted(session!.goAway(code: 0))
            flush()
        }
        finish(.connectionClosed(reason), reason: reason, logged: true)
    }

    /// Ends the connection on an error; a Yamux violation is answered with go-away (protocol error).
    func fail(_ error: P2PError) {
        guard phase != .closed else { return }
        if phase == .open, case .protocolViolation = error {
            queueEncrypted(session!.goAway(code: 1))
            flush()
        }
        finish(error, reason: error.description, logged: true)
    }

    private func finish(_ error: P2PError, reason: String, logged: Bool) {
        phase = .closed
        closeReason = reason
        if logged { host.log("connection \(label) closed: \(reason)") }
        for stream in Array(streams.values) { resetStream(stream, reason: error, notifyPeer: false) }
        for waiter in waiters { waiter.resume(throwing: error) }
        waiters = []
        output = []
        outputOffset = 0
        loop.deregister(fd)
        host.removed(self)
    }
}
