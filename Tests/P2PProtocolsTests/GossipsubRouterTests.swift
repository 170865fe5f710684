import Codec
import Crypto
import Runtime
import TestSupport
import Testing

@testable import P2PProtocols

// MARK: - Helpers

private let gossipTopic = "/openledger/1/blocks/1"

/// An Ed25519 identity from a seed.
private func gossipIdentity(_ seed: UInt64) -> LibP2PIdentity {
    var random = SeededRandom(seed: seed)
    return .ed25519(try! Ed25519PrivateKey(seed: random.bytes(32)))
}

/// A message signed by `author` as StrictSign wants it.
private func signedMessage(_ author: LibP2PIdentity, data: [UInt8], seqno: UInt64, on name: String = gossipTopic)
    -> GossipsubMessage
{
    let seq = (0..<8).map { UInt8(truncatingIfNeeded: seqno >> UInt64(56 - 8 * $0)) }
    var message = GossipsubMessage(from: author.peerID.multihash.bytes, data: data, seqno: seq, topic: name)
    message.signature = try! author.sign(message.signingBytes)
    return message
}

/// Test config: scoring off unless asked.
private func testConfig(scoring: Bool = false) -> GossipsubConfig {
    var config = GossipsubConfig()
    if !scoring { config.score = nil }
    return config
}

/// One router and hand-driven fake peers around it.
private struct Bench {
    var router: GossipsubRouter
    var now = Instant(seconds: 100)
    let fakes: [LibP2PIdentity]

    init(
        config: GossipsubConfig = testConfig(), fakes count: Int = 3, versions: [GossipsubVersion] = [],
        outbound: Bool = false
    ) {
        router = GossipsubRouter(local: gossipIdentity(1), config: config, random: SeededRandom(seed: 7))
        fakes = (0..<count).map { gossipIdentity(100 + UInt64($0)) }
        for (index, fake) in fakes.enumerated() {
            let version = index < versions.count ? versions[index] : .v12
            _ = router.on(.peerConnected(fake.peerID, version: version, outbound: outbound, address: nil), now: now)
        }
    }

    func peer(_ index: Int) -> PeerID { fakes[index].peerID }

    mutating func on(_ event: GossipsubRouter.Event) -> [GossipsubRouter.Action] { router.on(event, now: now) }

    mutating func rpc(from index: Int, _ rpc: GossipsubRPC) -> [GossipsubRouter.Action] {
        router.on(.receivedRPC(from: peer(index), rpc: rpc, size: rpc.encodedSize), now: now)
    }

    mutating func subscribeAll() {
        _ = on(.subscribe(gossipTopic))
        for index in fakes.indices {
            _ = rpc(from: index, GossipsubRPC(subscriptions: [.init(subscribe: true, topic: gossipTopic)]))
        }
    }

    mutating func advance(_ seconds: Double) { now = now.advanced(bySeconds: seconds) }
}

private func control(_ edit: (inout GossipsubRPC.Control) -> Void) -> GossipsubRPC {
    var control = GossipsubRPC.Control()
    edit(&control)
    return GossipsubRPC(control: control)
}

private func sends(_ actions: [GossipsubRouter.Action]) -> [(PeerID, GossipsubRPC)] {
    actions.compactMap { if case .send(let peer, let rpc) = $0 { (peer, rpc) } else { nil } }
}

private func deliveries(_ actions: [GossipsubRouter.Action]) -> [GossipsubMessageID] {
    actions.compactMap { if case .deliver(_, let id, _) = $0 { id } else { nil } }
}

private func disconnectReasons(_ actions: [GossipsubRouter.Action]) -> [String] {
    actions.compactMap { if case .disconnect(_, let reason) = $0 { reason } else { nil } }
}

/// A connected random graph: a ring plus `extra` random chords per node.
private func randomGraph(_ network: inout GossipsubTestNetwork, nodes: Int, extra: Int, seed: UInt64) {
    var random = SeededRandom(seed: seed)
    for node in 0..<nodes { network.connect(node, (node + 1) % nodes) }
    for node in 0..<nodes {
        for _ in 0..<extra { network.connect(node, Int(random.next() % UInt64(nodes))) }
    }
}

// MARK: - Signatures

@Test func signedMessagesAreAcceptedAndForgeriesRejected() {
    var bench = Bench()
    bench.subscribeAll()
    let author = bench.fakes[0]
    let good = signedMessage(author, data: [1, 2, 3], seqno: 1)
    var actions = bench.rpc(from: 0, GossipsubRPC(messages: [good]))
    #expect(deliveries(actions) == [bench.router.messageID(of: good)])

    // Tampered data, an unsigned message, no seqno, a short seqno, an author that did not sign.
    var tampered = signedMessage(author, data: [1], seqno: 2)
    tampered.data = [2]
    var unsigned = signedMessage(author, data: [1], seqno: 3)
    unsigned.signature = nil
    var noSeqno = signedMessage(author, data: [1], seqno: 4)
    noSeqno.seqno = nil
    var shortSeqno = GossipsubMessage(from: author.peerID.multihash.bytes, data: [1], seqno: [1], topic: gossipTopic)
    shortSeqno.signature = try! author.sign(shortSeqno.signingBytes)
    var otherAuthor = signedMessage(author, data: [1], seqno: 5)
    otherAuthor.from = bench.fakes[1].peerID.multihash.bytes
    // A key field that does not match `from`.
    var wrongKey = signedMessage(author, data: [1], seqno: 6)
    wrongKey.key = bench.fakes[2].publicKey.protobuf
    actions = bench.rpc(
        from: 1, GossipsubRPC(messages: [tampered, unsigned, noSeqno, shortSeqno, otherAuthor, wrongKey]))
    #expect(deliveries(actions).isEmpty)
    #expect(bench.router.counters.missingSignatures == 1)
    #expect(bench.router.counters.invalidSignatures == 5)
    // A forged copy does not poison the seen cache: the genuine message still gets through.
    let genuine = signedMessage(author, data: [1], seqno: 2)
    actions = bench.rpc(from: 2, GossipsubRPC(messages: [genuine]))
    #expect(deliveries(actions) == [bench.router.messageID(of: genuine)])
}

