import Codec
import Crypto
import Runtime
import TestSupport
import Testing

@testable import P2PProtocols

// The connection manager's policy stepped with explicit instants: watermarks, the trim order, the grace period,
// the per-IP limit, protections and tags, and the bounds on its state.

private func peer(_ seed: UInt64) -> PeerID {
    var random = SeededRandom(seed: seed)
    return LibP2PIdentity.ed25519(try! Ed25519PrivateKey(seed: random.bytes(32))).peerID
}

private func at(_ seconds: Double) -> Instant { Instant(seconds: seconds) }

private func config(low: Int = 4, high: Int = 8, grace: Double = 20) -> ConnectionManagerConfig {
    var config = ConnectionManagerConfig()
    config.lowWater = low
    config.highWater = high
    config.gracePeriod = grace
    return config
}

/// A policy and the connections a test opened on it, with ids handed out in order.
private struct Bench {
    var policy: ConnectionManagerPolicy
    var nextID: UInt64 = 1

    init(_ config: ConnectionManagerConfig) { policy = ConnectionManagerPolicy(config: config) }

    /// Opens and connects one connection to `peer` at `now`; returns its id.
    @discardableResult
    mutating func connect(
        _ peer: PeerID, ip: String? = nil, outbound: Bool = false, at now: Instant
    ) -> UInt64 {
        let id = nextID
        nextID += 1
        // Each connection from an address of its own unless the test names one: the per-IP limit stays out of it.
        let ip = ip ?? "10.0.\(id / 256).\(id % 256)"
        #expect(policy.on(.opened(id, ip: ip, outbound: outbound), now: now) == [])
        #expect(policy.on(.connected(id, peer: peer), now: now) == [])
        return id
    }

    /// The peers a trim at `now` closes, in order.
    mutating func trim(at now: Instant) -> [PeerID] {
        policy.on(.trim, now: now).compactMap { action in
            guard case .close(let peer, .trimmed) = action else {
                Issue.record("unexpected action \(action)")
                return nil
            }
            return peer
        }
    }
}

/// Twelve peers over high 8 are trimmed to low 4: the protected ones, the one in its grace period and the one
/// with the highest tag weight stay; the reason names the count and the watermarks.
@Test func aTrimOverTheHighWatermarkClosesTheLeastUsefulDownToTheLowOne() {
    var bench = Bench(config())
    let peers = (0..<12).map { peer(100 + UInt64($0)) }
    for index in 0..<11 { bench.connect(peers[index], at: at(Double(index))) }
    bench.connect(peers[11], at: at(50))
    _ = bench.policy.on(.protect(peers[0], tag: "dht-closest"), now: at(50))
    _ = bench.policy.on(.protect(peers[1], tag: "gossip-mesh"), now: at(50))
    #expect(bench.policy.on(.tag(peers[2], tag: "useful", weight: 10), now: at(50)) == [])
    #expect(bench.policy.openConnections == 12)

    let actions = bench.policy.on(.trim, now: at(60))
    #expect(actions.count == 8)
    #expect(
        actions.first == .close(peers[10], .trimmed(open: 12, lowWater: 4, highWater: 8, value: 0)),
        "the newest of the weightless peers out of grace goes first")
    #expect(
        "\(ConnectionManagerPolicy.CloseReason.trimmed(open: 12, lowWater: 4, highWater: 8, value: 0))".contains(
            "12 connections over the high watermark 8"))
    let closed = Set(actions.compactMap { if case .close(let peer, _) = $0 { peer } else { nil } })
    #expect(closed == Set(peers[3...10]))
    #expect(bench.policy.openConnections == 4)
    // Closing peers are not chosen twice, and at the watermark nothing more happens.
    #expect(bench.policy.on(.trim, now: at(61)) == [])
    for id in 4...11 { _ = bench.policy.on(.disconnected(UInt64(id)), now: at(62)) }
    #expect(bench.policy.openConnections == 4)
    #expect(bench.policy.connectedPeers == 4)
}

