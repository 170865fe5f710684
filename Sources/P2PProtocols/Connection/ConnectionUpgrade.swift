import Codec
import Crypto
import Runtime

/// One libp2p connection as a pure state machine: multistream-select `/noise`, the Noise XX handshake with
/// identity payloads (the dialer checks the peer id it expected), multistream-select `/yamux/1.0.0` inside the
/// encrypted channel, then the Yamux session — streams opened both ways with per-stream protocol negotiation,
/// data within flow-control windows (credited only as the application consumes), half-close, reset and go-away —
/// and the idle, stall, handshake and negotiation deadlines.
///
/// Bytes and requests go in as events, with the time; writes, timers, stream news and the end of the
/// connection come out as actions. It reads no clock, draws no randomness (keys are inputs) and touches no
/// socket, so a shell, a test and a simulator all run the same code. After `.close` or `.protocolViolation`
/// the connection is over: the shell fails every stream and pending open it still holds with that reason.
public struct ConnectionUpgrade: Sendable {
    /// The security protocol negotiated first.
    public static let noiseProtocol = "/noise"
    /// The stream muxer negotiated inside the encrypted channel.
    public static let yamuxProtocol = "/yamux/1.0.0"

    /// Which end of the connection this is.
    public enum Role: Sendable, Equatable {
        /// The side that connected; when `expectedPeer` is set, a peer proving another id is refused.
        case dialer(expectedPeer: PeerID?)
        /// The side that accepted.
        case listener
    }

    /// Where the upgrade is.
    public enum Phase: Sendable, Equatable {
        /// The dialer waits for its socket to connect.
        case connecting
        /// multistream-select `/noise`.
        case securitySelect
        /// The Noise XX handshake.
        case handshake
        /// multistream-select `/yamux/1.0.0`, encrypted.
        case muxerSelect
        /// Waiting for the shell to admit the authenticated peer (`ConnectionConfig.holdsForAdmission`).
        case admission
        /// The Yamux session runs.
        case open
        /// Ended; every further event is ignored.
        case closed
    }

    /// A point in the upgrade where the machine can be told to stop (`stopAt`), so that a harness can run as much
    /// of the real upgrade as it needs and then speak raw bytes, or a test can look at each step.
    public enum Checkpoint: Sendable, Equatable {
        /// `/noise` agreed; no handshake message sent yet.
        case securitySelected
        /// Dialer only: handshake message 2 read and the peer verified; message 3 not sent yet.
        case secondHandshakeMessageRead
        /// The handshake is complete and the transport keys split; muxer negotiation not begun.
        case handshakeComplete
    }

    /// What happened: the shell reports socket news and the application's requests.
    public enum Event: Sendable {
        /// The socket is connected (the dialer's connect finished; a listener sends it on accept).
        case connected
        /// Bytes read from the socket.
        case received(ArraySlice<UInt8>)
        /// The socket took `count` bytes of what `.send` handed out or `appendingTo` appended (traffic for the idle
        /// and stall timers; room under `ConnectionConfig.outputHighWater` for queued writes).
        case sent(count: Int)
        /// The application wants a stream on the first of `protocols` the peer supports; `request` names the
        /// answer (`.outboundStreamReady` or `.outboundStreamFailed`).
        case openStream(protocols: [String], request: UInt64)
        /// The application writes on a negotiated stream (`.streamWriteCompleted` once all is within the window).
        case write(stream: UInt32, bytes: [UInt8])
        /// The application will write no more on the stream (FIN after what is still queued).
        case closeWrite(stream: UInt32)
        /// The application abandons the stream (RST).
        case reset(stream: UInt32)
        /// The application consumed `count` bytes delivered on the stream: the peer's window is credited.
        case consumed(stream: UInt32, count: Int)
        /// The shell's answer to `.admissionRequired`: nil admits, a text refuses.
        case admit(refusal: String?)
        /// A timer fired (or the shell's periodic tick).
        case tick
        /// The shell closes the connection normally (go-away first when open).
        case close(reason: String)
        /// The peer closed the socket.
        case peerClosed
        /// The socket failed.
        case transportFailed(String)
    }

