import Codec
import Crypto
import Runtime
import TestSupport
import Testing

@testable import P2PProtocols

/// An identity and connection keys drawn from a seeded source, so that a whole run replays.
struct TestPeer {
    let identity: LibP2PIdentity
    let keys: ConnectionKeys

    init(_ random: inout SeededRandom) throws {
        identity = .ed25519(try Ed25519PrivateKey(seed: random.bytes(32)))
        keys = try ConnectionKeys(
            identity: identity, staticKey: try X25519PrivateKey(bytes: random.bytes(32)),
            ephemeralKey: try X25519PrivateKey(bytes: random.bytes(32)))
    }

    var peerID: PeerID { identity.peerID }
}

let echoProtocol = "/test/echo/1.0.0"
let bulkProtocol = "/test/bulk/1.0.0"

/// A dialer and a listener with seeded keys; the dialer expects the listener's id unless told another.
func makePair(
    seed: UInt64 = 1, expecting: PeerID? = nil, config: ConnectionConfig = ConnectionConfig(),
    listenerConfig: ConnectionConfig? = nil, chunking: SeededRandom? = nil, now: Instant
) throws -> (pair: ConnectionPair, dialer: TestPeer, listener: TestPeer) {
    var random = SeededRandom(seed: seed)
    let dialer = try TestPeer(&random)
    let listener = try TestPeer(&random)
    let pair = ConnectionPair(
        dialer: ConnectionUpgrade(
            role: .dialer(expectedPeer: expecting ?? listener.peerID), keys: dialer.keys,
            supportedProtocols: [bulkProtocol], config: config, now: now),
        listener: ConnectionUpgrade(
            role: .listener, keys: listener.keys, supportedProtocols: [echoProtocol, bulkProtocol],
            config: listenerConfig ?? config, now: now),
        chunking: chunking)
    return (pair, dialer, listener)
}

/// The actions that matter to an application (timers left out).
func significant(_ actions: [ConnectionUpgrade.Action]) -> [ConnectionUpgrade.Action] {
    actions.filter {
        if case .scheduleTimer = $0 { return false }
        return true
    }
}

/// Everything delivered on each stream, concatenated.
func streamData(_ actions: [ConnectionUpgrade.Action]) -> [UInt32: [UInt8]] {
    var out: [UInt32: [UInt8]] = [:]
    for case .streamData(let stream, let bytes) in actions { out[stream, default: []] += bytes }
    return out
}

func payload(_ count: Int, seed: UInt64) -> [UInt8] {
    var random = SeededRandom(seed: seed)
    return random.bytes(count)
}