@Test func nothingIsTrimmedAtOrBelowTheHighWatermark() {
    var bench = Bench(config())
    for index in 0..<8 { bench.connect(peer(UInt64(index)), at: at(0)) }
    #expect(bench.trim(at: at(1_000)).isEmpty)
    bench.connect(peer(8), at: at(0))
    #expect(bench.trim(at: at(1_000)).count == 5)
}

/// Equal weights: inbound before outbound, then the newest first, then by peer id bytes.
@Test func theTrimOrderIsValueThenDirectionThenAgeThenPeerID() {
    var bench = Bench(config(low: 0, high: 0, grace: 0))
    let inboundOld = peer(1)
    let inboundNew = peer(2)
    let outboundOld = peer(3)
    let outboundNew = peer(4)
    let valued = peer(5)
    let negative = peer(6)
    let twinA = peer(7)
    let twinB = peer(8)
    bench.connect(valued, at: at(0))
    bench.connect(outboundOld, outbound: true, at: at(1))
    bench.connect(inboundOld, at: at(2))
    bench.connect(outboundNew, outbound: true, at: at(3))
    bench.connect(inboundNew, at: at(4))
    bench.connect(negative, outbound: true, at: at(5))
    bench.connect(twinA, at: at(6))
    bench.connect(twinB, at: at(6))
    _ = bench.policy.on(.tag(valued, tag: "a", weight: 3), now: at(7))
    _ = bench.policy.on(.tag(negative, tag: "a", weight: -1), now: at(7))
    let twins = [twinA, twinB].sorted { $0.multihash.bytes.lexicographicallyPrecedes($1.multihash.bytes) }
    #expect(
        bench.trim(at: at(10)) == [negative] + twins + [inboundNew, inboundOld, outboundNew, outboundOld, valued])
}

/// Peers inside their grace period stay even when that leaves the host over the low watermark; once the grace
/// has passed, the next trim closes them.
@Test func peersInTheirGracePeriodAreNotTrimmed() {
    var bench = Bench(config(low: 2, high: 4, grace: 20))
    let old = (0..<2).map { peer(10 + UInt64($0)) }
    let fresh = (0..<4).map { peer(20 + UInt64($0)) }
    for peer in old { bench.connect(peer, at: at(0)) }
    for peer in fresh { bench.connect(peer, at: at(30)) }
    #expect(Set(bench.trim(at: at(49.9))) == Set(old))
    #expect(bench.policy.openConnections == 4)
    #expect(!bench.policy.isTrimmable(fresh[0], now: at(49.9)))
    #expect(bench.policy.isTrimmable(fresh[0], now: at(50)))
    #expect(bench.trim(at: at(50)).isEmpty, "4 is not over the high watermark")
    bench.connect(peer(30), at: at(50))
    #expect(bench.trim(at: at(50)).count == 3, "three of the four past their grace go, down to 2; the newcomer stays")
    #expect(bench.policy.openConnections == 2)
}

/// A peer's connections all count; a trim closes all of them, and a peer that reconnects while its close is under
/// way counts again.
@Test func everyConnectionOfAPeerCountsAndATrimClosesThemAll() {
    var bench = Bench(config(low: 2, high: 3, grace: 0))
    let busy = peer(1)
    let quiet = peer(2)
    let ids = (0..<3).map { _ in bench.connect(busy, at: at(5)) }
    bench.connect(quiet, outbound: true, at: at(0))
    #expect(bench.policy.openConnections == 4)
    #expect(bench.trim(at: at(10)) == [busy], "three connections of the newer inbound peer go at once")
    #expect(bench.policy.openConnections == 1)
    _ = bench.policy.on(.disconnected(ids[0]), now: at(11))
    #expect(bench.policy.openConnections == 1, "a closing peer's connections no longer count")
    bench.connect(busy, at: at(12))
    #expect(bench.policy.openConnections == 4, "back: its two closing and its new connection count again")
    for id in ids[1...] { _ = bench.policy.on(.disconnected(id), now: at(13)) }
    #expect(bench.policy.openConnections == 2)
    #expect(bench.policy.connectedPeers == 2)
}

