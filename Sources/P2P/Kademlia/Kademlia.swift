import Codec
import EventLoop
import Runtime
import Synchronization

/// The Kademlia DHT on a `P2PHost`: the IO shell around `KademliaDHT`.
///
/// In server mode it serves `/ipfs/kad/1.0.0` (so identify advertises it), one request per stream; in client mode it
/// registers no handler. It feeds the DHT the host's peer events and identify results (from `host.peerStore`),
/// ticks it every second on the host's loop, and carries out its actions: each request on a new stream (dialing the
/// peer's addresses when not connected), the answer read before the write side is closed (py-libp2p resets a stream
/// half-closed first), answers written on inbound streams, refusals as resets.
public final class Kademlia: @unchecked Sendable {
    /// What one application lookup produced.
    public struct Outcome: Sendable {
        /// How it ended.
        public var result: KademliaLookupResult
        /// findPeer: the peer, when found.
        public var peer: KademliaPeerInfo?
        /// findProviders: the providers, in the order found.
        public var providers: [KademliaPeerInfo] = []
        /// getValue: the best value, when found.
        public var value: KademliaRecord?
    }

    private struct Waiter {
        var peer: KademliaPeerInfo?
        var providers: [KademliaPeerInfo] = []
        var value: KademliaRecord?
        var onProvider: (@Sendable (KademliaPeerInfo) -> Void)?
        let continuation: CheckedContinuation<Outcome, Never>
    }

    private enum Answer {
        case respond(KademliaMessage?)
        case reset(KademliaDrop)
    }

    private struct State {
        var dht: KademliaDHT
        var waiters: [UInt64: Waiter] = [:]
        var inbound: [UInt64: CheckedContinuation<Answer, Never>] = [:]
        var nextLookup: UInt64 = 1
        var nextStream: UInt64 = 1
        var closed = false
        var protectedClosest: Set<PeerID> = []
    }

    /// The connection manager's tag on the k peers of the table closest to our own id (never trimmed).
    public static let protectionTag = "dht-closest"

    /// The host it runs on.
    public let host: P2PHost
    /// The DHT's configuration.
    public let config: KademliaConfig
    private let logger: Logger
    private let state: Mutex<State>
    private let ticker = Mutex<TimerHandle?>(nil)

    /// A DHT on `host` with `config`, drawing randomness from `random`, serving `namespaces`.
    public init(
        host: P2PHost, config: KademliaConfig = .init(), random: SeededRandom,
        namespaces: KademliaNamespaces = .openLedger, logger: Logger = .discarding
    ) {
        self.host = host
        self.config = config
        self.logger = logger
        state = Mutex(
            State(
                dht: KademliaDHT(
                    local: host.peerID, config: config, random: random, namespaces: namespaces,
                    localAddresses: host.listenAddresses, now: host.loop.now())))
        if config.mode == .server {
            host.handle(KademliaMessage.protocolID) { [weak self] stream in await self?.serve(stream) }
        }
        host.observePeers { [weak self] event in self?.peerEvent(event) }
        let timer = host.loop.scheduleRepeating(every: 1) { [weak self] now in
            self?.handle(.tick, now: now)
            self?.protectClosest()
        }
        ticker.withLock { $0 = timer }
    }

    /// The DHT's view, for inspection (a copy).
    public var dht: KademliaDHT { state.withLock { $0.dht } }

    /// Stops the ticks; running lookups end as timed out at once (the host stays up).
    public func close() {
        if let timer = ticker.withLock({ $0 }) { host.loop.cancel(timer) }
        let waiters = state.withLock { state -> [Waiter] in
            state.closed = true
            defer { state.waiters = [:] }
            return Array(state.waiters.values)
        }
        for waiter in waiters {
            waiter.continuation.resume(
                returning: Outcome(
                    result: KademliaLookupResult(
                        id: .application(0), kind: .closestPeers, key: [], outcome: .timedOut, closest: [], hops: 0,
                        queried: 0, failed: 0, found: false, stored: 0, duration: 0)))
        }
    }

