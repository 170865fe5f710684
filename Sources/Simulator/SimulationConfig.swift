import P2PProtocols

/// A byzantine behaviour, by flag.
public enum AttackKind: String, Sendable, CaseIterable {
    /// The attackers stay subscribed and in meshes but forward nothing: no messages, no IHAVE, no IWANT answers.
    case silent
    /// The attackers publish messages the application rejects (validly signed) and messages with forged
    /// signatures, ten a second each.
    case spam
    /// The attackers send IWANT for every message id they know to every peer, ten times a second.
    case iwantFlood = "iwant-flood"
    /// Sybils dial extra honest peers, GRAFT into their meshes every heartbeat (ignoring PRUNE and backoff) and
    /// censor: they forward nothing.
    case sybil
    /// The attackers take every connection of one honest target and forward nothing to it (no PX either).
    case eclipse
}

/// An attack: its kind and the fraction of the nodes that are attackers.
public struct Attack: Sendable, Equatable {
    /// What the attackers do.
    public var kind: AttackKind
    /// The fraction of the nodes that attack, in (0, 1).
    public var fraction: Double

    /// An attack by `fraction` of the nodes.
    public init(kind: AttackKind, fraction: Double) {
        self.kind = kind
        self.fraction = fraction
    }
}

/// A network partition: from `start` to `end` (simulated seconds) packets between the two sides are lost; a
/// `fraction` of the nodes is on the smaller side.
public struct Partition: Sendable, Equatable {
    /// When the partition begins, seconds.
    public var start: Double
    /// When it heals, seconds.
    public var end: Double
    /// The fraction of the nodes cut off.
    public var fraction: Double

    /// A partition of `fraction` of the nodes from `start` to `end`.
    public init(start: Double, end: Double, fraction: Double = 0.5) {
        self.start = start
        self.end = end
        self.fraction = fraction
    }
}

/// The parameters of one gossip simulation.
public struct SimulationConfig: Sendable {
    /// Peers.
    public var nodes = 1_000
    /// The mesh degree D; each node also dials D random peers, so a node has about 2·D connections.
    public var degree = 8
    /// Payload bytes per message.
    public var messageBytes = 1_024
    /// Messages published.
    public var messages = 10
    /// Distinct publishers (honest), taking turns.
    public var publishers = 1
    /// One-way link latency, uniform in this range, milliseconds (fixed per link).
    public var latencyMilliseconds: ClosedRange<Double> = 20...150
    /// Each node's upload bandwidth, megabits per second.
    public var bandwidthMbps = 50.0
    /// The probability that a packet (one RPC) is lost.
    public var loss = 0.0
    /// The fraction of the nodes that leave once and come back (router state reset: a restart).
    public var churn = 0.0
    /// Under churn, a (message, node) pair counts when the node was online throughout this many seconds after the
    /// publication (the dissemination); nodes that left meanwhile are reported in `strictDeliveryRatio` only.
    public var presenceWindow = 1.0
    /// Byzantine peers, if any.
    public var attack: Attack? = nil
    /// A partition that heals, if any.
    public var partition: Partition? = nil
    /// The seed every random choice of the run derives from.
    public var seed: UInt64 = 1
    /// Seconds between two publications.
    public var publishInterval = 1.0
    /// Seconds before the first publication (meshes form at the first heartbeats).
    public var warmup = 3.0
    /// Seconds simulated after the last publication (gossip recovers losses within it).
    public var drain = 5.0
    /// The topic every node joins: the network's blocks topic, scored as the network scores it.
    public var topic = GossipsubScoreParameters.openLedgerBlocksTopic(chainID: 1)
    /// Score peers with the network's parameters (`GossipsubScoreParameters.openLedger`, one head per publication
    /// interval); false keeps `router.score` as given.
    public var networkScoring = true
    /// The router's configuration; `d`, `dLow`, `dHigh`, `dLazy` follow `degree` unless `keepRouterDegrees`.
    public var router = GossipsubConfig()
    /// Drop a queued message copy when its receiver's IDONTWANT reaches the sender before the copy is sent.
    public var cancelQueuedOnIDontWant = true
    /// Keep `router`'s D values as given instead of deriving them from `degree`.
    public var keepRouterDegrees = false