    /// What the shell must do.
    public enum Action: Sendable, Equatable {
        /// Write these bytes (ciphertext once the handshake is done) to the socket, in order (with
        /// `on(_:now:appendingTo:)` they are appended to the shell's buffer instead).
        case send([UInt8])
        /// Call back with `.tick` no later than this instant. The machine asks only for a deadline earlier than the
        /// last it asked for (or for any after a `.tick`), so a shell keeps its earliest armed timer and arms this one
        /// only when earlier; a `.tick` that comes early is harmless (the machine asks for the next deadline).
        case scheduleTimer(at: Instant)
        /// The upgrade stopped at `stopAt`; `resume(now:)` continues it.
        case halted(Checkpoint)
        /// The peer is authenticated; answer with `.admit(refusal:)`.
        case admissionRequired(PeerID)
        /// The connection is upgraded; the peer proved this id.
        case established(PeerID)
        /// The peer opened a stream and both agreed on `protocolID`.
        case inboundStream(stream: UInt32, protocolID: String)
        /// The stream asked for by `request` is open on `protocolID`.
        case outboundStreamReady(request: UInt64, stream: UInt32, protocolID: String)
        /// The stream asked for by `request` could not be opened.
        case outboundStreamFailed(request: UInt64, reason: StreamFailure)
        /// Data arrived on a stream; report `.consumed` as the application takes it.
        case streamData(stream: UInt32, bytes: [UInt8])
        /// Every byte written so far on the stream is within the window and sealed into `.send`.
        case streamWriteCompleted(stream: UInt32)
        /// The peer half-closed the stream: it sends no more.
        case streamRemoteClosed(stream: UInt32)
        /// The stream ended early (a reset by the peer, a failed negotiation). It may name an inbound stream the
        /// application never saw (one that failed its negotiation): the shell only logs that.
        case streamReset(stream: UInt32, reason: StreamFailure)
        /// The peer sent go-away (0 normal, 1 protocol error, 2 internal error): it opens no more streams.
        case peerGoingAway(code: UInt32)
        /// Close the socket: the connection ended for this reason.
        case close(ConnectionCloseReason)
        /// Close the socket: the peer broke the protocol.
        case protocolViolation(ConnectionViolation)
    }

    /// How the connection ends, carried up from where it is noticed to `on`, which turns it into an action.
    enum Ending: Error {
        case close(ConnectionCloseReason)
        case violation(ConnectionViolation)
    }

    struct Stream {
        var negotiation: MultistreamSelect?
        var negotiationDeadline: Instant
        /// The application's name for an outbound stream until it is ready.
        var request: UInt64?
        var protocolID: String?
        var pendingWrites: [[UInt8]] = []
        var pendingOffset = 0
        var closeRequested = false
        var localClosed = false
        var remoteClosed = false
        /// Delivered to the application and not yet reported consumed.
        var unconsumed = 0
    }

    /// This side's role.
    public let role: Role
    /// The limits and timeouts.
    public let config: ConnectionConfig
    /// The protocols served on inbound streams (the shell updates it as handlers come and go).
    public var supportedProtocols: [String]
    /// Where to stop the upgrade next; nil runs it through.
    public var stopAt: Checkpoint?
    /// Where the upgrade is.
    public private(set) var phase: Phase
    /// The checkpoint the machine stopped at, until `resume(now:)`.
    public private(set) var halted: Checkpoint?
    /// The peer id the remote side proved in the handshake.
    public private(set) var remotePeer: PeerID?

    private let keys: ConnectionKeys
    private var select: MultistreamSelect?
    private var handshake: NoiseXXHandshake?
    private var handshakeBuffer: [UInt8] = []
    /// Bytes received while halted, in the form the current phase reads them.
    private var held: [UInt8] = []
    /// Plaintext received while waiting for admission.
    private var admissionBuffer: [UInt8] = []
    private var transport: NoiseTransport?
    private var session: YamuxSession?
    private var streams: [UInt32: Stream] = [:]
    private var writers: Set<UInt32> = []
    private let handshakeDeadline: Instant
    private var lastActivity: Instant
    private var scheduledTimer: Instant?
    /// The time of the event being handled.
    private var now: Instant
    // What the event being handled produces.
    private var output: [UInt8] = []
    /// Where this event's bytes start in `output` (non-zero while sealing into a shell's buffer).
    private var outputBase = 0
    /// Whether produced bytes go out as `.send` (false while appending to a shell's buffer).
    private var emitsSends = true
    private var actions: [Action] = []
    private var sealFailure: NoiseError?
    /// Bytes handed out in `.send` that the shell has not reported sent (with `outputHighWater` only).
    private var unsent = 0