@Test func publishedMessagesCarryAVerifiableStrictSignSignature() throws {
    var bench = Bench()
    bench.subscribeAll()
    let actions = bench.on(.publish(topic: gossipTopic, data: Array("hello".utf8)))
    let sent = sends(actions).flatMap(\.1.messages)
    #expect(sent.count == 3)  // flood publishing: every subscriber
    let message = try #require(sent.first)
    let me = gossipIdentity(1)
    #expect(message.from == me.peerID.multihash.bytes)
    #expect(message.key == nil)  // Ed25519 peer ids embed the key
    #expect(message.seqno?.count == 8)
    var writer = ProtobufWriter()
    writer.bytes(1, me.peerID.multihash.bytes)
    writer.bytes(2, Array("hello".utf8))
    writer.bytes(3, message.seqno!)
    writer.string(4, gossipTopic)
    #expect(me.publicKey.isValidSignature(message.signature!, for: Array("libp2p-pubsub:".utf8) + writer.bytes))
    // Sequence numbers count up by one.
    let next = sends(bench.on(.publish(topic: gossipTopic, data: [1]))).flatMap(\.1.messages).first!
    let value = { (bytes: [UInt8]) in bytes.reduce(UInt64(0)) { $0 << 8 | UInt64($1) } }
    #expect(value(next.seqno!) == value(message.seqno!) &+ 1)
    // Our own message coming back is dropped without delivery.
    #expect(deliveries(bench.rpc(from: 0, GossipsubRPC(messages: [message]))).isEmpty)
    #expect(bench.router.counters.selfOrigin == 1)
}

@Test func theInjectedVerifierDecides() {
    let author = gossipIdentity(100)
    var message = signedMessage(author, data: [5], seqno: 1)
    message.signature = [0xFF]
    for (verdict, delivered) in [(false, 0), (true, 1)] {
        var config = testConfig()
        config.floodPublish = true
        var router = GossipsubRouter(
            local: gossipIdentity(1), config: config, random: SeededRandom(seed: 1), verifier: { _, _, _ in verdict })
        let now = Instant(seconds: 5)
        _ = router.on(.subscribe(gossipTopic), now: now)
        _ = router.on(.peerConnected(author.peerID, version: .v11, outbound: true, address: nil), now: now)
        let actions = router.on(
            .receivedRPC(from: author.peerID, rpc: GossipsubRPC(messages: [message]), size: 100), now: now)
        #expect(deliveries(actions).count == delivered)
    }
}

// MARK: - Dissemination

