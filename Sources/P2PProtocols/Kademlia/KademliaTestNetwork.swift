import Codec
import Crypto
import Runtime

/// N DHT nodes wired in memory: any node can reach any other (as on the internet); a `.request` becomes the
/// target's `.request` (after connect and identify events on both sides, the first time), its `.respond` the
/// requester's `.response`, in FIFO order, with no latency; time moves only when the caller advances it.
///
/// Pure and deterministic (a seed fixes the keys and every node's randomness): for tests and small experiments; the
/// simulator adds latency, loss and churn around the same `KademliaDHT`.
public struct KademliaTestNetwork: Sendable {
    /// A provider one node's lookup found.
    public struct ProviderFound: Sendable, Equatable {
        /// The lookup.
        public var lookup: KademliaLookupID
        /// The provider.
        public var provider: KademliaPeerInfo
        /// The hop of the answer that named it.
        public var hop: Int
    }

    /// The nodes, by index.
    public private(set) var nodes: [KademliaDHT]
    /// The nodes' identities (tests sign records with them).
    public let identities: [LibP2PIdentity]
    /// The nodes' peer ids.
    public let peerIDs: [PeerID]
    /// Each node's listen address (a distinct /24 per node).
    public let addresses: [Multiaddr]
    /// The current time.
    public private(set) var now: Instant
    /// Each node's finished lookups, in order.
    public private(set) var results: [[KademliaLookupResult]]
    /// Each node's providers found.
    public private(set) var providersFound: [[ProviderFound]]
    /// Each node's peers found: (lookup, peer).
    public private(set) var peersFound: [[(lookup: KademliaLookupID, peer: KademliaPeerInfo)]]
    /// Each node's values found: (lookup, record).
    public private(set) var valuesFound: [[(lookup: KademliaLookupID, record: KademliaRecord)]]
    /// Each node's refused requests and dropped answers.
    public private(set) var drops: [[KademliaDrop]]
    /// Requests delivered in all.
    public private(set) var requestsDelivered = 0
    /// Offline nodes: requests to them fail at once as unreachable.
    public var offline: Set<Int> = []
    /// Silent nodes: requests to them vanish (no answer, no failure: only the DHT's timeout ends them).
    public var silent: Set<Int> = []
    /// Send every message through the codec and the framing (encode, frame, parse) on the way.
    public var encodesMessages = false

    private var index: [PeerID: Int] = [:]
    private var links: Set<Link> = []
    private var queue = FIFOQueue<(node: Int, event: KademliaDHT.Event)>()
    private var streams: [UInt64: (node: Int, request: KademliaRequestID, expects: Bool)] = [:]
    private var nextStream: UInt64 = 1

    private struct Link: Hashable, Sendable {
        let a: Int
        let b: Int
        init(_ x: Int, _ y: Int) {
            a = min(x, y)
            b = max(x, y)
        }
    }

    /// `count` nodes with `config`, Ed25519 keys and randomness drawn from `seed`; `configure` may adjust one node's
    /// config by index.
    public init(
        count: Int, config: KademliaConfig = .init(), seed: UInt64, start: Instant = Instant(seconds: 1_000),
        namespaces: KademliaNamespaces = .openLedger, configure: ((Int, inout KademliaConfig) -> Void)? = nil
    ) {
        var random = SeededRandom(seed: seed)
        var nodes: [KademliaDHT] = []
        var identities: [LibP2PIdentity] = []
        var addresses: [Multiaddr] = []
        for node in 0..<count {
            // A seed from the seeded source always makes a valid Ed25519 key; the address is well-formed.
            let identity = LibP2PIdentity.ed25519(try! Ed25519PrivateKey(seed: random.bytes(32)))
            let address = try! Multiaddr("/ip4/10.\(node >> 8 & 255).\(node & 255).1/tcp/4001")
            var nodeConfig = config
            configure?(node, &nodeConfig)
            nodes.append(
                KademliaDHT(
                    local: identity.peerID, config: nodeConfig, random: random.split(label: UInt64(node)),
                    namespaces: namespaces, localAddresses: [address], now: start))
            identities.append(identity)
            addresses.append(address)
        }
        self.nodes = nodes
        self.identities = identities
        peerIDs = identities.map(\.peerID)
        self.addresses = addresses
        now = start
        results = Array(repeating: [], count: count)
        providersFound = Array(repeating: [], count: count)
        peersFound = Array(repeating: [], count: count)
        valuesFound = Array(repeating: [], count: count)
        drops = Array(repeating: [], count: count)
        for (node, peer) in peerIDs.enumerated() { index[peer] = node }
    }

