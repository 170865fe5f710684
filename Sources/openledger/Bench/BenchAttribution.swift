import Attribution
import AttributionRules
import Codec
import Foundation

/// `openledger bench attribution`: index build MB/s (with libdivsufsort on the same bytes as reference when
/// given), attribution latency of 2 KB responses, index size and peak build memory per corpus byte, on a
/// corpus generated from a seed by a word-level Markov chain.
enum BenchAttribution {
    static let command = CommandSpec(
        name: "attribution",
        summary: "Attribution index build, query latency, index size and build memory (JSON lines).",
        options: [
            OptionSpec(name: "megabytes", valueName: "N", help: "Corpus size.", defaultValue: "100"),
            OptionSpec(name: "seed", valueName: "S", help: "Corpus seed.", defaultValue: "1"),
            OptionSpec(
                name: "reference", valueName: "BINARY",
                help: "libdivsufsort baseline program (tools/bench/divsufsort_baseline.c)."),
            OptionSpec(name: "threads", valueName: "N", help: "Cores for building and querying (default: all)."),
        ],
        action: { arguments, output throws(CLIError) in
            let megabytes = try arguments.int("megabytes", in: 1...2_000) ?? 100
            let seed = UInt64(try arguments.int("seed", in: 0...Int.max) ?? 1)
            var references: [String: [BenchFigure]] = [:]
            let corpus = MarkovCorpus.generate(bytes: megabytes * 1_000_000, seed: seed)
            if let binary = arguments.string("reference") {
                let file = FileManager.default.temporaryDirectory.appendingPathComponent(
                    "openledger-corpus-\(getpid())")
                defer { try? FileManager.default.removeItem(at: file) }
                do {
                    try Data(corpus.flatMap { $0 }).write(to: file)
                    let process = Process()
                    process.executableURL = URL(fileURLWithPath: binary)
                    process.arguments = [file.path]
                    let pipe = Pipe()
                    process.standardOutput = pipe
                    try process.run()
                    let line = pipe.fileHandleForReading.readDataToEndOfFile()
                    process.waitUntilExit()
                    let path = file.path + ".ref"
                    try line.write(to: URL(fileURLWithPath: path))
                    references = try BenchFigure.load(path)
                    try? FileManager.default.removeItem(atPath: path)
                } catch let error as CLIError {
                    throw error
                } catch {
                    throw .failure("reference run failed: \(error)")
                }
            }
            let threads = try arguments.int("threads", in: 1...256) ?? ProcessInfo.processInfo.activeProcessorCount
            for figure in try run(corpus: corpus, threads: threads) {
                let name = figure.bench.hasPrefix("attribution_index_build") ? "attribution_index_build" : figure.bench
                output.line(figure.jsonLine(references: references[name] ?? []))
            }
        }
    )