/// The full handshake verifies both peer ids; streams open both ways with protocol negotiation (one proposal
/// refused first); more than a 256 KiB window moves each way (window updates); half-close, reset; and the
/// idle timeout fires once the manual clock passes it.
@Test func twoPeersUpgradeOpenStreamsMoveDataAndIdleOut() throws {
    let clock = ManualClock()
    var (pair, dialer, listener) = try makePair(now: clock.now())
    pair.start(now: clock.now())
    var dialerSaw = pair.take(.dialer)
    var listenerSaw = pair.take(.listener)
    #expect(significant(dialerSaw) == [.established(listener.peerID)])
    #expect(significant(listenerSaw) == [.established(dialer.peerID)])
    // The one timer armed so far is the dialer's deadline for the upgrade (dial plus handshake timeout).
    #expect(dialerSaw.contains(.scheduleTimer(at: clock.now().advanced(bySeconds: 20))))
    #expect(pair.dialer.remotePeer == listener.peerID && pair.listener.remotePeer == dialer.peerID)
    #expect(pair.dialer.isOpen && pair.listener.isOpen)

    // Streams both ways; the dialer's first proposal is refused.
    pair.send(.openStream(protocols: ["/test/nope/1.0.0", echoProtocol], request: 1), to: .dialer, now: clock.now())
    pair.send(.openStream(protocols: [bulkProtocol], request: 2), to: .listener, now: clock.now())
    dialerSaw = significant(pair.take(.dialer))
    listenerSaw = significant(pair.take(.listener))
    #expect(dialerSaw.contains(.outboundStreamReady(request: 1, stream: 1, protocolID: echoProtocol)))
    #expect(dialerSaw.contains(.inboundStream(stream: 2, protocolID: bulkProtocol)))
    #expect(listenerSaw.contains(.inboundStream(stream: 1, protocolID: echoProtocol)))
    #expect(listenerSaw.contains(.outboundStreamReady(request: 2, stream: 2, protocolID: bulkProtocol)))

    // More than the initial window each way: only window updates let it through.
    let up = payload(1 << 20 + 17, seed: 2)
    let down = payload(700 << 10, seed: 3)
    pair.send(.write(stream: 1, bytes: up), to: .dialer, now: clock.now())
    pair.send(.write(stream: 2, bytes: down), to: .listener, now: clock.now())
    dialerSaw = pair.take(.dialer)
    listenerSaw = pair.take(.listener)
    #expect(up.count > Int(YamuxSession.initialWindow) && down.count > Int(YamuxSession.initialWindow))
    #expect(streamData(listenerSaw)[1] == up)
    #expect(streamData(dialerSaw)[2] == down)
    #expect(dialerSaw.contains(.streamWriteCompleted(stream: 1)))
    #expect(listenerSaw.contains(.streamWriteCompleted(stream: 2)))

    // Half-close: the dialer's FIN reaches the listener, which still answers on the stream, then closes too.
    pair.send(.closeWrite(stream: 1), to: .dialer, now: clock.now())
    #expect(significant(pair.take(.listener)) == [.streamRemoteClosed(stream: 1)])
    pair.send(.write(stream: 1, bytes: Array("after your FIN".utf8)), to: .listener, now: clock.now())
    pair.send(.closeWrite(stream: 1), to: .listener, now: clock.now())
    #expect(significant(pair.take(.listener)) == [.streamWriteCompleted(stream: 1)])
    dialerSaw = significant(pair.take(.dialer))
    #expect(streamData(dialerSaw)[1] == Array("after your FIN".utf8))
    #expect(dialerSaw.contains(.streamRemoteClosed(stream: 1)))
    #expect(pair.dialer.streamCount == 1 && pair.listener.streamCount == 1)

    // Reset: the peer learns it, and no stream remains.
    pair.send(.reset(stream: 2), to: .dialer, now: clock.now())
    #expect(significant(pair.take(.listener)) == [.streamReset(stream: 2, reason: .resetByPeer)])
    #expect(pair.dialer.streamCount == 0 && pair.listener.streamCount == 0)
    _ = pair.take(.dialer)

    // Idle: nothing before the timeout; at it the dialer closes with go-away and the listener sees both.
    clock.advance(seconds: 60)
    pair.send(.tick, to: .dialer, now: clock.now())
    #expect(pair.take(.dialer) == [.scheduleTimer(at: Instant(nanoseconds: 0).advanced(bySeconds: 120))])
    clock.advance(seconds: 61)
    pair.send(.tick, to: .dialer, now: clock.now())
    #expect(pair.take(.dialer) == [.close(.idle(seconds: 120))])
    #expect(significant(pair.take(.listener)) == [.peerGoingAway(code: 0), .close(.peerClosed)])
    #expect(pair.dialer.phase == .closed && pair.listener.phase == .closed)
}

