import Codec
import Crypto
import Foundation
import P2P
import Runtime

#if canImport(Glibc)
    import Glibc
#endif

/// `openledger bench p2p`: one encrypted Yamux stream's bulk throughput between two hosts over loopback against
/// a raw TCP socket pair moving the same bytes in the same process, Noise XX handshakes per second (in memory,
/// and as whole TCP connection upgrades), and ping round trips.
enum BenchP2P {
    static let sinkProtocol = "/openledger/bench-sink/1.0.0"

    static let command = CommandSpec(
        name: "p2p",
        summary: "libp2p: encrypted stream throughput vs raw TCP, handshakes/s, ping RTT (JSON lines).",
        options: [
            OptionSpec(name: "mib", valueName: "N", help: "MiB to move in each throughput run.", defaultValue: "512"),
            OptionSpec(name: "pings", valueName: "N", help: "Pings for the RTT figures.", defaultValue: "2000"),
        ],
        action: { arguments, output throws(CLIError) in
            let mib = try arguments.int("mib", in: 1...65_536) ?? 512
            let pings = try arguments.int("pings", in: 10...1_000_000) ?? 2_000
            let printer = output
            let result = P2PCommand.runBlocking(timeout: 3_600) { () async throws -> Void in
                try await run(bytes: mib << 20, pings: pings) { printer.line($0) }
            }
            if case .failure(let error) = result { throw .failure("\(error)") }
        }
    )

    static func run(bytes: Int, pings: Int, emit: @Sendable (String) -> Void) async throws {
        let chunk = [UInt8](repeating: 0x5A, count: 1 << 20)
        // Best of three for both, interleaved, so that both see the same machine.
        var raw: [Double] = []
        var yamux: [Double] = []
        let server = try P2PHost(identity: .ed25519(.generate()))
        server.handle(sinkProtocol) { stream in
            var total: UInt64 = 0
            while let data = try? await stream.read() { total += UInt64(data.count) }
            try? await stream.write(withUnsafeBytes(of: total.bigEndian, Array.init))
            await stream.closeWrite()
        }
        let address = try server.listen(try Multiaddr("/ip4/127.0.0.1/tcp/0"))
        let client = try P2PHost(identity: .ed25519(.generate()))
        defer {
            client.close()
            server.close()
        }
        let peer = try await client.connect(address)
        for _ in 0..<3 {
            raw.append(try rawTCPThroughput(bytes: bytes, chunk: chunk))
            let stream = try await client.newStream(to: peer, protocols: [sinkProtocol])
            let start = DispatchTime.now().uptimeNanoseconds
            var sent = 0
            while sent < bytes {
                try await stream.write(chunk)
                sent += chunk.count
            }
            await stream.closeWrite()
            let answer = try await stream.read(exactly: 8)
            let seconds = Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9
            let received = answer.reduce(UInt64(0)) { $0 << 8 | UInt64($1) }
            guard received == UInt64(sent) else { throw P2PError.protocolViolation("sink got \(received) of \(sent)") }
            yamux.append(Double(sent) / seconds / 1e6)
        }
        let rawFigure = BenchFigure(
            bench: "p2p_stream_throughput", unit: .megabytesPerSecond, value: raw.max()!, implementation: "raw-tcp")
        emit(rawFigure.jsonLine(references: []))
        emit(
            BenchFigure(
                bench: "p2p_stream_throughput", unit: .megabytesPerSecond, value: yamux.max()!,
                details: ["stack": "tcp+noise+yamux", "mib": "\(bytes >> 20)"]
            ).jsonLine(references: [rawFigure]))

        // The cipher's own speed bounds the encrypted stream: ChaCha20-Poly1305 (libsodium) sealing 64 KiB
        // Noise frames on one core, no sockets.
        var transport = NoiseTransport(
            send: NoiseCipherState(key: [UInt8](repeating: 7, count: 32), nonce: 0), receive: NoiseCipherState())
        var sealed: [UInt8] = []
        sealed.reserveCapacity(1 << 21)
        var start = DispatchTime.now().uptimeNanoseconds
        for _ in 0..<(bytes >> 20) {
            sealed.removeAll(keepingCapacity: true)
            try transport.sealAppending(header: [], body: chunk[...], to: &sealed)
        }
        var seconds = Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9
        emit(
            BenchFigure(
                bench: "p2p_noise_seal", unit: .megabytesPerSecond, value: Double(bytes) / seconds / 1e6,
                details: ["where": "one core, 64 KiB frames, no sockets"]
            ).jsonLine(references: [rawFigure]))

        // Noise XX with libp2p payloads, both sides, in memory (signing and verifying the identity payloads).
        let handshakes = 2_000
        let dialerIdentity = LibP2PIdentity.ed25519(.generate())
        let listenerIdentity = LibP2PIdentity.ed25519(.generate())
        start = DispatchTime.now().uptimeNanoseconds
        for _ in 0..<handshakes { try memoryHandshake(dialerIdentity, listenerIdentity) }
        seconds = Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9
        emit(
            BenchFigure(
                bench: "p2p_noise_handshake", unit: .operationsPerSecond, value: Double(handshakes) / seconds,
                details: ["where": "in memory, both sides, ed25519 identities"]
            ).jsonLine(references: []))

        // Whole connection upgrades over loopback TCP: connect, multistream, Noise XX, Yamux; then close.
        let connections = 300
        start = DispatchTime.now().uptimeNanoseconds
        for _ in 0..<connections {
            let dialer = try P2PHost(identity: dialerIdentity)
            _ = try await dialer.connect(address)
            dialer.close()
        }
        seconds = Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9
        emit(
            BenchFigure(
                bench: "p2p_connection_upgrade", unit: .operationsPerSecond, value: Double(connections) / seconds,
                details: ["where": "loopback TCP, sequential, new dialer host each"]
            ).jsonLine(references: []))

        let times = try await client.ping(peer, count: pings).sorted()
        for (name, quantile) in [("p50", 0.5), ("p99", 0.99)] {
            let value = times[min(times.count - 1, Int(Double(times.count) * quantile))] * 1000
            emit(
                BenchFigure(
                    bench: "p2p_ping_rtt_\(name)", unit: .milliseconds, value: value,
                    details: ["pings": "\(pings)"]
                ).jsonLine(references: []))
        }
    }