    /// A connection at its start; `now` starts the handshake deadline (dial plus handshake timeout for a dialer).
    public init(
        role: Role, keys: ConnectionKeys, supportedProtocols: [String], config: ConnectionConfig = ConnectionConfig(),
        stopAt: Checkpoint? = nil, now: Instant
    ) {
        self.role = role
        self.keys = keys
        self.supportedProtocols = supportedProtocols
        self.config = config
        self.stopAt = stopAt
        phase = .connecting
        let dialer = if case .dialer = role { true } else { false }
        handshakeDeadline = now.advanced(bySeconds: (dialer ? config.dialTimeout : 0) + config.handshakeTimeout)
        lastActivity = now
        self.now = now
    }

    /// Whether this side dialed.
    public var isInitiator: Bool { if case .dialer = role { true } else { false } }

    /// Whether the Yamux session runs.
    public var isOpen: Bool { phase == .open }

    /// Streams open or negotiating.
    public var streamCount: Int { streams.count }

    /// When the machine next needs a `.tick` (a dialer's shell arms it at creation, before `.connected`).
    public var nextTimer: Instant? { nextDeadline }

    /// How many bytes the stream may send now (what a shell bounds its queued output with).
    public func sendWindow(stream: UInt32) -> UInt32 { session?.sendWindow(stream) ?? 0 }

    /// Handles one event at `now`; returns what the shell must do, in order.
    public mutating func on(_ event: Event, now: Instant) -> [Action] {
        guard phase != .closed else { return [] }
        self.now = now
        do throws(Ending) {
            switch event {
            case .connected:
                start()
            case .received(let bytes):
                guard !bytes.isEmpty else { break }
                lastActivity = now
                try process(bytes)
            case .sent(let count):
                guard count > 0 else { break }
                lastActivity = now
                unsent = max(0, unsent - count)
            case .openStream(let protocols, let request):
                openStream(protocols: protocols, request: request)
            case .write(let id, let bytes):
                write(id, bytes)
            case .closeWrite(let id):
                closeWrite(id)
            case .reset(let id):
                resetStream(id, reason: .resetByPeer, notifyPeer: true, report: false)
            case .consumed(let id, let count):
                consumed(id, count)
            case .admit(let refusal):
                try admit(refusal: refusal)
            case .tick:
                scheduledTimer = nil
                try tick()
            case .close(let reason):
                throw .close(.requested(reason))
            case .peerClosed:
                throw .close(.peerClosed)
            case .transportFailed(let why):
                throw .close(.transportFailed(why))
            }
            if phase == .open && !writers.isEmpty { try serviceWriters() }
        } catch {
            end(error)
        }
        return finishEvent()
    }

    /// Handles one event like `on(_:now:)`, but appends the bytes to write to `output` instead of returning them
    /// as `.send`: a shell with its own output buffer gets ciphertext sealed straight into it, without a copy.
    public mutating func on(_ event: Event, now: Instant, appendingTo output: inout [UInt8]) -> [Action] {
        swap(&self.output, &output)
        outputBase = self.output.count
        emitsSends = false
        defer {
            swap(&self.output, &output)
            outputBase = 0
            emitsSends = true
        }
        return on(event, now: now)
    }

    /// Continues the upgrade from the checkpoint it stopped at (bytes received meanwhile are read now).
    public mutating func resume(now: Instant) -> [Action] {
        guard phase != .closed, let checkpoint = halted else { return [] }
        self.now = now
        halted = nil
        let pending = held
        held = []
        do throws(Ending) {
            switch checkpoint {
            case .securitySelected:
                try beginHandshake(rest: pending)
            case .secondHandshakeMessageRead:
                try writeFinalHandshakeMessage()
                try completeHandshake()
                try process(pending[...])
            case .handshakeComplete:
                beginMuxerSelect()
                try process(pending[...])
            }
        } catch {
            end(error)
        }
        return finishEvent()
    }

    /// Seals `plaintext` into Noise transport frames outside the Yamux session, for harnesses that break the
    /// protocol on purpose once the handshake is done.
    public mutating func sealRaw(_ plaintext: [UInt8]) throws(NoiseError) -> [UInt8] {
        guard transport != nil else { throw .outOfOrder("transport without keys") }
        return try transport!.seal(plaintext)
    }

    // MARK: Output and timers

