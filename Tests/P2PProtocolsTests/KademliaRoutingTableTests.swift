import Codec
import Runtime
import TestSupport
import Testing

@testable import P2PProtocols

/// Peers whose points fall into bucket `index` of `table`, found by drawing ids.
private func peers(inBucket index: Int, of table: KademliaRoutingTable, count: Int, _ random: inout SeededRandom)
    -> [PeerID]
{
    var out: [PeerID] = []
    while out.count < count {
        let peer = kademliaPeer(&random)
        if table.bucketIndex(KademliaKey(peer: peer)) == index { out.append(peer) }
    }
    return out
}

@Test func kademliaTablePlacesPeersByCommonPrefixAndFindsTheClosest() {
    var random = SeededRandom(seed: 20)
    let now = Instant(seconds: 10)
    var table = KademliaRoutingTable(local: KademliaKey(peer: kademliaPeer(&random)), now: now)
    var all: [PeerID] = []
    for _ in 0..<400 {
        let peer = kademliaPeer(&random)
        _ = table.add(peer, key: KademliaKey(peer: peer), addresses: [], subnet: nil, now: now)
        all.append(peer)
    }
    for entry in table.allPeers {
        #expect(table.bucketIndex(entry.key) == table.local.commonPrefixLength(with: entry.key))
    }
    #expect(table.peers(inBucket: 0).count == 20)  // half of 400 peers fall in bucket 0: full
    #expect(table.replacements(inBucket: 0).count == 20)
    for _ in 0..<20 {
        let target = KademliaKey(hashing: random.bytes(8))
        let expected = table.allPeers.sorted { $0.key.distance(to: target) < $1.key.distance(to: target) }
            .prefix(20).map(\.peer)
        #expect(table.closest(to: target, count: 20).map(\.peer) == Array(expected))
    }
    let outcome1 = table.add(all[0], key: table.local, addresses: [], subnet: nil, now: now)
    #expect(outcome1 == .isLocal)
}

@Test func kademliaFullBucketCachesNewcomersPingsTheStalestAndPromotesOnFailure() {
    var random = SeededRandom(seed: 21)
    var now = Instant(seconds: 10)
    var table = KademliaRoutingTable(local: KademliaKey(peer: kademliaPeer(&random)), pingAfter: 60, now: now)
    let members = peers(inBucket: 0, of: table, count: 22, &random)
    for peer in members.prefix(20) {
        let outcome2 = table.add(peer, key: KademliaKey(peer: peer), addresses: [], subnet: nil, now: now)
        #expect(outcome2 == .added)
    }
    // Seen recently: cached, no ping.
    let outcome3 = table.add(members[20], key: KademliaKey(peer: members[20]), addresses: [], subnet: nil, now: now)
    #expect(outcome3 == .cached(ping: nil))
    now = now.advanced(bySeconds: 61)
    table.markSeen(members[0], now: now)  // members[1] is now the least recently seen
    let outcome4 = table.add(members[21], key: KademliaKey(peer: members[21]), addresses: [], subnet: nil, now: now)
    #expect(outcome4 == .cached(ping: members[1]))
    #expect(table.replacements(inBucket: 0).map(\.peer) == [members[20], members[21]])
    // The ping fails: the stalest leaves, the newest replacement takes its place.
    let evicted = table.recordFailure(members[1], limit: 2)
    #expect(evicted)
    #expect(!table.contains(members[1]))
    #expect(table.contains(members[21]))
    #expect(table.peers(inBucket: 0).count == 20)
    // A peer that answers stays; one failure below the limit keeps it.
    let kept = !table.recordFailure(members[2], limit: 2)
    #expect(kept)
    #expect(table.contains(members[2]))
}

@Test func kademliaBucketHoldsAtMostTwoPeersOfOneSlash24() throws {
    var random = SeededRandom(seed: 22)
    let now = Instant(seconds: 10)
    var table = KademliaRoutingTable(local: KademliaKey(peer: kademliaPeer(&random)), now: now)
    let members = peers(inBucket: 0, of: table, count: 4, &random)
    let subnet = KademliaRoutingTable.subnet(of: [try Multiaddr("/ip4/203.0.113.7/tcp/1")])
    #expect(subnet != nil)
    #expect(KademliaRoutingTable.subnet(of: [try Multiaddr("/ip4/127.0.0.1/tcp/1")]) == nil)
    let outcome5 = table.add(members[0], key: KademliaKey(peer: members[0]), addresses: [], subnet: subnet, now: now)
    #expect(outcome5 == .added)
    let outcome6 = table.add(members[1], key: KademliaKey(peer: members[1]), addresses: [], subnet: subnet, now: now)
    #expect(outcome6 == .added)
    let outcome7 = table.add(members[2], key: KademliaKey(peer: members[2]), addresses: [], subnet: subnet, now: now)
    #expect(outcome7 == .subnetFull)
    let outcome8 = table.add(
        members[3], key: KademliaKey(peer: members[3]), addresses: [], subnet: subnet.map { $0 &+ 1 }, now: now)
    #expect(outcome8 == .added)
    #expect(table.count == 3)
}

@Test func kademliaDHTAdmitsOnlyPeersIdentifiedAsDHTServers() {
    var random = SeededRandom(seed: 23)
    let now = Instant(seconds: 10)
    var dht = KademliaDHT(local: kademliaPeer(&random), random: random.split(label: 1), now: now)
    let server = kademliaPeer(&random)
    let client = kademliaPeer(&random)
    _ = dht.on(.peerConnected(server, address: nil), now: now)
    _ = dht.on(.peerConnected(client, address: nil), now: now)
    #expect(!dht.table.contains(server))
    _ = dht.on(
        .peerIdentified(server, protocols: ["/ipfs/id/1.0.0", KademliaMessage.protocolID], addresses: []), now: now)
    _ = dht.on(.peerIdentified(client, protocols: ["/ipfs/id/1.0.0"], addresses: []), now: now)
    #expect(dht.table.contains(server))
    #expect(!dht.table.contains(client))
    // Switching to client mode (identify push without the protocol) removes it.
    _ = dht.on(.peerIdentified(server, protocols: ["/ipfs/id/1.0.0"], addresses: []), now: now)
    #expect(!dht.table.contains(server))
}