@Test func publishReachesEveryNodeOfALineExactlyOnce() {
    var network = GossipsubTestNetwork(count: 8, config: testConfig(), seed: 3)
    for node in 0..<7 { network.connect(node, node + 1) }
    for node in 0..<8 { network.send(.subscribe(gossipTopic), to: node) }
    network.heartbeats(2)
    network.send(.publish(topic: gossipTopic, data: Array("line".utf8)), to: 0)
    let id = network.published[0][0]
    for node in 1..<8 { #expect(network.deliveryCount(node, id) == 1, "node \(node)") }
    #expect(network.deliveryCount(0, id) == 0)
}

@Test(arguments: [true, false])
func publishReachesARandomGraphExactlyOnce(floodPublish: Bool) {
    var config = testConfig()
    config.floodPublish = floodPublish
    var network = GossipsubTestNetwork(count: 40, config: config, seed: 11)
    network.recordsRPCs = true
    randomGraph(&network, nodes: 40, extra: 4, seed: 5)
    for node in 0..<40 { network.send(.subscribe(gossipTopic), to: node) }
    network.heartbeats(3)
    for round in 0..<10 {
        network.send(
            .publish(topic: gossipTopic, data: [UInt8(round)] + Array(repeating: 0, count: 2_000)), to: round * 3)
        network.heartbeats(1)
    }
    for round in 0..<10 {
        let publisher = round * 3
        let id = network.published[publisher][0]
        for node in 0..<40 where node != publisher {
            #expect(network.deliveryCount(node, id) == 1, "node \(node), message \(round)")
        }
    }
    // Every RPC on the way: encodedSize is the encoding's length.
    #expect(network.sentRPCs.count > 100)
    #expect(network.sentRPCs.allSatisfy { $0.rpc.encodedSize == $0.rpc.encoded().count })
}

@Test func meshDegreesConvergeWithinTheBounds() {
    let config = testConfig()
    var network = GossipsubTestNetwork(count: 30, config: config, seed: 21)
    randomGraph(&network, nodes: 30, extra: 7, seed: 9)
    for node in 0..<30 { network.send(.subscribe(gossipTopic), to: node) }
    network.heartbeats(10)
    for node in 0..<30 {
        let mesh = network.routers[node].meshPeers(gossipTopic)
        let available = network.routers[node].subscribers(gossipTopic).count
        #expect(mesh.count <= config.dHigh, "node \(node)")
        #expect(mesh.count >= min(config.dLow, available), "node \(node): \(mesh.count) of \(available)")
        // Mesh links are symmetric.
        for peer in mesh {
            let other = network.node(of: peer)!
            #expect(network.routers[other].meshPeers(gossipTopic).contains(network.peerIDs[node]))
        }
    }
}

@Test func theWholeNetworkRunsOnEncodedBytesToo() {
    var network = GossipsubTestNetwork(count: 12, config: testConfig(), seed: 8)
    network.encodesRPCs = true
    randomGraph(&network, nodes: 12, extra: 2, seed: 4)
    for node in 0..<12 { network.send(.subscribe(gossipTopic), to: node) }
    network.heartbeats(2)
    network.send(.publish(topic: gossipTopic, data: Array("bytes".utf8)), to: 5)
    let id = network.published[5][0]
    for node in 0..<12 where node != 5 { #expect(network.deliveryCount(node, id) == 1) }
    #expect(network.disconnects.allSatisfy { $0.isEmpty })
}

@Test func runsReplayFromTheSeed() {
    func run() -> [[GossipsubMessageID]] {
        var config = testConfig()
        config.floodPublish = false
        var network = GossipsubTestNetwork(count: 20, config: config, seed: 99)
        randomGraph(&network, nodes: 20, extra: 3, seed: 1)
        for node in 0..<20 { network.send(.subscribe(gossipTopic), to: node) }
        network.heartbeats(3)
        for round in 0..<5 { network.send(.publish(topic: gossipTopic, data: [UInt8(round)]), to: round) }
        network.heartbeats(2)
        return network.deliveries.map { $0.map(\.id) }
            + (0..<20).map { network.routers[$0].meshPeers(gossipTopic).map { GossipsubMessageID($0.multihash.bytes) } }
    }
    #expect(run() == run())
}

@Test func fanoutCarriesMessagesOfATopicWeDoNotJoinAndExpires() {
    var config = testConfig()
    config.floodPublish = false
    config.fanoutTTL = 10
    var network = GossipsubTestNetwork(count: 10, config: config, seed: 12)
    // Node 0 publishes without subscribing; it knows eight subscribers.
    for node in 1..<10 { network.connect(0, node) }
    for node in 1..<9 { network.connect(node, node + 1) }
    for node in 1..<10 { network.send(.subscribe(gossipTopic), to: node) }
    network.heartbeats(2)
    network.send(.publish(topic: gossipTopic, data: [42]), to: 0)
    let fanout = network.routers[0].fanoutPeers(gossipTopic)
    #expect(fanout.count == config.d)
    #expect(network.routers[0].meshPeers(gossipTopic).isEmpty)
    let id = network.published[0][0]
    for node in 1..<10 { #expect(network.deliveryCount(node, id) == 1) }
    network.heartbeats(5)
    #expect(network.routers[0].fanoutPeers(gossipTopic).count == config.d)  // kept while within the TTL
    network.heartbeats(7)
    #expect(network.routers[0].fanoutPeers(gossipTopic).isEmpty)
    // Joining later builds a mesh.
    network.send(.subscribe(gossipTopic), to: 0)
    #expect(!network.routers[0].meshPeers(gossipTopic).isEmpty)
}

@Test func gossipRecoversAMessageTheMeshMissed() {
    var config = testConfig()
    config.d = 2
    config.dLow = 2
    config.dHigh = 3
    config.dScore = 1
    config.dOut = 0
    config.dLazy = 6
    config.floodPublish = false
    var network = GossipsubTestNetwork(count: 7, config: config, seed: 31)
    for a in 0..<7 { for b in (a + 1)..<7 { network.connect(a, b) } }
    for node in 0..<7 { network.send(.subscribe(gossipTopic), to: node) }
    network.heartbeats(3)
    // Node 6 loses every message pushed to it; gossip is all it has.
    network.dropFilter = { _, to, rpc in !(to == 6 && !rpc.messages.isEmpty) }
    network.send(.publish(topic: gossipTopic, data: Array("missed".utf8)), to: 0)
    let id = network.published[0][0]
    #expect(network.deliveryCount(6, id) == 0)
    network.dropFilter = nil
    network.heartbeats(1)
    #expect(network.deliveryCount(6, id) == 1)
    // By IWANT, or forwarded by a mesh peer that recovered it by IWANT.
    #expect(network.routers.contains { $0.counters.iwantSent >= 1 })
    #expect(network.routers.contains { $0.counters.iwantServed >= 1 })
    #expect((0..<6).allSatisfy { network.deliveryCount($0, id) == ($0 == 0 ? 0 : 1) })
    network.heartbeats(3)
    #expect(network.deliveryCount(6, id) == 1)
}

// MARK: - IHAVE / IWANT

@Test func brokenIWantPromisesArePenalizedAfterTheFollowupTime() {
    var bench = Bench()
    bench.subscribeAll()
    let fake = GossipsubMessageID(Array(repeating: 0xAB, count: 40))
    let actions = bench.rpc(from: 0, control { $0.ihave = [.init(topic: gossipTopic, messageIDs: [fake])] })
    let iwant = sends(actions).filter { $0.0 == bench.peer(0) }.compactMap(\.1.control).flatMap(\.iwant)
    #expect(iwant == [[fake]])
    // IHAVE on a gossipTopic we are not in is not answered.
    #expect(sends(bench.rpc(from: 0, control { $0.ihave = [.init(topic: "other", messageIDs: [fake])] })).isEmpty)
    bench.advance(1)
    _ = bench.on(.heartbeat)
    #expect(bench.router.counters.brokenPromises == 0)
    bench.advance(3)
    _ = bench.on(.heartbeat)
    #expect(bench.router.counters.brokenPromises == 1)
}

@Test func iwantIsAnsweredFromTheCacheWithinTheRetransmissionLimit() {
    var bench = Bench()
    bench.subscribeAll()
    let message = signedMessage(bench.fakes[0], data: [1], seqno: 1)
    _ = bench.rpc(from: 0, GossipsubRPC(messages: [message]))
    let id = bench.router.messageID(of: message)
    var served: [Int] = []
    for _ in 0..<5 {
        served.append(sends(bench.rpc(from: 1, control { $0.iwant = [[id]] })).flatMap(\.1.messages).count)
    }
    #expect(served == [1, 1, 1, 0, 0])
    // Gone from the cache after historyLength heartbeats.
    for _ in 0..<5 {
        bench.advance(1)
        _ = bench.on(.heartbeat)
    }
    #expect(sends(bench.rpc(from: 2, control { $0.iwant = [[id]] })).isEmpty)
}

@Test func ihaveAndIWantFloodsCostTheConnection() {
    var bench = Bench()
    bench.subscribeAll()
    let config = bench.router.config
    var reasons: [String] = []
    for index in 0..<(config.maxIHaveMessages + config.maxViolations + 2) {
        let id = GossipsubMessageID([UInt8(index), 1, 2])
        reasons += disconnectReasons(
            bench.rpc(from: 0, control { $0.ihave = [.init(topic: gossipTopic, messageIDs: [id])] }))
    }
    #expect(reasons.count == 1)
    #expect(reasons.first?.contains("IHAVE flood") == true)
    #expect(!bench.router.connectedPeers.contains(bench.peer(0)))
    // IWANT: more ids per heartbeat than allowed, again and again.
    reasons = []
    let ids = (0..<config.maxIWantMessageIDs + 1).map { GossipsubMessageID([UInt8($0 & 0xFF), UInt8($0 >> 8)]) }
    for _ in 0..<(config.maxViolations + 1) {
        reasons += disconnectReasons(bench.rpc(from: 1, control { $0.iwant = [ids] }))
    }
    #expect(reasons.count == 1)
    #expect(reasons.first?.contains("IWANT flood") == true)
}

// MARK: - GRAFT / PRUNE

@Test func pruneBackoffIsHonouredAndGraftDuringBackoffPenalized() {
    var bench = Bench(fakes: 1)
    bench.subscribeAll()
    _ = bench.on(.heartbeat)
    #expect(bench.router.meshPeers(gossipTopic) == [bench.peer(0)])
    // The peer prunes us with a 30 s backoff: out of the mesh and not grafted again before it ends.
    _ = bench.rpc(from: 0, control { $0.prune = [.init(topic: gossipTopic, peers: [], backoff: 30)] })
    #expect(bench.router.meshPeers(gossipTopic).isEmpty)
    #expect(bench.router.backoffExpiry(bench.peer(0), topic: gossipTopic) == bench.now.advanced(bySeconds: 30))
    for _ in 0..<29 {
        bench.advance(1)
        let grafts = sends(bench.on(.heartbeat)).compactMap(\.1.control).flatMap(\.graft)
        #expect(grafts.isEmpty)
    }
    bench.advance(2)
    let grafts = sends(bench.on(.heartbeat)).compactMap(\.1.control).flatMap(\.graft)
    #expect(grafts == [gossipTopic])
    #expect(bench.router.meshPeers(gossipTopic) == [bench.peer(0)])

    // Now we back off from it (it pruned, we answer its GRAFT during our backoff with a PRUNE).
    _ = bench.rpc(from: 0, control { $0.prune = [.init(topic: gossipTopic, peers: [], backoff: 60)] })
    var actions = bench.rpc(from: 0, control { $0.graft = [gossipTopic] })
    let prunes = sends(actions).compactMap(\.1.control).flatMap(\.prune)
    #expect(prunes.map(\.topic) == [gossipTopic])
    #expect(prunes.first?.peers.isEmpty == true)  // no PX for a peer that GRAFTs in backoff
    #expect(bench.router.meshPeers(gossipTopic).isEmpty)
    // Repeated GRAFTs in backoff: a violation each, and the connection goes.
    var reasons: [String] = []
    for _ in 0..<bench.router.config.maxViolations {
        actions = bench.rpc(from: 0, control { $0.graft = [gossipTopic] })
        reasons += disconnectReasons(actions)
    }
    #expect(reasons.count == 1)
    #expect(reasons.first?.contains("GRAFT during backoff") == true)
}

@Test func graftOnATopicWeDoNotJoinIsIgnoredAndAGraftImpliesTheSubscription() {
    var bench = Bench(fakes: 2)
    _ = bench.on(.subscribe(gossipTopic))
    #expect(sends(bench.rpc(from: 0, control { $0.graft = ["elsewhere"] })).isEmpty)
    #expect(bench.router.meshPeers("elsewhere").isEmpty)
    _ = bench.rpc(from: 1, control { $0.graft = [gossipTopic] })
    #expect(bench.router.meshPeers(gossipTopic) == [bench.peer(1)])
    #expect(bench.router.subscribers(gossipTopic) == [bench.peer(1)])
}

@Test func pruneWithPeerExchangeDialsNewPeersAboveTheThreshold() {
    let strangers = (0..<3).map { gossipIdentity(500 + UInt64($0)).peerID }
    func prune(_ bench: inout Bench, from index: Int) -> [PeerID] {
        let px =
            (strangers + [bench.peer(2), gossipIdentity(1).peerID]).map {
                GossipsubRPC.PeerInfo(peerID: $0.multihash.bytes, signedRecord: [7])
            } + [GossipsubRPC.PeerInfo(peerID: [0xFF, 0x00], signedRecord: nil)]
        let actions = bench.rpc(from: index, control { $0.prune = [.init(topic: gossipTopic, peers: px, backoff: 60)] })
        return actions.compactMap { if case .connect(let peer, _) = $0 { peer } else { nil } }
    }
    // Scoring off: PX accepted; connected peers, ourselves and garbage ids are skipped.
    var bench = Bench(versions: [.v11, .v10, .v12])
    bench.subscribeAll()
    #expect(prune(&bench, from: 0) == strangers)
    // A v1.0 peer's PX is not used.
    #expect(prune(&bench, from: 1).isEmpty)
    // Scoring on: a score of 0 is below acceptPX (10).
    var scored = Bench(config: testConfig(scoring: true), versions: [.v11, .v11, .v11])
    scored.subscribeAll()
    #expect(prune(&scored, from: 0).isEmpty)
}

@Test func ourPrunesFollowThePeersVersion() {
    var bench = Bench(fakes: 2, versions: [.v10, .v11])
    bench.subscribeAll()
    _ = bench.on(.heartbeat)
    #expect(bench.router.meshPeers(gossipTopic).count == 2)
    let actions = bench.on(.unsubscribe(gossipTopic))
    let prunes = Dictionary(
        uniqueKeysWithValues: sends(actions).compactMap { send in send.1.control?.prune.first.map { (send.0, $0) } })
    #expect(prunes[bench.peer(0)]?.backoff == nil)
    #expect(prunes[bench.peer(0)]?.peers.isEmpty == true)
    #expect(prunes[bench.peer(1)]?.backoff == UInt64(bench.router.config.unsubscribeBackoff))
    #expect(prunes[bench.peer(1)]?.peers.map(\.peerID) == [bench.peer(0).multihash.bytes])
    // Unsubscribing is announced to every peer.
    let announced = sends(actions).filter { $0.1.subscriptions == [.init(subscribe: false, topic: gossipTopic)] }
    #expect(announced.count == 2)
}

// MARK: - IDONTWANT

@Test func idontwantGoesToV12MeshPeersAndIsHonoured() {
    var bench = Bench(fakes: 4, versions: [.v12, .v12, .v11, .v12])
    bench.subscribeAll()
    _ = bench.on(.heartbeat)
    #expect(bench.router.meshPeers(gossipTopic).count == 4)
    let large = signedMessage(bench.fakes[3], data: Array(repeating: 1, count: 2_000), seqno: 1)
    let id = bench.router.messageID(of: large)
    // Peer 1 says it does not want it; peer 3 sends it.
    _ = bench.rpc(from: 1, control { $0.idontwant = [[id]] })
    let actions = bench.rpc(from: 3, GossipsubRPC(messages: [large]))
    let rpcs = sends(actions)
    let idontwantTo = rpcs.filter { $0.1.control?.idontwant.isEmpty == false }.map(\.0)
    // v1.2 mesh peers but the sender and the peer that already has it; v1.1 gets none.
    #expect(idontwantTo == [bench.peer(0)])
    // The IDONTWANT precedes the messages.
    let firstMessage = rpcs.firstIndex { !$0.1.messages.isEmpty }!
    #expect(rpcs.firstIndex { $0.1.control?.idontwant.isEmpty == false }! < firstMessage)
    let messageTo = Set(rpcs.filter { !$0.1.messages.isEmpty }.map(\.0))
    #expect(messageTo == [bench.peer(0), bench.peer(2)])
    #expect(bench.router.counters.idontwantSuppressed == 1)
    // Small messages get no IDONTWANT.
    let small = signedMessage(bench.fakes[3], data: [1], seqno: 2)
    #expect(sends(bench.rpc(from: 3, GossipsubRPC(messages: [small]))).allSatisfy { $0.1.control == nil })
}

@Test func idontwantIsBoundedPerPeerAndPyLibp2pQuirksAreHarmless() {
    var bench = Bench(fakes: 2)
    bench.subscribeAll()
    let limit = bench.router.config.maxIDontWantMessages
    let ids = (0..<(limit * 3)).map { GossipsubMessageID([UInt8($0 & 0xFF), UInt8($0 >> 8), 9]) }
    for chunk in stride(from: 0, to: ids.count, by: 500) {
        #expect(
            disconnectReasons(bench.rpc(from: 0, control { $0.idontwant = [Array(ids[chunk..<chunk + 500])] })).isEmpty)
    }
    #expect(bench.router.dontWant[bench.peer(0)]!.count <= limit)
    // IDONTWANT back to the sender of the message, and replays of recent messages: no harm, no second delivery.
    let message = signedMessage(bench.fakes[1], data: Array(repeating: 3, count: 5_000), seqno: 1)
    let id = bench.router.messageID(of: message)
    #expect(deliveries(bench.rpc(from: 1, GossipsubRPC(messages: [message]))) == [id])
    var actions = bench.rpc(from: 1, control { $0.idontwant = [[id]] })
    actions += bench.rpc(from: 1, GossipsubRPC(messages: [message]))
    actions += bench.rpc(from: 0, GossipsubRPC(messages: [message]))
    #expect(deliveries(actions).isEmpty)
    #expect(disconnectReasons(actions).isEmpty)
    #expect(bench.router.counters.duplicates == 2)
}

// MARK: - Bounds

@Test func brokenBoundsCostTheConnectionWithAReason() {
    var config = testConfig()
    config.maxRPCSize = 4_096
    config.topicMaxRPCSize = ["big": 1 << 16]
    config.maxTopics = 8
    config.maxControlMessages = 10
    var bench = Bench(config: config, fakes: 6)
    _ = bench.on(.subscribe(gossipTopic))
    _ = bench.on(.subscribe("big"))
    // Oversized bytes.
    var actions = bench.on(.received(from: bench.peer(0), bytes: [UInt8](repeating: 0, count: 70_000)[...]))
    #expect(disconnectReasons(actions).first?.contains("exceeds") == true)
    // The larger bound of a gossipTopic that has one.
    let big = signedMessage(bench.fakes[1], data: Array(repeating: 1, count: 20_000), seqno: 1, on: "big")
    let bigRPC = GossipsubRPC(messages: [big])
    actions = bench.on(.received(from: bench.peer(1), bytes: bigRPC.encoded()[...]))
    #expect(deliveries(actions).count == 1)
    #expect(disconnectReasons(actions).isEmpty)
    // The same size on a gossipTopic without one.
    let tooBig = signedMessage(bench.fakes[1], data: Array(repeating: 1, count: 20_000), seqno: 2)
    #expect(disconnectReasons(bench.rpc(from: 1, GossipsubRPC(messages: [tooBig]))).first?.contains("exceeds") == true)
    // Malformed protobuf.
    actions = bench.on(.received(from: bench.peer(2), bytes: [0x0A, 0xFF, 0xFF][...]))
    #expect(disconnectReasons(actions).first?.contains("malformed") == true)
    // Too many topics.
    let subs = (0..<9).map { GossipsubRPC.Subscription(subscribe: true, topic: "t\($0)") }
    #expect(
        disconnectReasons(bench.rpc(from: 3, GossipsubRPC(subscriptions: subs))).first?.contains("more than 8 topics")
            == true)
    // Too many control entries.
    let grafts = control { $0.graft = Array(repeating: gossipTopic, count: 11) }
    #expect(disconnectReasons(bench.rpc(from: 4, grafts)).first?.contains("control entries") == true)
    // A framing error reported by the shell.
    #expect(
        disconnectReasons(bench.on(.malformed(from: bench.peer(5), reason: "length prefix over the bound"))).count == 1)
    #expect(bench.router.connectedPeers.isEmpty)
    #expect(bench.router.counters.disconnects == 6)
    // RPCs from peers that are gone are ignored.
    #expect(bench.rpc(from: 0, grafts).isEmpty)
}

