import Codec
import Crypto
import Foundation
import Runtime
import TestSupport
import Testing

@testable import P2P

#if canImport(Glibc)
    import Glibc
#endif

/// A misbehaving peer on a raw TCP socket that runs as much of the real upgrade as a case needs — the dialer's
/// `ConnectionUpgrade` stopped at a checkpoint, or run through — then breaks the protocol with raw bytes.
final class HostilePeer {
    let socket: HTTPTestClient
    let identity = LibP2PIdentity.ed25519(.generate())
    let staticKey = X25519PrivateKey.generate()
    var machine: ConnectionUpgrade?

    init?(port: Int, timeout: Int = 60) {
        guard let socket = HTTPTestClient(port: port, timeoutSeconds: timeout) else { return nil }
        self.socket = socket
    }

    func send(_ bytes: [UInt8]) { socket.send(bytes) }

    /// Runs the dialer's upgrade state machine over the socket until `done` holds, stopping at `checkpoint`;
    /// `payload` replaces the valid identity payload.
    func run(
        stopAt checkpoint: ConnectionUpgrade.Checkpoint?, payload: [UInt8]? = nil,
        until done: (ConnectionUpgrade) -> Bool
    ) throws {
        let now = Instant(nanoseconds: 0)
        let valid = try NoiseHandshakePayload(identity: identity, staticPublicKey: staticKey.publicKey).encoded
        var machine = ConnectionUpgrade(
            role: .dialer(expectedPeer: nil),
            keys: ConnectionKeys(staticKey: staticKey, ephemeralKey: .generate(), payload: payload ?? valid),
            supportedProtocols: [], stopAt: checkpoint, now: now)
        func perform(_ actions: [ConnectionUpgrade.Action]) throws {
            for action in actions {
                switch action {
                case .send(let bytes): send(bytes)
                case .close(let reason): throw P2PError.connectionClosed("hostile peer: \(reason)")
                case .protocolViolation(let violation): throw P2PError.protocolViolation("hostile peer: \(violation)")
                default: continue
                }
            }
        }
        try perform(machine.on(.connected, now: now))
        while !done(machine) {
            guard let chunk = socket.receive(upTo: 65_536), !chunk.isEmpty else {
                throw P2PError.connectionClosed("hostile peer: server closed")
            }
            try perform(machine.on(.received(chunk[...]), now: now))
        }
        self.machine = machine
    }

    /// multistream-select /noise, and nothing more.
    func selectNoise() throws {
        try run(stopAt: .securitySelected) { $0.halted == .securitySelected }
    }

    /// Noise XX up to (not including) message 3.
    func handshakeToMessage3() throws {
        try run(stopAt: .secondHandshakeMessageRead) { $0.halted == .secondHandshakeMessageRead }
    }

    /// Noise XX through message 3, which carries `payload` instead of a valid one.
    func handshake(payload: [UInt8]) throws {
        try run(stopAt: .handshakeComplete, payload: payload) { $0.halted == .handshakeComplete }
    }

    /// The whole upgrade (Noise, then /yamux/1.0.0); afterwards `sendPlain` speaks raw Yamux bytes.
    func upgrade() throws {
        try run(stopAt: nil) { $0.isOpen }
    }

    func sendPlain(_ bytes: [UInt8]) { send(try! machine!.sealRaw(bytes)) }

    func closed() -> Bool { socket.waitForClose() }
}

func hostileServer(_ logs: LogLines, configure: (inout HostConfig) -> Void = { _ in }) throws -> (P2PHost, Int) {
    var config = HostConfig()
    // Short enough for the timeout cases to end soon, long enough that no legitimate handshake on an overloaded
    // machine runs into it.
    config.handshakeTimeout = 5
    config.maxStreamsPerConnection = 16
    configure(&config)
    let server = try P2PHost(identity: .ed25519(.generate()), config: config, logger: logs.logger)
    server.handle(EchoProtocol.protocolID) { await EchoProtocol.serve($0) }
    // A handler that never reads: its stream's window is all the peer may send.
    server.handle("/test/stall/1.0.0") { _ in try? await Task.sleep(for: .seconds(30)) }
    let address = try server.listen(try Multiaddr("/ip4/127.0.0.1/tcp/0"))
    return (server, Int(address.value(of: .tcp)!)!)
}

