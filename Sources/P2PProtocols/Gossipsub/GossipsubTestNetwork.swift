import Codec
import Crypto
import Runtime

/// N gossipsub routers wired in memory: each `.send` becomes the receiver's `.receivedRPC` (or `.received` with
/// the encoded bytes), in FIFO order, with no latency; time moves only when the caller advances it.
///
/// Pure and deterministic (a seed fixes the keys and every router's randomness): for tests and small experiments.
/// The simulator is the tool for latency, bandwidth and scale.
public struct GossipsubTestNetwork: Sendable {
    /// A message handed to one node's application.
    public struct Delivery: Sendable, Equatable {
        /// The message id.
        public var id: GossipsubMessageID
        /// The message.
        public var message: GossipsubMessage
        /// The peer that forwarded it.
        public var from: PeerID
    }

    /// The routers, by node index.
    public private(set) var routers: [GossipsubRouter]
    /// The nodes' peer ids, by node index.
    public let peerIDs: [PeerID]
    /// The current time.
    public private(set) var now: Instant
    /// What each node delivered to its application, in order.
    public private(set) var deliveries: [[Delivery]]
    /// What each node was asked to validate and has not answered (`answerValidation` answers).
    public private(set) var validationRequests: [[Delivery]]
    /// The ids each node published.
    public private(set) var published: [[GossipsubMessageID]]
    /// Each node's disconnects: (peer, reason).
    public private(set) var disconnects: [[(peer: PeerID, reason: String)]]
    /// Each node's PX dial requests.
    public private(set) var connectRequests: [[PeerID]]
    /// Every RPC sent, as (from node, to node, rpc), when `recordsRPCs` is on.
    public private(set) var sentRPCs: [(from: Int, to: Int, rpc: GossipsubRPC)] = []
    /// Whether `sentRPCs` records.
    public var recordsRPCs = false
    /// Deliver RPCs as encoded bytes (`.received`) instead of decoded values (`.receivedRPC`).
    public var encodesRPCs = false
    /// A filter on RPCs in flight: return false to drop one (from node, to node, rpc).
    public var dropFilter: (@Sendable (Int, Int, GossipsubRPC) -> Bool)?

    private var index: [PeerID: Int] = [:]
    private var links: Set<Link> = []
    private var queue = FIFOQueue<(node: Int, event: GossipsubRouter.Event)>()

    private struct Link: Hashable, Sendable {
        let a: Int
        let b: Int
        init(_ x: Int, _ y: Int) {
            a = min(x, y)
            b = max(x, y)
        }
    }

    /// `count` routers with `config`, Ed25519 keys and randomness drawn from `seed`; `configure` may adjust one
    /// node's config by index.
    public init(
        count: Int, config: GossipsubConfig, seed: UInt64, start: Instant = Instant(seconds: 1_000),
        verifier: GossipsubRouter.SignatureVerifier? = nil,
        configure: ((Int, inout GossipsubConfig) -> Void)? = nil
    ) {
        var random = SeededRandom(seed: seed)
        var routers: [GossipsubRouter] = []
        var peerIDs: [PeerID] = []
        for node in 0..<count {
            // A seed from the seeded source always makes a valid Ed25519 key.
            let key = try! Ed25519PrivateKey(seed: random.bytes(32))
            let identity = LibP2PIdentity.ed25519(key)
            var nodeConfig = config
            configure?(node, &nodeConfig)
            routers.append(
                GossipsubRouter(
                    local: identity, config: nodeConfig, random: random.split(label: UInt64(node)), verifier: verifier))
            peerIDs.append(identity.peerID)
        }
        self.routers = routers
        self.peerIDs = peerIDs
        now = start
        deliveries = Array(repeating: [], count: count)
        validationRequests = Array(repeating: [], count: count)
        published = Array(repeating: [], count: count)
        disconnects = Array(repeating: [], count: count)
        connectRequests = Array(repeating: [], count: count)
        for (node, peer) in peerIDs.enumerated() { index[peer] = node }
    }

