import Codec
import Content
import Crypto
import Foundation
import Node
import P2P
import Runtime
import Synchronization

/// The exchange's figures of `openledger bench content --fetch`: a fetch over loopback against one of our own
/// encrypted streams in the same run (and against kubo → kubo when the interop Python is given), from four peers
/// at once against one, the time to a first block on an open connection, and the peak memory of a `content get`
/// process fetching 1 GiB.
enum BenchContentFetch {
    static func run(megabytes: Int, python: String?, memoryMegabytes: Int, emit: @Sendable (String) -> Void)
        async throws
    {
        let directory = NSTemporaryDirectory() + "openledger-bench-fetch-\(getpid())"
        try? FileManager.default.removeItem(atPath: directory)
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: directory) }
        var random = SeededRandom(seed: 0xF37C4)
        let size = megabytes << 20
        let bytes = random.bytes(size)
        let seedStore = try ContentStore(directory: directory + "/seed")
        let root = try seedStore.add(bytes)

        // Four seeders over the one store (it is thread-safe), each its own host.
        var seeders: [(P2PHost, Bitswap, Multiaddr)] = []
        for _ in 0..<4 {
            let host = try P2PHost(identity: .ed25519(.generate()))
            let address = try host.listen(try Multiaddr("/ip4/127.0.0.1/tcp/0"))
            seeders.append((host, Bitswap(host: host, store: ContentBlockSource(store: seedStore)), address))
        }
        defer {
            for (host, bitswap, _) in seeders {
                bitswap.close()
                host.close()
            }
        }
        seeders[0].0.handle(BenchP2P.sinkProtocol) { stream in
            var total: UInt64 = 0
            while let data = try? await stream.read() { total += UInt64(data.count) }
            try? await stream.write(withUnsafeBytes(of: total.bigEndian, Array.init))
            await stream.closeWrite()
        }

        var fetchCount = 0
        /// One fetch of the file into a fresh store from `count` seeders: seconds.
        func fetch(from count: Int) async throws -> Double {
            fetchCount += 1
            let store = try ContentStore(directory: directory + "/fetch-\(fetchCount)")
            let host = try P2PHost(identity: .ed25519(.generate()))
            let bitswap = Bitswap(host: host, store: ContentBlockSource(store: store))
            defer {
                bitswap.close()
                host.close()
            }
            var peers: [PeerID] = []
            for seeder in seeders.prefix(count) { peers.append(try await host.connect(seeder.2)) }
            let start = DispatchTime.now().uptimeNanoseconds
            let result = await bitswap.fetch([root], from: peers, expand: ContentDAG.links)
            let seconds = Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9
            guard result.complete, result.bytes >= size else {
                throw CLIError.failure("fetch incomplete: \(result.blocks) blocks")
            }
            // The store stays until the end of the run: removing it now would have the file system discard its
            // blocks while the next round runs.
            return seconds
        }

        // One encrypted stream moving the same bytes, best of rounds, interleaved with the fetches.
        let client = try P2PHost(identity: .ed25519(.generate()))
        defer { client.close() }
        let sinkPeer = try await client.connect(seeders[0].2)
        let chunk = [UInt8](repeating: 0x5A, count: 1 << 20)
        func stream() async throws -> Double {
            let stream = try await client.newStream(to: sinkPeer, protocols: [BenchP2P.sinkProtocol])
            let start = DispatchTime.now().uptimeNanoseconds
            var sent = 0
            while sent < size {
                try await stream.write(chunk)
                sent += chunk.count
            }
            await stream.closeWrite()
            _ = try await stream.read(exactly: 8)
            return Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9
        }
        var streamSeconds: [Double] = []
        var oneSeconds: [Double] = []
        var fourSeconds: [Double] = []
        for _ in 0..<3 {
            streamSeconds.append(try await stream())
            oneSeconds.append(try await fetch(from: 1))
            fourSeconds.append(try await fetch(from: 4))
        }
        let mbs = { (seconds: Double) in Double(size) / 1e6 / seconds }
        let streamFigure = BenchFigure(
            bench: "content_fetch", unit: .megabytesPerSecond, value: mbs(streamSeconds.min()!),
            implementation: "one-encrypted-stream")
        emit(streamFigure.jsonLine(references: []))
        var references = [streamFigure]
        if let python {
            let kubo = try kuboToKubo(python: python, bytes: bytes, directory: directory)
            let figure = BenchFigure(
                bench: "content_fetch", unit: .megabytesPerSecond, value: Double(size) / 1e6 / kubo,
                implementation: "kubo-to-kubo")
            emit(figure.jsonLine(references: []))
            references.append(figure)
        }
        let one = BenchFigure(
            bench: "content_fetch", unit: .megabytesPerSecond, value: mbs(oneSeconds.min()!),
            details: ["peers": "1", "mib": "\(megabytes)"])
        emit(one.jsonLine(references: references))
        var oneAsReference = one
        oneAsReference.implementation = "openledger-one-peer"
        emit(
            BenchFigure(
                bench: "content_fetch", unit: .megabytesPerSecond, value: mbs(fourSeconds.min()!),
                details: ["peers": "4", "mib": "\(megabytes)"]
            ).jsonLine(references: [oneAsReference]))

        // What a fetch cannot beat: the stream's work plus one SHA-256 of every byte on each side (the server's
        // verified read, the client's check on arrival), each side's hash on its own core.
        let hashSeconds = (0..<3).map { _ in BenchContent.sha256(bytes) }.min()!
        let ceiling = BenchFigure(
            bench: "content_fetch_vs_hash_ceiling", unit: .megabytesPerSecond,
            value: 1 / (1 / mbs(streamSeconds.min()!) + 1 / mbs(hashSeconds)), implementation: "stream-plus-sha256",
            details: ["sha256_mb_s": String(format: "%.1f", mbs(hashSeconds))])
        emit(ceiling.jsonLine(references: []))
        emit(
            BenchFigure(
                bench: "content_fetch_vs_hash_ceiling", unit: .megabytesPerSecond, value: mbs(oneSeconds.min()!),
                details: ["peers": "1", "mib": "\(megabytes)"]
            ).jsonLine(references: [ceiling]))

        // Time to a first block on an open connection: 200 blocks of 1 KiB, each fetched alone.
        var small: [CID] = []
        for _ in 0..<200 {
            let data = random.bytes(1_024)
            let cid = CID.raw(sha256Of: data)
            _ = try seedStore.put(cid, data)
            small.append(cid)
        }
        let store = try ContentStore(directory: directory + "/first")
        let host = try P2PHost(identity: .ed25519(.generate()))
        let bitswap = Bitswap(host: host, store: ContentBlockSource(store: store))
        defer {
            bitswap.close()
            host.close()
        }
        let seeder = try await host.connect(seeders[0].2)
        var latencies: [Double] = []
        for cid in small {
            let start = DispatchTime.now().uptimeNanoseconds
            let result = await bitswap.fetch([cid], from: [seeder], expand: { _, _ in [] })
            guard result.complete else { throw CLIError.failure("a small block did not arrive") }
            latencies.append(Double(DispatchTime.now().uptimeNanoseconds - start) / 1e6)
        }
        latencies.sort()
        emit(
            BenchFigure(
                bench: "content_time_to_first_block_p50", unit: .milliseconds, value: latencies[latencies.count / 2],
                details: ["p90_ms": String(format: "%.3f", latencies[latencies.count * 9 / 10]), "blocks": "200"]
            ).jsonLine(references: []))

        if memoryMegabytes > 0 {
            emit(try await fetchMemory(megabytes: memoryMegabytes, directory: directory, seeder: seeders[1]))
        }
    }

    /// The peak resident memory of a `content get` process fetching `megabytes` MiB from `seeder`.
    static func fetchMemory(
        megabytes: Int, directory: String, seeder: (P2PHost, Bitswap, Multiaddr)
    ) async throws -> String {
        let store = try ContentStore(directory: directory + "/big")
        var random = SeededRandom(seed: 0xB16)
        let adder = store.makeAdder()
        for _ in 0..<megabytes { try adder.append(random.bytes(1 << 20)) }
        let root = try adder.finish()
        let host = try P2PHost(identity: .ed25519(.generate()))
        let address = try host.listen(try Multiaddr("/ip4/127.0.0.1/tcp/0"))
        let bitswap = Bitswap(host: host, store: ContentBlockSource(store: store))
        defer {
            bitswap.close()
            host.close()
        }
        let process = Process()
        process.executableURL = URL(fileURLWithPath: CommandLine.arguments[0]).standardizedFileURL
        process.arguments = [
            "content", "get", root.description, "--peer", address.description, "--no-output", "--timeout", "600",
            "--data-dir", directory + "/get-big",
        ]
        process.standardOutput = FileHandle.nullDevice
        process.standardError = FileHandle.nullDevice
        let start = DispatchTime.now().uptimeNanoseconds
        try process.run()
        var peak = 0
        while process.isRunning {
            if let status = try? String(contentsOfFile: "/proc/\(process.processIdentifier)/status", encoding: .utf8),
                let line = status.split(separator: "\n").first(where: { $0.hasPrefix("VmHWM:") }),
                let kilobytes = Int(line.split(whereSeparator: \.isWhitespace).dropFirst().first ?? "")
            {
                peak = max(peak, kilobytes)
            }
            try await Task.sleep(for: .milliseconds(20))
        }
        let seconds = Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9
        guard process.terminationStatus == 0 else { throw CLIError.failure("content get of \(megabytes) MiB failed") }
        return BenchFigure(
            bench: "content_fetch_peak_rss", unit: .megabytes, value: Double(peak) / 1024,
            details: ["mib": "\(megabytes)", "mb_s": String(format: "%.1f", Double(megabytes << 20) / 1e6 / seconds)]
        ).jsonLine(references: [])
    }

    /// Seconds kubo takes to fetch `bytes` from another kubo over loopback (two `tools/interop/kubo_peer.py`
    /// processes, Ed25519 identities, the file added by one and downloaded by the other).
    static func kuboToKubo(python: String, bytes: [UInt8], directory: String) throws -> Double {
        let script = kuboScript()
        let file = directory + "/kubo-file"
        try Data(bytes).write(to: URL(fileURLWithPath: file))
        let a = try KuboProcess(python: python, script: script, repo: directory + "/kubo-a/repo")
        let b = try KuboProcess(python: python, script: script, repo: directory + "/kubo-b/repo")
        defer {
            a.stop()
            b.stop()
        }
        guard let cid = try a.ask("add \(file)")["cid"] as? String,
            try b.ask("connect \(a.address)")["connect"] as? Bool == true
        else { throw CLIError.failure("kubo reference: add or connect failed") }
        let answer = try b.ask("get \(cid) \(directory)/kubo-got 600")
        guard answer["get"] as? Bool == true, let seconds = answer["seconds"] as? Double else {
            throw CLIError.failure("kubo reference: get failed")
        }
        return seconds
    }

    /// `tools/interop/kubo_peer.py`: in the working directory (the package root, as `make bench` runs it), else
    /// beside the source tree the binary was built in (.build/<triple>/<configuration>/openledger).
    static func kuboScript() -> String {
        let script = FileManager.default.currentDirectoryPath + "/tools/interop/kubo_peer.py"
        guard !FileManager.default.fileExists(atPath: script) else { return script }
        let executable = URL(fileURLWithPath: CommandLine.arguments[0]).resolvingSymlinksInPath()
        return executable.deletingLastPathComponent().appendingPathComponent("../../../tools/interop/kubo_peer.py")
            .standardized.path
    }

    /// A `kubo_peer.py` process and its JSON-line answers.
    final class KuboProcess: @unchecked Sendable {
        let process = Process()
        let input = Pipe()
        let output = Pipe()
        var buffer = Data()
        let address: String

        init(python: String, script: String, repo: String) throws {
            process.executableURL = URL(fileURLWithPath: python)
            process.arguments = [script, "--repo", repo, "--identity", "ed25519"]
            process.standardInput = input
            process.standardOutput = output
            process.standardError = FileHandle.nullDevice
            try process.run()
            address = String(decoding: try Self.line(output, &buffer), as: UTF8.self)
        }

        static func line(_ pipe: Pipe, _ buffer: inout Data) throws -> Data {
            while true {
                if let end = buffer.firstIndex(of: 0x0A) {
                    let line = buffer[buffer.startIndex..<end]
                    buffer = Data(buffer[buffer.index(after: end)...])
                    return Data(line)
                }
                let chunk = pipe.fileHandleForReading.availableData
                guard !chunk.isEmpty else { throw CLIError.failure("kubo reference exited") }
                buffer.append(chunk)
            }
        }

        func ask(_ command: String) throws -> [String: Any] {
            input.fileHandleForWriting.write(Data((command + "\n").utf8))
            let line = try Self.line(output, &buffer)
            return (try? JSONSerialization.jsonObject(with: line) as? [String: Any]) ?? [:]
        }

        func stop() {
            if process.isRunning { kill(process.processIdentifier, SIGKILL) }
            process.waitUntilExit()
        }
    }
}