@Test func inboundConnectionsPastThePerIPLimitAreRefused() {
    var limits = config()
    limits.maxConnectionsPerIP = 2
    var policy = ConnectionManagerPolicy(config: limits)
    let now = at(0)
    #expect(policy.on(.opened(1, ip: "10.1.1.1", outbound: false), now: now) == [])
    #expect(policy.on(.opened(2, ip: "10.1.1.1", outbound: true), now: now) == [])
    #expect(
        policy.on(.opened(3, ip: "10.1.1.1", outbound: false), now: now)
            == [.refuse(3, .perIPLimit(ip: "10.1.1.1", open: 2, limit: 2))])
    #expect(policy.connections(withIP: "10.1.1.1") == 2, "the refused one is not counted")
    #expect(policy.on(.opened(4, ip: "10.1.1.1", outbound: true), now: now) == [], "our own dials are not refused")
    #expect(policy.on(.opened(5, ip: "10.1.1.2", outbound: false), now: now) == [])
    #expect(policy.on(.opened(6, ip: "127.0.0.1", outbound: false), now: now) == [])
    #expect(policy.on(.opened(7, ip: "127.0.0.1", outbound: false), now: now) == [])
    #expect(policy.on(.opened(8, ip: "127.0.0.1", outbound: false), now: now) == [], "loopback is exempt")
    #expect(policy.connections(withIP: "127.0.0.1") == 3)
    // Connections that never finished their upgrade free their slot too, one each.
    _ = policy.on(.disconnected(1), now: now)
    #expect(
        policy.on(.opened(9, ip: "10.1.1.1", outbound: false), now: now)
            == [.refuse(9, .perIPLimit(ip: "10.1.1.1", open: 2, limit: 2))])
    _ = policy.on(.disconnected(4), now: now)
    #expect(policy.on(.opened(10, ip: "10.1.1.1", outbound: false), now: now) == [])
    #expect(policy.connections(withIP: "10.1.1.1") == 2)

    limits.exemptLoopback = false
    var strict = ConnectionManagerPolicy(config: limits)
    _ = strict.on(.opened(1, ip: "127.0.0.1", outbound: false), now: now)
    _ = strict.on(.opened(2, ip: "127.0.0.1", outbound: false), now: now)
    #expect(
        strict.on(.opened(3, ip: "127.0.0.1", outbound: false), now: now)
            == [.refuse(3, .perIPLimit(ip: "127.0.0.1", open: 2, limit: 2))])
}

/// Protections outlive connections; `protectOnly` replaces a tag's set; weighted tags go with the last connection.
@Test func protectionsPersistAndWeightsEndWithTheConnection() {
    var bench = Bench(config(low: 0, high: 0, grace: 0))
    let a = peer(1)
    let b = peer(2)
    let c = peer(3)
    let idA = bench.connect(a, at: at(0))
    bench.connect(b, at: at(0))
    _ = bench.policy.on(.protect(a, tag: "dht-closest"), now: at(1))
    _ = bench.policy.on(.protectOnly([a, b], tag: "gossip-mesh"), now: at(1))
    #expect(bench.policy.protections(of: a) == ["dht-closest", "gossip-mesh"])
    _ = bench.policy.on(.protectOnly([a, c], tag: "gossip-mesh"), now: at(2))
    #expect(!bench.policy.isProtected(b), "b left the mesh")
    #expect(bench.policy.isProtected(c), "an unconnected peer can be protected ahead of its connection")
    #expect(bench.trim(at: at(3)) == [b])

    _ = bench.policy.on(.tag(a, tag: "w", weight: 5), now: at(3))
    #expect(bench.policy.value(of: a) == 5)
    _ = bench.policy.on(.disconnected(idA), now: at(4))
    #expect(bench.policy.isProtected(a), "the protection waits for the peer to come back")
    #expect(bench.policy.value(of: a) == 0, "weights end with the last connection")
    #expect(bench.policy.on(.tag(a, tag: "w", weight: 5), now: at(4)) == [.rejected(.notConnected(a))])
    bench.connect(a, at: at(5))
    #expect(bench.trim(at: at(100)).isEmpty, "protected at once on reconnecting")

    _ = bench.policy.on(.unprotect(a, tag: "dht-closest"), now: at(101))
    _ = bench.policy.on(.unprotect(a, tag: "gossip-mesh"), now: at(101))
    #expect(bench.trim(at: at(101)) == [a])
    _ = bench.policy.on(.protectOnly([], tag: "gossip-mesh"), now: at(102))
    #expect(bench.policy.trackedPeers == 2, "a and b (closing, still connected) are tracked; c went with its tag")
}

