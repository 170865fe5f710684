import P2PProtocols

/// The parameters of one DHT simulation: the network, the way it is built, and the workload measured on it.
public struct DHTSimulationConfig: Sendable {
    /// DHT servers.
    public var nodes = 1_000
    /// The seed every random choice of the run derives from.
    public var seed: UInt64 = 1
    /// The probability that one request, or one answer, is lost (the DHT's own timeouts end it).
    public var loss = 0.0
    /// The fraction of the nodes (providers excepted) that leave during the provides and restart empty later.
    public var churn = 0.0
    /// Lookups measured (every fifth a findPeer, the others findProviders of a provided key).
    public var lookups = 1_000
    /// Keys provided, one provider each (0: a tenth of the lookups, at least 1).
    public var providers = 0
    /// One-way link latency, uniform in this range, milliseconds (fixed per pair of nodes).
    public var latencyMilliseconds: ClosedRange<Double> = 20...150
    /// Seconds between two nodes joining.
    public var joinInterval = 0.01
    /// Earlier nodes each joining node bootstraps through.
    public var bootstrapPeers = 3
    /// Seconds between two ticks of a node (request timers are woken exactly in between).
    public var tickInterval = 10.0
    /// Seconds the lookups are spread over (0: 20 ms per lookup, at least 10 s).
    public var lookupWindow = 0.0
    /// The DHT's configuration: go-libp2p's α = 10, queries that are slow after 1 s stop holding the walk, and
    /// Optimistic Provide.
    public var dht: KademliaConfig = {
        var config = KademliaConfig()
        config.alpha = 10
        config.slowQueryAfter = 1.0
        config.optimisticProvide = true
        return config
    }()

    /// The defaults: 1,000 nodes, 1,000 lookups, 20–150 ms links, no loss, no churn.
    public init() {}

    /// The keys provided.
    public var effectiveProviders: Int { providers > 0 ? providers : max(1, lookups / 10) }

    /// The lookups' window, seconds.
    public var effectiveLookupWindow: Double { lookupWindow > 0 ? lookupWindow : max(10, Double(lookups) * 0.02) }

    /// Checks every parameter's range.
    public func validate() throws(SimulatorError) {
        func check(_ ok: Bool, _ name: String, _ value: String, _ expected: String) throws(SimulatorError) {
            if !ok { throw .invalidParameter(name: name, value: value, expected: expected) }
        }
        try check((2...200_000).contains(nodes), "nodes", "\(nodes)", "2...200000")
        try check(loss >= 0 && loss < 1, "loss", "\(loss)", "0 <= P < 1")
        try check(churn >= 0 && churn < 1, "churn", "\(churn)", "0 <= P < 1")
        try check((1...1_000_000).contains(lookups), "lookups", "\(lookups)", "1...1000000")
        try check(
            providers >= 0 && effectiveProviders <= nodes / 2, "providers", "\(effectiveProviders)",
            "1...\(nodes / 2) (half the nodes)")
        let online = nodes - effectiveProviders - Int(Double(nodes - effectiveProviders) * churn)
        try check(online >= 2, "churn", "\(churn)", "leaves at least two nodes online")
        let latency = latencyMilliseconds
        try check(
            latency.lowerBound >= 0 && latency.upperBound <= 60_000 && latency.upperBound.isFinite, "latency-ms",
            "\(latency.lowerBound)-\(latency.upperBound)", "0 <= LO <= HI <= 60000")
        try check(joinInterval >= 0 && joinInterval <= 60, "join-interval", "\(joinInterval)", "0...60 seconds")
        try check((1...64).contains(bootstrapPeers), "bootstrap-peers", "\(bootstrapPeers)", "1...64")
        try check(tickInterval > 0 && tickInterval <= 600, "tick", "\(tickInterval)", "(0, 600] seconds")
        try check(lookupWindow >= 0 && lookupWindow <= 86_400, "lookup-window", "\(lookupWindow)", "0...86400")
        try check((1...256).contains(dht.k), "k", "\(dht.k)", "1...256")
        try check((1...256).contains(dht.alpha), "alpha", "\(dht.alpha)", "1...256")
        try check(
            dht.queryTimeout > 0 && dht.lookupTimeout > 0 && dht.refreshInterval > 0 && dht.refreshInterval <= 86_400,
            "timeouts", "\(dht.queryTimeout)/\(dht.lookupTimeout)/\(dht.refreshInterval)",
            "positive, refresh interval at most a day")
    }
}
