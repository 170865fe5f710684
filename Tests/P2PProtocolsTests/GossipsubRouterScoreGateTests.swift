import Codec
import Crypto
import Runtime
import TestSupport
import Testing

@testable import P2PProtocols

// The router's thresholds and score-driven choices, fed by the real score keeper (application scores, P5, and
// behaviour penalties, P7, so that the figures are exact).

private let scoredTopic = "/openledger/1/announce/1"

private func identity(_ seed: UInt64) -> LibP2PIdentity {
    var random = SeededRandom(seed: seed)
    return .ed25519(try! Ed25519PrivateKey(seed: random.bytes(32)))
}

private func signed(_ author: LibP2PIdentity, _ data: [UInt8], seqno: UInt64) -> GossipsubMessage {
    let seq = (0..<8).map { UInt8(truncatingIfNeeded: seqno >> UInt64(56 - 8 * $0)) }
    var message = GossipsubMessage(from: author.peerID.multihash.bytes, data: data, seqno: seq, topic: scoredTopic)
    message.signature = try! author.sign(message.signingBytes)
    return message
}

/// A scored router with `count` fake v1.1 peers subscribed to the topic, the router subscribed after them.
private struct ScoredBench {
    var router: GossipsubRouter
    var now = Instant(seconds: 50)
    let fakes: [LibP2PIdentity]

    init(count: Int, behaviourPenaltyWeight: Double = 0) {
        var config = GossipsubConfig()
        var parameters = GossipsubScoreParameters()
        parameters.behaviourPenaltyWeight = behaviourPenaltyWeight
        config.score = parameters
        router = GossipsubRouter(local: identity(1), config: config, random: SeededRandom(seed: 5))
        fakes = (0..<count).map { identity(200 + UInt64($0)) }
        for fake in fakes {
            _ = router.on(.peerConnected(fake.peerID, version: .v11, outbound: true, address: nil), now: now)
            let hello = GossipsubRPC(subscriptions: [.init(subscribe: true, topic: scoredTopic)])
            _ = router.on(.receivedRPC(from: fake.peerID, rpc: hello, size: hello.encodedSize), now: now)
        }
        _ = router.on(.subscribe(scoredTopic), now: now)
    }

    func peer(_ index: Int) -> PeerID { fakes[index].peerID }

    mutating func rpc(from index: Int, _ rpc: GossipsubRPC) -> [GossipsubRouter.Action] {
        router.on(.receivedRPC(from: peer(index), rpc: rpc, size: rpc.encodedSize), now: now)
    }

    mutating func on(_ event: GossipsubRouter.Event) -> [GossipsubRouter.Action] { router.on(event, now: now) }
}

private func controlRPC(_ edit: (inout GossipsubRPC.Control) -> Void) -> GossipsubRPC {
    var control = GossipsubRPC.Control()
    edit(&control)
    return GossipsubRPC(control: control)
}

private func dials(_ actions: [GossipsubRouter.Action]) -> [PeerID] {
    actions.compactMap { if case .connect(let peer, _) = $0 { peer } else { nil } }
}

@Test func peerExchangeIsAcceptedOnlyFromPeersAboveTheAcceptPXThreshold() {
    var bench = ScoredBench(count: 2)
    let stranger = identity(900).peerID
    let prune = controlRPC {
        $0.prune = [
            .init(topic: scoredTopic, peers: [.init(peerID: stranger.multihash.bytes, signedRecord: nil)], backoff: 60)
        ]
    }
    #expect(dials(bench.rpc(from: 0, prune)).isEmpty)  // score 0 < acceptPX 10
    _ = bench.on(.setApplicationScore(bench.peer(1), 15))
    #expect(bench.router.score(of: bench.peer(1), now: bench.now) == 15)
    #expect(dials(bench.rpc(from: 1, prune)) == [stranger])
}

@Test func negativeScoresLeaveTheMeshAndTheirGraftsArePruned() {
    var bench = ScoredBench(count: 3)
    #expect(bench.router.meshPeers(scoredTopic).count == 3)
    _ = bench.on(.setApplicationScore(bench.peer(0), -5))
    bench.now = bench.now.advanced(bySeconds: 1)
    let actions = bench.on(.heartbeat)
    #expect(!bench.router.meshPeers(scoredTopic).contains(bench.peer(0)))
    // Pruned without PX.
    let prune = actions.compactMap { action -> GossipsubRPC.Prune? in
        if case .send(let peer, let rpc) = action, peer == bench.peer(0) { return rpc.control?.prune.first }
        return nil
    }.first
    #expect(prune?.peers.isEmpty == true)
    // Its GRAFT once the backoff is over is refused while its score is negative.
    bench.now = bench.now.advanced(bySeconds: 120)
    let answer = bench.rpc(from: 0, controlRPC { $0.graft = [scoredTopic] })
    #expect(!bench.router.meshPeers(scoredTopic).contains(bench.peer(0)))
    #expect(answer.contains { if case .send(_, let rpc) = $0 { rpc.control?.prune.isEmpty == false } else { false } })
}

