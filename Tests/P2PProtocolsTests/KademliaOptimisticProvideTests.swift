import Codec
import Crypto
import Runtime
import TestSupport
import Testing

@testable import P2PProtocols

/// A bootstrapped network of `count` servers running `configure`'s options.
private func network(count: Int, seed: UInt64, _ configure: @escaping (inout KademliaConfig) -> Void)
    -> KademliaTestNetwork
{
    // From the classic walk (α = 3, no slow-query release, provide after the walk); each test turns on what it
    // measures.
    var net = KademliaTestNetwork(count: count, seed: seed) { _, config in
        config.alpha = 3
        config.slowQueryAfter = nil
        config.optimisticProvide = false
        configure(&config)
    }
    net.bootstrapAll()
    return net
}

@Test func kademliaNetworkSizeFitsUniformDistances() {
    var size = KademliaNetworkSize(capacity: 8, minimumSamples: 2)
    #expect(size.estimate == nil)
    // The i-th closest of 10,000 uniform points lies at about i / 10,001 of the key space.
    let distances = (1...20).map { rank -> KademliaKey in
        KademliaKey(UInt64(Double(rank) / 10_001 * 18_446_744_073_709_551_615.0), 0, 0, 0)
    }
    size.record(distances)
    #expect(size.estimate == nil)
    size.record(distances)
    let estimate = try! #require(size.estimate)
    #expect(abs(estimate - 10_000) < 10)
    // Twice as far: half as many peers.
    for _ in 0..<8 { size.record(distances.map { KademliaKey($0.w0 * 2, 0, 0, 0) }) }
    #expect(abs((size.estimate ?? 0) - 5_000) < 10)
    #expect(size.sampleCount == 8)
}

@Test func kademliaOptimisticThresholdsFollowThePoissonQuantiles() {
    let t = KademliaNetworkSize.thresholds(
        networkSize: 1_000, k: 20, individualCertainty: 0.9, setCertainty: 0.9, returnRatio: 0.75)
    // P(Poisson(λ) ≤ 19) = 0.9 at λ ≈ 14.3; = 0.1 at λ ≈ 25.9.
    #expect(abs(t.individual * 1_000 - 14.3) < 0.3)
    #expect(abs(t.set * 1_000 - 25.9) < 0.3)
    #expect(t.returnAfter == 15)
    let bigger = KademliaNetworkSize.thresholds(
        networkSize: 2_000, k: 20, individualCertainty: 0.9, setCertainty: 0.9, returnRatio: 0.75)
    #expect(abs(bigger.individual * 2 - t.individual) < 1e-9)
}

@Test func kademliaRefreshWalksEstimateTheNetworkSize() throws {
    let net = network(count: 300, seed: 51) { _ in }
    for node in [0, 100, 299] {
        let estimate = try #require(net.nodes[node].networkSize.estimate)
        #expect(estimate > 150 && estimate < 600, "node \(node): \(estimate)")
    }
}

@Test func kademliaOptimisticProvideStoresOnTheClosestAndReturnsEarly() throws {
    var net = network(count: 300, seed: 52) { $0.optimisticProvide = true }
    #expect(net.nodes[42].networkSize.estimate != nil)
    let key = Multihash.sha256(Array("optimistic shard".utf8)).bytes
    net.send(.provide(key: key, lookup: 1), to: 42)
    let provided = try #require(net.result(42, lookup: 1))
    #expect(provided.outcome == .completed)
    #expect(provided.found)
    #expect(provided.stored >= 15)
    // Most of the 20 servers closest to the key hold the record.
    let target = KademliaKey(hashing: key)
    let closest = net.peerIDs.indices.filter { $0 != 42 }
        .sorted {
            KademliaKey(peer: net.peerIDs[$0]).distance(to: target)
                < KademliaKey(peer: net.peerIDs[$1]).distance(to: target)
        }
        .prefix(20)
    let holders = closest.filter { !net.nodes[$0].providerStore.providers(of: key, now: net.now).isEmpty }
    #expect(holders.count >= 15, "\(holders.count)")
    for (round, node) in [3, 150, 299].enumerated() {
        net.send(.findProviders(key: key, count: 1, lookup: UInt64(10 + round)), to: node)
        #expect(net.result(node, lookup: UInt64(10 + round))?.found == true)
    }
}

