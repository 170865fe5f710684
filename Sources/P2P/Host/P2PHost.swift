import Codec
import Crypto
import EventLoop
import Foundation
import Synchronization

#if canImport(Glibc)
    import Glibc
#endif

/// Limits and timeouts of a host.
public struct HostConfig: Sendable {
    public var maxConnections = 1_024
    public var maxConnectionsPerPeer = 4
    public var maxStreamsPerConnection = 256
    /// Seconds to connect (dialing) and then to finish the upgrade; also the bound on stream negotiation.
    public var dialTimeout = 10.0
    public var handshakeTimeout = 10.0
    /// A connection without streams and without traffic for this long is closed.
    public var idleTimeout = 120.0
    /// A connection with streams that moves no byte either way for this long is closed.
    public var stallTimeout = 300.0
    /// Encrypted bytes queued per connection before writers wait and reading pauses.
    public var outputHighWater = 1 << 20
    /// How far one stream's receive window may grow while its reader keeps up, and the most all of a
    /// connection's windows may add up to (what a peer can make this host buffer per connection).
    public var maxStreamWindow: UInt32 = 4 << 20
    public var connectionReceiveBudget = 16 << 20
    public var agentVersion = "openledger/0.1.0"

    public init() {}
}

/// A libp2p host: listens on and dials TCP multiaddrs, upgrades every connection with Noise and Yamux, serves
/// protocol handlers on inbound streams, opens outbound ones, and answers identify and ping. One epoll loop
/// thread does all socket work; the API is async and may be called from any thread.
public final class P2PHost: @unchecked Sendable {
    public typealias Handler = @Sendable (P2PStream) async -> Void

    public let identity: LibP2PIdentity
    public let peerID: PeerID
    public let config: HostConfig
    public let peerStore = PeerStore()
    let loop: EventLoop
    let staticKey = X25519PrivateKey.generate()
    let noisePayload: [UInt8]
    let log: @Sendable (String) -> Void
    private let handlers = Mutex<[String: Handler]>([:])
    private let addresses = Mutex<[Multiaddr]>([])
    private let counts = Mutex<(connections: Int, open: Int)>((0, 0))

    // Loop-thread state.
    var readBuffer = [UInt8](repeating: 0, count: 1 << 18)
    private var listeners: [Int32: Listener] = [:]
    private var connections: [Int32: Connection] = [:]
    private var byPeer: [PeerID: [Connection]] = [:]

    public init(
        identity: LibP2PIdentity, config: HostConfig = HostConfig(),
        log: @escaping @Sendable (String) -> Void = { _ in }
    ) throws {
        self.identity = identity
        peerID = identity.peerID
        self.config = config
        self.log = log
        noisePayload = try NoiseHandshakePayload(identity: identity, staticPublicKey: staticKey.publicKey).encoded
        loop = try EventLoop(name: "p2p")
        loop.scheduleRepeating(every: 0.1) { [weak self] now in
            guard let self else { return }
            for connection in Array(connections.values) { connection.tick(now.seconds) }
        }
        handle(PingProtocol.protocolID) { stream in await PingProtocol.serve(stream) }
        handle(IdentifyMessage.protocolID) { [weak self] stream in
            guard let message = self?.identifyMessage(observed: stream.connection.remoteAddress) else { return }
            try? await stream.write(message.framed)
            await stream.closeWrite()
        }
    }

    deinit { loop.stop() }

    /// The addresses the host listens on, each ending in /p2p/<peer id>.
    public var listenAddresses: [Multiaddr] { addresses.withLock { $0 } }

    /// Connections currently open or upgrading.
    public var connectionCount: Int { counts.withLock { $0.connections } }

    /// Serves `protocolID` on inbound streams: `handler` runs in its own task per stream.
    public func handle(_ protocolID: String, _ handler: @escaping Handler) {
        handlers.withLock { $0[protocolID] = handler }
    }

    var protocolNames: [String] { handlers.withLock { $0.keys.sorted() } }

    /// The identify message this host sends, with what it observed of the asking peer.
    public func identifyMessage(observed: Multiaddr?) -> IdentifyMessage {
        IdentifyMessage(
            agentVersion: config.agentVersion, publicKey: identity.publicKey,
            listenAddresses: listenAddresses.map(\.withoutPeer), observedAddress: observed, protocols: protocolNames)
    }

    // MARK: Listening

    final class Listener: LoopHandler {
        let fd: Int32
        unowned let host: P2PHost
        init(fd: Int32, host: P2PHost) {
            self.fd = fd
            self.host = host
        }
        func ready(readable: Bool, writable: Bool, hangup: Bool) { host.acceptAll(self) }
    }

    /// Listens on `/ip4/<address>/tcp/<port>` (port 0 picks one); returns the full address with /p2p/<peer id>.
    @discardableResult
    public func listen(_ address: Multiaddr) throws(P2PError) -> Multiaddr {
        let (ip, port) = try Self.tcpEndpoint(address)
        let listened = Socket.listenTCP4(host: ip, port: port, backlog: 1_024)
        guard case .done(let opened) = listened else {
            throw .io("cannot listen on \(address): \(Socket.describe(errno: listened.errorNumber))")
        }
        let fd = Int32(opened)
        let bound = try Self.multiaddr(ip: ip, port: Socket.localPort(fd) ?? -1).appending(peer: peerID)
        addresses.withLock { $0.append(bound) }
        loop.execute { [self] in
            let listener = Listener(fd: fd, host: self)
            listeners[fd] = listener
            loop.register(fd, listener, interest: .readable)
        }
        return bound
    }