@Test func tagsAreBoundedAndWeightsClamped() {
    var limits = config()
    limits.maxTagsPerPeer = 2
    limits.maxTagLength = 8
    limits.maxTagWeight = 100
    var bench = Bench(limits)
    let a = peer(1)
    bench.connect(a, at: at(0))
    let now = at(1)
    #expect(bench.policy.on(.tag(a, tag: "", weight: 1), now: now) == [.rejected(.emptyTag)])
    #expect(
        bench.policy.on(.tag(a, tag: "ninechars", weight: 1), now: now)
            == [.rejected(.tagTooLong(length: 9, limit: 8))])
    #expect(
        bench.policy.on(.protect(a, tag: "ninechars"), now: now) == [.rejected(.tagTooLong(length: 9, limit: 8))])
    #expect(bench.policy.on(.tag(a, tag: "x", weight: 1_000), now: now) == [])
    #expect(bench.policy.on(.tag(a, tag: "y", weight: -5), now: now) == [])
    #expect(bench.policy.value(of: a) == 95, "1,000 counts as 100")
    #expect(bench.policy.on(.tag(a, tag: "z", weight: 1), now: now) == [.rejected(.tooManyTags(a, limit: 2))])
    #expect(bench.policy.on(.tag(a, tag: "x", weight: 7), now: now) == [], "an existing tag's weight changes")
    #expect(bench.policy.value(of: a) == 2)
    _ = bench.policy.on(.untag(a, tag: "y"), now: now)
    #expect(bench.policy.value(of: a) == 7)
    _ = bench.policy.on(.protect(a, tag: "p"), now: now)
    _ = bench.policy.on(.protect(a, tag: "q"), now: now)
    #expect(bench.policy.on(.protect(a, tag: "r"), now: now) == [.rejected(.tooManyTags(a, limit: 2))])
    #expect(bench.policy.on(.protect(a, tag: "p"), now: now) == [], "protecting twice under one tag is no new tag")
}

@Test func trackedPeersAreBounded() {
    var limits = config()
    limits.maxConnectedPeers = 2
    limits.maxUnconnectedProtected = 2
    var bench = Bench(limits)
    bench.connect(peer(1), at: at(0))
    bench.connect(peer(2), at: at(0))
    #expect(bench.policy.on(.opened(99, ip: "10.0.0.9", outbound: false), now: at(0)) == [])
    #expect(bench.policy.on(.connected(99, peer: peer(3)), now: at(0)) == [.close(peer(3), .tooManyPeers(limit: 2))])
    #expect(bench.policy.connectedPeers == 2)
    _ = bench.policy.on(.disconnected(99), now: at(0))
    #expect(bench.policy.connections(withIP: "10.0.0.9") == 0)

    _ = bench.policy.on(.protect(peer(1), tag: "t"), now: at(0))
    #expect(bench.policy.on(.protect(peer(4), tag: "t"), now: at(0)) == [])
    #expect(bench.policy.on(.protect(peer(5), tag: "t"), now: at(0)) == [])
    #expect(bench.policy.on(.protect(peer(6), tag: "t"), now: at(0)) == [.rejected(.tooManyPeers(limit: 2))])
    let rejected = bench.policy.on(.protectOnly([peer(4), peer(6), peer(7)], tag: "t"), now: at(0))
    #expect(rejected.count == 1, "peer 5 left, so one of 6 and 7 fits: \(rejected)")
    #expect(bench.policy.trackedPeers == 4)
    #expect(!bench.policy.isProtected(peer(1)), "peer 1 was not in the new set")
}