    /// The defaults: 1,000 nodes, D = 8, 10 messages of 1 KiB, 20–150 ms links, 50 Mbps.
    public init() {}

    /// The router configuration the nodes run.
    public var effectiveRouter: GossipsubConfig {
        var config = router
        // The simulated application validates every message of the topic.
        config.validatedTopics.insert(topic)
        if networkScoring {
            config.score = .openLedger(
                chainID: 1, headInterval: max(0.1, publishInterval), decayInterval: config.heartbeatInterval)
        }
        if !keepRouterDegrees {
            // go-libp2p's ratios around D = 6 (5, 12), scaled.
            config.d = degree
            config.dLow = max(1, degree * 5 / 6)
            config.dHigh = degree * 2
            config.dLazy = degree
            config.dScore = max(0, min(config.dScore, degree * 2 / 3))
            config.dOut = max(0, min(config.dOut, degree / 2 - 1))
        }
        return config
    }

    /// Checks every parameter's range.
    public func validate() throws(SimulatorError) {
        func check(_ ok: Bool, _ name: String, _ value: String, _ expected: String) throws(SimulatorError) {
            if !ok { throw .invalidParameter(name: name, value: value, expected: expected) }
        }
        try check((2...1_000_000).contains(nodes), "nodes", "\(nodes)", "2...1000000")
        try check(degree >= 1 && degree < nodes, "degree", "\(degree)", "1...\(nodes - 1)")
        try check((9...(16 << 20)).contains(messageBytes), "message-bytes", "\(messageBytes)", "9...16777216")
        try check((1...1_000_000).contains(messages), "messages", "\(messages)", "1...1000000")
        // Ten bytes of metrics per (message, node) pair: at most a gigabyte of them.
        try check(
            nodes * messages <= 100_000_000, "messages", "\(messages)",
            "at most \(100_000_000 / nodes) with \(nodes) nodes (messages x nodes <= 100000000)")
        try check(publishers >= 1 && publishers <= nodes, "publishers", "\(publishers)", "1...\(nodes)")
        let latency = latencyMilliseconds
        try check(
            latency.lowerBound >= 0 && latency.upperBound <= 60_000 && latency.upperBound.isFinite, "latency-ms",
            "\(latency.lowerBound)-\(latency.upperBound)", "0 <= LO <= HI <= 60000")
        try check(
            bandwidthMbps.isFinite && bandwidthMbps >= 0.001 && bandwidthMbps <= 1_000_000, "bandwidth-mbps",
            "\(bandwidthMbps)", "0.001...1000000")
        try check(loss >= 0 && loss < 1, "loss", "\(loss)", "0 <= P < 1")
        try check(churn >= 0 && churn < 1, "churn", "\(churn)", "0 <= P < 1")
        if let attack {
            try check(attack.fraction > 0 && attack.fraction < 1, "attack", "\(attack.fraction)", "0 < FRACTION < 1")
            let attackers = Int(Double(nodes) * attack.fraction)
            try check(
                attackers >= 1 && nodes - attackers >= publishers + 1 + (attack.kind == .eclipse ? 1 : 0), "attack",
                "\(attack.kind.rawValue):\(attack.fraction)",
                "at least one attacker, the honest publishers and one honest receiver")
        }
        if let partition {
            try check(
                partition.start >= 0 && partition.end > partition.start && partition.fraction > 0
                    && partition.fraction < 1, "partition", "\(partition.start)-\(partition.end)",
                "0 <= START < END, 0 < fraction < 1")
        }
        try check(
            publishInterval >= 0 && publishInterval <= 3_600, "interval", "\(publishInterval)", "0...3600 seconds")
        try check(warmup >= 0 && warmup <= 3_600, "warmup", "\(warmup)", "0...3600 seconds")
        try check(drain >= 0 && drain <= 3_600, "drain", "\(drain)", "0...3600 seconds")
        try check(
            router.heartbeatInterval > 0 && router.heartbeatInterval <= 3_600, "heartbeat",
            "\(router.heartbeatInterval)", "(0, 3600] seconds")
    }
}
