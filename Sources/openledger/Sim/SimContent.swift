import Foundation
import Simulator

extension SimCommand {
    static let content = CommandSpec(
        name: "content",
        summary: "Simulate the Bitswap exchange: one seeder, a blob requested by every other peer.",
        discussion: """
            Runs the real Bitswap engine for every peer on a seeded random graph (each peer dials --degree others):
            one seeder holds a blob of --megabytes (a root naming leaves of 256 KiB) and every other peer starts
            within the first second to fetch the root, then the leaves, from its neighbours. Each uplink is a FIFO
            bottleneck of --bandwidth-mbps; links have a fixed latency drawn from LO-HI ms. A run replays exactly
            from its seed: the trace hash says so.
            """,
        options: [
            OptionSpec(name: "nodes", valueName: "N", help: "Peers, the seeder included.", defaultValue: "1000"),
            OptionSpec(name: "megabytes", valueName: "MB", help: "The blob's size, MiB.", defaultValue: "64"),
            OptionSpec(name: "degree", valueName: "D", help: "Neighbours each peer dials.", defaultValue: "8"),
            OptionSpec(
                name: "latency-ms", valueName: "LO-HI", help: "One-way link latency range.", defaultValue: "20-150"),
            OptionSpec(name: "bandwidth-mbps", valueName: "X", help: "Upload bandwidth per peer.", defaultValue: "100"),
            OptionSpec(name: "seed", valueName: "S", help: "The seed of every random choice.", defaultValue: "1"),
            OptionSpec(name: "json", help: "Print one JSON object instead of text."),
        ],
        action: { arguments, output throws(CLIError) in
            var config = BitswapSimulationConfig()
            config.nodes = try arguments.int("nodes", in: 2...100_000) ?? config.nodes
            config.blobBytes = (try arguments.int("megabytes", in: 1...65_536) ?? 64) * 1_048_576
            config.degree = try arguments.int("degree", in: 1...1_000) ?? config.degree
            config.uplinkBytesPerSecond =
                (try arguments.double("bandwidth-mbps", in: 0.001...1_000_000) ?? 100) * 125_000
            config.seed = try seed(arguments) ?? config.seed
            if let latency = try latencyMilliseconds(arguments) { config.latencyMilliseconds = latency }
            var simulation: BitswapSimulation
            do throws(SimulatorError) {
                simulation = try BitswapSimulation(config)
            } catch {
                guard case .invalidParameter(let name, let value, let expected) = error else {
                    throw .failure("\(error)")
                }
                throw .usage("option --\(name): \(value) is out of range (\(expected))", command: arguments.command)
            }
            let run = try timed { () throws(SimulatorError) in simulation.run() }
            let report = run.result
            func number(_ value: Double) -> String { String(format: "%.3f", value) }
            let fields: [(String, String)] = [
                ("nodes", "\(report.nodes)"), ("seed", "\(config.seed)"), ("blocks", "\(report.blocks)"),
                ("completed", "\(report.completed)"), ("completion_p50_s", number(report.completionSecondsP50)),
                ("completion_p90_s", number(report.completionSecondsP90)),
                ("completion_max_s", number(report.completionSecondsMax)),
                ("one_copy_s", number(report.oneCopySeconds)), ("seeder_copies", number(report.seederCopies)),
                ("upload_overhead", number(report.uploadOverhead)), ("duplicate_blocks", "\(report.duplicateBlocks)"),
                ("penalties", "\(report.penalties)"), ("messages", "\(report.messages)"),
                ("simulated_seconds", number(report.simulatedSeconds)), ("events", "\(report.events)"),
                ("wall_seconds", number(run.wall)), ("cpu_seconds", number(run.cpu)),
                ("trace_hash", "\"\(report.traceHash)\""),
            ]
            if arguments.flag("json") {
                output.line("{" + fields.map { "\"\($0.0)\":\($0.1)" }.joined(separator: ",") + "}")
            } else {
                let width = fields.map(\.0.count).max() ?? 0
                for (name, value) in fields {
                    let label = name.replacingOccurrences(of: "_", with: " ")
                    output.line(label.padding(toLength: width, withPad: " ", startingAt: 0) + "  " + value)
                }
            }
        })
}