/// A reader that does not consume holds the sender to the window it granted; consuming credits the rest.
@Test func readsCreditOnlyWhatTheApplicationConsumed() throws {
    let now = Instant(nanoseconds: 0)
    var (pair, _, _) = try makePair(seed: 4, now: now)
    pair.consumesEverything = false
    pair.start(now: now)
    pair.send(.openStream(protocols: [echoProtocol], request: 1), to: .dialer, now: now)
    _ = pair.take(.dialer)
    _ = pair.take(.listener)
    let data = payload(1 << 20, seed: 5)
    pair.send(.write(stream: 1, bytes: data), to: .dialer, now: now)
    var received = streamData(pair.take(.listener))[1] ?? []
    let hello =
        MultistreamSelect.encode(MultistreamSelect.protocolID) + MultistreamSelect.encode(echoProtocol)
    #expect(received.count == Int(YamuxSession.initialWindow) - hello.count)
    #expect(!pair.take(.dialer).contains(.streamWriteCompleted(stream: 1)))
    #expect(pair.dialer.sendWindow(stream: 1) == 0)
    var completed = false
    var rounds = 0
    var credited = 0
    while received.count < data.count && rounds < 100 {
        pair.send(.consumed(stream: 1, count: received.count - credited), to: .listener, now: now)
        credited = received.count
        received += streamData(pair.take(.listener))[1] ?? []
        completed = completed || pair.take(.dialer).contains(.streamWriteCompleted(stream: 1))
        rounds += 1
    }
    #expect(received == data)
    #expect(completed)
}

/// The handshake deadline (and a dialer's connect deadline before it) fire from the time passed in.
@Test func handshakeAndConnectTimeouts() throws {
    let clock = ManualClock()
    var random = SeededRandom(seed: 6)
    let peer = try TestPeer(&random)
    var listener = ConnectionUpgrade(role: .listener, keys: peer.keys, supportedProtocols: [], now: clock.now())
    let started = listener.on(.connected, now: clock.now())
    #expect(started.first == .send(MultistreamSelect.encode(MultistreamSelect.protocolID)))
    #expect(started.contains(.scheduleTimer(at: clock.now().advanced(bySeconds: 10))))
    clock.advance(seconds: 9.5)
    #expect(listener.on(.tick, now: clock.now()) == [.scheduleTimer(at: Instant(seconds: 10))])
    clock.advance(seconds: 1)
    #expect(listener.on(.tick, now: clock.now()) == [.close(.timeout(.handshake))])
    #expect(listener.on(.received([1, 2, 3]), now: clock.now()).isEmpty)
    #expect("\(ConnectionCloseReason.timeout(.handshake))" == "timed out: handshake")

    let start = clock.now()
    var dialer = ConnectionUpgrade(
        role: .dialer(expectedPeer: nil), keys: peer.keys, supportedProtocols: [], now: start)
    #expect(dialer.nextTimer == start.advanced(bySeconds: 20))
    clock.advance(seconds: 19)
    #expect(significant(dialer.on(.tick, now: clock.now())).isEmpty)
    clock.advance(seconds: 1.5)
    #expect(dialer.on(.tick, now: clock.now()) == [.close(.timeout(.connect))])

    // Stuck in the handshake: the peer never answers message 1.
    var fresh = ConnectionUpgrade(
        role: .dialer(expectedPeer: nil), keys: peer.keys, supportedProtocols: [], now: clock.now())
    _ = fresh.on(.connected, now: clock.now())
    _ = fresh.on(.received(MultistreamSelect.start(listening: "/noise")[...]), now: clock.now())
    #expect(fresh.phase == .handshake)
    clock.advance(seconds: 20.5)
    #expect(fresh.on(.tick, now: clock.now()) == [.close(.timeout(.handshake))])
}

extension MultistreamSelect {
    /// What a listener supporting `name` answers to a proposal of it: the header and the echo.
    static func start(listening name: String) -> [UInt8] {
        encode(protocolID) + encode(name)
    }
}

/// A dialer that expected another peer id refuses the connection before it is upgraded.
@Test func aPeerIDMismatchEndsTheDial() throws {
    let now = Instant(nanoseconds: 0)
    var random = SeededRandom(seed: 99)
    let impostorExpected = try TestPeer(&random).peerID
    var (pair, _, listener) = try makePair(seed: 8, expecting: impostorExpected, now: now)
    pair.start(now: now)
    #expect(
        significant(pair.take(.dialer)) == [
            .close(.peerIDMismatch(expected: impostorExpected, actual: listener.peerID))
        ])
    #expect(significant(pair.take(.listener)) == [.close(.peerClosed)])
    #expect(pair.dialer.remotePeer == nil)
}