@Test func messagesOnUnknownTopicsAreDroppedCountedAndThenCostTheConnection() {
    var bench = Bench(fakes: 2)
    bench.subscribeAll()
    // A gossipTopic a peer subscribes to but we do not: dropped quietly.
    _ = bench.rpc(from: 1, GossipsubRPC(subscriptions: [.init(subscribe: true, topic: "theirs")]))
    var actions = bench.rpc(
        from: 1, GossipsubRPC(messages: [signedMessage(bench.fakes[1], data: [1], seqno: 1, on: "theirs")]))
    #expect(deliveries(actions).isEmpty && disconnectReasons(actions).isEmpty)
    #expect(bench.router.counters.unsubscribedTopicMessages == 1)
    // A gossipTopic nobody knows: counted, and a flood of them disconnects.
    var reasons: [String] = []
    for seqno in 0..<UInt64(bench.router.config.maxViolations + 1) {
        actions = bench.rpc(
            from: 0, GossipsubRPC(messages: [signedMessage(bench.fakes[0], data: [1], seqno: seqno, on: "nowhere")]))
        reasons += disconnectReasons(actions)
    }
    #expect(bench.router.counters.unknownTopicMessages == bench.router.config.maxViolations + 1)
    #expect(reasons.count == 1 && reasons[0].contains("unknown topic"))
}