    deinit { close() }

    /// Joins the network through `peers`: each is dialed (every success and failure logged) and its identify
    /// awaited for at most `identifyWithin` seconds, so that it is in the table the walk starts from; then our own
    /// id is looked up through them.
    public func join(_ peers: [KademliaPeerInfo], identifyWithin: Double = 10) async -> Outcome {
        let host = host
        let logger = logger
        await withTaskGroup(of: Void.self) { group in
            for peer in peers {
                group.addTask {
                    for address in peer.addresses {
                        let full = address.peerID == nil ? address.appending(peer: peer.id) : address
                        do {
                            guard try await host.connect(full) == peer.id else { continue }
                            logger.info("bootstrap peer connected", ["peer": "\(peer.id)", "address": "\(full)"])
                            _ = await host.peerStore.identified(peer.id, within: identifyWithin)
                            return
                        } catch {
                            logger.warning("bootstrap dial failed", ["address": "\(full)", "reason": "\(error)"])
                        }
                    }
                }
            }
        }
        return await bootstrap(peers)
    }

    /// Dials `peers` and looks up our own id through them.
    public func bootstrap(_ peers: [KademliaPeerInfo]) async -> Outcome {
        await lookup { .bootstrap(peers, lookup: $0) }
    }

    /// Looks for `peer`'s addresses.
    public func findPeer(_ peer: PeerID) async -> Outcome { await lookup { .findPeer(peer, lookup: $0) } }

    /// Looks for up to `count` providers of `key` (a CID's multihash bytes).
    ///
    /// `onProvider` hears of each provider as soon as it is found.
    public func findProviders(
        _ key: [UInt8], count: Int = 20, onProvider: (@Sendable (KademliaPeerInfo) -> Void)? = nil
    ) async -> Outcome {
        await lookup(onProvider: onProvider) { .findProviders(key: key, count: count, lookup: $0) }
    }

    /// Announces this host as a provider of `key` to the k closest peers (republished every 22 h).
    public func provide(_ key: [UInt8]) async -> Outcome {
        handle(.localAddresses(host.listenAddresses))
        return await lookup { .provide(key: key, lookup: $0) }
    }

    /// Looks for the best value under `key`.
    public func getValue(_ key: [UInt8]) async -> Outcome { await lookup { .getValue(key: key, lookup: $0) } }

    /// Stores `value` under `key` on the k closest peers.
    public func putValue(_ key: [UInt8], _ value: [UInt8]) async -> Outcome {
        await lookup { .putValue(key: key, value: value, lookup: $0) }
    }

    private func lookup(
        onProvider: (@Sendable (KademliaPeerInfo) -> Void)? = nil, _ event: @escaping (UInt64) -> KademliaDHT.Event
    ) async -> Outcome {
        await withCheckedContinuation { continuation in
            let number = state.withLock { state -> UInt64 in
                defer { state.nextLookup += 1 }
                state.waiters[state.nextLookup] = Waiter(onProvider: onProvider, continuation: continuation)
                return state.nextLookup
            }
            handle(event(number))
        }
    }

    // MARK: Events and actions

    private func handle(_ event: KademliaDHT.Event, now: Instant? = nil) {
        let time = now ?? host.loop.now()
        let actions = state.withLock { state -> [KademliaDHT.Action] in
            state.closed ? [] : state.dht.on(event, now: time)
        }
        for action in actions { perform(action) }
    }

