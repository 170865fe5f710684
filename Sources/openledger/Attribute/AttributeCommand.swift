import Attribution
import AttributionRules
import Chain
import Codec
import Crypto
import FileIO
import Foundation
import Node
import Runtime

/// `openledger attribute index|run|verify`: PoA-SA v1 from the command line.
enum AttributeCommand {
    static let command = CommandSpec(
        name: "attribute",
        summary: "Proof of Attribution (PoA-SA v1): index records, attribute a response, verify a proof.",
        subcommands: [
            CommandSpec(
                name: "index", summary: "Build the suffix-array index of a JSONL record file.",
                options: [
                    OptionSpec(
                        name: "records", valueName: "FILE",
                        help: "JSONL: {\"contributor\": \"0x…\", \"text\": \"…\"} per line."),
                    OptionSpec(name: "out", valueName: "DIR", help: "Directory to write the shard files into."),
                    OptionSpec(
                        name: "shard-megabytes", valueName: "M", help: "Largest shard text in MiB.", defaultValue: "64"),
                    OptionSpec(name: "threads", valueName: "N", help: "Shards built at once (default: every core)."),
                ],
                action: { arguments, output throws(CLIError) in
                    let records = try loadRecords(try required(arguments, "records"))
                    let directory = try required(arguments, "out")
                    let megabytes = try arguments.int("shard-megabytes", in: 1...2_047) ?? 64
                    let threads =
                        try arguments.int("threads", in: 1...256) ?? ProcessInfo.processInfo.activeProcessorCount
                    let clock = SystemClock()
                    let start = clock.now()
                    let shards: [AttributionIndex]
                    do {
                        shards = try AttributionIndex.build(
                            records: records, maxShardBytes: megabytes << 20, threads: threads)
                    } catch {
                        throw .failure("\(error)")
                    }
                    let seconds = clock.now().seconds(since: start)
                    let names = try writeShards(shards, to: directory)
                    let bytes = records.reduce(0) { $0 + $1.bytes.count }
                    output.line(
                        "indexed \(records.count) records, \(bytes) bytes, in \(String(format: "%.3f", seconds)) s (\(shards.count) shard\(shards.count == 1 ? "" : "s"))"
                    )
                    output.line("snapshot root \(Hex.encode(shards[0].snapshotRoot))")
                    for name in names { output.line("wrote \(directory)/\(name)") }
                }),
            CommandSpec(
                name: "run", summary: "Attribute a response: spans, credited records, weights per contributor.",
                options: [
                    OptionSpec(
                        name: "index", valueName: "DIR", help: "Index directory (every *.olai shard, in name order)."),
                    OptionSpec(name: "response", valueName: "FILE", help: "The response text."),
                    OptionSpec(
                        name: "min-span", valueName: "L", help: "Minimum span in bytes (default: the network config's)."
                    ),
                    OptionSpec(
                        name: "max-records", valueName: "K",
                        help: "Records credited per span (default: the network config's)."),
                    OptionSpec(
                        name: "proof", valueName: "FILE",
                        help: "Also write the attribution proof (JSON with the response)."),
                    NodeOptions.config,
                    OptionSpec(name: "json", help: "Print JSON."),
                ],
                action: { arguments, output throws(CLIError) in
                    let shards = try loadShards(try required(arguments, "index"))
                    let response = try readFile(try required(arguments, "response"))
                    let (minSpan, maxRecords) = try parameters(arguments)
                    let result = Attribution.attribute(
                        response, shards: shards, minSpan: minSpan, maxRecords: maxRecords)
                    let proof = AttributionProof(
                        result: result, response: response, shards: shards, minSpan: minSpan, maxRecords: maxRecords)
                    if let path = arguments.string("proof") {
                        let object: [String: Any] = [
                            "response": String(decoding: response, as: UTF8.self), "encoded": Hex.encode(proof.encoded),
                            "proof": proof.json,
                        ]
                        let data =
                            (try? JSONSerialization.data(withJSONObject: object, options: [.sortedKeys])) ?? Data()
                        try writeAtomically(Array(data), to: path)
                    }
                    if arguments.flag("json") {
                        output.line(AttributionCLIFormat.json(proof))
                        return
                    }
                    output.line("snapshot root \(Hex.encode(proof.snapshotRoot)) (\(proof.recordCount) records)")
                    output.line(
                        "response \(response.count) bytes, L = \(minSpan), K = \(maxRecords): \(proof.spans.count) spans"
                    )
                    for span in proof.spans {
                        let records = span.records.map { "#\($0.index)@\($0.offset)" }.joined(separator: " ")
                        output.line(
                            "  span [\(span.start), \(span.start + span.length)) \(span.length) bytes: \(records)")
                    }
                    for contributor in proof.contributors {
                        output.line(
                            "  \(contributor.address.lowercaseHex) \(String(format: "%.4f", Double(contributor.weight) / 1e16))%"
                        )
                    }
                }),
            GradientAttributeCommand.command,
            CommandSpec(
                name: "verify", summary: "Verify an attribution proof against the records it claims to cite.",
                options: [
                    OptionSpec(name: "records", valueName: "FILE", help: "JSONL records of the whole snapshot."),
                    OptionSpec(
                        name: "proof", valueName: "FILE", help: "Proof file written by `attribute run --proof`."),
                ],
                action: { arguments, output throws(CLIError) in
                    let records = try loadRecords(try required(arguments, "records"))
                    let file = try readFile(try required(arguments, "proof"))
                    guard let object = (try? JSONSerialization.jsonObject(with: Data(file))) as? [String: Any],
                        let response = object["response"] as? String, let encoded = object["encoded"] as? String,
                        let bytes = try? Hex.decode(encoded)
                    else { throw .failure("proof file is not a JSON object with response and encoded fields") }
                    do {
                        let proof = try AttributionProof(encoded: bytes)
                        try AttributionVerifier.verify(proof, response: Array(response.utf8), records: records)
                        output.line(
                            "valid: \(proof.spans.count) spans, \(proof.contributors.count) contributors, snapshot root \(Hex.encode(proof.snapshotRoot))"
                        )
                    } catch {
                        throw .failure("\(error)")
                    }
                }),
        ])

