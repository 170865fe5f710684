import Content
import Inference
import LightClient
import P2P
import Runtime
import Synchronization

/// Reads the figures of a running peer's services into `NodeMetrics`.
final class PeerNodeProbe: Sendable {
    private let role: NodeRole
    private let dhtMode: KademliaConfig.Mode
    private let host: P2PHostService
    private let peers: PeerWatch
    private let gossip: GossipService
    private let topics: [String]
    private let dht: DHTService
    private let store: ContentStore
    private let content: ContentService
    private let light: LightClient
    private let heads: HeadRelay
    private let api: OpenAIAPI?
    private let paid: PaidServingSetup.Parts?
    private let attester: ClaimAttester?
    private let clock: any Clock
    private let started: Instant
    private let tokenRate = Mutex(RateMeter(interval: 1))

    init(
        role: NodeRole, dhtMode: KademliaConfig.Mode, host: P2PHostService, peers: PeerWatch, gossip: GossipService,
        topics: [String], dht: DHTService, store: ContentStore, content: ContentService, light: LightClient,
        heads: HeadRelay, api: OpenAIAPI?, paid: PaidServingSetup.Parts?, attester: ClaimAttester?, clock: any Clock
    ) {
        self.role = role
        self.dhtMode = dhtMode
        self.host = host
        self.peers = peers
        self.gossip = gossip
        self.topics = topics
        self.dht = dht
        self.store = store
        self.content = content
        self.light = light
        self.heads = heads
        self.api = api
        self.paid = paid
        self.attester = attester
        self.clock = clock
        started = clock.now()
    }

    /// The figures now (the HTTP address is the caller's to fill in: the HTTP service holds this probe).
    func metrics() -> NodeMetrics {
        let router = gossip.gossip?.router
        var mesh: [String: Int] = [:]
        for topic in topics { mesh[topic] = router?.meshPeers(topic).count ?? 0 }
        let stats = try? store.stats()
        let exchange = content.bitswap?.counters ?? BitswapEngine.Counters()
        let (fromRPC, fromGossip) = heads.received
        var metrics = NodeMetrics(
            role: role.rawValue, peerID: host.host?.peerID.description ?? "",
            listen: host.listenAddress?.description ?? "", api: "",
            uptimeSeconds: clock.now().seconds(since: started), connectedPeers: peers.count, mesh: mesh,
            dhtTable: dht.dht?.dht.table.count ?? 0, dhtMode: dhtMode == .server ? "server" : "client",
            head: (try? light.knownHead())??.number, headsFromRPC: fromRPC, headsFromGossip: fromGossip,
            content: NodeMetrics.Content(
                blocks: stats?.blocks ?? 0, bytes: stats?.bytes ?? 0, storedBytes: stats?.storedBytes ?? 0,
                quotaBytes: stats?.quota, pins: stats?.pins ?? 0, bytesSent: exchange.bytesSent,
                bytesReceived: exchange.bytesReceived, blocksSent: exchange.blocksSent,
                blocksReceived: exchange.blocksReceived))
        if let api {
            if let cache = api.adapters {
                metrics.adapters = NodeMetrics.Adapters(
                    known: cache.known.count, cached: cache.cached.count, bytes: cache.bytes, hits: cache.hits,
                    misses: cache.loads)
            }
            let tokens = api.counters.tokens
            let now = clock.now()
            let rate = tokenRate.withLock { $0.observe(total: tokens, at: now) }
            let load = api.engine.load
            metrics.inference = NodeMetrics.Inference(
                model: api.modelName, completions: api.counters.completions, tokens: tokens, tokensPerSecond: rate,
                queued: load.waiting, running: load.running)
        }
        if let paid {
            metrics.payments = NodeMetrics.Payments(
                accepted: paid.gate.accepted, claimsSubmitted: paid.claims?.submitted ?? 0)
        }
        if let attester {
            let decided = attester.decided
            metrics.attester = NodeMetrics.Attester(
                attestations: decided.attested, challenges: decided.challenged)
        }
        return metrics
    }
}
