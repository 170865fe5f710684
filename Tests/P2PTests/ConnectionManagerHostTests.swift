import Codec
import Crypto
import Foundation
import Runtime
import Synchronization
import TestSupport
import Testing

@testable import P2P

// The connection manager on real hosts over loopback TCP. The trimming host runs on a manual clock, so that which
// peers are past their grace period, and when the trim timer fires, is up to the test; its idle and stall timeouts
// are set far beyond the times the test steps to.

/// A host config with the given watermarks, on a clock that only the test moves.
private func managedConfig(low: Int, high: Int, grace: Double, trimEvery: Double) -> HostConfig {
    var config = HostConfig()
    config.connectionManager.lowWater = low
    config.connectionManager.highWater = high
    config.connectionManager.gracePeriod = grace
    config.connectionManager.trimInterval = trimEvery
    config.idleTimeout = 100_000
    config.stallTimeout = 100_000
    return config
}

/// Connects `client` to `address` and waits until `server` has identified it (so that no stream of the upgrade is
/// still negotiating when the test moves the server's clock).
private func join(_ client: P2PHost, _ address: Multiaddr, server: P2PHost) async throws {
    try await client.connect(address)
    #expect(await server.peerStore.identified(client.peerID) != nil)
}

/// Twelve clients on a host with watermarks 4/8: the trim timer closes eight of them with the reason logged,
/// keeping the two protected peers, the one with a tag weight and the one still in its grace period; the kept
/// ones still ping, and a trimmed one reconnects.
@Test(.timeLimit(.minutes(4))) func aHostOverItsHighWatermarkTrimsToTheLowOne() async throws {
    let logs = LogLines()
    let clock = ManualClock()
    let server = try P2PHost(
        identity: .ed25519(.generate()), config: managedConfig(low: 4, high: 8, grace: 30, trimEvery: 40),
        logger: logs.logger, clock: clock)
    let address = try server.listen(try Multiaddr("/ip4/127.0.0.1/tcp/0"))
    let clients = try (0..<12).map { _ in try P2PHost(identity: .ed25519(.generate())) }
    defer {
        for client in clients { client.close() }
        server.close()
    }
    for client in clients[0..<11] { try await join(client, address, server: server) }
    server.connectionManager.protect(clients[0].peerID, tag: "dht-closest")
    server.connectionManager.protect(clients[1].peerID, tag: "test")
    server.connectionManager.tag(clients[2].peerID, "useful", weight: 10)
    #expect(server.connectionManager.isProtected(clients[0].peerID))
    #expect(server.connectionManager.value(of: clients[2].peerID) == 10)

    // t = 31: the first eleven are past their grace period; the twelfth arrives inside its own.
    clock.advance(seconds: 31)
    try await join(clients[11], address, server: server)
    await server.loopBarrier()
    #expect(server.connectionManager.openConnections == 12, "nothing is trimmed before the timer")

    // t = 41: the trim timer (every 40 s) is due; the loop runs it on its next pass.
    clock.advance(seconds: 10)
    await server.loopBarrier()
    let kept = [clients[0], clients[1], clients[2], clients[11]]
    let trimmed = Array(clients[3..<11])
    let settled = try await onOwnThread {
        poll { server.connectionCount == 4 && trimmed.allSatisfy { $0.connectionCount == 0 } }
    }
    #expect(settled, "open: \(server.connectionCount); clients still connected: \(clients.map(\.connectionCount))")
    #expect(Set(await server.connectedPeers()) == Set(kept.map(\.peerID)))
    #expect(server.connectionManager.openConnections == 4)
    let reason = "connection manager: trimmed (12 connections over the high watermark 8, down to 4"
    for client in trimmed {
        #expect(logs.contains("closing \(client.peerID): \(reason)"), "no trim logged for \(client.peerID)")
        #expect(logs.contains("/p2p/\(client.peerID) closed: \(reason)"), "no close logged for \(client.peerID)")
    }
    #expect(logs.contains("connection manager trimming 8 peers"))

    // The hosts keep working: the kept peers ping, a trimmed peer comes back, and a later trim leaves them be.
    for client in kept { #expect(try await client.ping(server.peerID, count: 3).count == 3) }
    try await join(trimmed[0], address, server: server)
    #expect(try await trimmed[0].ping(server.peerID, count: 3).count == 3)
    clock.advance(seconds: 40)
    await server.loopBarrier()
    await server.loopBarrier()
    #expect(server.connectionCount == 5, "5 is under the high watermark")
    #expect(server.connectionManager.openConnections == 5)
}

/// With a per-IP limit of 3 (loopback not exempt), a fourth connection from 127.0.0.1 is refused on accept with
/// the reason logged; once one of the three leaves, another is admitted.
@Test(.timeLimit(.minutes(3))) func thePerIPLimitRefusesTheExcessFromOneAddress() async throws {
    let logs = LogLines()
    var config = HostConfig()
    config.connectionManager.maxConnectionsPerIP = 3
    config.connectionManager.exemptLoopback = false
    let server = try P2PHost(identity: .ed25519(.generate()), config: config, logger: logs.logger)
    let address = try server.listen(try Multiaddr("/ip4/127.0.0.1/tcp/0"))
    let clients = try (0..<5).map { _ in try P2PHost(identity: .ed25519(.generate())) }
    defer {
        for client in clients { client.close() }
        server.close()
    }
    for client in clients[0..<3] { try await client.connect(address) }
    await #expect(throws: (any Error).self) { try await clients[3].connect(address) }
    await logs.waitFor("refused a connection from 127.0.0.1")
    #expect(logs.contains("connection manager: 3 connections from 127.0.0.1 already (limit 3)"))
    await server.loopBarrier()
    #expect(server.connectionCount == 3)
    #expect(server.connectionManager.snapshot.connections(withIP: "127.0.0.1") == 3)

    clients[0].close()
    let freed = try await onOwnThread {
        poll { server.connectionManager.snapshot.connections(withIP: "127.0.0.1") == 2 }
    }
    #expect(freed)
    let peer = try await clients[4].connect(address)
    #expect(try await clients[4].ping(peer, count: 2).count == 2)
    #expect(server.connectionManager.snapshot.connections(withIP: "127.0.0.1") == 3)
}

/// Gossip protects its mesh: four gossip peers and three plain ones on a host with watermarks 2/4; once the
/// heartbeat has put the four in the mesh, a trim closes only the plain ones (the protected four keep the host over
/// the low watermark), and gossip still delivers.
@Test(.timeLimit(.minutes(4))) func gossipMeshPeersAreProtectedFromTrims() async throws {
    let topic = "/openledger/test/connmgr"
    let logs = LogLines()
    let clock = ManualClock()
    let server = try P2PHost(
        identity: .ed25519(.generate()), config: managedConfig(low: 2, high: 4, grace: 1_000, trimEvery: 2_000),
        logger: logs.logger, clock: clock)
    let address = try server.listen(try Multiaddr("/ip4/127.0.0.1/tcp/0"))
    let heard = Mutex<[String]>([])
    let serverGossip = Gossip(host: server, random: SeededRandom(seed: 1), logger: .discarding) { delivery in
        heard.withLock { $0.append(String(decoding: delivery.message.data, as: UTF8.self)) }
    }
    serverGossip.subscribe(topic)
    let members = try (0..<4).map { _ in try P2PHost(identity: .ed25519(.generate())) }
    let plain = try (0..<3).map { _ in try P2PHost(identity: .ed25519(.generate())) }
    let gossips = members.enumerated().map { index, host in
        Gossip(host: host, random: SeededRandom(seed: 10 + UInt64(index)), logger: .discarding) { _ in }
    }
    defer {
        for gossip in gossips + [serverGossip] { gossip.close() }
        for host in members + plain + [server] { host.close() }
    }
    for gossip in gossips { gossip.subscribe(topic) }
    for client in members + plain { try await join(client, address, server: server) }

    // Heartbeats (every second of the server's clock) graft the members and protect them.
    var meshed = false
    for _ in 0..<200 where !meshed {
        clock.advance(seconds: 1)
        await server.loopBarrier()
        meshed = try await onOwnThread {
            poll(timeout: 1) { members.allSatisfy { server.connectionManager.isProtected($0.peerID) } }
        }
    }
    try #require(meshed, "the members never all joined the mesh: \(serverGossip.router.meshPeers(topic))")
    #expect(Set(serverGossip.router.meshPeers(topic)) == Set(members.map(\.peerID)))
    #expect(plain.allSatisfy { !server.connectionManager.isProtected($0.peerID) })

    // Past the grace period and the trim timer: only the plain peers go.
    clock.advance(seconds: 2_000)
    await server.loopBarrier()
    let settled = try await onOwnThread { poll { server.connectionCount == 4 } }
    #expect(settled, "open: \(server.connectionCount)")
    #expect(Set(await server.connectedPeers()) == Set(members.map(\.peerID)))
    for client in plain { #expect(logs.contains("closing \(client.peerID): connection manager: trimmed")) }

    // The mesh still carries messages to the trimming host.
    var delivered = false
    for attempt in 0..<30 where !delivered {
        gossips[attempt % gossips.count].publish(topic: topic, data: Array("after-trim-\(attempt)".utf8))
        delivered = try await onOwnThread { poll(timeout: 2) { heard.withLock { !$0.isEmpty } } }
    }
    #expect(delivered, "no message reached the trimming host after the trim")

    // Closing gossip lifts its protections.
    serverGossip.close()
    #expect(members.allSatisfy { !server.connectionManager.isProtected($0.peerID) })
}
