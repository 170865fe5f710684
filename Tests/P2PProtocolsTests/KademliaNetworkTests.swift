import Codec
import Crypto
import Runtime
import TestSupport
import Testing

@testable import P2PProtocols

/// A bootstrapped network of `count` nodes, every tenth a client.
private func network(count: Int = 300, seed: UInt64 = 30, encodes: Bool = false) -> KademliaTestNetwork {
    // The classic walk (α = 3, no slow-query release, provide after the walk): these tests count its steps.
    var net = KademliaTestNetwork(count: count, seed: seed) { node, config in
        config.alpha = 3
        config.slowQueryAfter = nil
        config.optimisticProvide = false
        if node % 10 == 9 { config.mode = .client }
    }
    net.encodesMessages = encodes
    net.bootstrapAll()
    return net
}

/// The k server nodes nearest to `key`, nearest first (the truth a lookup must find).
private func trueClosest(_ net: KademliaTestNetwork, to key: [UInt8], k: Int = 20) -> [PeerID] {
    let target = KademliaKey(hashing: key)
    return net.peerIDs.indices.filter { net.nodes[$0].config.mode == .server }.map { net.peerIDs[$0] }
        .sorted { KademliaKey(peer: $0).distance(to: target) < KademliaKey(peer: $1).distance(to: target) }
        .prefix(k).map { $0 }
}

@Test func kademliaLookupsConvergeToTheTrueClosestAndReportHops() throws {
    var net = network()
    var random = SeededRandom(seed: 31)
    var hops: [Int] = []
    var exact = 0
    for round in 0..<40 {
        let node = Int(random.next() % UInt64(net.nodes.count))
        let target = kademliaPeer(&random)
        net.send(.findPeer(target, lookup: UInt64(round)), to: node)
        let result = try #require(net.result(node, lookup: UInt64(round)))
        #expect(result.outcome == .completed)
        #expect(!result.found)  // nobody has that id
        let truth = trueClosest(net, to: target.multihash.bytes)
        // The nearest half exactly; at most one of the farther half missed (a peer no queried table held).
        #expect(result.closest.prefix(10) == truth.prefix(10))
        #expect(Set(result.closest).intersection(truth).count >= 19)
        if result.closest == truth { exact += 1 }
        #expect(result.hops >= 1)
        #expect(result.queried >= 20)
        hops.append(result.hops)
    }
    #expect(exact >= 36)
    hops.sort()
    #expect(hops[hops.count / 2] <= 4)
    // Finding a node that exists.
    net.send(.findPeer(net.peerIDs[123], lookup: 99), to: 7)
    let found = try #require(net.result(7, lookup: 99))
    #expect(found.found)
    #expect(net.peersFound[7].last?.peer.id == net.peerIDs[123])
    #expect(net.peersFound[7].last?.peer.addresses == [net.addresses[123]])
}

