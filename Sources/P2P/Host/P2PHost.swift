import Codec
import Crypto
import EventLoop
import Foundation
import Runtime
import Synchronization

#if canImport(Glibc)
    import Glibc
#endif

/// Limits and timeouts of a host.
public struct HostConfig: Sendable {
    /// Connections open or upgrading at once; past it inbound ones are closed on accept and dials fail.
    public var maxConnections = 1_024
    /// Open connections to one peer; a further one is refused once its handshake shows it is that peer.
    public var maxConnectionsPerPeer = 4
    /// Concurrent Yamux streams per connection; a peer opening more is refused with resets.
    public var maxStreamsPerConnection = 256
    /// Seconds a dial may take to connect, added to `handshakeTimeout`: a dialed connection has one deadline,
    /// `dialTimeout + handshakeTimeout` after the dial starts, for the TCP connect and the upgrade together.
    public var dialTimeout = 10.0
    /// Seconds to finish the upgrade; also the bound on each stream's protocol negotiation.
    public var handshakeTimeout = 10.0
    /// A connection without streams and without traffic for this long is closed.
    public var idleTimeout = 120.0
    /// A connection with streams that moves no byte either way for this long is closed.
    public var stallTimeout = 300.0
    /// Encrypted bytes queued per connection before writers wait and reading pauses.
    public var outputHighWater = 1 << 20
    /// How far one stream's receive window may grow while its reader keeps up.
    public var maxStreamWindow: UInt32 = 4 << 20
    /// The most all of a connection's receive windows may add up to: what a peer can make this host buffer.
    public var connectionReceiveBudget = 16 << 20
    /// The agent version this host announces in identify.
    public var agentVersion = "openledger/0.1.0"
    /// Connection manager: watermarks, grace period and per-IP limit (docs/connection-manager.md).
    public var connectionManager = ConnectionManagerConfig()

    /// The default limits and timeouts.
    public init() {}
}

/// A libp2p host over TCP, with Noise and Yamux, that serves and opens protocol streams.
///
/// It listens on and dials TCP multiaddrs, upgrades every connection with Noise and Yamux, serves protocol
/// handlers on inbound streams, opens outbound ones, and answers identify and ping. One epoll loop thread does
/// all socket work; the API is async and may be called from any thread.
public final class P2PHost: @unchecked Sendable {
    /// What serves one inbound stream of a protocol; it runs in a task of its own.
    public typealias Handler = @Sendable (P2PStream) async -> Void

    /// News of a peer: its first connection opened, or its last one closed.
    public enum PeerEvent: Sendable, Equatable {
        /// The first open connection to the peer; `outbound` when this host dialed it.
        case connected(PeerID, outbound: Bool, address: Multiaddr)
        /// The last connection to the peer closed.
        case disconnected(PeerID)
    }

    /// Told of every `PeerEvent`, on the loop thread, in order; it must not block.
    public typealias PeerObserver = @Sendable (PeerEvent) -> Void

    /// The key pair the host proves in every Noise handshake.
    public let identity: LibP2PIdentity
    /// The host's peer id, derived from `identity`.
    public let peerID: PeerID
    /// The limits and timeouts the host was created with.
    public let config: HostConfig
    /// What the host learned of other peers: dialed addresses and what identify told.
    public let peerStore = PeerStore()
    /// Connection manager: trims past the high watermark, refuses past the per-IP limit, keeps protected peers.
    public let connectionManager: ConnectionManager
    let loop: EventLoop
    let staticKey = X25519PrivateKey.generate()
    let noisePayload: [UInt8]
    /// Where the host's lines go (`connection … closed: <reason>` and the like, with address, peer and reason).
    let logger: Logger
    /// What every connection's upgrade state machine enforces, from `config`.
    let connectionConfig: ConnectionConfig
    /// The handlers, and their protocol ids sorted (what inbound streams negotiate).
    private let handlers = Mutex<(byProtocol: [String: Handler], names: [String])>(([:], []))
    /// Bumped whenever a handler is added, so that connections refresh their protocol list cheaply.
    private let handlersChanged = Atomic<Int>(0)
    private let addresses = Mutex<[Multiaddr]>([])
    private let peerObservers = Mutex<[PeerObserver]>([])
    private let selfRecord = Mutex<SignedPeerRecord?>(nil)
    private let counts = Mutex<(connections: Int, open: Int)>((0, 0))

