import Codec
import Crypto
import Foundation
import Runtime
import TestSupport
import Testing

@testable import P2P

private func kademliaHost(seed: UInt64, mode: KademliaConfig.Mode = .server) throws -> (P2PHost, Kademlia, Multiaddr) {
    let host = try P2PHost(identity: .ed25519(.generate()))
    let address = try host.listen(try Multiaddr("/ip4/127.0.0.1/tcp/0"))
    var config = KademliaConfig()
    config.mode = mode
    return (host, Kademlia(host: host, config: config, random: SeededRandom(seed: seed)), address)
}

/// A — B — C (and a client D on B) over real sockets: C and D learn A's provider record, addresses and signed
/// peer record only through B.
@Test func kademliaOverRealHostsProvidesFindsAndStores() async throws {
    let (hostA, dhtA, addressA) = try kademliaHost(seed: 1)
    let (hostB, dhtB, addressB) = try kademliaHost(seed: 2)
    let (hostC, dhtC, _) = try kademliaHost(seed: 3)
    let (hostD, dhtD, _) = try kademliaHost(seed: 4, mode: .client)
    defer {
        for dht in [dhtA, dhtB, dhtC, dhtD] { dht.close() }
        for host in [hostA, hostB, hostC, hostD] { host.close() }
    }
    let b = KademliaPeerInfo(id: hostB.peerID, addresses: [addressB])
    for dht in [dhtA, dhtC, dhtD] { _ = await dht.bootstrap([b]) }
    // B admits A and C once identify lists the protocol; D, a client, never.
    let admitted = try await onOwnThread {
        poll { dhtB.dht.table.contains(hostA.peerID) && dhtB.dht.table.contains(hostC.peerID) }
    }
    try #require(admitted, "B's table: \(dhtB.dht.table.allPeers.map(\.peer))")
    #expect(!dhtB.dht.table.contains(hostD.peerID))

    let key = Multihash.sha256(Array("datanet shard".utf8)).bytes
    let provided = await dhtA.provide(key)
    #expect(provided.result.stored >= 1)
    for dht in [dhtC, dhtD] {
        let found = await dht.findProviders(key, count: 1)
        #expect(found.result.found)
        #expect(found.providers.first?.id == hostA.peerID)
        // Provider addresses end in /p2p/<A>, as py-libp2p requires.
        #expect(found.providers.first?.addresses == [addressA])
    }
    let peer = await dhtC.findPeer(hostA.peerID)
    #expect(peer.result.found)
    #expect(peer.peer?.addresses == [addressA.withoutPeer])

    let recordKey = SignedPeerRecordValidator.key(for: hostA.peerID)
    let record = try SignedPeerRecord(identity: hostA.identity, sequence: 7, addresses: [addressA])
    let put = await dhtA.putValue(recordKey, record.envelope)
    #expect(put.result.stored >= 1)
    let got = await dhtD.getValue(recordKey)
    #expect(got.value?.value == record.envelope)
    // A foreign namespace is refused by the servers: nothing is found.
    let foreign = await dhtC.getValue(Array("/ipns/x".utf8))
    #expect(foreign.value == nil)
    #expect(dhtB.dht.counters.refused >= 1)
}

/// The DHT's k closest peers to our own id are protected from the connection manager's trimming; a client, in no
/// table, is not.
@Test func kademliaProtectsItsClosestPeersFromTrimming() async throws {
    let (hostA, dhtA, addressA) = try kademliaHost(seed: 21)
    let (hostB, dhtB, _) = try kademliaHost(seed: 22)
    let (hostC, dhtC, _) = try kademliaHost(seed: 23, mode: .client)
    defer {
        for dht in [dhtA, dhtB, dhtC] { dht.close() }
        for host in [hostA, hostB, hostC] { host.close() }
    }
    let a = KademliaPeerInfo(id: hostA.peerID, addresses: [addressA])
    _ = await dhtB.bootstrap([a])
    _ = await dhtC.bootstrap([a])
    let protected = try await onOwnThread {
        poll { hostA.connectionManager.isProtected(hostB.peerID) && hostB.connectionManager.isProtected(hostA.peerID) }
    }
    #expect(protected, "A's table: \(dhtA.dht.table.allPeers.map(\.peer))")
    // C, a client, is in no table, so nobody protects it.
    #expect(!hostA.connectionManager.isProtected(hostC.peerID))
}