    /// The node index of a peer id.
    public func node(of peer: PeerID) -> Int? { index[peer] }

    /// Whether two nodes have a connection.
    public func isLinked(_ a: Int, _ b: Int) -> Bool { links.contains(Link(a, b)) }

    /// The peer info of a node (its id and address).
    public func info(_ node: Int) -> KademliaPeerInfo {
        KademliaPeerInfo(id: peerIDs[node], addresses: [addresses[node]])
    }

    /// Hands `event` to `node` and runs the network until it is quiet.
    public mutating func send(_ event: KademliaDHT.Event, to node: Int) {
        queue.push((node, event))
        run()
    }

    /// Bootstraps node after node (from 1) through node 0, then lets every node refresh its buckets once.
    public mutating func bootstrapAll() {
        for node in 1..<nodes.count { send(.bootstrap([info(0)], lookup: 0), to: node) }
        advance(seconds: nodes.first?.config.refreshInterval ?? 600)
        tickAll()
    }

    /// The last finished lookup `lookup` of `node`.
    public func result(_ node: Int, lookup: UInt64) -> KademliaLookupResult? {
        results[node].last { $0.id == .application(lookup) }
    }

    /// Advances time by `seconds`.
    public mutating func advance(seconds: Double) { now = now.advanced(bySeconds: seconds) }

    /// Ticks every node once at the current time, then runs.
    public mutating func tickAll() {
        for node in nodes.indices { queue.push((node, .tick)) }
        run()
    }

    /// Processes queued events until none is left.
    public mutating func run() {
        while let (node, event) = queue.popFirst() {
            let actions = nodes[node].on(event, now: now)
            for action in actions { perform(action, at: node) }
        }
    }

    private func protocols(_ node: Int) -> [String] {
        nodes[node].config.mode == .server ? [KademliaMessage.protocolID] : []
    }

    private mutating func connect(_ a: Int, _ b: Int) {
        guard a != b, links.insert(Link(a, b)).inserted else { return }
        for (x, y) in [(a, b), (b, a)] {
            queue.push((x, .peerConnected(peerIDs[y], address: addresses[y])))
            queue.push((x, .peerIdentified(peerIDs[y], protocols: protocols(y), addresses: [addresses[y]])))
        }
    }

    private func transported(_ message: KademliaMessage) -> KademliaMessage? {
        guard encodesMessages else { return message }
        return (try? KademliaFraming.parse(KademliaFraming.frame(message)))?.message
    }

    private mutating func perform(_ action: KademliaDHT.Action, at node: Int) {
        switch action {
        case .request(let id, let peer, _, let message, let expects):
            guard let target = index[peer], !offline.contains(target) else {
                queue.push((node, .requestFailed(id, .unreachable)))
                return
            }
            guard !silent.contains(target) else { return }
            connect(node, target)
            guard let message = transported(message) else {
                queue.push((node, .requestFailed(id, .reset)))
                return
            }
            let stream = nextStream
            nextStream += 1
            streams[stream] = (node, id, expects)
            requestsDelivered += 1
            queue.push((target, .request(from: peerIDs[node], stream: KademliaStreamID(stream), message: message)))
            if !expects { queue.push((node, .response(id, nil))) }
        case .respond(let stream, let message):
            guard let origin = streams.removeValue(forKey: stream.value), origin.expects else { return }
            if let message, let carried = transported(message) {
                queue.push((origin.node, .response(origin.request, carried)))
            } else {
                queue.push((origin.node, .requestFailed(origin.request, .reset)))
            }
        case .reset(let stream, let drop):
            drops[node].append(drop)
            guard let origin = streams.removeValue(forKey: stream.value), origin.expects else { return }
            queue.push((origin.node, .requestFailed(origin.request, .reset)))
        case .dial(let peer, _):
            if let target = index[peer], !offline.contains(target) { connect(node, target) }
        case .lookupProgress:
            break
        case .peerFound(let lookup, let peer, _):
            peersFound[node].append((lookup, peer))
        case .providerFound(let lookup, let provider, let hop):
            providersFound[node].append(ProviderFound(lookup: lookup, provider: provider, hop: hop))
        case .valueFound(let lookup, let record):
            valuesFound[node].append((lookup, record))
        case .lookupFinished(let result):
            results[node].append(result)
        case .dropped(let drop):
            drops[node].append(drop)
        }
    }
}