@Test func gossipAndPublishThresholdsGateWhatPeersGet() {
    var bench = ScoredBench(count: 3)
    // Peer 0 below the gossip threshold (-10), peer 1 below the publish threshold (-50).
    _ = bench.on(.setApplicationScore(bench.peer(0), -20))
    _ = bench.on(.setApplicationScore(bench.peer(1), -60))
    let published = bench.on(.publish(topic: scoredTopic, data: [1]))
    let floodedTo = Set(
        published.compactMap { if case .send(let peer, let rpc) = $0, !rpc.messages.isEmpty { peer } else { nil } })
    #expect(floodedTo == [bench.peer(0), bench.peer(2)])
    // IHAVE from a peer below the gossip threshold is not answered; above it, it is.
    let ihave = controlRPC { $0.ihave = [.init(topic: scoredTopic, messageIDs: [GossipsubMessageID([7, 7, 7])])] }
    #expect(bench.rpc(from: 0, ihave).isEmpty)
    #expect(!bench.rpc(from: 2, ihave).isEmpty)
}

@Test func graylistedPeersAreIgnoredButTheirSubscriptionsCount() {
    var bench = ScoredBench(count: 2)
    _ = bench.on(.setApplicationScore(bench.peer(0), -100))
    let message = signed(bench.fakes[0], [1], seqno: 1)
    let actions = bench.rpc(
        from: 0,
        GossipsubRPC(subscriptions: [.init(subscribe: true, topic: "other")], messages: [message]))
    #expect(!actions.contains { if case .deliver = $0 { true } else { false } })
    #expect(bench.router.counters.graylistedRPCs == 1)
    #expect(bench.router.subscribers("other") == [bench.peer(0)])
    // The same message from a peer in good standing is delivered.
    #expect(
        bench.rpc(from: 1, GossipsubRPC(messages: [message])).contains { if case .deliver = $0 { true } else { false } }
    )
}

@Test func graftsDuringBackoffDriveTheBehaviourPenaltyDown() {
    var bench = ScoredBench(count: 1, behaviourPenaltyWeight: -1)
    _ = bench.rpc(from: 0, controlRPC { $0.prune = [.init(topic: scoredTopic, backoff: 60)] })
    // Within the flood threshold: two penalties per GRAFT; the score is −(penalties)² with threshold 0.
    _ = bench.rpc(from: 0, controlRPC { $0.graft = [scoredTopic] })
    #expect(bench.router.score(of: bench.peer(0), now: bench.now) == -4)
    bench.now = bench.now.advanced(bySeconds: 20)
    _ = bench.rpc(from: 0, controlRPC { $0.graft = [scoredTopic] })
    // Past the flood threshold: one more (decay aside: no heartbeat ran).
    #expect(bench.router.score(of: bench.peer(0), now: bench.now) == -9)
}

@Test func opportunisticGraftingBringsInBetterPeers() {
    var config = GossipsubConfig()
    config.d = 2
    config.dLow = 2
    config.dHigh = 4
    config.dScore = 1
    config.dOut = 0
    config.opportunisticGraftTicks = 2
    config.opportunisticGraftPeers = 1
    var router = GossipsubRouter(local: identity(1), config: config, random: SeededRandom(seed: 3))
    var now = Instant(seconds: 10)
    let fakes = (0..<4).map { identity(300 + UInt64($0)).peerID }
    for fake in fakes {
        _ = router.on(.peerConnected(fake, version: .v11, outbound: true, address: nil), now: now)
        let hello = GossipsubRPC(subscriptions: [.init(subscribe: true, topic: scoredTopic)])
        _ = router.on(.receivedRPC(from: fake, rpc: hello, size: hello.encodedSize), now: now)
    }
    _ = router.on(.subscribe(scoredTopic), now: now)
    let mesh = router.meshPeers(scoredTopic)
    #expect(mesh.count == 2)
    let outside = fakes.filter { !mesh.contains($0) }
    // The mesh scores 0 (below the threshold of 20); one outsider scores 30.
    _ = router.on(.setApplicationScore(outside[0], 30), now: now)
    now = now.advanced(bySeconds: 1)
    _ = router.on(.heartbeat, now: now)
    #expect(!router.meshPeers(scoredTopic).contains(outside[0]))  // tick 1: not a grafting round
    now = now.advanced(bySeconds: 1)
    _ = router.on(.heartbeat, now: now)
    #expect(router.meshPeers(scoredTopic).contains(outside[0]))
    #expect(!router.meshPeers(scoredTopic).contains(outside[1]))
}