/// Garbage at each layer is a violation action carrying the layer's typed reason; once the session runs, the
/// peer is told with go-away code 1.
@Test func protocolViolationsAreActionsWithTheirReason() throws {
    let now = Instant(nanoseconds: 0)

    // A garbage Yamux frame (version 1) inside the encrypted channel.
    var (pair, _, _) = try makePair(seed: 9, now: now)
    pair.start(now: now)
    _ = pair.take(.dialer)
    _ = pair.take(.listener)
    let badFrame = try pair.dialer.sealRaw([1, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0, 0])
    pair.inject(badFrame, to: .listener, now: now)
    let violation = ConnectionViolation.yamux(.protocolViolation("\(YamuxFrame.FrameError.unsupportedVersion(1))"))
    #expect(significant(pair.take(.listener)) == [.protocolViolation(violation)])
    #expect(significant(pair.take(.dialer)) == [.peerGoingAway(code: 1), .close(.peerClosed)])
    #expect(violation.description.hasPrefix("protocol violation: "))

    // Data past the stream's window.
    (pair, _, _) = try makePair(seed: 10, now: now)
    pair.start(now: now)
    pair.send(.openStream(protocols: [echoProtocol], request: 1), to: .dialer, now: now)
    _ = pair.take(.listener)
    let flood = YamuxFrame(type: .data, streamID: 1, length: 300_000).header + [UInt8](repeating: 0, count: 300_000)
    pair.inject(try pair.dialer.sealRaw(flood), to: .listener, now: now)
    #expect(
        significant(pair.take(.listener)) == [
            .protocolViolation(.yamux(.protocolViolation("stream 1 sent past its window")))
        ])

    // Bytes that do not decrypt after the handshake.
    (pair, _, _) = try makePair(seed: 11, now: now)
    pair.start(now: now)
    _ = pair.take(.listener)
    pair.inject([0x00, 0x40] + payload(64, seed: 12), to: .listener, now: now)
    #expect(significant(pair.take(.listener)) == [.protocolViolation(.noise(.decryptionFailed))])

    // Garbage before the handshake.
    var random = SeededRandom(seed: 13)
    let peer = try TestPeer(&random)
    var listener = ConnectionUpgrade(role: .listener, keys: peer.keys, supportedProtocols: [], now: now)
    _ = listener.on(.connected, now: now)
    let actions = listener.on(.received([0xFF, 0xFF, 0x7F] + payload(64, seed: 14)), now: now)
    guard case .protocolViolation(.multistream(.malformed(let why))) = actions.last else {
        Issue.record("no multistream violation: \(actions)")
        return
    }
    #expect(why.contains("message length"))
}

/// A stream that agrees on no protocol within the handshake timeout is reset; the peer forgets it too.
@Test func streamNegotiationDeadline() throws {
    let clock = ManualClock()
    var (pair, _, _) = try makePair(seed: 15, now: clock.now())
    pair.start(now: clock.now())
    _ = pair.take(.dialer)
    // No proposals: only the header goes out, and both sides wait.
    pair.send(.openStream(protocols: [], request: 7), to: .dialer, now: clock.now())
    #expect(pair.take(.dialer).contains(.scheduleTimer(at: clock.now().advanced(bySeconds: 10))))
    #expect(pair.dialer.streamCount == 1 && pair.listener.streamCount == 1)
    clock.advance(seconds: 10)
    pair.send(.tick, to: .dialer, now: clock.now())
    #expect(significant(pair.take(.dialer)) == [.outboundStreamFailed(request: 7, reason: .negotiationTimeout)])
    #expect(significant(pair.take(.listener)).last == .streamReset(stream: 1, reason: .resetByPeer))
    #expect(pair.dialer.streamCount == 0 && pair.listener.streamCount == 0)
    #expect(pair.dialer.isOpen && pair.listener.isOpen)
}