    /// Set by `close()` (and `deinit`): `connect`, `listen` and `newStream` then throw, and jobs already queued
    /// for the loop do nothing.
    private let closed = Atomic<Bool>(false)

    /// The listeners and connections (loop-thread state), in a box of their own.
    ///
    /// So `deinit` can hand them to the loop's final job without the host.
    final class Sockets: @unchecked Sendable {
        var listeners: [Int32: Listener] = [:]
        var connections: [Int32: Connection] = [:]
    }

    // Loop-thread state.
    var readBuffer = [UInt8](repeating: 0, count: 1 << 18)
    private let sockets = Sockets()
    private var byPeer: [PeerID: [Connection]] = [:]

    /// A host for `identity` with `config`'s limits, logging to `logger`, its timers on `clock`; its loop thread
    /// starts at once.
    public init(
        identity: LibP2PIdentity, config: HostConfig = HostConfig(), logger: Logger = .discarding,
        clock: any Clock = SystemClock()
    ) throws {
        self.identity = identity
        peerID = identity.peerID
        self.config = config
        self.logger = logger
        var connection = ConnectionConfig()
        connection.maxStreams = config.maxStreamsPerConnection
        connection.maxStreamWindow = config.maxStreamWindow
        connection.receiveBudget = config.connectionReceiveBudget
        connection.dialTimeout = config.dialTimeout
        connection.handshakeTimeout = config.handshakeTimeout
        connection.idleTimeout = config.idleTimeout
        connection.stallTimeout = config.stallTimeout
        connection.outputHighWater = config.outputHighWater
        connection.holdsForAdmission = true
        connectionConfig = connection
        noisePayload = try NoiseHandshakePayload(identity: identity, staticPublicKey: staticKey.publicKey).encoded
        loop = try EventLoop(name: "p2p", clock: clock)
        connectionManager = ConnectionManager(config: config.connectionManager, logger: logger)
        // Connection manager: attached before any loop job can report to it; trims on a repeating loop timer.
        connectionManager.attach(self)
        if config.connectionManager.trimInterval > 0 {
            loop.scheduleRepeating(every: config.connectionManager.trimInterval) { [weak self] now in
                self?.connectionManager.trim(now: now)
            }
        }
        handle(PingProtocol.protocolID) { stream in await PingProtocol.serve(stream) }
        handle(IdentifyMessage.protocolID) { [weak self] stream in
            guard let message = self?.identifyMessage(observed: stream.connection.remoteAddress) else { return }
            try? await stream.write(message.framed)
            await stream.closeWrite()
        }
    }

    /// A host dropped without `close()` closes like `close()` (its peer store's waiters get nil).
    deinit {
        closed.store(true, ordering: .releasing)
        Self.shutDown(loop: loop, sockets: sockets, peerStore: peerStore)
    }

    /// Whether `close()` has been called: the host then connects, listens and opens streams no more.
    public var isClosed: Bool { closed.load(ordering: .acquiring) }

    /// Throws `connectionClosed("host closed")` once the host is closed.
    private func ensureOpen() throws(P2PError) {
        if isClosed { throw .connectionClosed("host closed") }
    }

    /// The addresses the host listens on, each ending in /p2p/<peer id>.
    public var listenAddresses: [Multiaddr] { addresses.withLock { $0 } }

    /// Connections currently open or upgrading.
    public var connectionCount: Int { counts.withLock { $0.connections } }

