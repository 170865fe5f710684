import Codec
import Crypto
import Foundation
import Runtime
import Synchronization
import TestSupport
import Testing

@testable import P2P

/// What one host's gossip delivered, by payload.
private final class Deliveries: Sendable {
    let list = Mutex<[String]>([])
    func add(_ delivery: Gossip.Delivery) {
        list.withLock { $0.append(String(decoding: delivery.message.data, as: UTF8.self)) }
    }
    var all: [String] { list.withLock { $0 } }
}

private func gossipHost(
    seed: UInt64, logs: LogLines? = nil, validators: [String: Gossip.Validator] = [:]
) throws -> (P2PHost, Gossip, Deliveries, Multiaddr) {
    let host = try P2PHost(identity: .ed25519(.generate()), logger: logs?.logger ?? .discarding)
    let address = try host.listen(try Multiaddr("/ip4/127.0.0.1/tcp/0"))
    let deliveries = Deliveries()
    let gossip = Gossip(
        host: host, validators: validators, random: SeededRandom(seed: seed),
        logger: logs.map { Logger(module: "gossip", sink: $0.logger.sink) } ?? .discarding
    ) { deliveries.add($0) }
    return (host, gossip, deliveries, address)
}

/// Three real hosts in a line, A — B — C: what A publishes reaches B and C once each, and what C publishes
/// reaches A through B; a topic's validator that rejects keeps a message from being delivered or forwarded.
@Test(.timeLimit(.minutes(3))) func threeHostsInALineDeliverOnceAndValidatorsGateForwarding() async throws {
    let topic = "/openledger/test/line"
    let guarded = "/openledger/test/guarded"
    let reject: Gossip.Validator = { message, _ in message.data.first == UInt8(ascii: "x") ? .reject : .accept }
    let (hostA, gossipA, deliveredA, addressA) = try gossipHost(seed: 1)
    let (hostB, gossipB, deliveredB, _) = try gossipHost(seed: 2, validators: [guarded: reject])
    let (hostC, gossipC, deliveredC, addressC) = try gossipHost(seed: 3)
    defer {
        for gossip in [gossipA, gossipB, gossipC] { gossip.close() }
        for host in [hostA, hostB, hostC] { host.close() }
    }
    for gossip in [gossipA, gossipB, gossipC] {
        gossip.subscribe(topic)
        gossip.subscribe(guarded)
    }
    _ = try await hostB.connect(addressA)
    _ = try await hostB.connect(addressC)
    // Both ends of B's links know each other's subscriptions once a probe from each end crosses the line.
    var crossed = false
    for round in 0..<50 where !crossed {
        gossipA.publish(topic: topic, data: Array("probe-a-\(round)".utf8))
        gossipC.publish(topic: topic, data: Array("probe-c-\(round)".utf8))
        crossed = try await onOwnThread {
            poll(timeout: 2) {
                deliveredC.all.contains("probe-a-\(round)") && deliveredA.all.contains("probe-c-\(round)")
            }
        }
    }
    try #require(crossed, "no probe crossed the line")
    for index in 0..<100 { gossipA.publish(topic: topic, data: Array("a\(index)".utf8)) }
    for index in 0..<100 { gossipC.publish(topic: topic, data: Array("c\(index)".utf8)) }
    gossipA.publish(topic: guarded, data: Array("x-rejected".utf8))
    gossipA.publish(topic: guarded, data: Array("ok-accepted".utf8))
    let all = try await onOwnThread {
        poll {
            deliveredC.all.contains("ok-accepted") && (0..<100).allSatisfy { deliveredC.all.contains("a\($0)") }
                && (0..<100).allSatisfy { deliveredA.all.contains("c\($0)") }
        }
    }
    #expect(all, "A: \(deliveredA.all.count), C: \(deliveredC.all.count)")
    for (name, delivered, prefix) in [("B", deliveredB, "a"), ("C", deliveredC, "a"), ("A", deliveredA, "c")] {
        let ours = delivered.all.filter { $0.hasPrefix(prefix) && !$0.hasPrefix("probe") }
        #expect(ours.count == 100 && Set(ours).count == 100, "\(name) got \(ours.count), \(Set(ours).count) distinct")
    }
    #expect(!deliveredB.all.contains("x-rejected") && !deliveredC.all.contains("x-rejected"))
    #expect(gossipB.router.counters.rejected == 1)
    #expect(gossipB.version(of: hostA.peerID) == .v12)
}