@Test func kademliaClientNodesAreInNoTableAndServeNothing() throws {
    var net = network(count: 200)
    let clients = Set(net.peerIDs.indices.filter { $0 % 10 == 9 }.map { net.peerIDs[$0] })
    var servers = 0
    for node in net.nodes.indices {
        for entry in net.nodes[node].table.allPeers { #expect(!clients.contains(entry.peer)) }
        if net.nodes[node].config.mode == .server {
            servers += 1
            #expect(net.nodes[node].counters.served > 0 || net.nodes[node].table.count > 0)
        } else {
            #expect(net.nodes[node].counters.served == 0)
            #expect(net.nodes[node].table.count > 0)  // clients still keep a table to look things up
        }
    }
    #expect(servers == 180)
    // A request reaching a client anyway is refused.
    net.send(.request(from: net.peerIDs[0], stream: KademliaStreamID(1), message: KademliaMessage(type: .ping)), to: 9)
    #expect(net.drops[9].last?.reason == .clientMode)
    // A client is in no table, yet it can be found: a server connected to it names it in FIND_NODE answers.
    let client = 19
    let servedIt = net.nodes.indices.filter { $0 != client && net.isLinked($0, client) && $0 % 10 != 9 }
    try #require(!servedIt.isEmpty)
    let asker = try #require(net.nodes.indices.first { $0 % 10 != 9 && !net.isLinked($0, client) })
    net.send(.findPeer(net.peerIDs[client], lookup: 77), to: asker)
    let found = try #require(net.result(asker, lookup: 77))
    #expect(found.found, "\(found)")
    #expect(net.peersFound[asker].last?.peer.addresses == [net.addresses[client]])
}

@Test func kademliaProvidersAreStoredOnTheClosestAndFound() throws {
    var net = network()
    let key = Multihash.sha256(Array("datanet shard 7".utf8)).bytes
    net.send(.provide(key: key, lookup: 1), to: 42)
    let provided = try #require(net.result(42, lookup: 1))
    #expect(provided.outcome == .completed)
    #expect(provided.stored == 20)
    // The 20 closest servers hold the record (one of them may be the provider itself).
    for peer in trueClosest(net, to: key) {
        let holder = try #require(net.node(of: peer))
        #expect(net.nodes[holder].providerStore.providers(of: key, now: net.now).map(\.id) == [net.peerIDs[42]])
    }
    for (round, node) in [3, 150, 299, 19].enumerated() {
        net.send(.findProviders(key: key, count: 1, lookup: UInt64(10 + round)), to: node)
        let result = try #require(net.result(node, lookup: UInt64(10 + round)))
        #expect(result.found)
        let first = try #require(net.providersFound[node].last)
        #expect(first.provider.id == net.peerIDs[42])
        #expect(first.provider.addresses == [net.addresses[42].appending(peer: net.peerIDs[42])])
        #expect(result.hops == first.hop)
    }
    // After 48 h without republication the records lapse; republication every 22 h keeps them.
    net.advance(seconds: 22 * 3_600)
    net.tickAll()
    net.advance(seconds: 27 * 3_600)
    net.tickAll()
    net.send(.findProviders(key: key, count: 1, lookup: 20), to: 3)
    #expect(net.result(3, lookup: 20)?.found == true)
}

@Test func kademliaSignedPeerRecordsArePutAndGotAndForgeriesRefused() throws {
    var net = network(count: 200, encodes: true)
    let key = SignedPeerRecordValidator.key(for: net.peerIDs[5])
    let first = try SignedPeerRecord(identity: net.identities[5], sequence: 1, addresses: [net.addresses[5]])
    net.send(.putValue(key: key, value: first.envelope, lookup: 1), to: 5)
    #expect(net.result(5, lookup: 1)?.stored == 20)
    net.send(.getValue(key: key, lookup: 2), to: 100)
    #expect(net.result(100, lookup: 2)?.found == true)
    #expect(net.valuesFound[100].last?.record.value == first.envelope)
    // A newer record replaces it; the selector prefers the higher sequence.
    let second = try SignedPeerRecord(identity: net.identities[5], sequence: 2, addresses: [net.addresses[5]])
    net.send(.putValue(key: key, value: second.envelope, lookup: 3), to: 5)
    net.send(.getValue(key: key, lookup: 4), to: 150)
    #expect(net.valuesFound[150].last?.record.value == second.envelope)
    // An older record is refused by the servers holding the newer one.
    let holder = try #require(net.node(of: trueClosest(net, to: key)[0]))
    let stale = KademliaMessage(type: .putValue, key: key, record: KademliaRecord(key: key, value: first.envelope))
    net.send(.request(from: net.peerIDs[5], stream: KademliaStreamID(1), message: stale), to: holder)
    #expect(net.drops[holder].last?.reason == .invalidRecord("the record held is better"))
    // A record for peer 5 signed by peer 6 is refused locally and by servers.
    let forged = try SignedPeerRecord(identity: net.identities[6], sequence: 9, addresses: [net.addresses[6]])
    net.send(.putValue(key: key, value: forged.envelope, lookup: 5), to: 6)
    #expect(net.result(6, lookup: 5)?.found == false)
    let forgedPut = KademliaMessage(type: .putValue, key: key, record: KademliaRecord(key: key, value: forged.envelope))
    net.send(.request(from: net.peerIDs[6], stream: KademliaStreamID(2), message: forgedPut), to: holder)
    if case .invalidRecord = net.drops[holder].last?.reason {} else { Issue.record("forged record accepted") }
    // Foreign namespaces are refused for put and get.
    for type in [KademliaMessage.MessageType.putValue, .getValue] {
        let foreign = Array("/ipns/whatever".utf8)
        let message = KademliaMessage(type: type, key: foreign, record: KademliaRecord(key: foreign, value: [1]))
        net.send(.request(from: net.peerIDs[6], stream: KademliaStreamID(3), message: message), to: holder)
        #expect(net.drops[holder].last?.reason == .foreignNamespace)
    }
    net.send(.getValue(key: key, lookup: 6), to: 77)
    #expect(net.valuesFound[77].last?.record.value == second.envelope)
}

@Test func kademliaAddProviderAcceptsOnlyTheSenderWithinTheRateLimit() throws {
    var random = SeededRandom(seed: 40)
    let now = Instant(seconds: 100)
    var dht = KademliaDHT(local: kademliaPeer(&random), random: random.split(label: 1), now: now)
    let sender = kademliaPeer(&random)
    let other = kademliaPeer(&random)
    let address = try Multiaddr("/ip4/198.51.100.1/tcp/4001")
    func add(_ provider: KademliaPeerInfo, key: UInt8, at time: Instant) -> KademliaDHT.Action? {
        let message = KademliaMessage(type: .addProvider, key: [key], providerPeers: [provider])
        return dht.on(.request(from: sender, stream: KademliaStreamID(UInt64(key)), message: message), now: time).first
    }
    guard case .reset(_, let drop) = add(KademliaPeerInfo(id: other, addresses: [address]), key: 1, at: now) else {
        Issue.record("a provider naming another peer was accepted")
        return
    }
    if case .invalidProvider = drop.reason {} else { Issue.record("wrong reason \(drop.reason)") }
    guard case .reset = add(KademliaPeerInfo(id: sender, addresses: []), key: 2, at: now) else {
        Issue.record("a provider without addresses was accepted")
        return
    }
    for key in 3...10 {
        guard case .respond(_, nil) = add(KademliaPeerInfo(id: sender, addresses: [address]), key: UInt8(key), at: now)
        else {
            Issue.record("provider \(key) refused")
            return
        }
    }
    // 10 requests counted in this window (two refused ones included): the 11th is rate-limited.
    guard case .reset(_, let limited) = add(KademliaPeerInfo(id: sender, addresses: [address]), key: 11, at: now)
    else {
        Issue.record("rate limit not applied")
        return
    }
    #expect(limited.reason == .rateLimited)
    let later = now.advanced(bySeconds: 10)
    guard case .respond = add(KademliaPeerInfo(id: sender, addresses: [address]), key: 12, at: later) else {
        Issue.record("the next window was refused")
        return
    }
    #expect(dht.providerStore.count == 9)
    #expect(dht.providerStore.providers(of: [3], now: later).map(\.id) == [sender])
}

@Test func kademliaQueriesAndLookupsTimeOutWithoutAnswers() throws {
    var net = network(count: 60)
    // Every node but 0 goes silent: 0's queries get no answer and no failure.
    net.silent = Set(1..<60)
    var random = SeededRandom(seed: 41)
    let target = kademliaPeer(&random)
    net.send(.findPeer(target, lookup: 1), to: 0)
    #expect(net.result(0, lookup: 1) == nil)
    #expect(net.nodes[0].pendingRequests == 3)  // α queries in flight
    net.advance(seconds: 10)
    net.send(.tick, to: 0)
    #expect(net.nodes[0].counters.timeouts == 3)
    #expect(net.nodes[0].pendingRequests == 3)  // the next three
    for _ in 0..<4 {
        net.advance(seconds: 10)
        net.send(.tick, to: 0)
        #expect(net.result(0, lookup: 1) == nil)
    }
    // At 60 s the third batch times out and the whole lookup with it.
    net.advance(seconds: 10)
    net.send(.tick, to: 0)
    let result = try #require(net.result(0, lookup: 1))
    #expect(result.outcome == .timedOut)
    #expect(!result.found)
    #expect(result.failed == 18)
    #expect(result.closest.isEmpty)
    #expect(net.nodes[0].counters.tableEvictions == 0)  // one failure each: below the limit of two
    // The same peers fail a second time in the next lookup: they leave the table.
    let before = net.nodes[0].table.count
    let firstQueried = net.nodes[0].table.closest(to: KademliaKey(peer: target), count: 3).map(\.peer)
    net.send(.findPeer(target, lookup: 2), to: 0)
    net.advance(seconds: 10)
    net.send(.tick, to: 0)
    #expect(net.nodes[0].counters.tableEvictions >= 3)
    for peer in firstQueried { #expect(!net.nodes[0].table.contains(peer)) }
    // Node 0 bootstrapped everyone, so its buckets have replacement caches: replacements took the evicted places.
    #expect(net.nodes[0].table.count == before)
}

@Test func kademliaOfflinePeersFailFastAndLookupsRouteAround() throws {
    var net = network(count: 200)
    let key = Multihash.sha256(Array("adapter".utf8)).bytes
    net.send(.provide(key: key, lookup: 1), to: 10)
    for node in stride(from: 20, to: 200, by: 4) where node != 10 { net.offline.insert(node) }
    net.send(.findProviders(key: key, count: 1, lookup: 2), to: 11)
    let result = try #require(net.result(11, lookup: 2))
    #expect(result.found)
    #expect(result.outcome == .completed)
}

@Test func kademliaNetworksReplayFromTheSeed() {
    func trace(_ seed: UInt64) -> [KademliaLookupResult] {
        var net = KademliaTestNetwork(count: 80, seed: seed)
        net.bootstrapAll()
        net.send(.findProviders(key: [1, 2, 3], count: 3, lookup: 1), to: 5)
        return net.results.flatMap { $0 }
    }
    #expect(trace(50) == trace(50))
    #expect(trace(50) != trace(51))
}
