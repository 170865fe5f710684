import Codec
import Content
import Crypto
import Foundation
import Runtime

/// `openledger bench content`: `content add` throughput (chunk, hash, compress, store in files and the SQLite index)
/// against SHA-256 of the same bytes in the same run, on incompressible and on compressible bytes, and what LZ4's
/// sampling saves on incompressible blocks.
enum BenchContent {
    static let command = CommandSpec(
        name: "content",
        summary: "Content store: add throughput against SHA-256 of the same bytes (JSON lines).",
        discussion: """
            Each pair of figures is the round with the median ratio of --rounds rounds, each round timing the reference and the add back to back. `content_add` adds the bytes to a fresh store in a temporary
            directory (kubo's CIDv1 layout, the standard LZ4 policy); `sha256` hashes the same bytes in 262,144-byte
            pieces with the same SHA-256; the ratio is add over hash. `lz4_whole_block` adds the incompressible bytes
            with every block tried whole, to show what sampling saves. `cpu_ratio` is the hash's CPU time over the
            add's (user and system, all threads): what the ratio would be with the cores to itself.
            """,
        options: [
            OptionSpec(name: "megabytes", valueName: "N", help: "MiB added per run.", defaultValue: "128"),
            OptionSpec(
                name: "rounds", valueName: "N", help: "Rounds per figure (the median ratio counts).", defaultValue: "5"),
            OptionSpec(
                name: "fetch-megabytes", valueName: "N",
                help: "Also fetch N MiB over loopback (one peer, four peers, against one encrypted stream); 0: no.",
                defaultValue: "0"),
            OptionSpec(
                name: "memory-megabytes", valueName: "N",
                help: "With the fetch: the peak RSS of a content get process fetching N MiB; 0: no.", defaultValue: "0"),
            OptionSpec(
                name: "python", valueName: "PATH",
                help: "With the fetch: the interop Python, to measure kubo → kubo in the same run."),
            OptionSpec(name: "no-add", help: "Skip the add figures."),
        ],
        action: { arguments, output throws(CLIError) in
            let megabytes = try arguments.int("megabytes", in: 1...4096) ?? 128
            let rounds = try arguments.int("rounds", in: 1...20) ?? 5
            let fetchMegabytes = try arguments.int("fetch-megabytes", in: 0...8192) ?? 0
            let memoryMegabytes = try arguments.int("memory-megabytes", in: 0...16384) ?? 0
            do {
                if !arguments.flag("no-add") {
                    for line in try run(megabytes: megabytes, rounds: rounds) { output.line(line) }
                }
            } catch {
                throw .failure("\(error)")
            }
            guard fetchMegabytes > 0 else { return }
            let python = arguments.string("python")
            let printer = output
            let result = P2PCommand.runBlocking(timeout: 3_600) {
                try await BenchContentFetch.run(
                    megabytes: fetchMegabytes, python: python, memoryMegabytes: memoryMegabytes,
                    emit: { printer.line($0) })
            }
            if case .failure(let error) = result { throw .failure("\(error)") }
        }
    )

