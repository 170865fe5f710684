import Codec
import Crypto
import P2PProtocols
import Runtime
import Simulator
import Testing

/// A small network: 60 nodes, D = 4, 5 messages of 256 bytes, 10–40 ms links, 20 Mbps.
func smallConfig(seed: UInt64 = 7) -> SimulationConfig {
    var config = SimulationConfig()
    config.nodes = 60
    config.degree = 4
    config.messages = 5
    config.messageBytes = 256
    config.latencyMilliseconds = 10...40
    config.bandwidthMbps = 20
    config.publishInterval = 0.5
    config.warmup = 1
    config.drain = 3
    config.seed = seed
    return config
}

func flood(_ config: SimulationConfig) throws -> SimulationReport {
    try GossipSimulation<FloodRouter>(config: config).run()
}

@Suite struct EngineTests {
    @Test func aSeedReplaysTheSameTraceAndAnotherSeedDoesNot() throws {
        let first = try flood(smallConfig(seed: 7))
        let second = try flood(smallConfig(seed: 7))
        let other = try flood(smallConfig(seed: 8))
        #expect(first.traceHash == second.traceHash)
        #expect(first.events == second.events && first.events > 1_000)
        #expect(first.latency == second.latency)
        #expect(first.traceHash.value != other.traceHash.value)
        #expect(first.deliveryRatio == 1)
    }

    @Test func everyDeliveryTakesAtLeastTheShortestPath() throws {
        var config = smallConfig()
        config.messageBytes = 20_000
        let simulation = try GossipSimulation<FloodRouter>(config: config)
        let report = simulation.run()
        let pairs = simulation.deliveryLatencies()
        #expect(pairs.count == report.deliveries && pairs.count == 5 * 59)
        #expect(pairs.allSatisfy { $0.bound <= $0.measured })
        // Flooding over an unloaded uplink reaches some nodes on their shortest path.
        #expect(pairs.contains { $0.bound == $0.measured })
        #expect(report.lowerBound.p99 <= report.latency.p99)
    }

    @Test func aLargeMessageQueuesOnTheUplinkForItsBytesOverTheBandwidth() throws {
        var config = SimulationConfig()
        config.nodes = 2
        config.degree = 1
        config.messages = 1
        config.latencyMilliseconds = 10...10
        config.bandwidthMbps = 8
        config.warmup = 0.5
        config.drain = 10
        config.messageBytes = 100
        let small = try flood(config)
        config.messageBytes = 1_000_000
        let large = try flood(config)
        // 1 MB at 8 Mbps is one second on the wire, on top of the 10 ms link.
        #expect(small.latency.p50 >= 10 && small.latency.p50 < 10.5)
        #expect(large.latency.p50 >= 1_010 && large.latency.p50 < 1_011)
        #expect(large.lowerBound.p50 == large.latency.p50)
    }

    @Test func lossDropsPacketsAtItsRate() throws {
        var config = smallConfig()
        config.loss = 0.3
        let report = try flood(config)
        let rate = Double(report.rpcsLost) / Double(report.rpcsSent)
        #expect(rate > 0.25 && rate < 0.35)
        let baseline = try flood(smallConfig())
        #expect(report.deliveryRatio < 1 || report.duplicatesPerDelivery < baseline.duplicatesPerDelivery)
    }

    @Test func churnedNodesAreCountedOnlyWhenOnline() throws {
        var config = smallConfig()
        config.churn = 0.3
        config.messages = 10
        config.publishInterval = 1
        let report = try flood(config)
        #expect(report.expectedDeliveries < 10 * 59)
        #expect(report.expectedDeliveries > 10 * 59 / 2)
        #expect(report.deliveries <= report.expectedDeliveries)
        #expect(report.disconnects == 0)
    }

    @Test func aPartitionLosesPacketsUntilItHeals() throws {
        var config = smallConfig()
        config.partition = Partition(start: 0, end: 100, fraction: 0.5)
        let cut = try flood(config)
        #expect(cut.rpcsLost > 0)
        #expect(cut.deliveryRatio < 0.8)
        config.partition = Partition(start: 0, end: 0.5, fraction: 0.5)
        let healed = try flood(config)
        #expect(healed.deliveryRatio == 1)
    }

    @Test func badParametersAreRefusedByName() {
        var config = smallConfig()
        config.loss = 1
        #expect(throws: SimulatorError.self) { try config.validate() }
        config = smallConfig()
        config.degree = 60
        do {
            try config.validate()
            Issue.record("degree 60 of 60 nodes accepted")
        } catch {
            guard case .invalidParameter(let name, _, _) = error else { return }
            #expect(name == "degree")
        }
    }
}

@Suite struct AttackTests {
    func attacked(_ kind: AttackKind, _ fraction: Double) throws -> SimulationReport {
        var config = smallConfig()
        config.attack = Attack(kind: kind, fraction: fraction)
        return try flood(config)
    }

    @Test func silentPeersForwardNothing() throws {
        let baseline = try flood(smallConfig())
        let report = try attacked(.silent, 0.4)
        #expect(report.duplicatesPerDelivery < baseline.duplicatesPerDelivery * 0.8)
    }

    @Test func spamIsRejectedAndForgedSignaturesNeverDelivered() throws {
        let report = try attacked(.spam, 0.1)
        #expect(report.invalidRejected > 0)
        #expect(report.invalidDelivered == 0)
        #expect(report.deliveryRatio == 1)
    }

