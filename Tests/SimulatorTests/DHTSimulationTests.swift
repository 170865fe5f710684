import P2PProtocols
import Simulator
import Testing

/// A small DHT network: 200 nodes, 120 lookups, a refresh interval of 120 s (so the run is short).
func smallDHTConfig(seed: UInt64 = 3) -> DHTSimulationConfig {
    var config = DHTSimulationConfig()
    config.nodes = 200
    config.lookups = 120
    config.seed = seed
    config.dht.refreshInterval = 120
    return config
}

@Suite struct DHTSimulationTests {
    @Test func aSeedReplaysTheSameTraceAndAnotherSeedDoesNot() throws {
        let first = try DHTSimulator.run(smallDHTConfig(seed: 3))
        let second = try DHTSimulator.run(smallDHTConfig(seed: 3))
        let other = try DHTSimulator.run(smallDHTConfig(seed: 4))
        #expect(first.traceHash == second.traceHash)
        #expect(first.events == second.events && first.events > 10_000)
        #expect(first.lookupLatency == second.lookupLatency && first.hops == second.hops)
        #expect(first.traceHash.value != other.traceHash.value)
    }

    @Test func aQuietNetworkFindsEveryProviderAndPeer() throws {
        let report = try DHTSimulator.run(smallDHTConfig())
        #expect(report.nodes == 200)
        #expect(report.findProviders == 96 && report.findPeers == 24)
        #expect(report.findProvidersSuccess == 1)
        #expect(report.findPeerSuccess == 1)
        #expect(report.provides == 12 && report.provideSuccess == 1)
        #expect(report.provideStoredMean >= 15)
        #expect(report.kClosestHeld > 0.7)
        // Links are 20–150 ms one way: nothing is faster than one round trip, and a 200-node network is shallow.
        #expect(report.lookupLatency.p50 >= 40)
        #expect(report.hops.p90 <= 4)
        #expect(report.requestsLost == 0 && report.answersLost == 0 && report.vanished == 0)
        // The estimate the walks make of the network is in the right range.
        #expect(report.networkSizeEstimate > 100 && report.networkSizeEstimate < 400)
    }

    @Test func lossAndChurnCostRequestsButLookupsStillSucceed() throws {
        let quiet = try DHTSimulator.run(smallDHTConfig())
        var config = smallDHTConfig()
        config.loss = 0.1
        config.churn = 0.2
        let rough = try DHTSimulator.run(config)
        #expect(rough.requestsLost > 0 && rough.answersLost > 0)
        #expect(rough.vanished > 0 && rough.timeouts > 0 && rough.restarts > 0)
        #expect(rough.findProvidersSuccess <= quiet.findProvidersSuccess)
        #expect(rough.findProvidersSuccess >= 0.9)
        #expect(rough.lookupLatency.p90 >= quiet.lookupLatency.p90)
    }

    @Test(arguments: ["nodes", "loss", "churn", "lookups", "providers", "latency-ms", "alpha", "tick"])
    func badParametersAreRefusedByName(_ name: String) {
        var config = smallDHTConfig()
        switch name {
        case "nodes": config.nodes = 1
        case "loss": config.loss = 1
        case "churn": config.churn = -0.1
        case "lookups": config.lookups = 0
        case "providers": config.providers = 150
        case "latency-ms": config.latencyMilliseconds = 0...100_000
        case "alpha": config.dht.alpha = 0
        default: config.tickInterval = 0
        }
        #expect {
            try DHTSimulator.run(config)
        } throws: { error in
            guard case .invalidParameter(let parameter, _, _) = error as? SimulatorError else { return false }
            return parameter == name
        }
    }
}