    private mutating func seal(_ plaintext: [UInt8]) {
        guard !plaintext.isEmpty, transport != nil, sealFailure == nil else { return }
        do {
            try transport!.sealAppending(plaintext, to: &output)
        } catch {
            sealFailure = error
        }
    }

    private mutating func finishEvent() -> [Action] {
        if let failure = sealFailure {
            sealFailure = nil
            end(.violation(.noise(failure)))
        }
        if produced > 0 {
            lastActivity = now
            if config.outputHighWater != nil { unsent += produced }
            handOutOutput()
        }
        if let deadline = nextDeadline, scheduledTimer.map({ deadline < $0 }) ?? true {
            scheduledTimer = deadline
            actions.append(.scheduleTimer(at: deadline))
        }
        defer { actions = [] }
        return actions
    }

    /// Bytes this event produced so far.
    private var produced: Int { output.count - outputBase }

    /// Hands this event's bytes to the shell: as `.send`, or left in the shell's buffer.
    private mutating func handOutOutput() {
        if emitsSends {
            actions.append(.send(output))
            output = []
        } else {
            outputBase = output.count
        }
    }

    private var nextDeadline: Instant? {
        switch phase {
        case .closed:
            return nil
        case .open:
            var deadline = lastActivity.advanced(
                bySeconds: streams.isEmpty ? config.idleTimeout : config.stallTimeout)
            for stream in streams.values where stream.negotiation != nil {
                deadline = min(deadline, stream.negotiationDeadline)
            }
            return deadline
        default:
            return halted == nil ? handshakeDeadline : nil
        }
    }

    private mutating func tick() throws(Ending) {
        switch phase {
        case .closed:
            return
        case .open:
            let quiet = now.seconds(since: lastActivity)
            if streams.isEmpty && quiet >= config.idleTimeout {
                throw .close(.idle(seconds: Int(config.idleTimeout)))
            }
            if !streams.isEmpty && quiet >= config.stallTimeout {
                throw .close(.timeout(.stall(seconds: Int(config.stallTimeout))))
            }
            for id in streams.keys.sorted() {
                guard let stream = streams[id], stream.negotiation != nil, now >= stream.negotiationDeadline else {
                    continue
                }
                resetStream(id, reason: .negotiationTimeout, notifyPeer: true, report: true)
            }
        default:
            if now >= handshakeDeadline { throw .close(.timeout(phase == .connecting ? .connect : .handshake)) }
        }
    }

    /// Ends the connection: go-away first when the session runs (code 0 for a normal close, 1 for a violation;
    /// none when the peer or the socket is already gone).
    private mutating func end(_ ending: Ending) {
        guard phase != .closed else { return }
        if phase == .open {
            switch ending {
            case .violation: seal(session!.goAway(code: 1))
            case .close(.requested), .close(.idle): seal(session!.goAway(code: 0))
            case .close: break
            }
        }
        phase = .closed
        streams = [:]
        writers = []
        held = []
        admissionBuffer = []
        if produced > 0 { handOutOutput() }
        switch ending {
        case .close(let reason): actions.append(.close(reason))
        case .violation(let violation): actions.append(.protocolViolation(violation))
        }
    }

    // MARK: The upgrade

    private mutating func start() {
        guard phase == .connecting else { return }
        phase = .securitySelect
        output += startNegotiation(Self.noiseProtocol)
    }

    /// Stops at `checkpoint` when asked to, keeping `rest` for `resume`.
    private mutating func halt(at checkpoint: Checkpoint, rest: [UInt8]) -> Bool {
        guard stopAt == checkpoint else { return false }
        halted = checkpoint
        held += rest
        actions.append(.halted(checkpoint))
        return true
    }

    /// Routes received bytes by phase (held while halted).
    private mutating func process(_ bytes: ArraySlice<UInt8>) throws(Ending) {
        guard !bytes.isEmpty else { return }
        if halted != nil {
            held += bytes
            return
        }
        switch phase {
        case .securitySelect:
            try receiveSecuritySelect(bytes)
        case .handshake:
            handshakeBuffer += bytes
            while phase == .handshake, halted == nil, let frame = NoiseTransport.unframe(&handshakeBuffer) {
                try handshakeMessage(frame)
            }
            if (phase != .handshake || halted != nil) && !handshakeBuffer.isEmpty {
                let rest = handshakeBuffer
                handshakeBuffer = []
                try process(rest[...])
            }
        case .muxerSelect:
            try receiveMuxerSelect(try open(bytes))
        case .admission:
            admissionBuffer += try open(bytes)
        case .open:
            try receiveYamux(try open(bytes))
        case .connecting, .closed:
            return
        }
    }