@Test func violationsAreForgivenOnePerHeartbeat() {
    var bench = Bench(fakes: 1)
    bench.subscribeAll()
    // Half the allowance per heartbeat, for many heartbeats: never disconnected.
    var seqno: UInt64 = 0
    for _ in 0..<10 {
        for _ in 0..<1 {
            seqno += 1
            var bad = signedMessage(bench.fakes[0], data: [1], seqno: seqno)
            bad.data = [2]
            #expect(disconnectReasons(bench.rpc(from: 0, GossipsubRPC(messages: [bad]))).isEmpty)
        }
        bench.advance(1)
        _ = bench.on(.heartbeat)
    }
    #expect(bench.router.connectedPeers == [bench.peer(0)])
}

// MARK: - Validation

@Test func applicationValidationGatesDeliveryAndForwarding() {
    var config = testConfig()
    config.validatedTopics = [gossipTopic]
    config.maxPendingValidations = 2
    var network = GossipsubTestNetwork(count: 3, config: config, seed: 41)
    network.connect(0, 1)
    network.connect(1, 2)
    for node in 0..<3 { network.send(.subscribe(gossipTopic), to: node) }
    network.heartbeats(1)
    // Accept: node 1 delivers and forwards; node 2 validates in turn.
    network.send(.publish(topic: gossipTopic, data: [1]), to: 0)
    #expect(network.deliveries[1].isEmpty)
    #expect(network.validationRequests[1].count == 1)
    network.answerValidation(1, .accept)
    #expect(network.deliveries[1].count == 1)
    #expect(network.validationRequests[2].count == 1)
    network.answerValidation(2, .accept)
    #expect(network.deliveries[2].count == 1)
    // Reject: not delivered, not forwarded.
    network.send(.publish(topic: gossipTopic, data: [2]), to: 0)
    network.answerValidation(1, .reject)
    #expect(network.deliveries[1].count == 1)
    #expect(network.validationRequests[2].isEmpty)
    #expect(network.routers[1].counters.rejected == 1)
    // Ignore: the same, without the penalty.
    network.send(.publish(topic: gossipTopic, data: [3]), to: 0)
    network.answerValidation(1, .ignore)
    #expect(network.validationRequests[2].isEmpty)
    #expect(network.routers[1].counters.ignored == 1)
    // At most two wait; the third is dropped unvalidated.
    for data in 4..<7 { network.send(.publish(topic: gossipTopic, data: [UInt8(data)]), to: 0) }
    #expect(network.validationRequests[1].count == 2)
    #expect(network.routers[1].counters.validationThrottled == 1)
    // A verdict that never comes times out as ignored.
    network.advance(seconds: config.validationTimeout)
    network.heartbeats(1)
    #expect(network.routers[1].counters.ignored == 3)
    // Late verdicts for timed-out messages change nothing.
    network.answerValidation(1, .accept)
    network.answerValidation(1, .accept)
    #expect(network.deliveries[1].count == 1)
    // A message accepted after the application left its topic is not delivered.
    network.send(.publish(topic: gossipTopic, data: [9]), to: 0)
    #expect(network.validationRequests[1].count == 1)
    network.send(.unsubscribe(gossipTopic), to: 1)
    network.answerValidation(1, .accept)
    #expect(network.deliveries[1].count == 1)
    #expect(network.routers[1].counters.ignored == 4)
}