    /// The node index of a peer id.
    public func node(of peer: PeerID) -> Int? { index[peer] }

    /// Whether two nodes are connected.
    public func isLinked(_ a: Int, _ b: Int) -> Bool { links.contains(Link(a, b)) }

    /// Connects two nodes (`dialer` dialed, so the link is outbound on its side) with `version` on both sides.
    public mutating func connect(_ dialer: Int, _ listener: Int, version: GossipsubVersion = .v12) {
        guard dialer != listener, links.insert(Link(dialer, listener)).inserted else { return }
        enqueue(dialer, .peerConnected(peerIDs[listener], version: version, outbound: true, address: nil))
        enqueue(listener, .peerConnected(peerIDs[dialer], version: version, outbound: false, address: nil))
        run()
    }

    /// Cuts the link between two nodes; both routers hear `.peerDisconnected`.
    public mutating func disconnect(_ a: Int, _ b: Int) {
        guard links.remove(Link(a, b)) != nil else { return }
        enqueue(a, .peerDisconnected(peerIDs[b]))
        enqueue(b, .peerDisconnected(peerIDs[a]))
        run()
    }

    /// Hands `event` to `node` and runs the network until it is quiet.
    public mutating func send(_ event: GossipsubRouter.Event, to node: Int) {
        enqueue(node, event)
        run()
    }

    /// Answers the oldest validation request of `node` with `result`.
    public mutating func answerValidation(_ node: Int, _ result: GossipsubValidationResult) {
        guard !validationRequests[node].isEmpty else { return }
        let request = validationRequests[node].removeFirst()
        send(.validated(request.id, result), to: node)
    }

    /// Advances time by `seconds`.
    public mutating func advance(seconds: Double) { now = now.advanced(bySeconds: seconds) }

    /// `count` rounds of: advance one heartbeat interval (of node 0's config), heartbeat every node, run.
    public mutating func heartbeats(_ count: Int) {
        for _ in 0..<count {
            advance(seconds: routers.first?.config.heartbeatInterval ?? 1)
            for node in routers.indices { enqueue(node, .heartbeat) }
            run()
        }
    }

    /// How many times `node` delivered `id`.
    public func deliveryCount(_ node: Int, _ id: GossipsubMessageID) -> Int {
        deliveries[node].reduce(0) { $0 + ($1.id == id ? 1 : 0) }
    }

    private mutating func enqueue(_ node: Int, _ event: GossipsubRouter.Event) { queue.push((node, event)) }

    /// Processes queued events until none is left.
    public mutating func run() {
        while let (node, event) = queue.popFirst() {
            let actions = routers[node].on(event, now: now)
            for action in actions { perform(action, at: node) }
        }
    }

    private mutating func perform(_ action: GossipsubRouter.Action, at node: Int) {
        let me = peerIDs[node]
        switch action {
        case .send(let peer, let rpc):
            guard let target = index[peer], links.contains(Link(node, target)) else { return }
            if recordsRPCs { sentRPCs.append((node, target, rpc)) }
            if let dropFilter, !dropFilter(node, target, rpc) { return }
            if encodesRPCs {
                enqueue(target, .received(from: me, bytes: rpc.encoded()[...]))
            } else {
                enqueue(target, .receivedRPC(from: me, rpc: rpc, size: rpc.encodedSize))
            }
        case .deliver(let message, let id, let from):
            deliveries[node].append(Delivery(id: id, message: message, from: from))
        case .validate(let message, let id, let from):
            validationRequests[node].append(Delivery(id: id, message: message, from: from))
        case .disconnect(let peer, let reason):
            disconnects[node].append((peer, reason))
            if let target = index[peer], links.remove(Link(node, target)) != nil {
                enqueue(target, .peerDisconnected(me))
                enqueue(node, .peerDisconnected(peer))
            }
        case .connect(let peer, _):
            connectRequests[node].append(peer)
        case .published(let id):
            published[node].append(id)
        case .publishFailed:
            break
        }
    }
}