/// Each hostile case closes only its own connection, with the reason in the log; a well-behaved client
/// connected all along keeps working.
@Test(.timeLimit(.minutes(5))) func hostilePeersAreClosedWithAReasonAndOthersAreUnaffected() async throws {
    let logs = LogLines()
    let (server, port) = try hostileServer(logs)
    let client = try P2PHost(identity: .ed25519(.generate()))
    defer {
        client.close()
        server.close()
    }
    let good = try await client.connect(server.listenAddresses[0])
    // The hostile peers block on their sockets: they run on a thread of their own, and the test's task
    // checks what each of them saw.
    let outcomes = try await onOwnThread { () throws -> [(name: String, reason: String, closed: Bool, logged: Bool)] in
        var random = SeededRandom(seed: 66)
        var outcomes: [(name: String, reason: String, closed: Bool, logged: Bool)] = []
        func expectClosed(_ name: String, _ reason: String, _ act: (HostilePeer) throws -> Void) throws {
            guard let peer = HostilePeer(port: port) else { throw P2PError.dialFailed("\(name): cannot connect") }
            try act(peer)
            let closed = peer.closed()
            outcomes.append((name, reason, closed, logs.contains(reason)))
        }
        try expectClosed("garbage before the handshake", "malformed") {
            $0.send([0xFF, 0xFF, 0x7F] + random.bytes(64))
        }
        try expectClosed("oversized multistream length", "message length") {
            $0.send(Varint.encode(1_000_000) + random.bytes(100))
        }
        try expectClosed("garbage during the handshake", "decryption failed") {
            try $0.handshakeToMessage3()
            $0.send(try NoiseTransport.frame(random.bytes(200)))
        }
        try expectClosed("a payload signature that does not verify", "identity signature") { peer in
            // Signed for another static key: the signature does not cover the one the handshake carries.
            let payload = try NoiseHandshakePayload(
                identity: peer.identity, staticPublicKey: X25519PrivateKey.generate().publicKey)
            try peer.handshake(payload: payload.encoded)
        }
        try expectClosed("garbage after the handshake", "decryption failed") { peer in
            try peer.upgrade()
            peer.send([0x00, 0x40] + random.bytes(64))
        }
        try expectClosed("truncated frame", "timed out: handshake") { peer in
            try peer.selectNoise()
            peer.send([0x01, 0x00] + random.bytes(10))
        }
        try expectClosed("slowloris", "timed out: handshake") { peer in
            // One byte of the header every 300 ms, for longer than the handshake timeout: trickling bytes
            // does not extend the deadline.
            let header = MultistreamSelect.encode(MultistreamSelect.protocolID)
            for byte in header.prefix(header.count - 1) {
                peer.send([byte])
                usleep(300_000)
            }
        }
        try expectClosed("oversized yamux frame", "exceeds the window") { peer in
            try peer.upgrade()
            peer.sendPlain(YamuxFrame(type: .windowUpdate, flags: .syn, streamID: 1, length: 0).header)
            peer.sendPlain(YamuxFrame(type: .data, streamID: 1, length: 16 << 20).header)
        }
        try expectClosed("yamux window violation", "past its window") { peer in
            try peer.upgrade()
            peer.sendPlain(YamuxFrame(type: .windowUpdate, flags: .syn, streamID: 1, length: 0).header)
            let hello =
                MultistreamSelect.encode(MultistreamSelect.protocolID) + MultistreamSelect.encode("/test/stall/1.0.0")
            let first = hello + random.bytes(200_000 - hello.count)
            peer.sendPlain(YamuxFrame(type: .data, streamID: 1, length: 200_000).header + first)
            peer.sendPlain(YamuxFrame(type: .data, streamID: 1, length: 200_000).header + random.bytes(200_000))
        }
        try expectClosed("stream flood", "stream flood") { peer in
            try peer.upgrade()
            var frames: [UInt8] = []
            for id in stride(from: UInt32(1), to: 2_001, by: 2) {
                frames += YamuxFrame(type: .windowUpdate, flags: .syn, streamID: id, length: 0).header
            }
            peer.sendPlain(frames)
        }
        return outcomes
    }
    #expect(outcomes.count == 10)
    for outcome in outcomes {
        #expect(outcome.closed, "\(outcome.name): connection stays open")
        #expect(outcome.logged, "\(outcome.name): no log line with '\(outcome.reason)'")
    }

    // The good connection never noticed.
    #expect(try await client.ping(good, count: 10).count == 10)
    let stream = try await client.newStream(to: good, protocols: [EchoProtocol.protocolID])
    let payload = bulkPayload(1 << 20)
    #expect(try await echoRoundTrip(stream, payload) == payload)
}

