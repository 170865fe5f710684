import Runtime

/// What a running peer reports at one moment: the figures behind `/metrics` and `/status`.
///
/// Figures a role does not have (the model's on a light peer) are nil and left out.
public struct NodeMetrics: Sendable, Equatable, Codable {
    /// The role.
    public var role: String
    /// The libp2p peer id.
    public var peerID: String
    /// The full libp2p listen address (ending in /p2p/<peer id>).
    public var listen: String
    /// The HTTP address of /metrics and /status (and of the OpenAI API on an inferencer).
    public var api: String
    /// Seconds since the node started.
    public var uptimeSeconds: Double
    /// Peers with an open connection.
    public var connectedPeers: Int
    /// Mesh peers by gossip topic.
    public var mesh: [String: Int]
    /// Peers in the DHT routing table.
    public var dhtTable: Int
    /// The DHT mode: server or client.
    public var dhtMode: String
    /// The newest verified head's number, nil before the first.
    public var head: UInt64?
    /// Heads verified from JSON-RPC and accepted from gossip.
    public var headsFromRPC: Int
    /// Heads accepted from the blocks topic.
    public var headsFromGossip: Int
    /// The content store and its exchange.
    public var content: Content
    /// The adapter cache (an inferencer's).
    public var adapters: Adapters?
    /// Inference (an inferencer's).
    public var inference: Inference?
    /// Paid serving and claims (a paid inferencer's).
    public var payments: Payments?
    /// Attestations (a seeder with a wallet key).
    public var attester: Attester?

    /// Figures with these values.
    public init(
        role: String, peerID: String, listen: String, api: String, uptimeSeconds: Double, connectedPeers: Int,
        mesh: [String: Int], dhtTable: Int, dhtMode: String, head: UInt64? = nil, headsFromRPC: Int,
        headsFromGossip: Int, content: Content, adapters: Adapters? = nil, inference: Inference? = nil,
        payments: Payments? = nil, attester: Attester? = nil
    ) {
        self.role = role
        self.peerID = peerID
        self.listen = listen
        self.api = api
        self.uptimeSeconds = uptimeSeconds
        self.connectedPeers = connectedPeers
        self.mesh = mesh
        self.dhtTable = dhtTable
        self.dhtMode = dhtMode
        self.head = head
        self.headsFromRPC = headsFromRPC
        self.headsFromGossip = headsFromGossip
        self.content = content
        self.adapters = adapters
        self.inference = inference
        self.payments = payments
        self.attester = attester
    }

    /// The content store and the Bitswap exchange over it.
    public struct Content: Sendable, Equatable, Codable {
        /// Blocks held.
        public var blocks: Int
        /// Their bytes, uncompressed.
        public var bytes: UInt64
        /// Bytes they take on disk.
        public var storedBytes: UInt64
        /// The disk quota.
        public var quotaBytes: UInt64?
        /// Pins.
        public var pins: Int
        /// Bytes of blocks sent to peers.
        public var bytesSent: Int
        /// Bytes of wanted blocks received.
        public var bytesReceived: Int
        /// Blocks sent.
        public var blocksSent: Int
        /// Wanted blocks received.
        public var blocksReceived: Int

        /// The content figures.
        public init(
            blocks: Int, bytes: UInt64, storedBytes: UInt64, quotaBytes: UInt64? = nil, pins: Int, bytesSent: Int,
            bytesReceived: Int, blocksSent: Int, blocksReceived: Int
        ) {
            self.blocks = blocks
            self.bytes = bytes
            self.storedBytes = storedBytes
            self.quotaBytes = quotaBytes
            self.pins = pins
            self.bytesSent = bytesSent
            self.bytesReceived = bytesReceived
            self.blocksSent = blocksSent
            self.blocksReceived = blocksReceived
        }
    }

    /// The adapter cache.
    public struct Adapters: Sendable, Equatable, Codable {
        /// Adapters the source knows.
        public var known: Int
        /// Adapters loaded now.
        public var cached: Int
        /// Bytes of the loaded adapters.
        public var bytes: Int
        /// Requests answered from the cache.
        public var hits: Int
        /// Requests that loaded their adapter.
        public var misses: Int

        /// The adapter cache's figures.
        public init(known: Int, cached: Int, bytes: Int, hits: Int, misses: Int) {
            self.known = known
            self.cached = cached
            self.bytes = bytes
            self.hits = hits
            self.misses = misses
        }
    }

    /// The inference engine.
    public struct Inference: Sendable, Equatable, Codable {
        /// The model's name.
        public var model: String
        /// Generations finished.
        public var completions: Int
        /// Completion tokens generated.
        public var tokens: Int
        /// Tokens generated per second, over the last measured interval.
        public var tokensPerSecond: Double
        /// Requests waiting in the queue.
        public var queued: Int
        /// Generations running.
        public var running: Int

        /// The engine's figures.
        public init(model: String, completions: Int, tokens: Int, tokensPerSecond: Double, queued: Int, running: Int) {
            self.model = model
            self.completions = completions
            self.tokens = tokens
            self.tokensPerSecond = tokensPerSecond
            self.queued = queued
            self.running = running
        }
    }

    /// Paid serving and claims.
    public struct Payments: Sendable, Equatable, Codable {
        /// Vouchers accepted.
        public var accepted: Int
        /// Claims submitted to the ledger.
        public var claimsSubmitted: Int

        /// Paid serving's figures.
        public init(accepted: Int, claimsSubmitted: Int) {
            self.accepted = accepted
            self.claimsSubmitted = claimsSubmitted
        }
    }

    /// The attester.
    public struct Attester: Sendable, Equatable, Codable {
        /// Claims attested.
        public var attestations: Int
        /// Claims challenged.
        public var challenges: Int