// MARK: - Seen cache

@Test func theSeenCacheDropsDuplicatesUntilItsTTLPasses() {
    var config = testConfig()
    config.seenTTL = 30
    var bench = Bench(config: config, fakes: 2)
    bench.subscribeAll()
    let message = signedMessage(bench.fakes[0], data: [9], seqno: 1)
    let id = bench.router.messageID(of: message)
    #expect(deliveries(bench.rpc(from: 0, GossipsubRPC(messages: [message]))) == [id])
    bench.advance(29)
    _ = bench.on(.heartbeat)
    #expect(bench.router.hasSeen(id, now: bench.now))
    #expect(deliveries(bench.rpc(from: 1, GossipsubRPC(messages: [message]))).isEmpty)
    bench.advance(2)
    _ = bench.on(.heartbeat)
    #expect(!bench.router.hasSeen(id, now: bench.now))
    #expect(bench.router.seen.isEmpty)
    // Past the TTL a replay is a new message again: that is what the TTL means.
    #expect(deliveries(bench.rpc(from: 1, GossipsubRPC(messages: [message]))) == [id])
}

@Test func messageIDFunctionsArePerTopic() {
    var config = testConfig()
    config.messageID = ["content": .sha256OfData, "py": .seqnoAndFrom]
    let router = GossipsubRouter(local: gossipIdentity(1), config: config, random: SeededRandom(seed: 1))
    let author = gossipIdentity(3)
    let a = signedMessage(author, data: [1, 2], seqno: 1, on: "content")
    let b = signedMessage(author, data: [1, 2], seqno: 2, on: "content")
    #expect(router.messageID(of: a) == router.messageID(of: b))
    #expect(router.messageID(of: a).bytes == SHA256.hash([1, 2]))
    let c = signedMessage(author, data: [1, 2], seqno: 1)
    #expect(router.messageID(of: c).bytes == author.peerID.multihash.bytes + c.seqno!)
    let d = signedMessage(author, data: [1, 2], seqno: 1, on: "py")
    #expect(router.messageID(of: d).bytes == d.seqno! + author.peerID.multihash.bytes)
}

