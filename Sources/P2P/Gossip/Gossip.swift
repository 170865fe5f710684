import Codec
import EventLoop
import Runtime
import Synchronization

/// Gossipsub on a `P2PHost`: the IO shell around `GossipsubRouter`.
///
/// It serves `/meshsub/1.2.0`, `/meshsub/1.1.0` and `/meshsub/1.0.0`, opens one outbound stream to every peer
/// that speaks one of them, reads length-prefixed RPC frames from inbound streams (bounded by the router's RPC
/// size limits), feeds them to the router with the host's time, runs the heartbeat on the host's loop timer, and
/// carries out the router's actions: frames to peers' outboxes, deliveries to the application, validation by
/// the topic's validator, disconnects with their reason, and PX dials.
public final class Gossip: @unchecked Sendable {
    /// A message delivered to the application: once per message id.
    public struct Delivery: Sendable {
        /// The message.
        public var message: GossipsubMessage
        /// Its id.
        public var id: GossipsubMessageID
        /// The peer that forwarded it (the author for a direct neighbour's own message).
        public var from: PeerID
        /// A delivery of `message` with id `id`, forwarded by `from`.
        public init(message: GossipsubMessage, id: GossipsubMessageID, from: PeerID) {
            self.message = message
            self.id = id
            self.from = from
        }

        /// The author, from the message's `from` field.
        public var author: PeerID? { message.from.flatMap { try? PeerID(multihashBytes: $0) } }
    }

    /// Decides on one message of a topic (run in a task; it may be async).
    public typealias Validator = @Sendable (GossipsubMessage, PeerID) async -> GossipsubValidationResult

    /// The tag under which the host's connection manager protects the mesh peers from trims.
    public static let meshProtectionTag = "gossip-mesh"

    /// The protocol ids served and offered, newest first.
    public static let protocols = GossipsubVersion.allCases.map(\.rawValue)

    /// The host it runs on.
    public let host: P2PHost
    /// The router's configuration.
    public let config: GossipsubConfig
    private let logger: Logger
    private let outboxLimit: Int
    private let maxFrame: Int
    private let onDeliver: @Sendable (Delivery) -> Void

    private struct State {
        var router: GossipsubRouter
        var peers: [PeerID: GossipOutbox] = [:]
        var versions: [PeerID: GossipsubVersion] = [:]
        var validators: [String: Validator] = [:]
        var closed = false
        var dropped = 0
    }
    private let state: Mutex<State>
    private let heartbeat = Mutex<TimerHandle?>(nil)

    /// Gossip on `host` with `config`, drawing the router's randomness from `random`.
    ///
    /// The messages of a topic in `validators` are delivered and forwarded only once its validator accepts them;
    /// each delivered message goes to `onDeliver` (on a host thread: it must not block). `outboxLimit` bounds the
    /// bytes queued per peer.
    public init(
        host: P2PHost, config: GossipsubConfig = GossipsubConfig(), validators: [String: Validator] = [:],
        random: SeededRandom, logger: Logger, outboxLimit: Int = 32 << 20,
        onDeliver: @escaping @Sendable (Delivery) -> Void
    ) {
        var config = config
        config.validatedTopics.formUnion(validators.keys)
        self.host = host
        self.config = config
        self.logger = logger
        self.outboxLimit = outboxLimit
        self.onDeliver = onDeliver
        maxFrame = max(config.maxRPCSize, config.topicMaxRPCSize.values.max() ?? 0)
        state = Mutex(
            State(
                router: GossipsubRouter(local: host.identity, config: config, random: random),
                validators: validators))
        for id in Self.protocols {
            host.handle(id) { [weak self] stream in await self?.serveInbound(stream) }
        }
        host.observePeers { [weak self] event in self?.peerEvent(event) }
        let timer = host.loop.scheduleRepeating(every: config.heartbeatInterval) { [weak self] now in
            self?.handle(.heartbeat, now: now)
            self?.protectMesh()
        }
        heartbeat.withLock { $0 = timer }
    }

    /// Joins `topic`: its messages are delivered, and the router builds a mesh for it.
    public func subscribe(_ topic: String) { handle(.subscribe(topic)) }

