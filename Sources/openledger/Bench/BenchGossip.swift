import Foundation
import Simulator

/// `openledger bench gossip`: the network's gossip figures, each a run of the deterministic simulator with the real
/// router, its reference the shortest-path lower bound measured on the same graph in the same run.
enum BenchGossip {
    static let command = CommandSpec(
        name: "gossip",
        summary: "Gossipsub in the simulator: duplicates, latency vs the shortest path, loss, churn, sybils, speed.",
        discussion: """
            One JSON line per figure. --quick runs every setting at 1,000 nodes with fewer messages (a first pass);
            --only NAME runs one setting (large, small, loss-churn, sybil, speed, sockets). The last, sockets, is no
            simulation: ten real `openledger p2p listen` processes on loopback, one publishing 1 KB messages at
            1,000 a second, with delivery latency from one's standard input to the others' standard output.
            """,
        options: [
            OptionSpec(name: "quick", help: "1,000 nodes and fewer messages in every setting."),
            OptionSpec(
                name: "only", valueName: "NAME",
                help: "Run one setting: large, small, loss-churn, sybil, speed, sockets."),
            OptionSpec(name: "seed", valueName: "S", help: "The seed of every run.", defaultValue: "1"),
        ],
        action: { arguments, output throws(CLIError) in
            let quick = arguments.flag("quick")
            guard let seed = UInt64(arguments.string("seed") ?? "1") else {
                throw .usage("option --seed expects an unsigned 64-bit integer", command: arguments.command)
            }
            let names = settings(quick: quick, seed: seed).map(\.name) + ["sockets"]
            if let only = arguments.string("only"), !names.contains(only) {
                throw .usage(
                    "option --only expects one of \(names.joined(separator: ", ")), got '\(only)'",
                    command: arguments.command)
            }
            let only = arguments.string("only")
            let chosen = settings(quick: quick, seed: seed).filter { setting in
                only.map { $0 == setting.name } ?? true
            }
            for (index, setting) in chosen.enumerated() {
                let run = try SimCommand.measure(setting.config, last: index == chosen.count - 1)
                for figure in try setting.figures(run) { output.line(figure.jsonLine(references: [])) }
            }
            if arguments.string("only").map({ $0 == "sockets" }) ?? true {
                let messages = quick ? 300 : 1_000
                do {
                    let result = try BenchGossipSockets.measure(
                        processes: 10, messages: messages, bytes: 1_024, rate: 1_000, seed: seed)
                    for line in BenchGossipSockets.figures(result, processes: 10, rate: 1_000, bytes: 1_024) {
                        output.line(line)
                    }
                } catch let error as CLIError {
                    throw error
                } catch {
                    throw .failure("sockets: \(error)")
                }
            }
        }
    )

    /// One setting of the figures: a simulation and the figures it yields.
    struct Setting {
        let name: String
        let config: SimulationConfig
        let figures: (SimCommand.Measured) throws(CLIError) -> [BenchFigure]
    }