@Test func mutatedRPCBytesNeverCrashTheRouter() {
    var random = SeededRandom(seed: 77)
    var bench = Bench(fakes: 1)
    bench.subscribeAll()
    var seeds: [[UInt8]] = [gossipSampleRPC(&random).encoded()]
    seeds.append(GossipsubRPC(messages: [signedMessage(bench.fakes[0], data: [1, 2, 3], seqno: 1)]).encoded())
    seeds.append(
        control {
            $0.graft = [gossipTopic]
            $0.ihave = [.init(topic: gossipTopic, messageIDs: [GossipsubMessageID([1])])]
        }.encoded())
    var disconnects = 0
    for round in 0..<2_000 {
        if !bench.router.connectedPeers.contains(bench.peer(0)) {
            _ = bench.on(.peerConnected(bench.peer(0), version: .v12, outbound: false, address: nil))
        }
        let input = random.mutate(seeds[round % seeds.count])
        disconnects += disconnectReasons(bench.on(.received(from: bench.peer(0), bytes: input[...]))).count
        if round % 100 == 0 {
            bench.advance(1)
            _ = bench.on(.heartbeat)
        }
    }
    #expect(disconnects > 0)
}

@Test func anOverfullMeshIsPrunedToDKeepingOutboundPeers() {
    // 16 peers, the first 3 dialed by us (outbound), all GRAFT us.
    var bench = Bench(fakes: 16)
    let config = bench.router.config
    var router = GossipsubRouter(local: gossipIdentity(1), config: testConfig(), random: SeededRandom(seed: 9))
    for (index, fake) in bench.fakes.enumerated() {
        _ = router.on(.peerConnected(fake.peerID, version: .v11, outbound: index < 3, address: nil), now: bench.now)
    }
    bench.router = router
    for index in bench.fakes.indices {
        _ = bench.rpc(from: index, GossipsubRPC(subscriptions: [.init(subscribe: true, topic: gossipTopic)]))
    }
    // Joining grafts D of the subscribers at once.
    let joined = sends(bench.on(.subscribe(gossipTopic))).filter { $0.1.control?.graft == [gossipTopic] }
    #expect(joined.count == config.d)
    #expect(bench.router.meshPeers(gossipTopic).count == config.d)
    // Inbound GRAFTs fill the mesh up to D_hi; past it only outbound ones are taken.
    var refused: [PeerID] = []
    for index in 3..<16 where !bench.router.meshPeers(gossipTopic).contains(bench.peer(index)) {
        let actions = bench.rpc(from: index, control { $0.graft = [gossipTopic] })
        refused += sends(actions).filter { $0.1.control?.prune.isEmpty == false }.map(\.0)
    }
    #expect(bench.router.meshPeers(gossipTopic).count == config.dHigh)
    #expect(!refused.isEmpty)
    for index in 0..<3 { _ = bench.rpc(from: index, control { $0.graft = [gossipTopic] }) }
    let before = bench.router.meshPeers(gossipTopic).count
    #expect(before > config.dHigh)
    // The heartbeat prunes to D, keeps D_out outbound peers, and backs off from the pruned ones.
    bench.advance(1)
    let actions = bench.on(.heartbeat)
    let mesh = bench.router.meshPeers(gossipTopic)
    #expect(mesh.count == config.d)
    let outbound = Set(bench.fakes.prefix(3).map(\.peerID))
    #expect(mesh.filter { outbound.contains($0) }.count >= config.dOut)
    let pruned = sends(actions).filter { $0.1.control?.prune.isEmpty == false }.map(\.0)
    #expect(pruned.count == before - config.d)
    for peer in pruned {
        #expect(!mesh.contains(peer))
        #expect(
            bench.router.backoffExpiry(peer, topic: gossipTopic) == bench.now.advanced(bySeconds: config.pruneBackoff))
    }
}