    /// Serves `protocolID` on inbound streams: `handler` runs in its own task per stream.
    public func handle(_ protocolID: String, _ handler: @escaping Handler) {
        handlers.withLock {
            $0.byProtocol[protocolID] = handler
            $0.names = $0.byProtocol.keys.sorted()
        }
        handlersChanged.add(1, ordering: .releasing)
    }

    /// Tells `observer` of every peer connected or disconnected from now on (peers already connected are
    /// reported as connected first).
    public func observePeers(_ observer: @escaping PeerObserver) {
        loop.execute { [self] in
            peerObservers.withLock { $0.append(observer) }
            for (peer, connections) in byPeer {
                guard let first = connections.first(where: \.isOpen) else { continue }
                observer(.connected(peer, outbound: first.isInitiator, address: first.remoteAddress))
            }
        }
    }

    private func notify(_ event: PeerEvent) {
        for observer in peerObservers.withLock({ $0 }) { observer(event) }
    }

    var protocolNames: [String] { handlers.withLock { $0.names } }

    /// Changes whenever `protocolNames` does.
    var protocolsVersion: Int { handlersChanged.load(ordering: .acquiring) }

    /// The identify message this host sends, with what it observed of the asking peer.
    public func identifyMessage(observed: Multiaddr?) -> IdentifyMessage {
        IdentifyMessage(
            agentVersion: config.agentVersion, publicKey: identity.publicKey,
            listenAddresses: listenAddresses.map(\.withoutPeer), observedAddress: observed, protocols: protocolNames,
            signedPeerRecord: signedRecord?.envelope)
    }

    /// The host's own signed peer record of its listen addresses (nil before it listens), re-signed with a newer
    /// sequence number (the wall clock in ms) whenever they change.
    public var signedRecord: SignedPeerRecord? { selfRecord.withLock { $0 } }

    private func resignRecord() {
        let addresses = listenAddresses.map(\.withoutPeer)
        let sequence = UInt64(max(0, loop.clock.wallNow().millisecondsSinceEpoch))
        selfRecord.withLock { current in
            let next = max(sequence, (current?.sequence ?? 0) + 1)
            current = try? SignedPeerRecord(identity: identity, sequence: next, addresses: addresses)
        }
    }

    // MARK: Listening

    final class Listener: LoopHandler {
        let fd: Int32
        /// Weak: a host being deinitialized while a connection arrives is not touched (its `deinit` then closes
        /// this listener on the loop).
        weak var host: P2PHost?
        init(fd: Int32, host: P2PHost) {
            self.fd = fd
            self.host = host
        }
        func ready(readable: Bool, writable: Bool, hangup: Bool) { host?.acceptAll(self) }
    }

    /// Listens on `/ip4/<address>/tcp/<port>` (port 0 picks one); returns the full address with /p2p/<peer id>.
    ///
    /// Throws `connectionClosed("host closed")` once the host is closed.
    @discardableResult
    public func listen(_ address: Multiaddr) throws(P2PError) -> Multiaddr {
        try ensureOpen()
        let (ip, port) = try Self.tcpEndpoint(address)
        let listened = Socket.listenTCP4(host: ip, port: port, backlog: 1_024)
        guard case .done(let opened) = listened else {
            throw .io("cannot listen on \(address): \(Socket.describe(errno: listened.errorNumber))")
        }
        let fd = Int32(opened)
        let bound: Multiaddr
        do {
            bound = try Self.multiaddr(ip: ip, port: Socket.localPort(fd) ?? -1).appending(peer: peerID)
        } catch {
            Glibc.close(fd)
            throw error
        }
        addresses.withLock { $0.append(bound) }
        resignRecord()
        loop.execute { [self] in
            // Closed meanwhile: the final job has run (or runs after this), nothing would close the socket.
            guard !isClosed else {
                Glibc.close(fd)
                return
            }
            let listener = Listener(fd: fd, host: self)
            sockets.listeners[fd] = listener
            loop.register(fd, listener, interest: .readable)
        }
        return bound
    }