    private mutating func open(_ bytes: ArraySlice<UInt8>) throws(Ending) -> [UInt8] {
        do {
            return try transport!.open(bytes)
        } catch {
            throw .violation(.noise(error))
        }
    }

    /// Feeds the connection-level negotiation of `name` (security or muxer).
    ///
    /// Returns what followed the agreement once `name` is agreed, nil while it is not. Replies go out in the clear
    /// or sealed, by phase.
    private mutating func negotiateConnection(_ name: String, _ bytes: [UInt8]) throws(Ending) -> [UInt8]? {
        let reply: [UInt8]
        do {
            reply = try select!.receive(bytes)
        } catch {
            throw .violation(.multistream(error))
        }
        if transport == nil { output += reply } else { seal(reply) }
        guard let outcome = select!.outcome else { return nil }
        guard outcome == .selected(name) else { throw .close(.protocolNotSupported([name])) }
        defer { select = nil }
        return select!.remainder
    }

    /// Starts the connection-level negotiation of `name`: the dialer proposes it, the listener supports it alone.
    private mutating func startNegotiation(_ name: String) -> [UInt8] {
        select = MultistreamSelect(role: isInitiator ? .initiator(proposals: [name]) : .listener(supported: [name]))
        return select!.start()
    }

    private mutating func receiveSecuritySelect(_ bytes: ArraySlice<UInt8>) throws(Ending) {
        guard let rest = try negotiateConnection(Self.noiseProtocol, Array(bytes)) else { return }
        phase = .handshake
        handshake = NoiseXXHandshake(
            role: isInitiator ? .initiator : .responder, hash: .sha256, prologue: [], staticKey: keys.staticKey,
            ephemeralKey: keys.ephemeralKey)
        if halt(at: .securitySelected, rest: rest) { return }
        try beginHandshake(rest: rest)
    }

    private mutating func beginHandshake(rest: [UInt8]) throws(Ending) {
        if isInitiator { try writeHandshakeMessage(payload: []) }
        try process(rest[...])
    }

    private mutating func writeHandshakeMessage(payload: [UInt8]) throws(Ending) {
        do {
            output += try NoiseTransport.frame(try handshake!.writeMessage(payload: payload))
        } catch {
            throw .violation(.noise(error))
        }
    }

    private mutating func handshakeMessage(_ frame: [UInt8]) throws(Ending) {
        let peer: PeerID
        do {
            let payload = try handshake!.readMessage(frame)
            if !isInitiator && handshake!.step == 1 {
                try writeHandshakeMessage(payload: keys.payload)
                return
            }
            peer = try NoiseHandshakePayload(encoded: payload).verify(remoteStatic: handshake!.remoteStatic!)
        } catch let error as Ending {
            throw error
        } catch let error as NoiseError {
            throw .violation(.noise(error))
        } catch {
            throw .violation(.noise(.malformedMessage("\(error)")))
        }
        if case .dialer(let expected?) = role, expected != peer {
            throw .close(.peerIDMismatch(expected: expected, actual: peer))
        }
        remotePeer = peer
        if isInitiator {
            if halt(at: .secondHandshakeMessageRead, rest: []) { return }
            try writeFinalHandshakeMessage()
        }
        try completeHandshake()
    }

    private mutating func writeFinalHandshakeMessage() throws(Ending) {
        try writeHandshakeMessage(payload: keys.payload)
    }

    private mutating func completeHandshake() throws(Ending) {
        let split: (send: NoiseCipherState, receive: NoiseCipherState)
        do {
            split = try handshake!.split()
        } catch {
            throw .violation(.noise(error))
        }
        handshake = nil
        transport = NoiseTransport(send: split.send, receive: split.receive)
        if halt(at: .handshakeComplete, rest: []) { return }
        beginMuxerSelect()
    }

    private mutating func beginMuxerSelect() {
        phase = .muxerSelect
        seal(startNegotiation(Self.yamuxProtocol))
    }

    private mutating func receiveMuxerSelect(_ plaintext: [UInt8]) throws(Ending) {
        guard let rest = try negotiateConnection(Self.yamuxProtocol, plaintext) else { return }
        if config.holdsForAdmission {
            phase = .admission
            admissionBuffer = rest
            actions.append(.admissionRequired(remotePeer!))
            return
        }
        try openSession(rest)
    }