    /// Simulated seconds per CPU second of `MemoryFloor` replaying `run`'s shape with records of `bytesPerNode`,
    /// in a process of its own (`sim floor`), so that the memory the run leaves behind does not weigh on it.
    ///
    /// The shape: as many nodes, the run's RPC arrivals and its nodes' heartbeats (the events no engine can do
    /// without: the uplink's turns, one event per queued RPC in the simulator, are left out), and as many events
    /// waiting as RPCs in flight (their rate times the mean link latency) plus one heartbeat per node.
    static func floorSimulatedPerCPU(_ run: SimCommand.Measured, bytesPerNode: Int) throws(CLIError) -> Double {
        let report = run.report
        let deliveries = max(0, report.rpcsSent - report.rpcsLost)
        let heartbeats = Double(report.nodes) * report.simulatedSeconds / run.config.router.heartbeatInterval
        let latency = run.config.latencyMilliseconds
        let meanLatency = (latency.lowerBound + latency.upperBound) / 2e3
        let inFlight = report.simulatedSeconds > 0 ? Double(deliveries) / report.simulatedSeconds * meanLatency : 0
        let arguments = [
            "sim", "floor", "--nodes", "\(report.nodes)", "--bytes-per-node", "\(max(64, bytesPerNode))",
            "--deliveries", "\(deliveries)", "--other-events", "\(Int(heartbeats.rounded()))",
            "--pending", "\(max(1, Int(inFlight) + report.nodes))", "--seed", "\(run.config.seed)", "--json",
        ]
        let child = Process()
        child.executableURL = URL(fileURLWithPath: "/proc/self/exe")
        child.arguments = arguments
        let out = Pipe()
        child.standardOutput = out
        child.standardError = FileHandle.standardError
        do { try child.run() } catch { throw .failure("cannot start sim floor: \(error)") }
        let text = String(decoding: out.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        child.waitUntilExit()
        guard child.terminationStatus == 0,
            let object = try? JSONSerialization.jsonObject(with: Data(text.utf8)) as? [String: Any],
            let seconds = (object["cpu_seconds"] as? NSNumber)?.doubleValue
        else { throw .failure("sim floor \(arguments.dropFirst(2).joined(separator: " ")) failed: \(text)") }
        return seconds > 0 ? report.simulatedSeconds / seconds : 0
    }

    /// The run's common details: size, seed, wall time, the trace hash.
    static func details(_ run: SimCommand.Measured) -> [String: String] {
        let r = run.report
        return [
            "nodes": "\(r.nodes)", "degree": "\(run.config.degree)", "message_bytes": "\(run.config.messageBytes)",
            "messages": "\(r.messages)", "seed": "\(run.config.seed)", "trace_hash": "h" + r.traceHash.hex,
            "delivery_ratio": String(format: "%.6f", r.deliveryRatio),
            "strict_delivery_ratio": String(format: "%.6f", r.strictDeliveryRatio),
            "latency_p50_ms": String(format: "%.1f", r.latency.p50),
            "latency_p99_ms": String(format: "%.1f", r.latency.p99),
            "bound_p50_ms": String(format: "%.1f", r.lowerBound.p50),
            "bound_p99_ms": String(format: "%.1f", r.lowerBound.p99),
            "duplicates_per_delivery": String(format: "%.3f", r.duplicatesPerDelivery),
            "unsuppressible_duplicates_per_delivery": String(format: "%.3f", r.unsuppressibleDuplicatesPerDelivery),
            "bytes_per_node_per_message": String(format: "%.0f", r.bytesPerNodePerMessage),
            "simulated_s": String(format: "%.2f", r.simulatedSeconds),
            "wall_s": String(format: "%.2f", run.wallSeconds),
            "cpu_s": String(format: "%.2f", run.cpuSeconds),
        ]
    }

    static func settings(quick: Bool, seed: UInt64) -> [Setting] {
        var base = SimulationConfig()
        base.seed = seed
        base.nodes = quick ? 1_000 : 10_000
        base.degree = 8
        base.latencyMilliseconds = 20...150
        base.bandwidthMbps = 50

        var large = base
        large.messageBytes = 150_000
        large.messages = quick ? 3 : 10
        var small = base
        small.messageBytes = 1_024
        small.messages = quick ? 10 : 20
        var lossy = base
        lossy.nodes = 1_000
        lossy.messages = quick ? 10 : 30
        lossy.loss = 0.1
        lossy.churn = 0.2
        lossy.drain = 10
        var sybil = base
        sybil.nodes = 1_000
        sybil.messages = quick ? 10 : 30
        sybil.attack = Attack(kind: .sybil, fraction: 0.5)
        sybil.publishers = 10
        var speed = base
        speed.messages = quick ? 20 : 100

        return [
            Setting(name: "large", config: large) { run in
                var details = details(run)
                details["target"] = "<= 2.0 with IDONTWANT, delivery 1.0"
                return [
                    BenchFigure(
                        bench: "gossip_150kb_duplicates", unit: .perMessage, value: run.report.duplicatesPerDelivery,
                        implementation: "openledger-sim", details: details)
                ]
            },
            Setting(name: "small", config: small) { run in
                var details = details(run)
                details["target"] = "<= 1.5"
                let bound = run.report.lowerBound.p99
                return [
                    BenchFigure(
                        bench: "gossip_1kb_p99_over_bound", unit: .timesBound,
                        value: bound > 0 ? run.report.latency.p99 / bound : 0, implementation: "openledger-sim",
                        details: details)
                ]
            },
            Setting(name: "loss-churn", config: lossy) { run in
                var details = details(run)
                details["target"] = ">= 99.9 % among nodes online at the end"
                details["loss"] = "0.1"
                details["churn"] = "0.2"
                return [
                    BenchFigure(
                        bench: "gossip_loss_churn_delivery", unit: .percent, value: 100 * run.report.deliveryRatio,
                        implementation: "openledger-sim", details: details)
                ]
            },
            Setting(name: "sybil", config: sybil) { run in
                var details = details(run)
                details["target"] = ">= 99 % honest delivery"
                details["attack"] = "sybil:0.5"
                return [
                    BenchFigure(
                        bench: "gossip_sybil_honest_delivery", unit: .percent, value: 100 * run.report.deliveryRatio,
                        implementation: "openledger-sim", details: details)
                ]
            },
            Setting(name: "speed", config: speed) { run throws(CLIError) in
                var details = details(run)
                details["target"] = ">= 10 on one core"
                details["sim_s_per_cpu_s"] = String(format: "%.2f", run.simulatedPerCPU)
                details["memory_per_node_kb"] = String(format: "%.1f", run.bytesPerNode / 1e3)
                details["peak_memory_mb"] = String(format: "%.1f", Double(run.peakBytes) / 1e6)
                details["huge_pages_mb"] = String(format: "%.1f", Double(run.hugePageBytes) / 1e6)
                details["events_per_wall_s"] = String(format: "%.0f", Double(run.report.events) / run.wallSeconds)
                details["events_per_cpu_s"] = String(format: "%.0f", Double(run.report.events) / run.cpuSeconds)
                details["cpu_us_per_event"] = String(format: "%.2f", 1e6 * run.cpuSeconds / Double(run.report.events))
                // The same run's shape with routers that only write what no router can skip (MemoryFloor), at
                // the run's memory per node and at one page per node.
                let floor = try floorSimulatedPerCPU(run, bytesPerNode: Int(run.bytesPerNode))
                let smallFloor = try floorSimulatedPerCPU(run, bytesPerNode: 4_096)
                details["floor_sim_s_per_cpu_s"] = String(format: "%.2f", floor)
                details["floor_4kib_per_node_sim_s_per_cpu_s"] = String(format: "%.2f", smallFloor)
                details["of_floor"] = String(format: "%.3f", floor > 0 ? run.simulatedPerCPU / floor : 0)
                return [
                    BenchFigure(
                        bench: "gossip_sim_speed", unit: .simulatedSecondsPerSecond, value: run.simulatedPerWall,
                        implementation: "openledger-sim", details: details)
                ]
            },
        ]
    }
}