    fileprivate func acceptAll(_ listener: Listener) {
        for _ in 0..<64 {
            guard case .done(let accepted) = Syscall.accept(listener.fd) else { return }
            let fd = Int32(accepted)
            guard sockets.connections.count < config.maxConnections else {
                logger.info(
                    "refused a connection: \(config.maxConnections) connections open",
                    ["reason": "\(config.maxConnections) connections open"])
                Glibc.close(fd)
                continue
            }
            let peer = Socket.address(fd, peer: true)
            let ip = (peer?.ip ?? [0, 0, 0, 0]).map(String.init).joined(separator: ".")
            let port = peer?.port ?? 0
            // Connection manager: the per-IP limit.
            if let refusal = connectionManager.opened(fd, ip: ip, outbound: false) {
                logger.info(
                    "refused a connection from \(ip):\(port): \(refusal)", ["address": "\(ip)", "reason": "\(refusal)"])
                Glibc.close(fd)
                continue
            }
            let remote = (try? Self.multiaddr(ip: ip, port: port))
            adoptInbound(fd, remoteAddress: remote ?? (try! Multiaddr("/ip4/0.0.0.0/tcp/0")))
        }
    }

    /// Takes `fd`, a connected socket, as an inbound connection from `remoteAddress` and starts its upgrade (loop
    /// thread).
    @discardableResult
    func adoptInbound(_ fd: Int32, remoteAddress: Multiaddr) -> Connection {
        let connection = Connection(
            fd: fd, host: self, expectedPeer: nil, dialing: false, remoteAddress: remoteAddress)
        add(connection)
        loop.register(fd, connection, interest: .readable)
        connection.start()
        return connection
    }

    private func add(_ connection: Connection) {
        sockets.connections[connection.fd] = connection
        counts.withLock { $0.connections = sockets.connections.count }
    }

    // MARK: Dialing

    /// Connects to `address` (`/ip4/…/tcp/…/p2p/<id>`) unless already connected to that peer.
    ///
    /// The peer must prove that id in the Noise handshake. Returns the peer id. Throws
    /// `connectionClosed("host closed")` once the host is closed.
    @discardableResult
    public func connect(_ address: Multiaddr) async throws -> PeerID {
        try ensureOpen()
        let (ip, port) = try Self.tcpEndpoint(address)
        let expected = address.peerID
        return try await withCheckedThrowingContinuation { continuation in
            loop.execute { [self] in
                guard !isClosed else {
                    continuation.resume(throwing: P2PError.connectionClosed("host closed"))
                    return
                }
                if let expected, let existing = byPeer[expected]?.first(where: \.isOpen) {
                    existing.addWaiter(continuation)
                    return
                }
                guard sockets.connections.count < config.maxConnections else {
                    continuation.resume(throwing: P2PError.limit("\(config.maxConnections) connections open"))
                    return
                }
                let dialed = Socket.connectTCP4(host: ip, port: port)
                guard case .done(let opened) = dialed else {
                    continuation.resume(
                        throwing: P2PError.dialFailed("\(address): \(Socket.describe(errno: dialed.errorNumber))"))
                    return
                }
                let fd = Int32(opened)
                let connection = Connection(
                    fd: fd, host: self, expectedPeer: expected, dialing: true, remoteAddress: address.withoutPeer)
                connection.addWaiter(continuation)
                add(connection)
                _ = connectionManager.opened(fd, ip: ip, outbound: true)  // Connection manager: counted, never refused.
                loop.register(fd, connection, interest: .writable)
            }
        }
    }

