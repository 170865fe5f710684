import AttributionRules
import Codec
import Content
import Crypto
import Foundation
import Inference
import LightClient
import P2P
import Runtime
import Synchronization

/// One peer, composed by role: the services `openledger node` runs, in start order, and the figures they report.
///
/// Every role runs the libp2p host, gossip on the blocks and announce topics (gossiped heads checked by the light
/// client), the DHT, the content exchange over its store, the head follower, and the HTTP port of `/metrics` and
/// `/status`. An inferencer adds the OpenAI API on that port (paid, with claims, unless free); a seeder adds the
/// attester when the data directory holds a wallet key.
public final class PeerNode: Sendable {
    /// What an inferencer serves with: built by the caller from the model and the serving settings.
    public struct Serving: Sendable {
        /// The engine over the loaded model.
        public var engine: InferenceEngine
        /// The model's name in the API.
        public var modelName: String
        /// The SHA-256 of the model's GGUF file, as `ModelRegistry` records base models.
        public var baseModelHash: [UInt8]
        /// Where adapters are kept: the directory's own, and the ledger's once fetched.
        public var adapterDirectory: String
        /// Memory for loaded adapters, in bytes.
        public var adapterBudgetBytes: Int
        /// The snapshots answers are attributed against (adapters fetched on demand add the ones they were trained
        /// on); nil starts with none.
        public var attribution: AnswerAttribution?
        /// What paid serving charges; nil serves for free.
        public var pricing: ServingPricing?

        /// Serving with these parts.
        public init(
            engine: InferenceEngine, modelName: String, baseModelHash: [UInt8], adapterDirectory: String,
            adapterBudgetBytes: Int, attribution: AnswerAttribution?, pricing: ServingPricing?
        ) {
            self.engine = engine
            self.modelName = modelName
            self.baseModelHash = baseModelHash
            self.adapterDirectory = adapterDirectory
            self.adapterBudgetBytes = adapterBudgetBytes
            self.attribution = attribution
            self.pricing = pricing
        }
    }

    /// The configuration composed.
    public let configuration: PeerNodeConfiguration
    /// The services, in start order.
    public let services: [any Service]
    /// The libp2p host.
    public let host: P2PHostService
    /// The HTTP port.
    public let http: PeerHTTPService
    private let probe: PeerNodeProbe
    private let logger: Logger