    fileprivate func acceptAll(_ listener: Listener) {
        for _ in 0..<64 {
            guard case .done(let accepted) = Syscall.accept(listener.fd) else { return }
            let fd = Int32(accepted)
            guard connections.count < config.maxConnections else {
                log("refused a connection: \(config.maxConnections) connections open")
                Glibc.close(fd)
                continue
            }
            let peer = Socket.address(fd, peer: true)
            let ip = peer?.ip ?? [0, 0, 0, 0]
            let port = peer?.port ?? 0
            let remote = (try? Self.multiaddr(ip: ip.map(String.init).joined(separator: "."), port: port))
            let connection = Connection(
                fd: fd, host: self, isInitiator: false, expectedPeer: nil,
                remoteAddress: remote ?? (try! Multiaddr("/ip4/0.0.0.0/tcp/0")), now: loop.now().seconds)
            add(connection)
            loop.register(fd, connection, interest: .readable)
            connection.start()
        }
    }

    private func add(_ connection: Connection) {
        connections[connection.fd] = connection
        counts.withLock { $0.connections = connections.count }
    }

    // MARK: Dialing

    /// Connects to `address` (`/ip4/…/tcp/…/p2p/<id>`) unless already connected to that peer, and checks that
    /// the peer proves that id in the Noise handshake. Returns the peer id.
    @discardableResult
    public func connect(_ address: Multiaddr) async throws -> PeerID {
        let (ip, port) = try Self.tcpEndpoint(address)
        let expected = address.peerID
        return try await withCheckedThrowingContinuation { continuation in
            loop.execute { [self] in
                if let expected, let existing = byPeer[expected]?.first(where: \.isOpen) {
                    existing.addWaiter(continuation)
                    return
                }
                guard connections.count < config.maxConnections else {
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
                    fd: fd, host: self, isInitiator: true, expectedPeer: expected,
                    remoteAddress: address.withoutPeer, now: loop.now().seconds)
                connection.addWaiter(continuation)
                add(connection)
                loop.register(fd, connection, interest: .writable)
            }
        }
    }

    /// Opens a stream to a connected peer on the first of `protocols` it supports.
    public func newStream(to peer: PeerID, protocols: [String]) async throws -> P2PStream {
        try await withCheckedThrowingContinuation { continuation in
            loop.execute { [self] in
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
        var random = SystemRandomNumberGenerator()
        for _ in 0..<count {
            let payload = (0..<PingProtocol.payloadLength).map { _ in UInt8.random(in: 0...255, using: &random) }
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

    /// Closes every connection to `peer` gracefully.
    public func disconnect(_ peer: PeerID) async {
        await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
            loop.execute { [self] in
                for connection in byPeer[peer] ?? [] { connection.close(reason: "closed by this host") }
                continuation.resume()
            }
        }
    }

    /// Closes every listener and connection (go-away first) and stops the loop.
    public func close() {
        loop.stop { [self] in
            for connection in Array(connections.values) { connection.close(reason: "host shutting down") }
            for fd in Array(listeners.keys) { loop.deregister(fd) }
            listeners = [:]
        }
    }

    // MARK: Connection bookkeeping (loop thread)

    func admit(_ connection: Connection, peer: PeerID) throws {
        let open = byPeer[peer, default: []].filter(\.isOpen).count
        guard open < config.maxConnectionsPerPeer else {
            throw P2PError.limit("\(open) connections to \(peer) already")
        }
    }

    func established(_ connection: Connection) {
        guard let peer = connection.remotePeer else { return }
        byPeer[peer, default: []].append(connection)
        if connection.isInitiator { peerStore.addAddress(connection.remoteAddress, for: peer) }
        counts.withLock { $0.open += 1 }
        Task { [self] in
            do {
                _ = try await identify(peer)
            } catch {
                log("identify of \(peer) failed: \(error)")
            }
        }
    }

    func removed(_ connection: Connection) {
        connections[connection.fd] = nil
        if let peer = connection.remotePeer, var list = byPeer[peer],
            let index = list.firstIndex(where: { $0 === connection })
        {
            list.remove(at: index)
            byPeer[peer] = list.isEmpty ? nil : list
            counts.withLock { $0.open -= 1 }
        }
        counts.withLock { $0.connections = connections.count }
    }

    func dispatch(_ stream: P2PStream) {
        guard let handler = handlers.withLock({ $0[stream.protocolID] }) else {
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
    public static let protocolID = "/openledger/echo/1.0.0"

    public static func serve(_ stream: P2PStream) async {
        do {
            while let chunk = try await stream.read() { try await stream.write(chunk) }
            await stream.closeWrite()
        } catch {
            stream.connection.host.log("echo on stream \(stream.id) of \(stream.remotePeer) ended: \(error)")
            stream.reset()
        }
    }
}