    /// Opens a stream to a connected peer on the first of `protocols` it supports.
    ///
    /// Throws `connectionClosed("host closed")` once the host is closed.
    public func newStream(to peer: PeerID, protocols: [String]) async throws -> P2PStream {
        try ensureOpen()
        return try await withCheckedThrowingContinuation { continuation in
            loop.execute { [self] in
                guard !isClosed else {
                    continuation.resume(throwing: P2PError.connectionClosed("host closed"))
                    return
                }
                guard let connection = byPeer[peer]?.first(where: \.isOpen) else {
                    continuation.resume(throwing: P2PError.connectionClosed("not connected to \(peer)"))
                    return
                }
                connection.openStream(protocols: protocols, continuation: continuation)
            }
        }
    }

    /// Pings a connected peer `count` times on one stream; returns the round-trip times in seconds.
    public func ping(_ peer: PeerID, count: Int = 1) async throws -> [Double] {
        let stream = try await newStream(to: peer, protocols: [PingProtocol.protocolID])
        defer { stream.reset() }
        var times: [Double] = []
        for _ in 0..<count {
            let payload = SecureRandom.bytes(PingProtocol.payloadLength)
            let start = loop.now().seconds
            try await stream.write(payload)
            let echoed = try await stream.read(exactly: payload.count)
            guard echoed == payload else { throw P2PError.protocolViolation("ping answered with other bytes") }
            times.append(loop.now().seconds - start)
        }
        await stream.closeWrite()
        return times
    }

    /// Asks a connected peer for its identify message and records it in the peer store.
    public func identify(_ peer: PeerID) async throws -> IdentifyMessage {
        let stream = try await newStream(to: peer, protocols: [IdentifyMessage.protocolID])
        let bytes = try await stream.readAll(limit: IdentifyMessage.maxLength + 10)
        var position = 0
        let length = try Varint.read(bytes, at: &position)
        guard length == UInt64(bytes.count - position) else {
            throw P2PError.protocolViolation(
                "identify message of \(bytes.count - position) bytes, prefix says \(length)")
        }
        let message = try IdentifyMessage(protobuf: Array(bytes[position...]))
        if let key = message.publicKey, PeerID(publicKey: key) != peer {
            throw P2PError.protocolViolation("identify public key is not the peer's")
        }
        peerStore.apply(message, for: peer)
        return message
    }