    /// Leaves `topic`.
    public func unsubscribe(_ topic: String) { handle(.unsubscribe(topic)) }

    /// Publishes `data` on `topic`, signed with the host's key.
    public func publish(topic: String, data: [UInt8]) { handle(.publish(topic: topic, data: data)) }

    /// The gossipsub version spoken with `peer` (that of its first stream either way), while it is connected.
    public func version(of peer: PeerID) -> GossipsubVersion? { state.withLock { $0.versions[peer] } }

    /// Frames dropped because a peer's outbox was full.
    public var droppedFrames: Int { state.withLock { $0.dropped } }

    /// The router's view, for inspection (a copy).
    public var router: GossipsubRouter { state.withLock { $0.router } }

    /// Stops the heartbeat and closes every outbox (the host stays up).
    public func close() {
        if let timer = heartbeat.withLock({ $0 }) { host.loop.cancel(timer) }
        let outboxes = state.withLock { state -> [GossipOutbox] in
            state.closed = true
            return Array(state.peers.values)
        }
        for outbox in outboxes { outbox.close() }
        host.connectionManager.protectOnly([], tag: Self.meshProtectionTag)
    }

    /// Protects the mesh peers of every topic from the connection manager's trims, and unprotects those that left
    /// (after each heartbeat, which is when the mesh changes most).
    private func protectMesh() {
        let mesh = state.withLock { state -> Set<PeerID>? in
            state.closed ? nil : Set(state.router.subscriptions.flatMap { state.router.meshPeers($0) })
        }
        if let mesh { host.connectionManager.protectOnly(mesh, tag: Self.meshProtectionTag) }
    }

    deinit { close() }

    // MARK: Events

    private func handle(_ event: GossipsubRouter.Event, now: Instant? = nil) {
        let time = now ?? host.loop.now()
        let actions = state.withLock { state -> [GossipsubRouter.Action] in
            guard !state.closed else { return [] }
            let actions = state.router.on(event, now: time)
            var rest: [GossipsubRouter.Action] = []
            rest.reserveCapacity(actions.count)
            for action in actions {
                // Frames are queued under the lock, so each peer's frames leave in the router's order.
                if case .send(let peer, let rpc) = action {
                    let body = rpc.encoded()
                    if let outbox = state.peers[peer], outbox.enqueue(Varint.encode(UInt64(body.count)) + body) {
                        continue
                    }
                    state.dropped += 1
                } else {
                    rest.append(action)
                }
            }
            return rest
        }
        for action in actions { perform(action) }
    }

    private func perform(_ action: GossipsubRouter.Action) {
        switch action {
        case .send, .published:
            break
        case .publishFailed(let topic, let error):
            logger.warning("publish failed", ["topic": topic, "reason": "\(error)"])
        case .deliver(let message, let id, let from):
            onDeliver(Delivery(message: message, id: id, from: from))
        case .validate(let message, let id, let from):
            guard let validator = state.withLock({ $0.validators[message.topic] }) else {
                handle(.validated(id, .accept))
                return
            }
            Task { [weak self] in
                let result = await validator(message, from)
                self?.handle(.validated(id, result))
            }
        case .disconnect(let peer, let reason):
            logger.warning("gossip peer dropped", ["peer": "\(peer)", "reason": reason])
            Task { [host] in await host.disconnect(peer, reason: "gossipsub: \(reason)") }
        case .connect(let peer, let envelope):
            // A PX record is believed only when it verifies and names the peer offered.
            if let envelope, let record = try? SignedPeerRecord(envelope: envelope) {
                host.peerStore.addSignedRecord(record, for: peer)
            }
            guard let address = host.peerStore.record(peer)?.addresses.first else { return }
            Task { [host, logger] in
                do {
                    try await host.connect(address.appending(peer: peer))
                } catch {
                    logger.debug("PX dial failed", ["peer": "\(peer)", "reason": "\(error)"])
                }
            }
        }
    }

    // MARK: Peers and streams

