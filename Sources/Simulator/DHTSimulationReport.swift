import P2PProtocols

/// What one DHT simulation measured.
public struct DHTSimulationReport: Sendable {
    /// Nodes simulated.
    public var nodes: Int
    /// Lookups started (findProviders and findPeer).
    public var lookups: Int
    /// findProviders lookups started.
    public var findProviders: Int
    /// Of those, the fraction that found a provider.
    public var findProvidersSuccess: Double
    /// Of those that found none, the ones the whole-lookup timeout ended (the others' walks ended empty-handed).
    public var findProvidersTimedOut: Int
    /// findPeer lookups started.
    public var findPeers: Int
    /// Of those, the fraction that found the peer's addresses.
    public var findPeerSuccess: Double
    /// Hops of the lookups that found what they looked for (the hop of the answer that named it).
    public var hops: LatencyPercentiles
    /// Simulated milliseconds from start to result, of the lookups that found what they looked for.
    public var lookupLatency: LatencyPercentiles
    /// Simulated milliseconds to the first provider, of the findProviders lookups that found one.
    public var firstProviderLatency: LatencyPercentiles
    /// Provides started.
    public var provides: Int
    /// Of those, the fraction that stored the record on at least one peer.
    public var provideSuccess: Double
    /// Simulated milliseconds from a provide's start to its result (enough of the k closest stored).
    public var provideLatency: LatencyPercentiles
    /// Peers that acknowledged a provide's record by its result, on average.
    public var provideStoredMean: Double
    /// Before the lookups: the fraction of each key's k closest online nodes holding its provider record (mean).
    public var kClosestHeld: Double
    /// Requests the DHTs sent.
    public var requests: Int
    /// Requests lost on the way.
    public var requestsLost: Int
    /// Answers lost on the way.
    public var answersLost: Int
    /// Requests that reached an offline node, or dialed one (they vanish).
    public var vanished: Int
    /// Requests the DHTs gave up on (query timeout).
    public var timeouts: Int
    /// Connections made (handshakes completed).
    public var connections: Int
    /// Churned nodes that came back (restarted empty).
    public var restarts: Int
    /// The online nodes' mean network size estimate at the end.
    public var networkSizeEstimate: Double
    /// Simulated seconds.
    public var simulatedSeconds: Double
    /// Events processed.
    public var events: UInt64
    /// The hash of the event trace: equal runs have equal hashes.
    public var traceHash: TraceHash
}

extension DHTSimulation {
    func report() -> DHTSimulationReport {
        var hops: [Double] = []
        var latency: [Double] = []
        var firstProvider: [Double] = []
        var provideLatency: [Double] = []
        var stored = 0.0
        var finders = 0
        var found = 0
        var timedOut = 0
        var peerSearches = 0
        var peersFound = 0
        var provides = 0
        var provided = 0
        for (index, operation) in operations.enumerated() where startedAt[index] != .max {
            let result = results[index]
            let success = result?.found ?? false
            switch operation {
            case .provide:
                provides += 1
                guard let result, success else { continue }
                provided += 1
                stored += Double(result.stored)
                provideLatency.append(result.duration * 1_000)
                continue
            case .findProviders:
                finders += 1
                guard success else {
                    if result?.outcome == .timedOut { timedOut += 1 }
                    continue
                }
                found += 1
                if firstFoundAt[index] != .max {
                    firstProvider.append(Double(firstFoundAt[index] - startedAt[index]) / 1e6)
                }
            case .findPeer:
                peerSearches += 1
                guard success else { continue }
                peersFound += 1
            }
            if let result {
                hops.append(Double(result.hops))
                latency.append(result.duration * 1_000)
            }
        }
        var estimates = 0.0
        var estimated = 0
        var timeouts = 0
        for node in 0..<count {
            timeouts += dhts[node].counters.timeouts
            if online[node], let estimate = dhts[node].networkSize.estimate {
                estimates += estimate
                estimated += 1
            }
        }
        func ratio(_ part: Int, _ whole: Int) -> Double { whole == 0 ? 0 : Double(part) / Double(whole) }
        return DHTSimulationReport(
            nodes: count, lookups: finders + peerSearches, findProviders: finders,
            findProvidersSuccess: ratio(found, finders), findProvidersTimedOut: timedOut, findPeers: peerSearches,
            findPeerSuccess: ratio(peersFound, peerSearches), hops: LatencyPercentiles(hops),
            lookupLatency: LatencyPercentiles(latency), firstProviderLatency: LatencyPercentiles(firstProvider),
            provides: provides, provideSuccess: ratio(provided, provides),
            provideLatency: LatencyPercentiles(provideLatency),
            provideStoredMean: provided == 0 ? 0 : stored / Double(provided),
            kClosestHeld: heldFraction, requests: requestsSent, requestsLost: requestsLost, answersLost: answersLost,
            vanished: vanished, timeouts: timeouts, connections: connections, restarts: restarts,
            networkSizeEstimate: estimated == 0 ? 0 : estimates / Double(estimated),
            simulatedSeconds: Double(now) / 1e9, events: trace.events, traceHash: trace)
    }
}

/// The entry point of a DHT simulation.
public enum DHTSimulator {
    /// Runs one simulation of `config`.
    public static func run(_ config: DHTSimulationConfig) throws(SimulatorError) -> DHTSimulationReport {
        try DHTSimulation(config: config).run()
    }
}