    /// One connection upgrade's security part in memory, both sides, through the upgrade state machine:
    /// multistream-select /noise and Noise XX with libp2p payloads (signed, and verified against the expected
    /// peer id), stopped once both have split their transport keys.
    static func memoryHandshake(_ dialerIdentity: LibP2PIdentity, _ listenerIdentity: LibP2PIdentity) throws {
        let now = Instant(nanoseconds: 0)
        var pair = ConnectionPair(
            dialerKeys: try ConnectionKeys(identity: dialerIdentity, staticKey: .generate(), ephemeralKey: .generate()),
            listenerKeys: try ConnectionKeys(
                identity: listenerIdentity, staticKey: .generate(), ephemeralKey: .generate()),
            expectedPeer: listenerIdentity.peerID, stopAt: .handshakeComplete, now: now)
        pair.start(now: now)
        guard pair.dialer.halted == .handshakeComplete, pair.listener.halted == .handshakeComplete,
            pair.dialer.remotePeer == listenerIdentity.peerID, pair.listener.remotePeer == dialerIdentity.peerID
        else {
            throw P2PError.protocolViolation(
                "in-memory handshake: \(pair.take(.dialer)) / \(pair.take(.listener))")
        }
    }

    /// MB/s of a blocking TCP socket pair over loopback: one thread writes `bytes` in `chunk`s, another reads.
    static func rawTCPThroughput(bytes: Int, chunk: [UInt8]) throws -> Double {
        let listener = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        address.sin_port = 0
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        let bound = withUnsafeMutablePointer(to: &address) { pointer in
            pointer.withMemoryRebound(to: sockaddr.self, capacity: 1) { socketAddress in
                bind(listener, socketAddress, length) == 0 && Glibc.listen(listener, 1) == 0
                    && getsockname(listener, socketAddress, &length) == 0
            }
        }
        guard bound else { throw CLIError.failure("raw TCP reference: cannot listen") }
        defer { close(listener) }
        let reader = Thread {
            let fd = accept(listener, nil, nil)
            var buffer = [UInt8](repeating: 0, count: 1 << 18)
            var total = 0
            while total < bytes {
                let count = buffer.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
                if count <= 0 { break }
                total += count
            }
            close(fd)
        }
        let writer = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        defer { close(writer) }
        let connected = withUnsafeMutablePointer(to: &address) { pointer in
            pointer.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(writer, $0, length) == 0 }
        }
        guard connected else { throw CLIError.failure("raw TCP reference: cannot connect") }
        let start = DispatchTime.now().uptimeNanoseconds
        reader.start()
        var sent = 0
        while sent < bytes {
            let count = chunk.withUnsafeBytes { write(writer, $0.baseAddress, min($0.count, bytes - sent)) }
            guard count > 0 else { throw CLIError.failure("raw TCP reference: write failed") }
            sent += count
        }
        shutdown(writer, Int32(SHUT_WR))
        // The reader closes its end when it has everything; the writer sees end of stream then.
        var byte: UInt8 = 0
        _ = read(writer, &byte, 1)
        let seconds = Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9
        return Double(bytes) / seconds / 1e6
    }
}