/// 1,000 hostile connections at once (garbage, oversized prefixes, truncated frames, silent slowloris peers,
/// bad frames after the handshake): all are closed, a good client is served meanwhile, and memory stays bounded.
@Test(.timeLimit(.minutes(3))) func aThousandConcurrentHostileConnections() async throws {
    let logs = LogLines()
    let (server, port) = try hostileServer(logs) { $0.maxConnections = 2_000 }
    let client = try P2PHost(identity: .ed25519(.generate()))
    defer {
        client.close()
        server.close()
    }
    let good = try await client.connect(server.listenAddresses[0])
    let before = residentMegabytes()
    let peers = try await onOwnThread {
        var peers: [HostilePeer] = []
        var random = SeededRandom(seed: 1_000)
        for index in 0..<1_000 {
            guard let peer = HostilePeer(port: port, timeout: 20) else {
                throw P2PError.dialFailed("hostile peer \(index)")
            }
            switch index % 5 {
            case 0: peer.send(random.bytes(512))
            case 1: peer.send(Varint.encode(UInt64(1) << 40))
            case 2:
                try peer.selectNoise()
                peer.send([0xFF, 0xFF] + random.bytes(1_000))
            case 3: break  // connects and says nothing
            default:
                try peer.upgrade()
                peer.send([0x00, 0x40] + random.bytes(64))
            }
            peers.append(peer)
        }
        return Handed(peers)
    }
    #expect(peers.value.count == 1_000)
    let during = residentMegabytes()
    #expect(try await client.ping(good, count: 20).count == 20)
    let stream = try await client.newStream(to: good, protocols: [EchoProtocol.protocolID])
    let payload = bulkPayload(1 << 20, seed: 9)
    #expect(try await echoRoundTrip(stream, payload) == payload)
    let closed = try await onOwnThread { peers.value.map { $0.closed() } }
    for (index, wasClosed) in closed.enumerated() { #expect(wasClosed, "hostile peer \(index) stays open") }
    // Only the good connection remains.
    // Each peer saw its connection closed, and the host closes and removes a connection in one loop job.
    await server.loopBarrier()
    #expect(server.connectionCount == 1)
    #expect(during - before < 150, "resident memory grew \(during - before) MB with 1,000 hostile connections")
    #expect(residentMegabytes() - before < 150)
    #expect(try await client.ping(good, count: 5).count == 5)
}

func residentMegabytes() -> Double {
    guard let text = try? String(contentsOfFile: "/proc/self/status", encoding: .utf8),
        let line = text.split(separator: "\n").first(where: { $0.hasPrefix("VmRSS:") }),
        let kilobytes = Double(line.split(separator: " ").dropFirst().first ?? "")
    else { return 0 }
    return kilobytes / 1024
}