    static func run(megabytes: Int, rounds: Int) throws -> [String] {
        var random = SeededRandom(seed: 0x0C0_47E47)
        let size = megabytes << 20
        let incompressible = random.bytes(size)
        var compressible = [UInt8]()
        compressible.reserveCapacity(size + 64)
        var line = 0
        while compressible.count < size {
            compressible += Array("\(line) the same words again, a log line or a JSON record\n".utf8)
            line += 1
        }
        compressible.removeLast(compressible.count - size)

        try? FileManager.default.removeItem(atPath: runDirectory)
        try FileManager.default.createDirectory(atPath: runDirectory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: runDirectory) }
        var lines: [String] = []
        for (label, bytes) in [("incompressible", incompressible), ("compressible", compressible)] {
            let (hash, add, stats, cpuRatio) = try paired(rounds) {
                (sha256(bytes), try addToFreshStore(bytes, compression: .standard))
            }
            let reference = BenchFigure(
                bench: "content_add_\(label)", unit: .megabytesPerSecond, value: rate(size, hash),
                implementation: "sha256")
            var figure = BenchFigure(bench: "content_add_\(label)", unit: .megabytesPerSecond, value: rate(size, add))
            figure.details = [
                "megabytes": "\(megabytes)",
                "stored_fraction": String(format: "%.3f", Double(stats.storedBytes) / Double(size)),
                "compressed_blocks": "\(stats.compressedBlocks)", "blocks": "\(stats.blocks)",
                "cpu_ratio": String(format: "%.3f", cpuRatio),
            ]
            lines.append(reference.jsonLine(references: []))
            lines.append(figure.jsonLine(references: [reference]))
        }
        let (whole, sampled, _, _) = try paired(rounds) {
            (
                try addToFreshStore(incompressible, compression: CompressionPolicy(sampleSize: 0)).seconds,
                try addToFreshStore(incompressible, compression: .standard)
            )
        }
        let unsampled = BenchFigure(
            bench: "content_add_lz4_policy", unit: .megabytesPerSecond, value: rate(size, whole),
            implementation: "lz4_whole_block")
        let policy = BenchFigure(bench: "content_add_lz4_policy", unit: .megabytesPerSecond, value: rate(size, sampled))
        lines.append(unsampled.jsonLine(references: []))
        lines.append(policy.jsonLine(references: [unsampled]))
        return lines
    }

    /// Runs the reference and the measured body back to back `rounds` times and keeps the round with the median
    /// ratio: on a shared machine the load drifts over seconds, so each ratio compares two runs a moment apart.
    private static func paired(
        _ rounds: Int, _ body: () throws -> (reference: Double, measured: (seconds: Double, stats: ContentStats))
    ) rethrows -> (reference: Double, measured: Double, stats: ContentStats, cpuRatio: Double) {
        var results: [(Double, Double, ContentStats, Double)] = []
        for _ in 0..<rounds {
            let (reference, measured) = try body()
            results.append((reference, measured.seconds, measured.stats, lastCPU.reference / lastCPU.measured))
        }
        results.sort { $0.0 / $0.1 < $1.0 / $1.1 }
        return results[results.count / 2]
    }

    private static func rate(_ size: Int, _ seconds: Double) -> Double { Double(size) / 1e6 / seconds }

    /// Seconds SHA-256 takes over `bytes` in 262,144-byte pieces on one thread (the hash every block costs).
    static func sha256(_ bytes: [UInt8]) -> Double {
        let cpu = cpuSeconds()
        defer { lastCPU.reference = cpuSeconds() - cpu }
        let start = DispatchTime.now().uptimeNanoseconds
        var sink: UInt8 = 0
        bytes.withUnsafeBufferPointer { buffer in
            var offset = 0
            while offset < buffer.count {
                let end = min(buffer.count, offset + 262_144)
                sink ^= SHA256.hash(UnsafeBufferPointer(rebasing: buffer[offset..<end]))[0]
                offset = end
            }
        }
        blackHole(sink)
        return Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9
    }

    /// Adds `bytes` to a new store (opened, its directories made, before the clock starts); the store's directory
    /// stays until the end of the run, so no round measures the file system reclaiming the previous one.
    private static func addToFreshStore(_ bytes: [UInt8], compression: CompressionPolicy) throws -> (
        seconds: Double, stats: ContentStats
    ) {
        storeCount += 1
        let directory = runDirectory + "/store-\(storeCount)"
        let store = try ContentStore(directory: directory, options: .init(compression: compression))
        let cpu = cpuSeconds()
        defer { lastCPU.measured = cpuSeconds() - cpu }
        let start = DispatchTime.now().uptimeNanoseconds
        let adder = store.makeAdder()
        try bytes.withUnsafeBytes { buffer in
            var offset = 0
            while offset < buffer.count {
                let end = min(buffer.count, offset + (1 << 20))
                try adder.append(UnsafeRawBufferPointer(rebasing: buffer[offset..<end]))
                offset = end
            }
        }
        _ = try adder.finish()
        let seconds = Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9
        return (seconds, try store.stats())
    }

    nonisolated(unsafe) private static var storeCount = 0
    /// The CPU seconds (user and system, every thread) of the last reference and measured runs.
    nonisolated(unsafe) private static var lastCPU = (reference: 0.0, measured: 0.0)

    /// CPU seconds this process has used so far, on every thread.
    private static func cpuSeconds() -> Double {
        var usage = rusage()
        getrusage(RUSAGE_SELF.rawValue, &usage)
        return Double(usage.ru_utime.tv_sec + usage.ru_stime.tv_sec)
            + Double(usage.ru_utime.tv_usec + usage.ru_stime.tv_usec) / 1e6
    }
    private static let runDirectory = FileManager.default.temporaryDirectory.appendingPathComponent(
        "openledger-bench-content-\(getpid())"
    ).path
}