@Test func kademliaWithoutAnEstimateProvidesTheClassicWay() throws {
    // A fresh node has walked nothing: no estimate, so the provide stores on the k closest after the walk.
    var net = KademliaTestNetwork(count: 40, seed: 53) { _, config in config.optimisticProvide = true }
    for node in 1..<40 { net.send(.bootstrap([net.info(0)], lookup: 0), to: node) }
    let estimated = net.nodes.filter { $0.networkSize.estimate != nil }.count
    let node = try #require(net.nodes.indices.first { net.nodes[$0].networkSize.estimate == nil })
    #expect(estimated < 40)
    let key = Multihash.sha256(Array("classic".utf8)).bytes
    net.send(.provide(key: key, lookup: 1), to: node)
    let provided = try #require(net.result(node, lookup: 1))
    #expect(provided.stored == 20)
}

@Test func kademliaSlowQueriesFreeTheirSlotAndStillTimeOut() throws {
    var net = network(count: 60, seed: 54) { $0.slowQueryAfter = 1 }
    net.silent = Set(1..<60)
    var random = SeededRandom(seed: 55)
    let target = kademliaPeer(&random)
    let start = net.now
    net.send(.findPeer(target, lookup: 1), to: 0)
    #expect(net.nodes[0].pendingRequests == 3)
    var dht = net.nodes[0]
    #expect(dht.nextTimer() == start.advanced(bySeconds: 1))
    // After a second the three are slow: three more go out, the first three still wait for an answer.
    net.advance(seconds: 1)
    let lookupsBefore = net.nodes[0].counters.lookupsStarted
    net.send(.timers, to: 0)
    #expect(net.nodes[0].pendingRequests == 6)
    #expect(net.nodes[0].counters.timeouts == 0)
    #expect(net.nodes[0].counters.lookupsStarted == lookupsBefore)  // timers only: no refresh, no republish
    // At 10 s the first three time out.
    net.advance(seconds: 9)
    net.send(.timers, to: 0)
    #expect(net.nodes[0].counters.timeouts == 3)
    #expect(net.result(0, lookup: 1) == nil)
}

@Test func kademliaASlowQueryThatAnswersLateStillCounts() throws {
    var random = SeededRandom(seed: 56)
    var config = KademliaConfig()
    config.alpha = 3
    config.slowQueryAfter = 1
    let start = Instant(seconds: 100)
    var dht = KademliaDHT(local: kademliaPeer(&random), config: config, random: random.split(label: 1), now: start)
    let peers = (0..<8).map { _ in kademliaPeer(&random) }
    for (index, peer) in peers.enumerated() {
        let address = try Multiaddr("/ip4/10.0.\(index).1/tcp/4001")
        _ = dht.on(.peerIdentified(peer, protocols: [KademliaMessage.protocolID], addresses: [address]), now: start)
    }
    let target = kademliaPeer(&random)
    func requests(_ actions: [KademliaDHT.Action]) -> [KademliaRequestID] {
        actions.compactMap { if case .request(let id, _, _, _, _) = $0 { id } else { nil } }
    }
    let first = requests(dht.on(.findPeer(target, lookup: 1), now: start))
    #expect(first.count == 3)
    let later = start.advanced(bySeconds: 1)
    let second = requests(dht.on(.timers, now: later))
    #expect(second.count == 3)
    #expect(Set(first).isDisjoint(with: second))
    // The first, slow query answers at last, naming the target: the lookup ends with it.
    let answer = KademliaMessage(
        type: .findNode, key: target.multihash.bytes,
        closerPeers: [KademliaPeerInfo(id: target, addresses: [try Multiaddr("/ip4/10.9.9.1/tcp/4001")])])
    let actions = dht.on(.response(first[0], answer), now: later.advanced(bySeconds: 0.5))
    #expect(actions.contains { if case .peerFound(_, let info, hop: 1) = $0 { info.id == target } else { false } })
    #expect(dht.runningLookups == 0)
}