    private func perform(_ action: KademliaDHT.Action) {
        switch action {
        case .request(let id, let peer, let addresses, let message, let expectsResponse):
            Task { [weak self] in
                guard let self else { return }
                let event = await self.exchange(message, with: peer, addresses: addresses, expects: expectsResponse)
                switch event {
                case .success(let answer): self.handle(.response(id, answer))
                case .failure(let failure): self.handle(.requestFailed(id, failure))
                }
            }
        case .respond(let stream, let message):
            state.withLock { $0.inbound.removeValue(forKey: stream.value) }?.resume(returning: .respond(message))
        case .reset(let stream, let drop):
            logger.debug("kademlia: request refused", ["peer": "\(drop.peer)", "reason": "\(drop.reason)"])
            state.withLock { $0.inbound.removeValue(forKey: stream.value) }?.resume(returning: .reset(drop))
        case .dial(let peer, let addresses):
            Task { [weak self] in _ = await self?.dial(peer, addresses) }
        case .lookupProgress:
            break
        case .peerFound(let id, let info, _):
            update(id) { $0.peer = info }
        case .providerFound(let id, let info, _):
            var listener: (@Sendable (KademliaPeerInfo) -> Void)?
            update(id) {
                $0.providers.append(info)
                listener = $0.onProvider
            }
            listener?(info)
        case .valueFound(let id, let record):
            update(id) { $0.value = record }
        case .lookupFinished(let result):
            guard case .application(let number) = result.id,
                let waiter = state.withLock({ $0.waiters.removeValue(forKey: number) })
            else { return }
            waiter.continuation.resume(
                returning: Outcome(
                    result: result, peer: waiter.peer, providers: waiter.providers, value: waiter.value))
        case .dropped(let drop):
            logger.debug("kademlia: answer dropped", ["peer": "\(drop.peer)", "reason": "\(drop.reason)"])
        }
    }

    /// Protects the k table peers closest to our own id from the connection manager's trimming (they keep the
    /// table's neighbourhood, which every lookup of nearby keys passes through); only a change is sent.
    private func protectClosest() {
        let closest = state.withLock { state -> Set<PeerID>? in
            let peers = Set(state.dht.table.closest(to: state.dht.localKey, count: config.k).map(\.peer))
            guard peers != state.protectedClosest else { return nil }
            state.protectedClosest = peers
            return peers
        }
        if let closest { host.connectionManager.protectOnly(closest, tag: Self.protectionTag) }
    }

    private func update(_ id: KademliaLookupID, _ change: (inout Waiter) -> Void) {
        guard case .application(let number) = id else { return }
        state.withLock { state in
            if var waiter = state.waiters[number] {
                change(&waiter)
                state.waiters[number] = waiter
            }
        }
    }

    private func peerEvent(_ event: P2PHost.PeerEvent) {
        switch event {
        case .connected(let peer, _, let address):
            handle(.peerConnected(peer, address: address))
            Task { [weak self] in await self?.awaitIdentify(peer) }
        case .disconnected(let peer):
            handle(.peerDisconnected(peer))
        }
    }

    /// Hands the peer's identify result to the DHT (bounded: a peer that never answers identify is left out).
    private func awaitIdentify(_ peer: PeerID) async {
        guard let record = await host.peerStore.identified(peer, within: 30) else { return }
        handle(.peerIdentified(peer, protocols: record.protocols, addresses: record.addresses))
    }

    // MARK: Streams

    private func dial(_ peer: PeerID, _ addresses: [Multiaddr]) async -> Bool {
        for address in addresses {
            let full = address.peerID == nil ? address.appending(peer: peer) : address
            if (try? await host.connect(full)) == peer { return true }
        }
        return false
    }