/// A shell that holds connections for admission admits or refuses the authenticated peer.
@Test func admissionHoldsTheConnectionUntilTheShellDecides() throws {
    let now = Instant(nanoseconds: 0)
    var held = ConnectionConfig()
    held.holdsForAdmission = true
    var (pair, dialer, _) = try makePair(seed: 16, listenerConfig: held, now: now)
    pair.start(now: now)
    #expect(significant(pair.take(.listener)) == [.admissionRequired(dialer.peerID)])
    #expect(pair.listener.phase == .admission)
    pair.send(.openStream(protocols: [echoProtocol], request: 1), to: .dialer, now: now)
    pair.send(.admit(refusal: nil), to: .listener, now: now)
    #expect(
        significant(pair.take(.listener)) == [
            .established(dialer.peerID), .inboundStream(stream: 1, protocolID: echoProtocol),
        ])
    #expect(
        significant(pair.take(.dialer)).contains(.outboundStreamReady(request: 1, stream: 1, protocolID: echoProtocol)))

    (pair, _, _) = try makePair(seed: 17, listenerConfig: held, now: now)
    pair.start(now: now)
    pair.send(.admit(refusal: "4 connections to the peer already"), to: .listener, now: now)
    #expect(significant(pair.take(.listener)).last == .close(.refused("4 connections to the peer already")))
    #expect(significant(pair.take(.dialer)).last == .close(.peerClosed))
}

/// What both applications saw, independent of how the bytes were cut: per-stream data and the other actions.
struct ScenarioOutcome: Equatable {
    var dialerData: [UInt32: [UInt8]]
    var listenerData: [UInt32: [UInt8]]
    var dialerActions: [String]
    var listenerActions: [String]
}

func runScenario(chunking: SeededRandom?, maxPiece: Int) throws -> ScenarioOutcome {
    let now = Instant(nanoseconds: 0)
    var (pair, _, _) = try makePair(seed: 21, chunking: chunking, now: now)
    pair.maxPiece = maxPiece
    pair.start(now: now)
    pair.send(.openStream(protocols: ["/test/nope/1.0.0", echoProtocol], request: 1), to: .dialer, now: now)
    pair.send(.openStream(protocols: [bulkProtocol], request: 2), to: .listener, now: now)
    pair.send(.write(stream: 1, bytes: payload(300 << 10, seed: 22)), to: .dialer, now: now)
    pair.send(.write(stream: 2, bytes: payload(290 << 10, seed: 23)), to: .listener, now: now)
    pair.send(.closeWrite(stream: 1), to: .dialer, now: now)
    pair.send(.closeWrite(stream: 2), to: .listener, now: now)
    pair.send(.closeWrite(stream: 1), to: .listener, now: now)
    pair.send(.closeWrite(stream: 2), to: .dialer, now: now)
    pair.send(.close(reason: "done"), to: .dialer, now: now)
    let dialerSaw = significant(pair.take(.dialer))
    let listenerSaw = significant(pair.take(.listener))
    func others(_ actions: [ConnectionUpgrade.Action]) -> [String] {
        actions.compactMap {
            if case .streamData = $0 { return nil }
            return "\($0)"
        }.sorted()
    }
    return ScenarioOutcome(
        dialerData: streamData(dialerSaw), listenerData: streamData(listenerSaw), dialerActions: others(dialerSaw),
        listenerActions: others(listenerSaw))
}

/// However the byte stream is cut (seeded random pieces from 1 byte up), both peers see the same outcome.
@Test(arguments: [(1 as UInt64, 3), (2, 64), (3, 1_500), (4, 9_000), (5, 70_000)])
func randomChunkingGivesTheSameResult(seed: UInt64, maxPiece: Int) throws {
    let whole = try runScenario(chunking: nil, maxPiece: 1)
    #expect(whole.listenerData[1] == payload(300 << 10, seed: 22))
    #expect(whole.dialerData[2] == payload(290 << 10, seed: 23))
    #expect(whole.dialerActions.contains("\(ConnectionUpgrade.Action.close(.requested("done")))"))
    #expect(whole.listenerActions.contains("\(ConnectionUpgrade.Action.close(.peerClosed))"))
    let cut = try runScenario(chunking: SeededRandom(seed: seed), maxPiece: maxPiece)
    #expect(cut == whole)
}