    static func run(corpus: [[UInt8]], threads: Int) throws(CLIError) -> [BenchFigure] {
        let bytes = corpus.reduce(0) { $0 + $1.count }
        let records = corpus.enumerated().map { index, text in
            Record(contributor: try! Address(bytes: [UInt8](repeating: UInt8(index % 251), count: 20)), bytes: text)
        }
        func build(threads: Int) throws(CLIError) -> (shards: [AttributionIndex], seconds: Double) {
            let start = DispatchTime.now().uptimeNanoseconds
            do {
                let shards = try AttributionIndex.build(records: records, threads: threads)
                return (shards, Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9)
            } catch {
                throw .failure("\(error)")
            }
        }
        let baseline = memory("VmRSS")
        try? "5".write(toFile: "/proc/self/clear_refs", atomically: false, encoding: .utf8)  // resets VmHWM
        var (shards, buildSeconds) = try build(threads: threads)
        let peak = memory("VmHWM")
        // Queries run on the shard files, mapped as `attribute run` maps them.
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("openledger-index-\(getpid())")
            .path
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let names = try AttributeCommand.writeShards(shards, to: directory)
        let fileBytes = names.reduce(0) { total, name in
            total + ((try? FileManager.default.attributesOfItem(atPath: directory + "/" + name)[.size] as? Int) ?? 0)
        }
        shards = []
        let (_, singleSeconds) = try build(threads: 1)
        let mapped = try AttributeCommand.loadShards(directory)
        // 2 KB responses: half copied from the corpus, half fresh text.
        var random = SystemRandomNumberGenerator()
        var latencies: [Double] = []
        for trial in 0..<200 {
            let source = corpus[Int.random(in: 0..<corpus.count, using: &random)]
            var response = Array(source.prefix(1024))
            response += MarkovCorpus.generate(bytes: 2048 - response.count, seed: UInt64(trial) + 99).flatMap { $0 }
            let begin = DispatchTime.now().uptimeNanoseconds
            _ = Attribution.attribute(
                Array(response.prefix(2048)), shards: mapped, minSpan: 32, maxRecords: 4, threads: threads)
            latencies.append(Double(DispatchTime.now().uptimeNanoseconds - begin) / 1e6)
        }
        latencies.sort()
        return [
            BenchFigure(
                bench: "attribution_index_build", unit: .megabytesPerSecond, value: Double(bytes) / 1e6 / buildSeconds,
                details: [
                    "corpus_bytes": "\(bytes)", "seconds": String(format: "%.2f", buildSeconds),
                    "threads": "\(threads)",
                    "shards": "\(mapped.count)",
                ]),
            BenchFigure(
                bench: "attribution_index_build_1_thread", unit: .megabytesPerSecond,
                value: Double(bytes) / 1e6 / singleSeconds,
                details: [
                    "seconds": String(format: "%.2f", singleSeconds), "threads": "1", "shards": "\(mapped.count)",
                ]),
            BenchFigure(
                bench: "attribution_query_2kb_p50_ms", unit: .milliseconds, value: latencies[latencies.count / 2],
                details: [
                    "p99_ms": String(format: "%.2f", latencies[latencies.count * 99 / 100]), "threads": "\(threads)",
                ]),
            BenchFigure(
                bench: "attribution_index_size", unit: .bytesPerByte, value: Double(fileBytes - bytes) / Double(bytes),
                details: ["files_mb": "\(fileBytes / 1_000_000)"]),
            BenchFigure(
                bench: "attribution_build_peak_memory", unit: .bytesPerByte,
                value: Double(max(0, peak - baseline)) / Double(bytes), details: ["peak_rss_mb": "\(peak / 1_048_576)"]),
        ]
    }

    /// A field of /proc/self/status (or another /proc file of `Field:  N kB` lines) in bytes; 0 when it is missing.
    static func memory(_ field: String, in path: String = "/proc/self/status") -> Int {
        guard let text = try? String(contentsOfFile: path, encoding: .utf8),
            let line = text.split(separator: "\n").first(where: { $0.hasPrefix(field + ":") }),
            let kilobytes = Int(line.split(separator: " ").dropFirst().first ?? "")
        else { return 0 }
        return kilobytes * 1024
    }
}

/// Deterministic text with realistic statistics: a word-level Markov chain over a seeded vocabulary with a
/// Zipf-like word frequency, split into records of about 2 KB.
enum MarkovCorpus {
    static func generate(bytes: Int, seed: UInt64) -> [[UInt8]] {
        var state = seed &* 0x9E37_79B9_7F4A_7C15 &+ 1
        func next() -> UInt64 {
            state ^= state << 13
            state ^= state >> 7
            state ^= state << 17
            return state
        }
        let letters = Array("etaoinshrdlcumwfgypbvkjxqz".utf8)
        let vocabulary: [[UInt8]] = (0..<4_096).map { _ in
            (0..<(2 + Int(next() % 8))).map { _ in letters[Int(min(next() % 26, next() % 26))] }
        }
        // Each word has a few likely successors: a first-order chain.
        let successors: [[Int]] = (0..<vocabulary.count).map { _ in
            (0..<6).map { _ in Int(next() % 64) * Int(next() % 64) }
        }
        var records: [[UInt8]] = []
        var current: [UInt8] = []
        var word = 0
        var completed = 0
        var produced = 0
        while produced < bytes {
            word =
                next() % 4 == 0
                ? Int(next() % UInt64(vocabulary.count)) : successors[word][Int(next() % 6)] % vocabulary.count
            current += vocabulary[word]
            current.append(next() % 12 == 0 ? UInt8(ascii: ".") : UInt8(ascii: " "))
            produced = completed + current.count
            if current.count >= 2_000 || produced >= bytes {
                let record = Array(current.prefix(max(0, bytes - completed)))
                records.append(record)
                completed += record.count
                produced = completed
                current = []
            }
        }
        return records
    }
}