@Test func ourPeerExchangeOffersTheRecordsTheShellGave() {
    var bench = Bench(fakes: 3, versions: [.v11, .v11, .v11])
    bench.subscribeAll()
    _ = bench.on(.peerRecord(bench.peer(1), signedRecord: [1, 2, 3]))
    _ = bench.on(.heartbeat)
    let actions = bench.on(.unsubscribe(gossipTopic))
    let prune = sends(actions).first { $0.0 == bench.peer(0) }?.1.control?.prune.first
    let offered = Dictionary(uniqueKeysWithValues: (prune?.peers ?? []).map { ($0.peerID!, $0.signedRecord) })
    #expect(offered.count == 2)
    #expect(offered[bench.peer(1).multihash.bytes] == .some([1, 2, 3]))
    #expect(offered[bench.peer(2).multihash.bytes] == .some(nil))
}

@Test func publishingRefusesWhatNoPeerWouldAccept() {
    var config = testConfig()
    config.maxRPCSize = 2_048
    config.maxTopicLength = 32
    var bench = Bench(config: config, fakes: 1)
    bench.subscribeAll()
    var actions = bench.on(.publish(topic: gossipTopic, data: Array(repeating: 0, count: 4_000)))
    let failures = actions.compactMap { if case .publishFailed(_, let error) = $0 { error } else { nil } }
    guard case .rpcTooLarge(_, 2_048)? = failures.first else {
        Issue.record("expected rpcTooLarge, got \(failures)")
        return
    }
    #expect(sends(actions).isEmpty)
    actions = bench.on(.publish(topic: String(repeating: "x", count: 33), data: [1]))
    #expect(
        actions.contains {
            if case .publishFailed(_, .fieldTooLong(field: "Message.topic", length: 33, limit: 32)) = $0 {
                true
            } else {
                false
            }
        })
    #expect(bench.router.counters.published == 0)
}

@Test func stateStaysBoundedUnderManyHostilePeers() {
    var config = testConfig()
    config.maxTopics = 32
    config.maxIDontWantMessages = 50
    var router = GossipsubRouter(local: gossipIdentity(1), config: config, random: SeededRandom(seed: 2))
    var now = Instant(seconds: 1)
    _ = router.on(.subscribe(gossipTopic), now: now)
    var random = SeededRandom(seed: 8)
    let hostile = (0..<300).map { gossipIdentity(10_000 + UInt64($0)).peerID }
    for (index, peer) in hostile.enumerated() {
        _ = router.on(.peerConnected(peer, version: .v12, outbound: false, address: nil), now: now)
        // Each subscribes to as many fresh topics as it may, floods IDONTWANT and IHAVE of random ids.
        let topics = (0..<config.maxTopics).map {
            GossipsubRPC.Subscription(subscribe: true, topic: "junk-\(index)-\($0)")
        }
        let ids = (0..<200).map { _ in GossipsubMessageID(random.bytes(20)) }
        var flood = GossipsubRPC(subscriptions: topics)
        var control = GossipsubRPC.Control()
        control.idontwant = [ids]
        control.ihave = [.init(topic: gossipTopic, messageIDs: ids)]
        flood.control = control
        _ = router.on(.receivedRPC(from: peer, rpc: flood, size: flood.encodedSize), now: now)
        if index % 50 == 0 {
            now = now.advanced(bySeconds: 1)
            _ = router.on(.heartbeat, now: now)
        }
    }
    #expect(router.topicPeers.count <= config.maxTopics + 1)
    #expect(router.dontWant.values.allSatisfy { $0.count <= config.maxIDontWantMessages })
    #expect(router.peerTopics.values.allSatisfy { $0.count <= config.maxTopics })
    // Promises are one per IWANT, and they expire.
    #expect(router.promises.count <= hostile.count)
    now = now.advanced(bySeconds: config.iwantFollowupTime + 1)
    _ = router.on(.heartbeat, now: now)
    #expect(router.promises.isEmpty)
    #expect(router.counters.brokenPromises == hostile.count)
}

// MARK: - Actions last first

@Test func actionsLastFirstAreTheActionsInReverse() {
    // Two identical routers fed one script: one through `on`, the other through `onLastFirst`.
    var forward = Bench(fakes: 5)
    var lastFirst = Bench(fakes: 5)
    let author = gossipIdentity(77)
    var script: [GossipsubRouter.Event] = [.subscribe(gossipTopic)]
    for index in 0..<5 {
        script.append(
            .receivedRPC(
                from: forward.peer(index),
                rpc: GossipsubRPC(subscriptions: [.init(subscribe: true, topic: gossipTopic)]), size: 30))
    }
    script.append(.heartbeat)
    for seqno in 1...4 {
        // Large enough for IDONTWANT: urgent RPCs, then the forwards.
        let data = Array(repeating: UInt8(seqno), count: 2_000)
        let rpc = GossipsubRPC(messages: [signedMessage(author, data: data, seqno: UInt64(seqno))])
        script.append(.receivedRPC(from: forward.peer(seqno % 5), rpc: rpc, size: rpc.encodedSize))
    }
    script.append(.publish(topic: gossipTopic, data: [1, 2, 3]))
    script.append(.heartbeat)
    // A disconnect: the closing list.
    script.append(.malformed(from: forward.peer(2), reason: "test"))
    script.append(.heartbeat)

    var sawMany = false
    var sawDisconnect = false
    for event in script {
        let expected = forward.router.on(event, now: forward.now).map { String(describing: $0) }
        let got = lastFirst.router.onLastFirst(event, now: lastFirst.now).reversed().map { String(describing: $0) }
        #expect(got == expected)
        if expected.count >= 4 { sawMany = true }
        if expected.contains(where: { $0.hasPrefix("disconnect") }) { sawDisconnect = true }
        forward.advance(0.5)
        lastFirst.advance(0.5)
    }
    #expect(sawMany)
    #expect(sawDisconnect)
}