    /// Announces `peer` to the router once (on its first gossipsub stream either way); returns its outbox.
    private func announce(_ peer: PeerID, version: GossipsubVersion, outbound: Bool, address: Multiaddr?)
        -> GossipOutbox
    {
        let (outbox, isNew) = state.withLock { state -> (GossipOutbox, Bool) in
            if let existing = state.peers[peer] { return (existing, false) }
            let outbox = GossipOutbox(limit: outboxLimit)
            state.peers[peer] = outbox
            state.versions[peer] = version
            return (outbox, true)
        }
        if isNew {
            handle(.peerConnected(peer, version: version, outbound: outbound, address: address?.value(of: .ip4)))
        }
        return outbox
    }

    private func peerEvent(_ event: P2PHost.PeerEvent) {
        switch event {
        case .connected(let peer, let outbound, let address):
            Task { [weak self] in await self?.openOutbound(peer, outbound: outbound, address: address) }
        case .disconnected(let peer):
            let outbox = state.withLock { state in
                state.versions[peer] = nil
                return state.peers.removeValue(forKey: peer)
            }
            guard let outbox else { return }
            outbox.close()
            handle(.peerDisconnected(peer))
        }
    }

    /// Opens our sending stream to a newly connected peer and drains its outbox into it.
    private func openOutbound(_ peer: PeerID, outbound: Bool, address: Multiaddr) async {
        let stream: P2PStream
        do {
            stream = try await host.newStream(to: peer, protocols: Self.protocols)
        } catch {
            logger.debug("peer speaks no gossipsub", ["peer": "\(peer)", "reason": "\(error)"])
            return
        }
        guard let version = GossipsubVersion(rawValue: stream.protocolID) else {
            stream.reset()
            return
        }
        let outbox = announce(peer, version: version, outbound: outbound, address: address)
        Task { [weak self] in await self?.offerRecord(of: peer) }
        while let batch = await outbox.next() {
            do {
                try await stream.write(batch)
            } catch {
                logger.debug("gossip stream failed", ["peer": "\(peer)", "reason": "\(error)"])
                break
            }
        }
        stream.reset()
    }

    /// Gives the router the peer's signed record once identify has brought one (for our PX), waiting at most
    /// 30 s for identify.
    private func offerRecord(of peer: PeerID) async {
        let store = host.peerStore
        let record = await withTaskGroup(of: SignedPeerRecord?.self) { group in
            group.addTask { await store.identified(peer)?.signedRecord }
            group.addTask {
                try? await Task.sleep(for: .seconds(30))
                return nil
            }
            let first = await group.next() ?? nil
            group.cancelAll()
            return first
        }
        if let record { handle(.peerRecord(peer, signedRecord: record.envelope)) }
    }

    /// Reads RPC frames from a peer's sending stream until it ends or breaks a bound.
    private func serveInbound(_ stream: P2PStream) async {
        let peer = stream.remotePeer
        guard let version = GossipsubVersion(rawValue: stream.protocolID) else { return }
        _ = announce(peer, version: version, outbound: false, address: nil)
        var buffer: [UInt8] = []
        var start = 0
        while true {
            // Whole frames first.
            while true {
                var position = start
                let prefix = buffer[start..<min(buffer.count, start + Varint.maxBytes)]
                guard prefix.contains(where: { $0 & 0x80 == 0 }) else {
                    if prefix.count == Varint.maxBytes {
                        handle(.malformed(from: peer, reason: "RPC length prefix longer than \(Varint.maxBytes) bytes"))
                        stream.reset()
                        return
                    }
                    break
                }
                guard let length = try? Varint.read(buffer, at: &position) else {
                    handle(.malformed(from: peer, reason: "bad RPC length prefix"))
                    stream.reset()
                    return
                }
                guard length <= UInt64(maxFrame) else {
                    handle(.malformed(from: peer, reason: "RPC of \(length) bytes exceeds \(maxFrame)"))
                    stream.reset()
                    return
                }
                guard buffer.count - position >= Int(length) else { break }
                handle(.received(from: peer, bytes: buffer[position..<(position + Int(length))]))
                start = position + Int(length)
            }
            if start > 0 {
                buffer.removeFirst(start)
                start = 0
            }
            let chunk: [UInt8]?
            do {
                chunk = try await stream.read(maxBytes: 1 << 20)
            } catch {
                return
            }
            guard let chunk else { return }
            buffer += chunk
        }
    }
}