    private mutating func admit(refusal: String?) throws(Ending) {
        guard phase == .admission else { return }
        if let refusal { throw .close(.refused(refusal)) }
        let rest = admissionBuffer
        admissionBuffer = []
        try openSession(rest)
    }

    private mutating func openSession(_ rest: [UInt8]) throws(Ending) {
        session = YamuxSession(
            isClient: isInitiator, maxStreams: config.maxStreams, maxReceiveWindow: config.maxStreamWindow,
            receiveBudget: config.receiveBudget)
        phase = .open
        actions.append(.established(remotePeer!))
        try receiveYamux(rest)
    }

    // MARK: Yamux and streams

    private mutating func receiveYamux(_ plaintext: [UInt8]) throws(Ending) {
        guard !plaintext.isEmpty else { return }
        let events: [YamuxSession.Event]
        do {
            let (received, reply) = try session!.receive(plaintext)
            events = received
            seal(reply)
        } catch {
            throw .violation(.yamux(error))
        }
        for event in events {
            switch event {
            case .streamOpened(let id):
                var negotiation = MultistreamSelect(role: .listener(supported: supportedProtocols))
                streams[id] = Stream(
                    negotiation: negotiation, negotiationDeadline: now.advanced(bySeconds: config.handshakeTimeout))
                sendNegotiation(id, negotiation.start())
            case .data(let id, let payload):
                guard let stream = streams[id] else { continue }
                if stream.negotiation != nil {
                    negotiate(id, payload)
                } else {
                    streams[id]!.unconsumed += payload.count
                    actions.append(.streamData(stream: id, bytes: payload))
                }
            case .remoteClosed(let id):
                guard let stream = streams[id] else { continue }
                streams[id]!.remoteClosed = true
                if stream.negotiation != nil {
                    resetStream(id, reason: .closedDuringNegotiation, notifyPeer: true, report: true)
                } else {
                    actions.append(.streamRemoteClosed(stream: id))
                    retireIfDone(id)
                }
            case .streamReset(let id):
                resetStream(id, reason: .resetByPeer, notifyPeer: false, report: true)
            case .pong:
                continue
            case .goAway(let code):
                actions.append(.peerGoingAway(code: code))
            }
        }
    }

    /// Sends negotiation messages on a stream; they must fit its window.
    private mutating func sendNegotiation(_ id: UInt32, _ bytes: [UInt8]) {
        guard !bytes.isEmpty else { return }
        let framed: (bytes: [UInt8], sent: Int)
        do {
            framed = try session!.send(id, bytes)
        } catch {
            resetStream(id, reason: .session(error), notifyPeer: true, report: true)
            return
        }
        guard framed.sent == bytes.count else {
            resetStream(id, reason: .negotiationExceededWindow, notifyPeer: true, report: true)
            return
        }
        seal(framed.bytes)
    }

    private mutating func negotiate(_ id: UInt32, _ payload: [UInt8]) {
        let reply: [UInt8]
        do {
            reply = try streams[id]!.negotiation!.receive(payload)
        } catch {
            resetStream(id, reason: .negotiation(error), notifyPeer: true, report: true)
            return
        }
        sendNegotiation(id, reply)
        guard let negotiation = streams[id]?.negotiation else { return }
        guard let outcome = negotiation.outcome else {
            credit(id, payload.count)
            return
        }
        let rest = negotiation.remainder
        streams[id]!.negotiation = nil
        // Negotiation bytes are this side's to credit; what follows them waits for the application.
        credit(id, payload.count - rest.count)
        switch outcome {
        case .selected(let name):
            streams[id]!.protocolID = name
            if let request = streams[id]!.request {
                streams[id]!.request = nil
                actions.append(.outboundStreamReady(request: request, stream: id, protocolID: name))
            } else {
                actions.append(.inboundStream(stream: id, protocolID: name))
            }
            if !rest.isEmpty {
                streams[id]!.unconsumed += rest.count
                actions.append(.streamData(stream: id, bytes: rest))
            }
        case .unsupported:
            resetStream(id, reason: .protocolNotSupported, notifyPeer: true, report: true)
        }
    }

    private mutating func credit(_ id: UInt32, _ count: Int) {
        guard count > 0, session != nil else { return }
        seal(session!.consumed(id, count))
    }

