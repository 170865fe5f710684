import P2PProtocols
import Simulator
import Testing

/// The engine running the real gossipsub router.
@Suite struct RouterSimulationTests {
    func config(seed: UInt64 = 3) -> SimulationConfig {
        var config = smallConfig(seed: seed)
        config.nodes = 80
        config.degree = 6
        config.warmup = 2
        return config
    }

    @Test func everyHonestNodeGetsEveryMessageAndTheRunReplays() throws {
        let simulation = try GossipSimulation<GossipsubRouter>(config: config())
        let first = simulation.run()
        #expect(first.deliveryRatio == 1)
        #expect(first.signatureChecks.verified <= 5 + first.messages)
        #expect(simulation.deliveryLatencies().allSatisfy { $0.bound <= $0.measured })
        let again = try GossipSimulator.run(config())
        #expect(again.traceHash == first.traceHash)
        #expect(again.duplicatesPerDelivery == first.duplicatesPerDelivery)
        let other = try GossipSimulator.run(config(seed: 4))
        #expect(other.traceHash.value != first.traceHash.value)
    }

    @Test func spamNeverReachesAnHonestApplication() throws {
        var spam = config()
        spam.attack = Attack(kind: .spam, fraction: 0.1)
        let report = try GossipSimulator.run(spam)
        #expect(report.invalidDelivered == 0)
        #expect(report.invalidRejected > 0)
        #expect(report.deliveryRatio == 1)
    }

    @Test func gossipRecoversLostPackets() throws {
        var lossy = config()
        lossy.loss = 0.2
        let report = try GossipSimulator.run(lossy)
        #expect(report.rpcsLost > 0)
        #expect(report.deliveryRatio > 0.99)
    }
}

extension RouterSimulationTests {
    @Test func idontwantCancelsQueuedCopiesOfLargeMessages() throws {
        var large = config()
        large.messageBytes = 30_000
        large.bandwidthMbps = 5
        let cancelling = try GossipSimulator.run(large)
        large.cancelQueuedOnIDontWant = false
        let keeping = try GossipSimulator.run(large)
        #expect(cancelling.queuedCopiesDropped > 0)
        #expect(keeping.queuedCopiesDropped == 0)
        #expect(cancelling.duplicatesPerDelivery < keeping.duplicatesPerDelivery)
        #expect(cancelling.deliveryRatio == 1 && keeping.deliveryRatio == 1)
        // The floor no IDONTWANT can go under is a part of the duplicates.
        #expect(cancelling.unsuppressibleDuplicatesPerDelivery > 0)
        #expect(cancelling.unsuppressibleDuplicatesPerDelivery <= cancelling.duplicatesPerDelivery)
        #expect(keeping.unsuppressibleDuplicatesPerDelivery <= keeping.duplicatesPerDelivery)
        // Copies queued long behind others start after the receiver's IDONTWANT could have arrived: without
        // cancelling, some duplicates are above the floor.
        #expect(keeping.unsuppressibleDuplicatesPerDelivery < keeping.duplicatesPerDelivery)
    }

    @Test func sybilsThatCensorCostHonestDeliveryLittle() throws {
        var attacked = config()
        attacked.attack = Attack(kind: .sybil, fraction: 0.3)
        let report = try GossipSimulator.run(attacked)
        #expect(report.deliveryRatio > 0.95)
        let baseline = try GossipSimulator.run(config())
        #expect(report.traceHash.value != baseline.traceHash.value)
        #expect(report.rpcsSent != baseline.rpcsSent)
    }
}
