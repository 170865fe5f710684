import Codec
import Crypto
import Foundation
import Runtime
import Synchronization
import TestSupport
import Testing

@testable import P2P

private func dhtHost(seed: UInt64, logs: LogLines? = nil) throws -> (P2PHost, Kademlia, Multiaddr) {
    let logger = logs.map { Logger(module: "dht", sink: $0.logger.sink) } ?? .discarding
    let host = try P2PHost(identity: .ed25519(.generate()), logger: logger)
    let address = try host.listen(try Multiaddr("/ip4/127.0.0.1/tcp/0"))
    return (host, Kademlia(host: host, random: SeededRandom(seed: seed), logger: logger), address)
}

private func frame(_ body: [UInt8]) -> [UInt8] { Varint.encode(UInt64(body.count)) + body }

/// The hostile inputs of the DHT, each as the bytes one request stream carries (or several streams' worth).
private func hostileRequests(attacker: PeerID, address: Multiaddr) -> [(name: String, streams: [[UInt8]])] {
    var random = SeededRandom(seed: 99)
    let key = Multihash.sha256(Array("shard".utf8)).bytes
    // A FIND_NODE listing a thousand closer peers (the bound is 100), well under the 128 KiB message bound.
    var flood = ProtobufWriter()
    flood.varint(1, KademliaMessage.MessageType.findNode.rawValue)
    flood.bytes(2, key)
    for _ in 0..<1_000 {
        let peer = PeerID(publicKey: LibP2PIdentity.ed25519(try! Ed25519PrivateKey(seed: random.bytes(32))).publicKey)
        flood.bytes(8, KademliaPeerInfo(id: peer, addresses: []).encoded())
    }
    // ADD_PROVIDER naming the sender, but with an invalid multiaddr and an invalid peer id beside it.
    var badPeer = ProtobufWriter()
    badPeer.bytes(1, attacker.multihash.bytes)
    badPeer.bytes(2, [0xDE, 0xAD, 0xBE, 0xEF])
    var invalid = ProtobufWriter()
    invalid.varint(1, KademliaMessage.MessageType.addProvider.rawValue)
    invalid.bytes(2, key)
    invalid.bytes(9, badPeer.bytes)
    var junkID = ProtobufWriter()
    junkID.bytes(1, [1, 2, 3])
    invalid.bytes(9, junkID.bytes)
    // Twelve ADD_PROVIDERs in a row, each valid: py-libp2p's limit, ours too, is 10 per 10 s.
    let provide = KademliaMessage(
        type: .addProvider, key: key, providerPeers: [KademliaPeerInfo(id: attacker, addresses: [address])])
    let foreign = KademliaMessage(
        type: .putValue, key: Array("/pk/x".utf8), record: KademliaRecord(key: Array("/pk/x".utf8), value: [1]))
    let oversized = KademliaMessage(
        type: .putValue, key: Array("/openledger/peer/x".utf8),
        record: KademliaRecord(key: Array("/openledger/peer/x".utf8), value: random.bytes(16 * 1_024 + 1)))
    return [
        ("garbage protobuf", [frame([0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF])]),
        ("a frame announcing 1 GiB", [Varint.encode(1 << 30)]),
        ("a thousand closer peers", [frame(flood.bytes)]),
        ("invalid peer ids and multiaddrs", [frame(invalid.bytes)]),
        ("a provider flood", Array(repeating: frame(provide.encoded()), count: 12)),
        ("a record in a foreign namespace", [frame(foreign.encoded())]),
        ("an oversized value", [frame(oversized.encoded())]),
    ]
}