    /// Composes the peer `configuration` describes on `directory` (its identity, content store, wallet and ledgers),
    /// following the ledger of `network`; `bootstrap` are every peer to join through; an inferencer needs `serving`;
    /// a seeder judges claims against `attesterSnapshots`.
    public init(
        configuration: PeerNodeConfiguration, network: NodeConfiguration, directory: DataDirectory,
        identity: LibP2PIdentity, bootstrap: [Multiaddr], logging: NodeLogging, serving: Serving? = nil,
        attesterSnapshots: [AnswerAttribution.Snapshot] = [], clock: any Clock = SystemClock()
    ) throws(NodeError) {
        self.configuration = configuration
        let role = configuration.role
        let logger = logging.logger("node").with(["role": role.rawValue])
        self.logger = logger
        try directory.create()
        let chainId = network.network.chainId
        let topics = [NetworkTopics.blocks(chainId: chainId), NetworkTopics.announce(chainId: chainId)]

        let store: ContentStore
        let pins: [CID]
        do {
            store = try ContentStore(
                directory: directory.contentStore, options: ContentStore.Options(quota: configuration.quotaBytes))
            pins = try store.pins().map(\.root)
        } catch {
            throw .serviceFailed(service: "content", reason: error)
        }

        let host = P2PHostService(
            identity: identity, config: configuration.hostConfig, listen: configuration.listen,
            logger: logging.logger("p2p"))
        self.host = host
        let peers = PeerWatch(host: host)

        // One light client for everything the node reads from the ledger: heads by RPC and by gossip alike.
        let light = try LightClientFactory.client(configuration: network, rpcURL: configuration.rpcURL)
        let heads = HeadRelay(topic: topics[0], chainId: chainId, header: { try? light.header($0) })
        var paid: PaidServingSetup.Parts?
        if role == .inferencer, let pricing = serving?.pricing {
            paid = try PaidServingSetup.make(
                configuration: network, rpcURL: configuration.rpcURL, directory: directory,
                defaultPrice: pricing.defaultPrice, prices: pricing.prices, adapterIDs: pricing.adapterIDs,
                claimPolicy: pricing.claimPolicy, logger: logging.logger("payments"), clock: clock, light: light,
                onHead: heads.fromRPC)
        }

        let gossipLogger = logging.logger("gossip")
        // A seeder pins what the announce topic announces (checked against the ledger); set once the DHT exists.
        let pinner = Mutex<AnnouncementPinner?>(nil)
        let announceTopic = topics[1]
        let gossip = GossipService(
            host: host, topics: topics,
            validators: [
                topics[0]: HeadGossip.validator(client: light, logger: gossipLogger, onHead: heads.fromGossip),
                topics[1]: AnnouncementPinner.validator,
            ],
            bootstrap: [], logger: gossipLogger,
            onDeliver: { delivery in
                guard delivery.message.topic == announceTopic else { return }
                pinner.withLock { $0 }?.deliver(delivery.message.data)
            })
        heads.attach(gossip)
        var dhtConfig = KademliaConfig()
        dhtConfig.mode = configuration.dhtMode
        // The DHT dials the bootstrap peers (gossip meets them there), then provides the pins.
        let dht = DHTService(
            host: host, config: dhtConfig, bootstrap: bootstrap, provide: pins, logger: logging.logger("dht"))
        let content = ContentService(host: host, store: store, logger: logging.logger("content"))
        if role == .seeder {
            let fetcher = ContentFetcher(
                host: host, content: content, dht: dht, store: store, logger: logging.logger("content"))
            let seeding = AnnouncementPinner(
                light: light, store: store, fetcher: fetcher, dht: dht, logger: logging.logger("announce"))
            pinner.withLock { $0 = seeding }
        }

        let follower =
            paid?.follower
            ?? HeadFollowService(
                client: light, intervalMilliseconds: UInt64(configuration.headIntervalSeconds * 1_000),
                logger: logging.logger("light"), requiresHeadAtStart: false, onHead: heads.fromRPC)

        var attester: ClaimAttester?
        if role == .seeder && configuration.attests {
            attester = try Self.attester(
                light: light, directory: directory, snapshots: attesterSnapshots, network: network,
                logger: logging.logger("attester"), nodeLogger: logger)
        }

        var api: OpenAIAPI?
        if let serving, role == .inferencer {
            let terms = paid?.gate.terms
            let (adapters, attribution) = Self.adapters(
                serving, light: light, host: host, dht: dht, content: content, store: store, directory: directory,
                network: network, logging: logging,
                announce: { announcement in
                    var announcement = announcement
                    if case .adapter(var adapter) = announcement, let terms {
                        adapter.promptWeiPerToken = terms.defaultPrice.promptWei.description
                        adapter.completionWeiPerToken = terms.defaultPrice.completionWei.description
                        adapter.payee = terms.payee.checksummed
                        announcement = .adapter(adapter)
                    }
                    gossip.publish(topic: announceTopic, data: announcement.encoded)
                })
            api = OpenAIAPI(
                engine: serving.engine, modelName: serving.modelName, clock: clock, logger: logging.logger("openai"),
                adapters: adapters, payments: paid?.gate, attribution: attribution)
        }
        let probe = PeerNodeProbe(
            role: role, dhtMode: configuration.dhtMode, host: host, peers: peers, gossip: gossip, topics: topics,
            dht: dht, store: store, content: content, light: light, heads: heads, api: api, paid: paid,
            attester: attester, clock: clock)
        self.probe = probe
        let http = PeerHTTPService(
            host: configuration.apiHost, port: configuration.apiPort, api: api, metrics: { probe.metrics() })
        self.http = http

        var services: [any Service] = [host, peers, gossip, dht, content, follower]
        if let claims = paid?.claims { services.append(claims) }
        if let attester { services.append(attester) }
        services.append(http)
        self.services = services
    }

