import Codec
import Crypto
import Foundation
import Runtime
import Synchronization
import TestSupport
import Testing

@testable import P2P

/// py-libp2p with an RSA identity (libp2p.crypto.rsa, kubo's default key type) dials our host, which has an RSA
/// identity too: the Noise handshake verifies both PKCS#1 v1.5 signatures, identify gives py-libp2p our PKIX key
/// and a signed peer record, and pings and a 1 MiB echo go through.
@Test(.integration, .timeLimit(.minutes(3))) func pyLibp2pRSADialsOurRSAHost() async throws {
    guard let python = Fixtures.python() else { return }
    let host = try P2PHost(identity: .rsa(try .generate()))
    defer { host.close() }
    host.handle(EchoProtocol.protocolID) { await EchoProtocol.serve($0) }
    let address = try host.listen(try Multiaddr("/ip4/127.0.0.1/tcp/0"))
    #expect(host.identity.peerID.description.hasPrefix("Qm"))
    let arguments = [
        Fixtures.packageRoot.appendingPathComponent("tools/interop/p2p_peer.py").path, "dial",
        "\(address)/p2p/\(host.identity.peerID)", "--pings", "20", "--payload-mib", "1", "--key-type", "rsa",
    ]
    let (status, output, errors) = try await onOwnThread { () throws -> (Int32, String, String) in
        let dialer = try ChildProcess(python, arguments)
        let status = dialer.wait(timeout: 150)
        return (status, dialer.output, dialer.errors)
    }
    #expect(status == 0, "py-libp2p dial failed: \(errors.suffix(3_000))")
    let last = output.split(separator: "\n").last.map(String.init) ?? ""
    let report = try Fixtures.json(Data(last.utf8)) as? [String: Any]
    #expect(report?["ok"] as? Bool == true)
    #expect(report?["pings"] as? Int == 20)
    #expect(report?["echo_bytes"] as? Int == 1 << 20)
    let identify = report?["identify"] as? [String: Any]
    #expect(identify?["public_key_type"] as? String == "RSA")
    #expect(identify?["public_key_matches"] as? Bool == true)
    #expect(identify?["has_signed_peer_record"] as? Bool == true)
    // The dialer is an RSA peer: its peer id hashes its key, which our host learnt and checked.
    let dialer = try PeerID(string: report?["peer_id"] as? String ?? "")
    #expect(dialer.description.hasPrefix("Qm") && dialer.publicKey == nil)
    let key = try #require(host.peerStore.record(dialer)?.publicKey)
    #expect(key.type == .rsa && PeerID(publicKey: key) == dialer)
}

/// Our RSA host dials a py-libp2p RSA listener: the peer id it reaches is the hashed one in the address, identify
/// carries the listener's RSA key and a signed peer record that verifies, and pings and an echo go through.
@Test(.integration, .timeLimit(.minutes(3))) func weDialAPyLibp2pRSAListener() async throws {
    guard let python = Fixtures.python() else { return }
    let listener = try ChildProcess(
        python,
        [Fixtures.packageRoot.appendingPathComponent("tools/interop/p2p_peer.py").path, "listen", "--key-type", "rsa"])
    let line = try await onOwnThread { try listener.firstLine() }
    let address = try Multiaddr(line)
    let expected = try #require(address.peerID)
    #expect(expected.description.hasPrefix("Qm") && expected.publicKey == nil)
    let host = try P2PHost(identity: .rsa(try .generate()))
    defer { host.close() }
    let peer = try await host.connect(address)
    #expect(peer == expected)
    let identify = try await host.identify(peer)
    #expect(identify.agentVersion?.hasPrefix("py-libp2p") == true)
    let key = try #require(identify.publicKey)
    #expect(key.type == .rsa && PeerID(publicKey: key) == peer)
    #expect(try RSAPublicKey(derRepresentation: key.data).bits == 2048)
    // py-libp2p's envelope leaves out the RSA key type (proto3 omits the zero); the record still opens.
    let envelope = try #require(identify.signedPeerRecord)
    #expect(try SignedPeerRecord(envelope: envelope).peer == peer)
    let signed = try #require(host.peerStore.record(peer)?.signedRecord)
    #expect(signed.peer == peer && !signed.addresses.isEmpty)
    let times = try await host.ping(peer, count: 20)
    #expect(times.count == 20)
    let payload = bulkPayload(1 << 20, seed: 5)
    let stream = try await host.newStream(to: peer, protocols: [EchoProtocol.protocolID])
    let echoed = try await echoRoundTrip(stream, payload)
    #expect(SHA256.hash(echoed) == SHA256.hash(payload))
    #expect(listener.process.isRunning)
}