/// Each hostile request costs only its sender's connection, with the reason logged; the stores stay bounded, and
/// an honest provider and finder on the same server are unaffected.
@Test(.timeLimit(.minutes(3))) func hostileDHTRequestsCostOnlyTheSendersConnection() async throws {
    let logs = LogLines()
    let (server, serverDHT, serverAddress) = try dhtHost(seed: 1, logs: logs)
    let (honest, honestDHT, honestAddress) = try dhtHost(seed: 2)
    let (finder, finderDHT, _) = try dhtHost(seed: 3)
    defer {
        for dht in [serverDHT, honestDHT, finderDHT] { dht.close() }
        for host in [server, honest, finder] { host.close() }
    }
    let entry = KademliaPeerInfo(id: server.peerID, addresses: [serverAddress])
    _ = await honestDHT.bootstrap([entry])

    var attackers: [(String, P2PHost)] = []
    defer { for (_, host) in attackers { host.close() } }
    for index in 0..<7 {
        let identity = LibP2PIdentity.ed25519(.generate())
        let attacker = try P2PHost(identity: identity)
        let address = try attacker.listen(try Multiaddr("/ip4/127.0.0.1/tcp/0"))
        let (name, streams) = hostileRequests(attacker: identity.peerID, address: address)[index]
        attackers.append((name, attacker))
        _ = try await attacker.connect(serverAddress)
        for bytes in streams {
            guard let stream = try? await attacker.newStream(to: server.peerID, protocols: [KademliaMessage.protocolID])
            else { break }
            try? await stream.write(bytes)
            _ = try? await stream.read(maxBytes: 1 << 16)
        }
    }
    for (name, attacker) in attackers {
        let dropped = try await onOwnThread {
            poll { attacker.connectedPeersBlocking().isEmpty }
        }
        #expect(dropped, "the sender of \(name) is still connected")
    }
    #expect(logs.contains("closing a hostile peer's connection"))
    for reason in [
        "malformed protobuf", "frame", "more than 100 peers", "provider refused", "rate limit", "namespaces",
        "Record.value",
    ] {
        #expect(logs.contains(reason), "no log line names \(reason)")
    }
    // Ten of the flood's records at most, and nothing else hostile, were stored.
    #expect(serverDHT.dht.providerStore.count <= 10)
    #expect(serverDHT.dht.recordStore.count == 0)

    // The honest peers never noticed.
    let key = Multihash.sha256(Array("honest shard".utf8)).bytes
    let provided = await honestDHT.provide(key)
    #expect(provided.result.stored >= 1)
    _ = await finderDHT.bootstrap([entry])
    let found = await finderDHT.findProviders(key, count: 1)
    #expect(found.providers.first?.id == honest.peerID)
    #expect(found.providers.first?.addresses == [honestAddress])
    #expect(await server.connectedPeers().contains(honest.peerID))
}

/// A peer that answers our lookups with a thousand closer peers, or with garbage: our lookup ends, its connection
/// is closed, and our DHT goes on with an honest server.
@Test(.timeLimit(.minutes(3))) func hostileDHTAnswersCostOnlyTheAnswerersConnection() async throws {
    let logs = LogLines()
    let (ours, ourDHT, _) = try dhtHost(seed: 10, logs: logs)
    let (honest, honestDHT, honestAddress) = try dhtHost(seed: 11)
    defer {
        for dht in [ourDHT, honestDHT] { dht.close() }
        for host in [ours, honest] { host.close() }
    }
    var random = SeededRandom(seed: 12)
    var flood = ProtobufWriter()
    flood.varint(1, KademliaMessage.MessageType.findNode.rawValue)
    for _ in 0..<1_000 {
        let peer = PeerID(publicKey: LibP2PIdentity.ed25519(try Ed25519PrivateKey(seed: random.bytes(32))).publicKey)
        flood.bytes(8, KademliaPeerInfo(id: peer, addresses: []).encoded())
    }
    let answers: [[UInt8]] = [frame(flood.bytes), frame([0xFF, 0xFF, 0xFF, 0xFF])]
    var liars: [P2PHost] = []
    defer { for liar in liars { liar.close() } }
    for answer in answers {
        let liar = try P2PHost(identity: .ed25519(.generate()))
        let address = try liar.listen(try Multiaddr("/ip4/127.0.0.1/tcp/0"))
        liar.handle(KademliaMessage.protocolID) { stream in
            _ = try? await stream.read(maxBytes: 1 << 16)
            try? await stream.write(answer)
            await stream.closeWrite()
        }
        liars.append(liar)
        let outcome = await ourDHT.bootstrap([KademliaPeerInfo(id: liar.peerID, addresses: [address])])
        #expect(!outcome.result.closest.contains(liar.peerID), "a liar counted as having answered")
        let dropped = try await onOwnThread { poll { !ours.connectedPeersBlocking().contains(liar.peerID) } }
        #expect(dropped, "the liar is still connected")
    }
    #expect(logs.contains("more than 100 peers") && logs.contains("malformed protobuf"))
    let joined = await ourDHT.bootstrap([KademliaPeerInfo(id: honest.peerID, addresses: [honestAddress])])
    #expect(joined.result.found)
    #expect(joined.result.closest.contains(honest.peerID))
}