    /// The adapter cache of an inferencer and the attribution it feeds.
    ///
    /// The cache's source is the ledger's (`LedgerAdapterSource`): `adapter-<id>` is read from `ModelRegistry`, fetched
    /// by CID through this node's host, checked and kept in the adapter directory, whose own adapters are served by
    /// name too; each ledger adapter loaded brings the index of the snapshot it was trained on (`SnapshotIndexes`, kept
    /// in `DIR/attribution`).
    private static func adapters(
        _ serving: Serving, light: LightClient, host: P2PHostService, dht: DHTService, content: ContentService,
        store: ContentStore, directory: DataDirectory, network: NodeConfiguration, logging: NodeLogging,
        announce: @escaping @Sendable (Announcement) -> Void
    ) -> (AdapterCache, AnswerAttribution) {
        let parameters = network.network.parameters
        let attribution =
            serving.attribution
            ?? AnswerAttribution(
                fallback: nil, byModel: [:], minSpan: parameters.attributionMinSpan,
                maxRecords: parameters.attributionMaxRecords)
        let fetcher = ContentFetcher(
            host: host, content: content, dht: dht, store: store, logger: logging.logger("content"))
        let logger = logging.logger("adapters")
        let indexes = SnapshotIndexes(
            light: light, store: store, directory: directory, logger: logger,
            fetch: { cid throws(NodeError) in
                try fetcher.fetch(cid, reason: .datanetSnapshot, timeoutSeconds: Self.fetchTimeoutSeconds)
            })
        let source = LedgerAdapterSource(
            light: light, store: store, fetcher: fetcher, baseModelHash: serving.baseModelHash,
            directory: serving.adapterDirectory, timeoutSeconds: Self.fetchTimeoutSeconds, logger: logger
        ) { id, adapter in
            let name = LedgerAdapterName.name(id)
            // The peer now holds the adapter: it provides it and announces that it serves it.
            let text = String(decoding: adapter.cid, as: UTF8.self)
            if let cid = try? CID(string: text), let running = dht.dht {
                Task { _ = await running.provide(cid.multihash.bytes) }
            }
            let file = (serving.adapterDirectory as NSString).appendingPathComponent(name + ".gguf")
            let size = ((try? FileManager.default.attributesOfItem(atPath: file))?[.size] as? Int) ?? 0
            let rank = (try? LoRAInspection.inspect(path: file))?.entries.first?.rank ?? 0
            if let head = try? light.syncHead() {
                announce(
                    .adapter(
                        .init(
                            adapterId: id.description, baseModelId: adapter.baseModelID.description,
                            owner: adapter.owner.checksummed, cid: text, format: "gguf-lora", rank: rank,
                            bytes: "\(size)", block: Hex.encode(head.hash))))
            }
            for root in adapter.datanetRoots {
                do {
                    attribution.register(try indexes.snapshot(root: root), for: name)
                    return
                } catch {
                    logger.warning(
                        "snapshot index unavailable", ["adapter": name, "root": Hex.encode(root), "error": "\(error)"])
                }
            }
        }
        let cache = AdapterCache(
            source: source, base: LoRABase(model: serving.engine.model), budget: serving.adapterBudgetBytes)
        return (cache, attribution)
    }

    /// How long a fetch by CID (an adapter, a snapshot's records) may take.
    public static let fetchTimeoutSeconds = 60.0

    /// The attester of a seeder: its wallet key, or none (logged) when the data directory holds no key.
    private static func attester(
        light: LightClient, directory: DataDirectory, snapshots: [AnswerAttribution.Snapshot],
        network: NodeConfiguration, logger: Logger, nodeLogger: Logger
    ) throws(NodeError) -> ClaimAttester? {
        let key: Secp256k1PrivateKey
        do {
            key = try WalletKeyFile.load(at: directory.walletKey)
        } catch {
            if case .walletKeyMissing = error {
                nodeLogger.info("no wallet key: not attesting", ["path": directory.walletKey])
                return nil
            }
            throw error
        }
        let parameters = network.network.parameters
        do {
            return try ClaimAttester(
                light: light, key: key, snapshots: snapshots,
                parameters: AttributionParameters(
                    minSpan: parameters.attributionMinSpan, maxRecords: parameters.attributionMaxRecords),
                path: directory.attesterStore, logger: logger)
        } catch {
            throw .serviceFailed(service: "attester", reason: error)
        }
    }