        /// The attester's figures.
        public init(attestations: Int, challenges: Int) {
            self.attestations = attestations
            self.challenges = challenges
        }
    }

    /// The metric families of the Prometheus text: every figure above under an `openledger_` name.
    public var families: [PrometheusMetric] {
        typealias M = PrometheusMetric
        var list: [M] = [
            M(
                "openledger_node_info", .gauge, "The node's role, peer id and DHT mode (value 1).",
                [.init(1, labels: [.init("role", role), .init("peer_id", peerID), .init("dht_mode", dhtMode)])]),
            M("openledger_uptime_seconds", .gauge, "Seconds since the node started.", value: uptimeSeconds),
            M(
                "openledger_p2p_connected_peers", .gauge, "Peers with an open libp2p connection.",
                value: Double(connectedPeers)),
            M(
                "openledger_gossip_mesh_peers", .gauge, "Gossipsub mesh peers per topic.",
                mesh.keys.sorted().map { .init(Double(mesh[$0] ?? 0), labels: [.init("topic", $0)]) }),
            M(
                "openledger_dht_routing_table_peers", .gauge, "Peers in the Kademlia routing table.",
                value: Double(dhtTable)),
            M(
                "openledger_light_head_number", .gauge, "The newest verified head's block number.",
                value: head.map { Double($0) }),
            M(
                "openledger_light_heads_total", .counter, "Heads verified, by where they came from.",
                [
                    .init(Double(headsFromRPC), labels: [.init("source", "rpc")]),
                    .init(Double(headsFromGossip), labels: [.init("source", "gossip")]),
                ]),
            M("openledger_content_blocks", .gauge, "Blocks in the content store.", value: Double(content.blocks)),
            M(
                "openledger_content_bytes", .gauge, "Bytes of the content store's blocks, uncompressed.",
                value: Double(content.bytes)),
            M(
                "openledger_content_stored_bytes", .gauge, "Bytes the content store's blocks take on disk.",
                value: Double(content.storedBytes)),
            M(
                "openledger_content_quota_bytes", .gauge, "The content store's disk quota.",
                value: content.quotaBytes.map { Double($0) }),
            M("openledger_content_pins", .gauge, "Pins in the content store.", value: Double(content.pins)),
            M(
                "openledger_content_sent_bytes_total", .counter, "Bytes of blocks sent to peers over Bitswap.",
                value: Double(content.bytesSent)),
            M(
                "openledger_content_received_bytes_total", .counter, "Bytes of wanted blocks received over Bitswap.",
                value: Double(content.bytesReceived)),
            M(
                "openledger_content_sent_blocks_total", .counter, "Blocks sent to peers over Bitswap.",
                value: Double(content.blocksSent)),
            M(
                "openledger_content_received_blocks_total", .counter, "Wanted blocks received over Bitswap.",
                value: Double(content.blocksReceived)),
        ]
        if let adapters {
            list += [
                M(
                    "openledger_adapters_known", .gauge, "Adapters the adapter source knows.",
                    value: Double(adapters.known)),
                M("openledger_adapters_cached", .gauge, "Adapters loaded in memory.", value: Double(adapters.cached)),
                M(
                    "openledger_adapters_cached_bytes", .gauge, "Bytes of the loaded adapters.",
                    value: Double(adapters.bytes)),
                M(
                    "openledger_adapter_cache_hits_total", .counter, "Requests answered from the adapter cache.",
                    value: Double(adapters.hits)),
                M(
                    "openledger_adapter_cache_misses_total", .counter, "Requests that loaded their adapter.",
                    value: Double(adapters.misses)),
            ]
        }
        if let inference {
            list += [
                M(
                    "openledger_inference_completions_total", .counter, "Generations finished.",
                    value: Double(inference.completions)),
                M(
                    "openledger_inference_tokens_total", .counter, "Completion tokens generated.",
                    value: Double(inference.tokens)),
                M(
                    "openledger_inference_tokens_per_second", .gauge,
                    "Completion tokens per second over the last interval.",
                    value: inference.tokensPerSecond),
                M(
                    "openledger_inference_queue_depth", .gauge, "Requests waiting for a generation slot.",
                    value: Double(inference.queued)),
                M("openledger_inference_running", .gauge, "Generations running.", value: Double(inference.running)),
            ]
        }
        if let payments {
            list += [
                M(
                    "openledger_payments_accepted_total", .counter, "Vouchers accepted.",
                    value: Double(payments.accepted)),
                M(
                    "openledger_claims_submitted_total", .counter, "Reward claims submitted.",
                    value: Double(payments.claimsSubmitted)),
            ]
        }
        if let attester {
            list += [
                M("openledger_attestations_total", .counter, "Claims attested.", value: Double(attester.attestations)),
                M(
                    "openledger_challenges_total", .counter, "Claims challenged with a fraud proof.",
                    value: Double(attester.challenges)),
            ]
        }
        return list
    }

    /// The Prometheus text of `families`.
    public var prometheusText: String { PrometheusText.render(families) }
}

/// A rate over a counter: the increase per second between the last two readings at least `interval` apart.
public struct RateMeter: Sendable {
    private let interval: Double
    private var last: (total: Int, at: Instant)?
    private var rate: Double = 0

    /// A meter that measures over at least `interval` seconds.
    public init(interval: Double = 1) { self.interval = interval }

    /// Reads the counter at `total` at `now`; returns the rate since the previous reading that is at least the
    /// interval old (the last rate until one is).
    public mutating func observe(total: Int, at now: Instant) -> Double {
        guard let last else {
            self.last = (total, now)
            return 0
        }
        let seconds = now.seconds(since: last.at)
        guard seconds >= interval else { return rate }
        rate = total >= last.total ? Double(total - last.total) / seconds : 0
        self.last = (total, now)
        return rate
    }
}