/// A peer that breaks the protocol on a gossipsub stream loses its connection, and the host logs why.
///
/// The cases: a frame that is not an RPC, a length prefix over the RPC bound, messages with bad signatures, messages on topics
/// nobody knows. A good peer connected all along keeps receiving.
@Test(.timeLimit(.minutes(3))) func hostileGossipPeersAreDisconnectedWithAReason() async throws {
    let logs = LogLines()
    let topic = "/openledger/test/hostile"
    let (server, gossip, _, address) = try gossipHost(seed: 9, logs: logs)
    defer {
        gossip.close()
        server.close()
    }
    gossip.subscribe(topic)
    let (goodHost, goodGossip, goodDelivered, _) = try gossipHost(seed: 10)
    defer {
        goodGossip.close()
        goodHost.close()
    }
    goodGossip.subscribe(topic)
    _ = try await goodHost.connect(address)

    let author = LibP2PIdentity.ed25519(.generate())
    func signedMessage(topic: String, data: [UInt8], seqno: UInt64, forge: Bool) -> GossipsubMessage {
        var message = GossipsubMessage(
            from: author.peerID.multihash.bytes, data: data,
            seqno: (0..<8).map { UInt8(truncatingIfNeeded: seqno >> (56 - 8 * $0)) },
            topic: topic)
        guard case .ed25519(let key) = author else { return message }
        var signature = key.signature(for: message.signingBytes)
        if forge { signature[0] ^= 1 }
        message.signature = signature
        return message
    }
    func frame(_ body: [UInt8]) -> [UInt8] { Varint.encode(UInt64(body.count)) + body }
    let cases: [(name: String, reason: String, frames: [[UInt8]])] = [
        ("malformed protobuf", "malformed protobuf", [frame([0x0A, 0xFF, 0xFF, 0xFF, 0x0F, 1, 2, 3])]),
        ("oversized RPC", "RPC of 8388608 bytes exceeds", [Varint.encode(UInt64(8 << 20))]),
        (
            "invalid signatures", "invalid message signature",
            (0..<30).map { index in
                frame(
                    GossipsubRPC(messages: [signedMessage(topic: topic, data: [1], seqno: UInt64(index), forge: true)])
                        .encoded())
            }
        ),
        (
            "unknown topics", "unknown topic",
            (0..<30).map { index in
                frame(
                    GossipsubRPC(messages: [
                        signedMessage(topic: "/nobody/\(index)", data: [2], seqno: UInt64(index), forge: false)
                    ]).encoded())
            }
        ),
    ]
    for (index, hostileCase) in cases.enumerated() {
        let evil = try P2PHost(identity: .ed25519(.generate()))
        defer { evil.close() }
        let gone = Mutex(false)
        evil.observePeers { if case .disconnected = $0 { gone.withLock { $0 = true } } }
        let peer = try await evil.connect(address)
        let stream = try await evil.newStream(to: peer, protocols: [GossipsubVersion.v11.rawValue])
        for bytes in hostileCase.frames { try? await stream.write(bytes) }
        let dropped = try await onOwnThread { poll { gone.withLock { $0 } } }
        #expect(dropped, "\(hostileCase.name): still connected")
        #expect(
            logs.contains("gossipsub: ") && logs.contains(hostileCase.reason),
            "\(hostileCase.name): no '\(hostileCase.reason)' in the log")
        // The good peer still hears the server (probes until the first arrives: its subscription may still be on
        // its way at the first case).
        var heard = false
        for attempt in 0..<30 where !heard {
            gossip.publish(topic: topic, data: Array("still-\(index)-\(attempt)".utf8))
            heard = try await onOwnThread {
                poll(timeout: 2) { goodDelivered.all.contains("still-\(index)-\(attempt)") }
            }
        }
        #expect(heard, "after \(hostileCase.name) the good peer heard nothing")
    }
}