/// What our gossip delivered: payload and author.
private final class RSADeliveries: Sendable {
    let list = Mutex<[(data: String, from: PeerID, key: [UInt8]?)]>([])
    func add(_ delivery: Gossip.Delivery) {
        let message = delivery.message
        guard let author = try? PeerID(multihashBytes: message.from ?? []) else { return }
        list.withLock { $0.append((String(decoding: message.data, as: UTF8.self), author, message.key)) }
    }
    var all: [(data: String, from: PeerID, key: [UInt8]?)] { list.withLock { $0 } }
}

/// Gossipsub StrictSign between RSA authors, as kubo's pubsub signs: a py-libp2p peer with an RSA identity and our
/// host with one exchange messages both ways; each side verifies the other's signatures with the key carried in
/// the message's `key` field, since neither peer id holds its key.
@Test(.integration, .timeLimit(.minutes(3))) func gossipsubBetweenRSAAuthorsWithPyLibp2p() async throws {
    guard let python = Fixtures.python() else { return }
    let topic = "/openledger/interop/rsa"
    let host = try P2PHost(identity: .rsa(try .generate()))
    let address = try host.listen(try Multiaddr("/ip4/127.0.0.1/tcp/0"))
    let delivered = RSADeliveries()
    let gossip = Gossip(host: host, random: SeededRandom(seed: 41), logger: .discarding) { delivered.add($0) }
    defer {
        gossip.close()
        host.close()
    }
    gossip.subscribe(topic)
    let script = Fixtures.packageRoot.appendingPathComponent("tools/interop/gossip_peer.py").path
    let py = try ChildProcess(
        python, [script, "--topic", topic, "--connect", "\(address)/p2p/\(host.identity.peerID)", "--key-type", "rsa"])
    let ready = try await onOwnThread {
        poll { py.output.contains("\"ready\": true") || !py.process.isRunning }
    }
    try #require(ready && py.output.contains("\"ready\": true"), "py-libp2p never ready: \(py.errors.suffix(3_000))")
    py.write("burst 20 py 20\n")
    for index in 0..<20 { gossip.publish(topic: topic, data: Array("ours\(index)".utf8)) }
    let all = try await onOwnThread {
        poll {
            let ours = delivered.all.map(\.data)
            return (0..<20).allSatisfy { ours.contains("py\($0)") }
                && (0..<20).allSatisfy { py.output.contains("\"data\": \"ours\($0)\"") }
        }
    }
    #expect(all, "we got \(delivered.all.count), py-libp2p: \(py.output.suffix(1_000)) \(py.errors.suffix(2_000))")
    // Their messages: an RSA author whose key came in the `key` field and hashes to its peer id.
    let theirs = delivered.all.filter { $0.data.hasPrefix("py") }
    let author = try #require(theirs.first?.from)
    #expect(author.description.hasPrefix("Qm") && Set(theirs.map(\.from)) == [author])
    let key = try LibP2PPublicKey(protobuf: try #require(theirs.first?.key))
    #expect(key.type == .rsa && PeerID(publicKey: key) == author)
    // Ours, as py-libp2p saw them: from our hashed peer id.
    let ourLines = py.output.split(separator: "\n").filter { $0.contains("\"data\": \"ours") }
    #expect(ourLines.count == 20)
    #expect(ourLines.allSatisfy { $0.contains("\"from\": \"\(host.identity.peerID)\"") })
    py.write("quit\n")
}