    static func required(_ arguments: ParsedArguments, _ name: String) throws(CLIError) -> String {
        guard let value = arguments.string(name) else {
            throw .usage("missing option --\(name)", command: arguments.command)
        }
        return value
    }

    static func readFile(_ path: String) throws(CLIError) -> [UInt8] {
        guard let data = FileManager.default.contents(atPath: path) else { throw .failure("cannot read \(path)") }
        return Array(data)
    }

    static func loadRecords(_ path: String) throws(CLIError) -> [Record] {
        do {
            return try Record.parseJSONL(try readFile(path))
        } catch let error as CLIError {
            throw error
        } catch {
            throw .failure("\(path): \(error)")
        }
    }

    /// Every *.olai file of the directory, in name order: the shards of one snapshot, checked to fit together.
    static func loadShards(_ directory: String) throws(CLIError) -> [AttributionIndex] {
        do {
            return try SnapshotIndexFiles.load(directory)
        } catch {
            throw .failure("\(error)")
        }
    }

    /// Writes each shard atomically as shard-NNNN.olai, then removes *.olai files of an earlier index.
    static func writeShards(_ shards: [AttributionIndex], to directory: String) throws(CLIError) -> [String] {
        do {
            return try SnapshotIndexFiles.write(shards, to: directory)
        } catch {
            throw .failure("\(error)")
        }
    }

    /// L and K: `--min-span` and `--max-records`, else the network config's.
    ///
    /// The config is read when one of them is missing or `--config` is given, and a config that cannot be read or is
    /// invalid is an error.
    static func parameters(_ arguments: ParsedArguments) throws(CLIError) -> (minSpan: Int, maxRecords: Int) {
        let minSpan = try arguments.int("min-span", in: 1...1_000_000)
        let maxRecords = try arguments.int("max-records", in: 1...1_000)
        if let minSpan, let maxRecords, arguments.string("config") == nil { return (minSpan, maxRecords) }
        let parameters = try NodeOptions.configuration(arguments).network.parameters
        return (minSpan ?? parameters.attributionMinSpan, maxRecords ?? parameters.attributionMaxRecords)
    }

    /// Writes `bytes` to `path` with the atomic writer, creating the parent directory if needed.
    static func writeAtomically(_ bytes: [UInt8], to path: String) throws(CLIError) {
        do {
            try FileManager.default.createDirectory(
                at: URL(fileURLWithPath: path).deletingLastPathComponent(), withIntermediateDirectories: true)
        } catch {
            throw .failure("cannot write \(path): \(error)")
        }
        do {
            try AtomicFile.write(bytes, to: path)
        } catch {
            throw .failure("\(error)")
        }
    }
}
