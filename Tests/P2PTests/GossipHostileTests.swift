import Codec
import Foundation
import Runtime
import TestSupport
import Testing

@testable import P2P

/// 1,000 connections that open a gossipsub stream and send messages on topics nobody knows: while all are held
/// the host's memory stays bounded; as each goes on past the router's violation bound it is dropped with the
/// reason; a good gossip peer connected all along still hears the host.
@Test(.timeLimit(.minutes(5))) func aThousandHostileGossipConnectionsStayBoundedAndAreDropped() async throws {
    let logs = LogLines()
    let (server, port) = try hostileServer(logs) { $0.maxConnections = 2_000 }
    let topic = "/openledger/test/bounded"
    let gossip = Gossip(
        host: server, random: SeededRandom(seed: 1_000), logger: Logger(module: "gossip", sink: logs.logger.sink)
    ) { _ in }
    gossip.subscribe(topic)
    let good = try P2PHost(identity: .ed25519(.generate()))
    let heard = LogLines()
    let goodGossip = Gossip(host: good, random: SeededRandom(seed: 1_001), logger: .discarding) { delivery in
        heard.append(String(decoding: delivery.message.data, as: UTF8.self))
    }
    defer {
        goodGossip.close()
        gossip.close()
        good.close()
        server.close()
    }
    goodGossip.subscribe(topic)
    _ = try await good.connect(server.listenAddresses[0])

    // One RPC frame with one unsigned message on a topic nobody knows: each costs a protocol violation.
    var writer = ProtobufWriter()
    writer.bytes(2, GossipsubMessage(from: nil, data: [7], seqno: nil, topic: "/nobody").encoded())
    let rpc = writer.bytes
    let frame = Varint.encode(UInt64(rpc.count)) + rpc
    let negotiation =
        MultistreamSelect.encode(MultistreamSelect.protocolID) + MultistreamSelect.encode(GossipsubVersion.v11.rawValue)
    let opening = negotiation + Array(Array(repeating: frame, count: 10).joined())
    let first = YamuxFrame(type: .data, flags: .syn, streamID: 1, length: UInt32(opening.count)).header + opening
    let rest = Array(Array(repeating: frame, count: 20).joined())
    let second = YamuxFrame(type: .data, flags: [], streamID: 1, length: UInt32(rest.count)).header + rest
    let before = residentMegabytes()
    let peers = try await onOwnThread {
        var peers: [HostilePeer] = []
        for index in 0..<1_000 {
            guard let peer = HostilePeer(port: port, timeout: 60) else {
                throw P2PError.dialFailed("hostile peer \(index)")
            }
            try peer.upgrade()
            // Under the violation bound: the connection stays, with its router state.
            peer.sendPlain(first)
            peers.append(peer)
        }
        return Handed(peers)
    }
    #expect(peers.value.count == 1_000)
    await server.loopBarrier()
    let during = residentMegabytes()
    #expect(server.connectionCount == 1_001)
    // Past the bound: every one is dropped.
    let closed = try await onOwnThread {
        for peer in peers.value { peer.sendPlain(second) }
        return peers.value.map { $0.closed() }
    }
    for (index, wasClosed) in closed.enumerated() { #expect(wasClosed, "hostile peer \(index) stays open") }
    #expect(logs.contains("too many protocol violations") && logs.contains("unknown topic"))
    await server.loopBarrier()
    #expect(server.connectionCount == 1)
    #expect(during - before < 200, "resident memory grew \(during - before) MB with 1,000 hostile gossip peers")
    var delivered = false
    for attempt in 0..<30 where !delivered {
        gossip.publish(topic: topic, data: Array("after-\(attempt)".utf8))
        delivered = try await onOwnThread { poll(timeout: 2) { heard.contains("after-\(attempt)") } }
    }
    #expect(delivered, "the good peer heard nothing after the hostile ones")
}