/// With an output high-water mark, a large write is sealed a window chunk at a time while the socket drains: what
/// is handed out and not yet sent stays bounded, and the rest follows as the shell reports bytes sent.
@Test func queuedWritesWaitForTheSocketBelowTheHighWaterMark() throws {
    let now = Instant(nanoseconds: 0)
    var config = ConnectionConfig()
    config.outputHighWater = 100_000
    var (pair, _, _) = try makePair(seed: 18, config: config, now: now)
    pair.start(now: now)
    pair.send(.openStream(protocols: [echoProtocol], request: 1), to: .dialer, now: now)
    // A first transfer through the pair grows the stream's window past the mark.
    let warmUp = payload(2 << 20, seed: 20)
    pair.send(.write(stream: 1, bytes: warmUp), to: .dialer, now: now)
    #expect(streamData(pair.take(.listener))[1] == warmUp)
    #expect(pair.take(.dialer).contains(.streamWriteCompleted(stream: 1)))
    #expect(pair.dialer.sendWindow(stream: 1) > 300_000)
    let data = payload(4 << 20, seed: 19)
    let actions = pair.dialer.on(.write(stream: 1, bytes: data), now: now)
    var handedOut: [UInt8] = []
    for case .send(let bytes) in actions { handedOut += bytes }
    // One chunk of at most 256 KiB (plus Noise framing) goes out, then the mark, not the window, stops it.
    #expect(handedOut.count > 100_000 && handedOut.count < 100_000 + (1 << 18) + 1_024)
    #expect(pair.dialer.sendWindow(stream: 1) > 0)
    #expect(!actions.contains(.streamWriteCompleted(stream: 1)))
    #expect(pair.dialer.on(.tick, now: now).allSatisfy { if case .send = $0 { false } else { true } })
    // Delivering the bytes reports them sent; window updates and room let the rest through.
    pair.inject(handedOut, to: .listener, now: now)
    #expect(streamData(pair.take(.listener))[1] == data)
    #expect(pair.take(.dialer).contains(.streamWriteCompleted(stream: 1)))
}

/// Sealing into a shell's buffer is the same machine: a copy of an open dialer handed the same events appends to
/// the buffer (after what it already held, which does not count against the high-water mark) exactly the bytes
/// the original returns as `.send`, with the same other actions, through a bounded write and a close.
@Test func appendingToAShellBufferMatchesSendActions() throws {
    let now = Instant(nanoseconds: 0)
    var config = ConnectionConfig()
    config.outputHighWater = 100_000
    var (pair, _, _) = try makePair(seed: 22, config: config, now: now)
    pair.start(now: now)
    pair.send(.openStream(protocols: [echoProtocol], request: 1), to: .dialer, now: now)
    #expect(pair.take(.dialer).contains(.outboundStreamReady(request: 1, stream: 1, protocolID: echoProtocol)))
    var original = pair.dialer
    var copy = pair.dialer
    let held = payload(60_000, seed: 23)
    var buffer = held
    // The second write waits for the mark (the buffer's earlier bytes do not count), the report of the first
    // write's bytes sent lets it through, and the close sends a go-away.
    let events: [(ConnectionUpgrade.Event, sends: Bool)] = [
        (.write(stream: 1, bytes: payload(150_000, seed: 24)), true),
        (.write(stream: 1, bytes: payload(100_000, seed: 25)), false), (.sent(count: 150_000), true),
        (.close(reason: "done"), true),
    ]
    for (event, sends) in events {
        let returned = original.on(event, now: now)
        let appendedBefore = buffer.count
        let others = copy.on(event, now: now, appendingTo: &buffer)
        var sent: [UInt8] = []
        for case .send(let bytes) in returned { sent += bytes }
        #expect(sent.isEmpty == !sends)
        #expect(Array(buffer[appendedBefore...]) == sent)
        #expect(others == returned.filter { if case .send = $0 { false } else { true } })
    }
    #expect(Array(buffer.prefix(held.count)) == held)
    #expect(copy.phase == .closed)
}