    /// The figures of the running node.
    public func metrics() -> NodeMetrics {
        var metrics = probe.metrics()
        metrics.api = http.baseURL
        return metrics
    }

    /// What the node prints once it runs, one item a line: role, peer id, libp2p address, HTTP address.
    public var startupLines: [String] {
        [
            "role: \(configuration.role.rawValue)",
            "peer: \(host.host?.peerID.description ?? "")",
            "p2p: \(host.listenAddress?.description ?? "")",
            "api: \(http.baseURL)",
        ]
    }

    /// Starts the services in order, calls `started`, and stops them in reverse once SIGINT or SIGTERM arrives.
    public func run(until signals: TerminationSignals, started: () -> Void) throws(NodeError) {
        try ServiceGroup(services, logger: logger).run(started: started, until: signals)
    }
}

/// Where verified heads go: counted by route, and each head verified from JSON-RPC published on the blocks topic
/// with every verified header since the last one published, oldest first (heads accepted from gossip are forwarded
/// by the router itself).
///
/// A peer without a server accepts a gossiped head only when it links to the one it verified last; a follower polling
/// once a second sees heads several blocks apart, so publishing the heads alone would leave such a peer stuck.
final class HeadRelay: Sendable {
    /// The most headers published for one new head (the rest of a longer gap needs a server).
    static let maximumSegment: UInt64 = 64

    private let topic: String
    private let chainId: UInt64
    private let header: @Sendable (UInt64) -> VerifiedHeader?
    // Weak: the gossip service's validator holds this relay.
    private struct WeakGossip: Sendable { weak var service: GossipService? }
    private let gossip = Mutex(WeakGossip())
    private let counts = Mutex<(rpc: Int, gossip: Int)>((0, 0))
    private let published = Mutex<UInt64?>(nil)

    /// A relay on `topic` of chain `chainId`; `header` gives the verified header at a number (nil when unknown).
    init(topic: String, chainId: UInt64, header: @escaping @Sendable (UInt64) -> VerifiedHeader? = { _ in nil }) {
        self.topic = topic
        self.chainId = chainId
        self.header = header
    }

    func attach(_ service: GossipService) { gossip.withLock { $0.service = service } }

    /// Heads verified from JSON-RPC and from gossip.
    var received: (rpc: Int, gossip: Int) { counts.withLock { $0 } }

    @Sendable func fromRPC(_ head: VerifiedHeader) {
        counts.withLock { $0.rpc += 1 }
        let first = published.withLock { last -> UInt64 in
            defer { last = max(last ?? 0, head.number) }
            guard let last, last < head.number else { return head.number }
            return max(last + 1, head.number - min(head.number, Self.maximumSegment - 1))
        }
        // The headers in between, as long as each links to the next: a reorg since may have replaced some.
        var segment = [head]
        var number = head.number
        while number > first, let parent = header(number - 1), parent.hash == segment[0].header.parentHash {
            segment.insert(parent, at: 0)
            number -= 1
        }
        guard let service = gossip.withLock({ $0.service }) else { return }
        for header in segment {
            service.publish(
                topic: topic,
                data: SignedHeadJSON.encode(rlp: header.header.encoded, signature: header.signature, chainId: chainId))
        }
    }

    @Sendable func fromGossip(_ head: VerifiedHeader) { counts.withLock { $0.gossip += 1 } }
}

/// Keeps the set of connected peers from the host's peer events.
final class PeerWatch: Service {
    let name = "peer-watch"
    private let hostService: P2PHostService
    private let connected = Mutex<Set<PeerID>>([])

    init(host: P2PHostService) { hostService = host }

    /// Peers with an open connection.
    var count: Int { connected.withLock { $0.count } }

    func start() throws(NodeError) {
        guard let host = hostService.host else {
            throw .serviceFailed(service: name, reason: P2PError.connectionClosed("the libp2p host is not running"))
        }
        host.observePeers { [weak self] event in
            self?.connected.withLock {
                switch event {
                case .connected(let peer, _, _): $0.insert(peer)
                case .disconnected(let peer): $0.remove(peer)
                }
            }
        }
    }

    func stop() {}
}