    /// Closes every connection to `peer` gracefully; `reason` goes into the connection's closing log line.
    public func disconnect(_ peer: PeerID, reason: String = "closed by this host") async {
        await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
            loop.execute { [self] in
                closeConnections(of: peer, reason: reason)
                continuation.resume()
            }
        }
    }

    /// The peers with an open connection.
    public func connectedPeers() async -> [PeerID] {
        await withCheckedContinuation { continuation in
            loop.execute { [self] in continuation.resume(returning: byPeer.keys.filter { self.isConnected($0) }) }
        }
    }

    private func isConnected(_ peer: PeerID) -> Bool { byPeer[peer]?.contains(where: \.isOpen) ?? false }

    /// Closes every listener and connection (go-away first) and stops the loop.
    ///
    /// Whoever waits in `peerStore.identified(_:)` gets nil. Later `connect`, `listen` and `newStream` calls throw
    /// `connectionClosed("host closed")`.
    public func close() {
        closed.store(true, ordering: .releasing)
        Self.shutDown(loop: loop, sockets: sockets, peerStore: peerStore)
    }

    /// What `close()` and `deinit` do, without the host (which `deinit` may not hand to the loop).
    private static func shutDown(loop: EventLoop, sockets: Sockets, peerStore: PeerStore) {
        peerStore.close()
        loop.stop {
            for connection in Array(sockets.connections.values) { connection.close(reason: "host shutting down") }
            for fd in Array(sockets.listeners.keys) { loop.deregister(fd) }
            sockets.listeners = [:]
        }
    }

    // MARK: Connection bookkeeping (loop thread)

    /// Closes every connection to `peer` gracefully, with `reason` in each closing log line.
    func closeConnections(of peer: PeerID, reason: String) {
        for connection in byPeer[peer] ?? [] { connection.close(reason: reason) }
    }

    /// Why a new connection to `peer` is refused (the per-peer limit), or nil to admit it.
    func admissionRefusal(for peer: PeerID) -> String? {
        let open = byPeer[peer, default: []].filter(\.isOpen).count
        return open < config.maxConnectionsPerPeer ? nil : "\(open) connections to \(peer) already"
    }

    func established(_ connection: Connection) {
        guard let peer = connection.remotePeer else { return }
        let first = byPeer[peer, default: []].isEmpty
        byPeer[peer, default: []].append(connection)
        if first { notify(.connected(peer, outbound: connection.isInitiator, address: connection.remoteAddress)) }
        connectionManager.connected(connection.fd, peer: peer)
        if connection.isInitiator { peerStore.addAddress(connection.remoteAddress, for: peer) }
        counts.withLock { $0.open += 1 }
        Task { [self] in
            do {
                let message = try await identify(peer)
                logger.debug(
                    "identified \(peer)",
                    [
                        "peer": "\(peer)", "agent": message.agentVersion ?? "",
                        "protocols": message.protocols.joined(separator: ","),
                    ])
            } catch {
                logger.info("identify of \(peer) failed: \(error)", ["peer": "\(peer)", "reason": "\(error)"])
            }
        }
    }

    func removed(_ connection: Connection) {
        sockets.connections[connection.fd] = nil
        connectionManager.disconnected(connection.fd)
        if let peer = connection.remotePeer, var list = byPeer[peer],
            let index = list.firstIndex(where: { $0 === connection })
        {
            list.remove(at: index)
            byPeer[peer] = list.isEmpty ? nil : list
            counts.withLock { $0.open -= 1 }
            if list.isEmpty { notify(.disconnected(peer)) }
        }
        counts.withLock { $0.connections = sockets.connections.count }
    }

    func dispatch(_ stream: P2PStream) {
        guard let handler = handlers.withLock({ $0.byProtocol[stream.protocolID] }) else {
            stream.reset()
            return
        }
        Task { await handler(stream) }
    }

    // MARK: Addresses

    static func tcpEndpoint(_ address: Multiaddr) throws(P2PError) -> (String, Int) {
        guard let ip = address.value(of: .ip4), let portText = address.value(of: .tcp), let port = Int(portText) else {
            throw .invalidAddress("\(address): only /ip4/<address>/tcp/<port> is supported")
        }
        return (ip, port)
    }

    static func multiaddr(ip: String, port: Int) throws(P2PError) -> Multiaddr {
        do {
            return try Multiaddr("/ip4/\(ip)/tcp/\(port)")
        } catch {
            throw .invalidAddress("\(error)")
        }
    }
}

extension PingProtocol {
    /// Echoes every 32-byte ping until the stream ends.
    public static func serve(_ stream: P2PStream) async {
        do {
            while true {
                let payload = try await stream.read(exactly: payloadLength)
                try await stream.write(payload)
            }
        } catch {
            await stream.closeWrite()
        }
    }
}

/// `/openledger/echo/1.0.0`: everything received is sent back; the stream closes when the peer closes its side.
public enum EchoProtocol {
    /// The protocol id streams negotiate to reach the echo handler.
    public static let protocolID = "/openledger/echo/1.0.0"

    /// Sends back everything read on `stream` until the peer closes; on an error, logs it and resets the stream.
    public static func serve(_ stream: P2PStream) async {
        do {
            while let chunk = try await stream.read() { try await stream.write(chunk) }
            await stream.closeWrite()
        } catch {
            stream.connection.host.logger.info(
                "echo on stream \(stream.id) of \(stream.remotePeer) ended: \(error)",
                ["peer": "\(stream.remotePeer)", "reason": "\(error)"])
            stream.reset()
        }
    }
}
