import Chain
import ChainNode
import Codec
import Crypto
import Foundation
import HTTP
import LightClient
import Node

/// `openledger bench light`: the light client's cold start (new client → verified head → one proven balance,
/// over loopback to a devnet in this process), signed-header verification throughput, and the peak resident
/// memory of a light-client process.
enum BenchLight {
    static let command = CommandSpec(
        name: "light",
        summary: "Light client: cold start, headers verified/s, resident memory (JSON lines).",
        options: [
            OptionSpec(name: "headers", valueName: "N", help: "Signed headers to verify.", defaultValue: "10000"),
            NodeOptions.config,
        ],
        action: { arguments, output throws(CLIError) in
            let count = try arguments.int("headers", in: 100...1_000_000) ?? 10_000
            let configuration = try NodeOptions.configuration(arguments)
            do {
                for figure in try run(configuration: configuration, headers: count) {
                    output.line(figure.jsonLine(references: []))
                }
            } catch let error as CLIError {
                throw error
            } catch {
                throw .failure("\(error)")
            }
        }
    )

    static func run(configuration: NodeConfiguration, headers count: Int) throws -> [BenchFigure] {
        let config = configuration.network
        let sequencerKey = try configuration.sequencerKey()
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent(
            "openledger-bench-light-\(getpid())"
        ).path
        try? FileManager.default.removeItem(atPath: directory)
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let node = try DevnetNode(config: config, sequencerKey: sequencerKey, dataDirectory: directory)
        for _ in 0..<20 { try node.produceBlock() }
        let rpc = JSONRPCServer(methods: EthereumRPC(node: node).methods)
        let server = try HTTPServer(port: 0) { rpc.handle($0) }
        defer { server.stop() }
        let url = "http://127.0.0.1:\(server.port)"
        let trust = try TrustRoot(config: config)
        let address = config.devAccounts[0].address

        // Cold start: a new client, its first verified head, one proven balance. Median of 21.
        var coldStarts: [Double] = []
        for _ in 0..<21 {
            let start = DispatchTime.now().uptimeNanoseconds
            let client = try LightClient(trust: trust, rpc: try RPCClient(url: url))
            let head = try client.syncHead()
            _ = try client.account(address, at: head)
            coldStarts.append(Double(DispatchTime.now().uptimeNanoseconds - start) / 1e6)
        }
        coldStarts.sort()

        // Header verification: `count` headers signed by the sequencer, verified as the client does.
        var signed: [(rlp: [UInt8], signature: [UInt8])] = []
        var header = try StateTransition.standard(config: config).genesis().block.header
        for number in 1...count {
            header.parentHash = header.hash
            header.number = UInt64(number)
            let rlp = header.encoded
            let digest = SequencerSignature.digest(blockHash: Keccak256.hash(rlp), chainId: config.chainId)
            signed.append((rlp, try sequencerKey.signRecoverable(digest: digest).rsv))
        }
        let verifier = HeaderVerifier(trust: trust)
        let verifyStart = DispatchTime.now().uptimeNanoseconds
        var parent = try StateTransition.standard(config: config).genesis().block.hash
        for item in signed {
            let verified = try verifier.verify(rlp: item.rlp, signature: item.signature)
            guard verified.header.parentHash == parent else { throw CLIError.failure("bench headers do not link") }
            parent = verified.hash
        }
        let verifySeconds = Double(DispatchTime.now().uptimeNanoseconds - verifyStart) / 1e9

        // Peak resident memory of a light-client process doing the same reads.
        let child = Process()
        child.executableURL = URL(fileURLWithPath: CommandLine.arguments[0])
        child.arguments = ["light", "balance", address.checksummed, "--rpc", url, "--config", configuration.path]
        child.standardOutput = FileHandle.nullDevice
        child.environment = ProcessInfo.processInfo.environment.merging(["OPENLEDGER_REPORT_PEAK_RSS": "1"]) { $1 }
        let errors = Pipe()
        child.standardError = errors
        try child.run()
        let report = String(decoding: errors.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        child.waitUntilExit()
        guard let line = report.split(separator: "\n").first(where: { $0.hasPrefix("peak_rss_kb=") }),
            let kilobytes = Double(line.dropFirst("peak_rss_kb=".count))
        else { throw CLIError.failure("the light client did not report its memory: \(report)") }
        let peakMegabytes = kilobytes / 1024

        return [
            BenchFigure(
                bench: "light_cold_start_ms", unit: .milliseconds, value: coldStarts[coldStarts.count / 2],
                details: [
                    "best_ms": String(format: "%.2f", coldStarts[0]),
                    "worst_ms": String(format: "%.2f", coldStarts.last!),
                ]),
            BenchFigure(
                bench: "light_verify_headers", unit: .operationsPerSecond, value: Double(count) / verifySeconds,
                details: ["headers": "\(count)"]),
            BenchFigure(
                bench: "light_client_peak_rss_mb", unit: .megabytes, value: peakMegabytes,
                details: ["exit_status": "\(child.terminationStatus)"]),
        ]
    }
}