    @Test func iwantFloodsCostTheHonestPeersUploadBytes() throws {
        let baseline = try flood(smallConfig())
        let report = try attacked(.iwantFlood, 0.1)
        #expect(report.bytesPerNodePerMessage > baseline.bytesPerNodePerMessage * 2)
    }

    @Test func sybilsCensorAndStormGrafts() throws {
        let baseline = try flood(smallConfig())
        let report = try attacked(.sybil, 0.5)
        #expect(report.duplicatesPerDelivery < baseline.duplicatesPerDelivery)
        #expect(report.rpcsSent > baseline.rpcsSent)
    }

    @Test func anEclipsedTargetReceivesNothing() throws {
        let report = try attacked(.eclipse, 0.2)
        #expect(report.targetDeliveryRatio == 0)
        #expect(report.deliveries == report.expectedDeliveries - 5)
    }
}

@Suite struct SignatureMemoTests {
    @Test func aForgedSignatureFailsAndARealOneIsVerifiedOnce() throws {
        let identity = LibP2PIdentity.ed25519(try Ed25519PrivateKey(seed: [UInt8](repeating: 3, count: 32)))
        let message: [UInt8] = Array("signed bytes".utf8)
        let signature = try identity.sign(message)
        let memo = SignatureMemo()
        for _ in 0..<5 { #expect(memo.verify(identity.publicKey, signature, message)) }
        #expect(!memo.verify(identity.publicKey, signature, message + [0]))
        var forged = signature
        forged[0] ^= 1
        #expect(!memo.verify(identity.publicKey, forged, message))
        let other = LibP2PIdentity.ed25519(try Ed25519PrivateKey(seed: [UInt8](repeating: 4, count: 32)))
        #expect(!memo.verify(other.publicKey, signature, message))
        #expect(memo.statistics.checks == 8)
        #expect(memo.statistics.verified == 4)
    }
}

@Suite struct RPCSizeTests {
    /// The RPC protobuf written field by field with the codec's writer, with its varint length prefix.
    func encoded(_ rpc: GossipsubRPC) -> Int {
        var writer = ProtobufWriter()
        for subscription in rpc.subscriptions {
            var sub = ProtobufWriter()
            sub.varint(1, subscription.subscribe ? 1 : 0)
            sub.string(2, subscription.topic)
            writer.bytes(1, sub.bytes)
        }
        for message in rpc.messages {
            var body = ProtobufWriter()
            if let from = message.from { body.bytes(1, from) }
            body.bytes(2, message.data)
            if let seqno = message.seqno { body.bytes(3, seqno) }
            body.string(4, message.topic)
            if let signature = message.signature { body.bytes(5, signature) }
            writer.bytes(2, body.bytes)
        }
        if let control = rpc.control {
            var body = ProtobufWriter()
            for ihave in control.ihave {
                var part = ProtobufWriter()
                part.string(1, ihave.topic)
                for id in ihave.messageIDs { part.bytes(2, id.bytes) }
                body.bytes(1, part.bytes)
            }
            for iwant in control.iwant {
                var part = ProtobufWriter()
                for id in iwant { part.bytes(1, id.bytes) }
                body.bytes(2, part.bytes)
            }
            for topic in control.graft {
                var part = ProtobufWriter()
                part.string(1, topic)
                body.bytes(3, part.bytes)
            }
            for prune in control.prune {
                var part = ProtobufWriter()
                part.string(1, prune.topic)
                for peer in prune.peers {
                    var info = ProtobufWriter()
                    if let id = peer.peerID { info.bytes(1, id) }
                    part.bytes(2, info.bytes)
                }
                if let backoff = prune.backoff { part.varint(3, backoff) }
                body.bytes(4, part.bytes)
            }
            writer.bytes(3, body.bytes)
        }
        var prefix = ProtobufWriter()
        prefix.varint(1, UInt64(writer.bytes.count))
        return writer.bytes.count + prefix.bytes.count - 1
    }

    @Test func theComputedSizeIsTheEncodedSize() {
        let id = GossipsubMessageID([UInt8](repeating: 9, count: 46))
        var control = GossipsubRPC.Control()
        control.ihave = [GossipsubRPC.IHave(topic: "t", messageIDs: [id, id])]
        control.iwant = [[id]]
        control.graft = ["topic"]
        control.prune = [
            GossipsubRPC.Prune(
                topic: "topic", peers: [GossipsubRPC.PeerInfo(peerID: [1, 2, 3], signedRecord: nil)], backoff: 60)
        ]
        let message = GossipsubMessage(
            from: [UInt8](repeating: 1, count: 38), data: [UInt8](repeating: 0, count: 150_000),
            seqno: [UInt8](repeating: 0, count: 8), topic: "/openledger/sim/1",
            signature: [UInt8](repeating: 2, count: 64))
        let rpcs = [
            GossipsubRPC(subscriptions: [.init(subscribe: true, topic: "/openledger/sim/1")]),
            GossipsubRPC(messages: [message]),
            GossipsubRPC(messages: [message, message], control: control),
            GossipsubRPC(control: control),
        ]
        for rpc in rpcs { #expect(RPCSize.rpc(rpc) == encoded(rpc)) }
    }
}