    private mutating func consumed(_ id: UInt32, _ count: Int) {
        guard phase == .open, let stream = streams[id], count > 0 else { return }
        streams[id]!.unconsumed = max(0, stream.unconsumed - count)
        credit(id, count)
        retireIfDone(id)
    }

    private mutating func openStream(protocols: [String], request: UInt64) {
        guard phase == .open else {
            actions.append(.outboundStreamFailed(request: request, reason: .notOpen))
            return
        }
        let opened: (id: UInt32, bytes: [UInt8])
        do {
            opened = try session!.openStream()
        } catch {
            actions.append(.outboundStreamFailed(request: request, reason: .session(error)))
            return
        }
        var negotiation = MultistreamSelect(role: .initiator(proposals: protocols))
        let hello = negotiation.start()
        streams[opened.id] = Stream(
            negotiation: negotiation, negotiationDeadline: now.advanced(bySeconds: config.handshakeTimeout),
            request: request)
        seal(opened.bytes)
        sendNegotiation(opened.id, hello)
    }

    private mutating func write(_ id: UInt32, _ bytes: [UInt8]) {
        guard phase == .open, let stream = streams[id], stream.protocolID != nil, !stream.closeRequested else { return }
        streams[id]!.pendingWrites.append(bytes)
        writers.insert(id)
    }

    private mutating func serviceWriters() throws(Ending) {
        for id in writers.sorted() { try serviceWrite(id) }
    }

    /// Seals as much of the stream's queued writes as its send window allows, in frames of at most 256 KiB.
    private mutating func serviceWrite(_ id: UInt32) throws(Ending) {
        guard var stream = streams.removeValue(forKey: id) else {
            writers.remove(id)
            return
        }
        var completed = false
        while let first = stream.pendingWrites.first {
            let remaining = first.count - stream.pendingOffset
            if remaining == 0 {
                stream.pendingWrites.removeFirst()
                stream.pendingOffset = 0
                completed = true
                continue
            }
            let window = Int(session!.sendWindow(id))
            guard window > 0, sealFailure == nil, hasOutputRoom else { break }
            let count = min(remaining, window, 1 << 18)
            do {
                let header = try session!.reserve(id, count)
                try transport!.sealAppending(
                    header: header, body: first[stream.pendingOffset..<(stream.pendingOffset + count)], to: &output)
            } catch let error as YamuxSession.SessionError {
                streams[id] = stream
                throw .violation(.yamux(error))
            } catch let error as NoiseError {
                streams[id] = stream
                throw .violation(.noise(error))
            } catch {
                streams[id] = stream
                throw .violation(.noise(.malformedMessage("\(error)")))
            }
            stream.pendingOffset += count
        }
        streams[id] = stream
        if stream.pendingWrites.isEmpty {
            writers.remove(id)
            if completed { actions.append(.streamWriteCompleted(stream: id)) }
            if stream.closeRequested && !stream.localClosed { finishCloseWrite(id) }
        }
    }

    /// Whether queued writes may be sealed now: the output not yet sent is below the high-water mark.
    private var hasOutputRoom: Bool {
        guard let highWater = config.outputHighWater else { return true }
        return unsent + produced < highWater
    }

    private mutating func closeWrite(_ id: UInt32) {
        guard phase == .open, let stream = streams[id], stream.protocolID != nil, !stream.closeRequested else { return }
        streams[id]!.closeRequested = true
        if stream.pendingWrites.isEmpty { finishCloseWrite(id) }
    }

    private mutating func finishCloseWrite(_ id: UInt32) {
        streams[id]!.localClosed = true
        seal(session!.close(id))
        retireIfDone(id)
    }

    private mutating func retireIfDone(_ id: UInt32) {
        guard let stream = streams[id] else { return }
        if stream.localClosed && stream.remoteClosed && stream.unconsumed == 0 && stream.pendingWrites.isEmpty {
            streams[id] = nil
        }
    }

    /// Ends one stream; tells the shell when `report`, the peer when `notifyPeer`.
    private mutating func resetStream(_ id: UInt32, reason: StreamFailure, notifyPeer: Bool, report: Bool) {
        guard let stream = streams.removeValue(forKey: id) else { return }
        writers.remove(id)
        if notifyPeer, phase == .open { seal(session!.reset(id)) }
        guard report else { return }
        if let request = stream.request {
            actions.append(.outboundStreamFailed(request: request, reason: reason))
        } else {
            actions.append(.streamReset(stream: id, reason: reason))
        }
    }
}