    /// One request: a new stream, the frame written, the answer read (when one is expected), then the write side
    /// closed.
    private func exchange(
        _ message: KademliaMessage, with peer: PeerID, addresses: [Multiaddr], expects: Bool
    ) async -> Result<KademliaMessage?, KademliaFailure> {
        let stream: P2PStream
        if let opened = try? await host.newStream(to: peer, protocols: [KademliaMessage.protocolID]) {
            stream = opened
        } else {
            guard await dial(peer, addresses),
                let opened = try? await host.newStream(to: peer, protocols: [KademliaMessage.protocolID])
            else { return .failure(.unreachable) }
            stream = opened
        }
        do {
            try await stream.write(KademliaFraming.frame(message))
        } catch {
            stream.reset()
            return .failure(.reset)
        }
        guard expects else {
            await stream.closeWrite()
            return .success(nil)
        }
        let answer = await Self.readMessage(stream, limits: config.limits)
        await stream.closeWrite()
        switch answer {
        case .success(let message?): return .success(message)
        case .success(nil): return .failure(.reset)
        case .failure(let error):
            stream.reset()
            punish(peer, error)
            return .failure(.malformed(error))
        }
    }

    /// Serves one inbound request: read it, let the DHT answer, write the answer and close.
    private func serve(_ stream: P2PStream) async {
        let request: KademliaMessage
        switch await Self.readMessage(stream, limits: config.limits) {
        case .success(let message?): request = message
        case .success(nil):
            stream.reset()
            return
        case .failure(let error):
            stream.reset()
            punish(stream.remotePeer, error)
            return
        }
        let answer = await withCheckedContinuation { (continuation: CheckedContinuation<Answer, Never>) in
            let id = state.withLock { state -> UInt64? in
                guard !state.closed else { return nil }
                defer { state.nextStream += 1 }
                state.inbound[state.nextStream] = continuation
                return state.nextStream
            }
            guard let id else { return continuation.resume(returning: .respond(nil)) }
            handle(.request(from: stream.remotePeer, stream: KademliaStreamID(id), message: request))
            // An event the DHT did not answer (it always does) must not leave the stream hanging.
            state.withLock { $0.inbound.removeValue(forKey: id) }?.resume(returning: .respond(nil))
        }
        switch answer {
        case .respond(let message):
            if let message { try? await stream.write(KademliaFraming.frame(message)) }
            await stream.closeWrite()
        case .reset(let drop):
            stream.reset()
            if Self.costsConnection(drop.reason, request: request.type) { punish(drop.peer, drop.reason) }
        }
    }

    /// Whether a refused request is hostile enough to close the sender's connection.
    ///
    /// It is for a provider flood, a provider that is not the sender, a record put in a foreign namespace or over
    /// the size bound. A stale record, a full
    /// store or a read of a foreign namespace (other IPFS peers ask for /pk and /ipns) only cost the stream.
    static func costsConnection(_ reason: KademliaError, request: KademliaMessage.MessageType) -> Bool {
        switch reason {
        case .rateLimited, .invalidProvider: true
        case .foreignNamespace, .fieldTooLong: request == .putValue
        default: false
        }
    }

    /// Closes `peer`'s connections with a logged reason.
    ///
    /// The peer sent what no honest peer sends (undecodable or oversized messages, floods); only it is affected.
    private func punish(_ peer: PeerID, _ reason: KademliaError) {
        logger.warning("kademlia: closing a hostile peer's connection", ["peer": "\(peer)", "reason": "\(reason)"])
        let host = host
        Task { await host.disconnect(peer, reason: "\(reason)") }
    }

    /// Reads one framed message (nil at a clean end before any byte), within `limits`.
    static func readMessage(
        _ stream: P2PStream, limits: KademliaMessage.Limits
    ) async -> Result<KademliaMessage?, KademliaError> {
        var buffer: [UInt8] = []
        while true {
            do throws(KademliaError) {
                if let parsed = try KademliaFraming.parse(buffer, limits: limits) { return .success(parsed.message) }
            } catch {
                return .failure(error)
            }
            let chunk: [UInt8]?
            do {
                chunk = try await stream.read(maxBytes: 64 * 1024)
            } catch {
                return .success(nil)
            }
            guard let chunk, !chunk.isEmpty else {
                return buffer.isEmpty ? .success(nil) : .failure(.malformedProtobuf("stream ended inside a frame"))
            }
            buffer += chunk
        }
    }
}