@Test func unknownAndRepeatedConnectionIDsLeaveTheBooksAlone() {
    var policy = ConnectionManagerPolicy(config: config())
    let now = at(0)
    #expect(policy.on(.connected(5, peer: peer(1)), now: now) == [])
    #expect(policy.on(.disconnected(5), now: now) == [])
    #expect(policy.on(.opened(1, ip: "10.0.0.1", outbound: false), now: now) == [])
    #expect(policy.on(.opened(1, ip: "10.0.0.2", outbound: false), now: now) == [])
    #expect(policy.connections(withIP: "10.0.0.2") == 0)
    #expect(policy.on(.connected(1, peer: peer(1)), now: now) == [])
    #expect(policy.on(.connected(1, peer: peer(2)), now: now) == [])
    #expect(policy.connectedPeers == 1 && policy.openConnections == 1)
    _ = policy.on(.disconnected(1), now: now)
    _ = policy.on(.disconnected(1), now: now)
    #expect(policy.openConnections == 0 && policy.connectedPeers == 0 && policy.trackedPeers == 0)
    #expect(policy.connections(withIP: "10.0.0.1") == 0)
}

/// A seeded storm of events in any order keeps the counts consistent and bounded, every trim either reaches the
/// low watermark or runs out of peers it may close, and closing everything leaves only the protected peers.
@Test func aRandomEventStormKeepsTheBooksConsistent() {
    var limits = config(low: 6, high: 10, grace: 5)
    limits.maxConnectionsPerIP = 4
    limits.maxConnectedPeers = 24
    limits.maxUnconnectedProtected = 8
    limits.maxTagsPerPeer = 3
    var policy = ConnectionManagerPolicy(config: limits)
    var random = SeededRandom(seed: 15)
    let peers = (0..<40).map { peer(1_000 + UInt64($0)) }
    var open: [UInt64: PeerID?] = [:]
    var nextID: UInt64 = 1
    var now = at(0)
    var (refused, trimmed) = (0, 0)
    for _ in 0..<5_000 {
        now = now.advanced(bySeconds: Double(random.next() % 100) / 100)
        let someone = peers[Int(random.next() % UInt64(peers.count))]
        let tag = "t\(random.next() % 5)"
        let event: ConnectionManagerPolicy.Event
        switch random.next() % 10 {
        case 0, 1:
            event = .opened(nextID, ip: "10.0.0.\(random.next() % 6)", outbound: random.next() % 3 == 0)
            open[nextID] = .some(nil)
            nextID += 1
        case 2, 3:
            guard let id = open.keys.sorted().first(where: { open[$0]! == nil }) else { continue }
            event = .connected(id, peer: someone)
            open[id] = someone
        case 4, 5:
            guard let id = open.keys.sorted().dropFirst(Int(random.next() % 4)).first else { continue }
            event = .disconnected(id)
            open[id] = nil
        case 6: event = .protect(someone, tag: tag)
        case 7: event = .unprotect(someone, tag: tag)
        case 8: event = .tag(someone, tag: tag, weight: Int(random.next() % 21) - 10)
        default: event = .trim
        }
        let before = policy.openConnections
        for action in policy.on(event, now: now) {
            switch action {
            case .refuse(let id, _):
                open[id] = nil
                refused += 1
            case .close(_, let reason):
                if case .tooManyPeers = reason, case .connected(let id, _) = event { open[id] = .some(nil) }
                if case .trimmed = reason { trimmed += 1 }
            case .rejected:
                break
            }
        }
        if case .trim = event, before > limits.highWater {
            let left = peers.contains { policy.isTrimmable($0, now: now) }
            #expect(policy.openConnections <= limits.lowWater || !left, "a trim stopped with peers left to close")
        }
        #expect(policy.openConnections >= 0 && policy.openConnections <= open.count)
        #expect(policy.connectedPeers <= limits.maxConnectedPeers)
        #expect(policy.trackedPeers <= limits.maxConnectedPeers + limits.maxUnconnectedProtected)
    }
    #expect(refused > 0 && trimmed > 0, "the storm never reached a limit: \(refused) refused, \(trimmed) trimmed")
    for id in open.keys.sorted() { _ = policy.on(.disconnected(id), now: now) }
    #expect(policy.openConnections == 0 && policy.connectedPeers == 0)
    #expect((0..<6).allSatisfy { policy.connections(withIP: "10.0.0.\($0)") == 0 })
    #expect(policy.trackedPeers == peers.filter { policy.isProtected($0) }.count)
}
