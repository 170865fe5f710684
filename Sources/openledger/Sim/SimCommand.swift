import EventLoop
import Foundation
import Simulator

#if canImport(Glibc)
    import Glibc
#endif

/// `openledger sim gossip`, `sim dht` and `sim content`: thousands of real gossipsub routers, Kademlia DHTs or
/// Bitswap engines in the deterministic simulator; `sim floor`: the memory floor a simulation's speed is measured
/// against.
enum SimCommand {
    /// Whether `arguments` (the command line after the program's name) run a simulation, whose process then
    /// starts again with huge pages for its heap (`Syscall.restartWithHugePages`, docs/simulator.md): `sim …` and
    /// `bench gossip`.
    static func runsSimulation(_ arguments: [String]) -> Bool {
        guard let first = arguments.first else { return false }
        return first == "sim" || (first == "bench" && arguments.dropFirst().first == "gossip")
    }

    /// Whether the process exits once the command is done (the executable sets it; a test that runs commands in its
    /// own process does not): the last simulation's state is then left for the exit to return (`measure`).
    nonisolated(unsafe) static var processExitsAfterCommand = false

    static let command = CommandSpec(
        name: "sim",
        summary: "Deterministic simulations of the network's protocols on a simulated network.",
        subcommands: [gossip, dht, content, floor]
    )

    static let gossip = CommandSpec(
        name: "gossip",
        summary: "Simulate gossipsub: delivery, latency against the shortest-path bound, duplicates, bytes, speed.",
        discussion: """
            Runs the real gossipsub router for every node on a seeded simulated network: each node dials D random
            peers (about 2·D connections), links have a fixed latency drawn uniformly from LO-HI ms, every node's
            uplink serializes its RPCs at the bandwidth given, packets are lost with probability --loss, a --churn
            fraction of the nodes restarts once. A run replays exactly from its seed: the trace hash says so.
            """,
        options: [
            OptionSpec(name: "nodes", valueName: "N", help: "Nodes.", defaultValue: "1000"),
            OptionSpec(
                name: "degree", valueName: "D", help: "Mesh degree D; each node dials D peers.", defaultValue: "8"),
            OptionSpec(name: "message-bytes", valueName: "B", help: "Payload bytes per message.", defaultValue: "1024"),
            OptionSpec(name: "messages", valueName: "M", help: "Messages published.", defaultValue: "10"),
            OptionSpec(name: "publishers", valueName: "P", help: "Distinct publishers, in turn.", defaultValue: "1"),
            OptionSpec(name: "interval-ms", valueName: "MS", help: "Between two publications.", defaultValue: "1000"),
            OptionSpec(
                name: "latency-ms", valueName: "LO-HI", help: "One-way link latency range.", defaultValue: "20-150"),
            OptionSpec(name: "bandwidth-mbps", valueName: "X", help: "Upload bandwidth per node.", defaultValue: "50"),
            OptionSpec(name: "loss", valueName: "P", help: "Probability that a packet is lost.", defaultValue: "0"),
            OptionSpec(name: "churn", valueName: "P", help: "Fraction of nodes that restart once.", defaultValue: "0"),
            OptionSpec(
                name: "attack", valueName: "KIND:FRACTION",
                help: "Byzantine peers: silent, spam, iwant-flood, sybil or eclipse, and their fraction."),
            OptionSpec(
                name: "partition", valueName: "START-END",
                help: "Cut half the nodes off from simulated second START to END."),
            OptionSpec(
                name: "drain", valueName: "S", help: "Seconds simulated after the last publication.", defaultValue: "5"),
            OptionSpec(name: "seed", valueName: "S", help: "The seed of every random choice.", defaultValue: "1"),
            OptionSpec(
                name: "no-score", help: "Run the routers without peer scoring (the network's parameters are on)."),
            OptionSpec(name: "per-message", help: "Also print each message's latency p50/p99 (ms)."),
            OptionSpec(name: "json", help: "Print one JSON object instead of text."),
        ],
        action: { arguments, output throws(CLIError) in
            let config = try configuration(arguments)
            let run = try measure(config, last: true)
            if arguments.flag("json") {
                output.line(run.json)
            } else {
                for line in run.text { output.line(line) }
            }
            if arguments.flag("per-message") {
                for (number, latency) in run.report.latencyByMessage.enumerated() {
                    output.line(
                        "message \(number): p50 \(String(format: "%.1f", latency.p50)) ms, "
                            + "p99 \(String(format: "%.1f", latency.p99)) ms")
                }
            }
        }
    )

    static let floor = CommandSpec(
        name: "floor",
        summary: "The memory floor of a simulation's shape: its events with nothing done but cache-line writes.",
        discussion: """
            Replays a run's shape with no protocol (Simulator.MemoryFloor): the events given, through the
            simulator's event queue with --pending waiting, over --nodes records of --bytes-per-node; each RPC
            arrival writes --lines cache lines at random in its node's record, every other event one, and each
            event schedules one more 20-150 ms later at a random node. Prints the CPU time it took.
            `bench gossip --only speed` runs it in a process of its own after the speed run, with that run's shape.
            """,
        options: [
            OptionSpec(name: "nodes", valueName: "N", help: "Nodes, one record each.", defaultValue: "10000"),
            OptionSpec(name: "bytes-per-node", valueName: "B", help: "Bytes of each record.", defaultValue: "4096"),
            OptionSpec(name: "deliveries", valueName: "D", help: "RPC arrivals.", defaultValue: "1000000"),
            OptionSpec(name: "other-events", valueName: "O", help: "Other events (heartbeats).", defaultValue: "0"),
            OptionSpec(name: "pending", valueName: "P", help: "Events waiting in the queue.", defaultValue: "30000"),
            OptionSpec(name: "lines", valueName: "L", help: "Cache lines an arrival writes.", defaultValue: "2"),
            OptionSpec(name: "seed", valueName: "S", help: "The seed of every random choice.", defaultValue: "1"),
            OptionSpec(name: "json", help: "Print one JSON object instead of text."),
        ],
        action: { arguments, output throws(CLIError) in
            let shape = try floorShape(arguments)
            guard shape.bytesPerNode <= MemoryFloor.maximumBytes / shape.nodes else {
                throw .usage(
                    "--nodes × --bytes-per-node must be at most \(MemoryFloor.maximumBytes) bytes",
                    command: arguments.command)
            }
            let start = processCPUSeconds()
            guard let outcome = MemoryFloor.replay(shape) else {
                throw .usage("the shape is out of the floor's bounds", command: arguments.command)
            }
            let seconds = processCPUSeconds() - start
            let events = shape.deliveries + shape.otherEvents
            let perEvent = events > 0 ? 1e9 * seconds / Double(events) : 0
            if arguments.flag("json") {
                output.line(
                    "{\"nodes\":\(shape.nodes),\"bytes_per_node\":\(shape.bytesPerNode),"
                        + "\"deliveries\":\(shape.deliveries),\"other_events\":\(shape.otherEvents),"
                        + "\"pending\":\(shape.pending),\"lines\":\(shape.linesPerDelivery),"
                        + "\"lines_written\":\(outcome.linesWritten),\"checksum\":\(outcome.checksum),"
                        + "\"cpu_seconds\":\(String(format: "%.3f", seconds)),"
                        + "\"ns_per_event\":\(String(format: "%.1f", perEvent))}")
            } else {
                output.line("events: \(events) over \(shape.nodes) records of \(shape.bytesPerNode) bytes")
                output.line("lines written: \(outcome.linesWritten)")
                output.line(
                    "cpu seconds: \(String(format: "%.3f", seconds)) (\(String(format: "%.1f", perEvent)) ns per event)"
                )
            }
        }
    )

    /// The floor's shape the options describe.
    static func floorShape(_ arguments: ParsedArguments) throws(CLIError) -> MemoryFloor.Shape {
        guard let seed = UInt64(arguments.string("seed") ?? "1") else {
            throw .usage("option --seed expects an unsigned 64-bit integer", command: arguments.command)
        }
        let limit = MemoryFloor.maximumEvents
        return MemoryFloor.Shape(
            nodes: try arguments.int("nodes", in: 1...10_000_000) ?? 10_000,
            bytesPerNode: try arguments.int("bytes-per-node", in: 64...(64 << 20)) ?? 4_096,
            deliveries: try arguments.int("deliveries", in: 0...limit) ?? 1_000_000,
            otherEvents: try arguments.int("other-events", in: 0...limit) ?? 0,
            pending: try arguments.int("pending", in: 1...limit) ?? 30_000,
            linesPerDelivery: try arguments.int("lines", in: 1...64) ?? 2, seed: seed)
    }

    static let dht = CommandSpec(
        name: "dht",
        summary: "Simulate the Kademlia DHT: lookup hops and latency, provide latency, find-provider success.",
        discussion: """
            Runs the real Kademlia DHT for every node on a seeded simulated network: nodes join one after another
            through three earlier nodes and refresh their buckets once; then providers announce keys and other nodes
            look them up (findProviders, and every fifth lookup a findPeer). Links have a fixed latency drawn
            uniformly from LO-HI ms and a first request costs a one-round-trip handshake; requests and answers are
            lost with probability --loss; a --churn fraction of the nodes leaves during the provides and restarts
            empty later. A run replays exactly from its seed: the trace hash says so.
            """,
        options: [
            OptionSpec(name: "nodes", valueName: "N", help: "DHT servers.", defaultValue: "1000"),
            OptionSpec(name: "lookups", valueName: "L", help: "Lookups measured.", defaultValue: "1000"),
            OptionSpec(name: "providers", valueName: "P", help: "Keys provided, one provider each (default: L / 10)."),
            OptionSpec(
                name: "latency-ms", valueName: "LO-HI", help: "One-way link latency range.", defaultValue: "20-150"),
            OptionSpec(
                name: "loss", valueName: "P", help: "Probability that a request or an answer is lost.",
                defaultValue: "0"),
            OptionSpec(
                name: "churn", valueName: "P", help: "Fraction of nodes that leave and restart empty.",
                defaultValue: "0"),
            OptionSpec(name: "alpha", valueName: "A", help: "Concurrent queries per lookup.", defaultValue: "10"),
            OptionSpec(
                name: "classic-provide", help: "Provide the classic way: store on the k closest after the whole walk."),
            OptionSpec(name: "no-slow-queries", help: "Let a slow query hold its slot until it answers or times out."),
            OptionSpec(name: "seed", valueName: "S", help: "The seed of every random choice.", defaultValue: "1"),
            OptionSpec(name: "json", help: "Print one JSON object instead of text."),
        ],
        action: { arguments, output throws(CLIError) in
            let config = try dhtConfiguration(arguments)
            let run = try measureDHT(config)
            if arguments.flag("json") {
                output.line(run.json)
            } else {
                for line in run.text { output.line(line) }
            }
        }
    )

    /// The DHT simulation the options describe.
    static func dhtConfiguration(_ arguments: ParsedArguments) throws(CLIError) -> DHTSimulationConfig {
        var config = DHTSimulationConfig()
        config.nodes = try arguments.int("nodes", in: 2...200_000) ?? config.nodes
        config.lookups = try arguments.int("lookups", in: 1...1_000_000) ?? config.lookups
        config.providers = try arguments.int("providers", in: 1...100_000) ?? 0
        config.loss = try arguments.double("loss", in: 0...0.999) ?? 0
        config.churn = try arguments.double("churn", in: 0...0.999) ?? 0
        config.dht.alpha = try arguments.int("alpha", in: 1...256) ?? config.dht.alpha
        if arguments.flag("classic-provide") { config.dht.optimisticProvide = false }
        if arguments.flag("no-slow-queries") { config.dht.slowQueryAfter = nil }
        config.seed = try seed(arguments) ?? config.seed
        if let latency = try latencyMilliseconds(arguments) { config.latencyMilliseconds = latency }
        do {
            try config.validate()
        } catch {
            guard case .invalidParameter(let name, let value, let expected) = error else { throw .failure("\(error)") }
            throw .usage("option --\(name): \(value) is out of range (\(expected))", command: arguments.command)
        }
        return config
    }

    /// --seed as an unsigned 64-bit integer.
    static func seed(_ arguments: ParsedArguments) throws(CLIError) -> UInt64? {
        guard let text = arguments.string("seed") else { return nil }
        guard let seed = UInt64(text) else {
            throw .usage("option --seed expects an unsigned 64-bit integer, got '\(text)'", command: arguments.command)
        }
        return seed
    }

    /// A DHT simulation's report with the wall and CPU time the process measured around it.
    struct DHTMeasured {
        let config: DHTSimulationConfig
        let report: DHTSimulationReport
        let wallSeconds: Double
        let cpuSeconds: Double
        let peakBytes: Int

        /// The figures as (name, value) pairs, in print order.
        var fields: [(String, String)] {
            let r = report
            func number(_ value: Double) -> String { String(format: "%.3f", value) }
            return [
                ("nodes", "\(r.nodes)"), ("seed", "\(config.seed)"), ("loss", number(config.loss)),
                ("churn", number(config.churn)), ("alpha", "\(config.dht.alpha)"), ("k", "\(config.dht.k)"),
                ("optimistic_provide", "\(config.dht.optimisticProvide)"),
                ("slow_query_after_s", config.dht.slowQueryAfter.map(number) ?? "null"),
                ("lookups", "\(r.lookups)"), ("hops_p50", number(r.hops.p50)), ("hops_p90", number(r.hops.p90)),
                ("hops_max", number(r.hops.max)),
                ("lookup_latency_p50_ms", number(r.lookupLatency.p50)),
                ("lookup_latency_p90_ms", number(r.lookupLatency.p90)),
                ("lookup_latency_p99_ms", number(r.lookupLatency.p99)),
                ("find_providers", "\(r.findProviders)"),
                ("find_providers_success", String(format: "%.6f", r.findProvidersSuccess)),
                ("find_providers_timed_out", "\(r.findProvidersTimedOut)"),
                ("first_provider_latency_p50_ms", number(r.firstProviderLatency.p50)),
                ("first_provider_latency_p90_ms", number(r.firstProviderLatency.p90)),
                ("first_provider_latency_p99_ms", number(r.firstProviderLatency.p99)),
                ("find_peer", "\(r.findPeers)"), ("find_peer_success", String(format: "%.6f", r.findPeerSuccess)),
                ("provides", "\(r.provides)"), ("provide_success", String(format: "%.6f", r.provideSuccess)),
                ("provide_latency_p50_ms", number(r.provideLatency.p50)),
                ("provide_latency_p90_ms", number(r.provideLatency.p90)),
                ("provide_latency_p99_ms", number(r.provideLatency.p99)),
                ("provide_stored_mean", number(r.provideStoredMean)),
                ("k_closest_holding_record", number(r.kClosestHeld)),
                ("network_size_estimate", number(r.networkSizeEstimate)),
                ("requests", "\(r.requests)"), ("requests_lost", "\(r.requestsLost)"),
                ("answers_lost", "\(r.answersLost)"), ("requests_vanished", "\(r.vanished)"),
                ("query_timeouts", "\(r.timeouts)"), ("connections", "\(r.connections)"),
                ("restarts", "\(r.restarts)"), ("simulated_seconds", number(r.simulatedSeconds)),
                ("events", "\(r.events)"), ("wall_seconds", number(wallSeconds)), ("cpu_seconds", number(cpuSeconds)),
                ("peak_memory_mb", number(Double(peakBytes) / 1e6)), ("trace_hash", "\"\(r.traceHash.hex)\""),
            ]
        }

        var json: String { "{" + fields.map { "\"\($0.0)\":\($0.1)" }.joined(separator: ",") + "}" }

        var text: [String] {
            let width = fields.map(\.0.count).max() ?? 0
            return fields.map { name, value in
                let label = name.replacingOccurrences(of: "_", with: " ")
                return label + String(repeating: " ", count: width - label.count) + "  "
                    + value.replacingOccurrences(of: "\"", with: "")
            }
        }
    }

    /// Runs `config` and measures the wall and CPU time and the peak memory around it.
    static func measureDHT(_ config: DHTSimulationConfig) throws(CLIError) -> DHTMeasured {
        let run = try timed { () throws(SimulatorError) in try DHTSimulator.run(config) }
        return DHTMeasured(
            config: config, report: run.result, wallSeconds: run.wall, cpuSeconds: run.cpu, peakBytes: run.peak)
    }

    /// Runs `body` with the wall clock, the process's CPU time and its peak resident memory (VmHWM, reset first)
    /// measured around it; a simulator error becomes a failure.
    static func timed<R>(
        _ body: () throws(SimulatorError) -> R
    ) throws(CLIError) -> (result: R, wall: Double, cpu: Double, peak: Int) {
        try? "5".write(toFile: "/proc/self/clear_refs", atomically: false, encoding: .utf8)  // resets VmHWM
        let clock = ContinuousClock()
        let cpuStart = processCPUSeconds()
        let start = clock.now
        let result: R
        do throws(SimulatorError) {
            result = try body()
        } catch {
            throw .failure("\(error)")
        }
        let elapsed = clock.now - start
        let wall = Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) / 1e18
        return (result, wall, processCPUSeconds() - cpuStart, BenchAttribution.memory("VmHWM"))
    }

    /// The simulation the options describe.
    static func configuration(_ arguments: ParsedArguments) throws(CLIError) -> SimulationConfig {
        var config = SimulationConfig()
        config.nodes = try arguments.int("nodes", in: 2...1_000_000) ?? config.nodes
        config.degree = try arguments.int("degree", in: 1...1_000) ?? config.degree
        config.messageBytes = try arguments.int("message-bytes", in: 9...(16 << 20)) ?? config.messageBytes
        config.messages = try arguments.int("messages", in: 1...1_000_000) ?? config.messages
        config.publishers = try arguments.int("publishers", in: 1...1_000_000) ?? config.publishers
        config.publishInterval = (try arguments.double("interval-ms", in: 0...3_600_000) ?? 1_000) / 1_000
        config.bandwidthMbps = try arguments.double("bandwidth-mbps", in: 0.001...1_000_000) ?? config.bandwidthMbps
        config.loss = try arguments.double("loss", in: 0...0.999) ?? 0
        config.churn = try arguments.double("churn", in: 0...0.999) ?? 0
        config.drain = try arguments.double("drain", in: 0...3_600) ?? config.drain
        if arguments.flag("no-score") {
            config.networkScoring = false
            config.router.score = nil
        }
        if let text = arguments.string("seed") {
            guard let seed = UInt64(text) else {
                throw .usage(
                    "option --seed expects an unsigned 64-bit integer, got '\(text)'", command: arguments.command)
            }
            config.seed = seed
        }
        if let latency = try latencyMilliseconds(arguments) { config.latencyMilliseconds = latency }
        if let text = arguments.string("partition") {
            guard let (start, end) = range(text), start >= 0, end > start else {
                throw .usage(
                    "option --partition expects START-END simulated seconds with START < END, got '\(text)'",
                    command: arguments.command)
            }
            config.partition = Partition(start: start, end: end)
        }
        if let text = arguments.string("attack") {
            let parts = text.split(separator: ":", omittingEmptySubsequences: false)
            let kinds = AttackKind.allCases.map(\.rawValue).joined(separator: ", ")
            guard parts.count == 2, let kind = AttackKind(rawValue: String(parts[0])), let fraction = Double(parts[1]),
                fraction > 0, fraction < 1
            else {
                throw .usage(
                    "option --attack expects KIND:FRACTION with KIND one of \(kinds) and 0 < FRACTION < 1, got '\(text)'",
                    command: arguments.command)
            }
            config.attack = Attack(kind: kind, fraction: fraction)
        }
        do {
            try config.validate()
        } catch {
            guard case .invalidParameter(let name, let value, let expected) = error else { throw .failure("\(error)") }
            throw .usage("option --\(name): \(value) is out of range (\(expected))", command: arguments.command)
        }
        return config
    }

    /// `--latency-ms LO-HI` as a range of milliseconds, nil when not given.
    static func latencyMilliseconds(_ arguments: ParsedArguments) throws(CLIError) -> ClosedRange<Double>? {
        guard let text = arguments.string("latency-ms") else { return nil }
        guard let (low, high) = range(text), low >= 0, low <= high, high <= 60_000 else {
            throw .usage(
                "option --latency-ms expects LO-HI milliseconds with 0 <= LO <= HI <= 60000, got '\(text)'",
                command: arguments.command)
        }
        return low...high
    }

    /// "A-B" as two numbers.
    static func range(_ text: String) -> (Double, Double)? {
        let parts = text.split(separator: "-", omittingEmptySubsequences: false)
        guard parts.count == 2, let low = Double(parts[0]), let high = Double(parts[1]), low.isFinite, high.isFinite
        else { return nil }
        return (low, high)
    }

    /// A simulation's report with what the process measured around it: wall time and memory.
    struct Measured {
        let config: SimulationConfig
        let report: SimulationReport
        let wallSeconds: Double
        let cpuSeconds: Double
        let peakBytes: Int
        let bytesPerNode: Double
        /// The process's memory in transparent huge pages at the end of the run (`AnonHugePages`).
        let hugePageBytes: Int

        var simulatedPerWall: Double { wallSeconds > 0 ? report.simulatedSeconds / wallSeconds : 0 }
        /// Simulated seconds per second of this process's CPU time: the speed on one core when the machine is shared.
        var simulatedPerCPU: Double { cpuSeconds > 0 ? report.simulatedSeconds / cpuSeconds : 0 }

        /// The figures as (name, value) pairs, in print order.
        var fields: [(String, String)] {
            let r = report
            func number(_ value: Double) -> String { String(format: "%.3f", value) }
            var fields: [(String, String)] = [
                ("nodes", "\(r.nodes)"), ("degree", "\(config.degree)"), ("message_bytes", "\(config.messageBytes)"),
                ("messages", "\(r.messages)"), ("seed", "\(config.seed)"),
                ("delivery_ratio", String(format: "%.6f", r.deliveryRatio)),
                ("strict_delivery_ratio", String(format: "%.6f", r.strictDeliveryRatio)),
                ("deliveries", "\(r.deliveries)"), ("expected_deliveries", "\(r.expectedDeliveries)"),
                ("latency_p50_ms", number(r.latency.p50)), ("latency_p90_ms", number(r.latency.p90)),
                ("latency_p99_ms", number(r.latency.p99)), ("bound_p50_ms", number(r.lowerBound.p50)),
                ("bound_p90_ms", number(r.lowerBound.p90)), ("bound_p99_ms", number(r.lowerBound.p99)),
                ("duplicates_per_delivery", number(r.duplicatesPerDelivery)),
                ("unsuppressible_duplicates_per_delivery", number(r.unsuppressibleDuplicatesPerDelivery)),
                ("bytes_per_node_per_message", number(r.bytesPerNodePerMessage)),
                ("rpcs_sent", "\(r.rpcsSent)"), ("rpcs_lost", "\(r.rpcsLost)"),
                ("queued_copies_dropped", "\(r.queuedCopiesDropped)"), ("disconnects", "\(r.disconnects)"),
                ("invalid_delivered", "\(r.invalidDelivered)"), ("invalid_rejected", "\(r.invalidRejected)"),
            ]
            fields += r.routerCounters.map { ("router_" + $0.0, "\($0.1)") }
            if let target = r.targetDeliveryRatio { fields.append(("eclipse_target_delivery_ratio", number(target))) }
            if let attack = config.attack {
                fields.append(("attack", "\"\(attack.kind.rawValue):\(attack.fraction)\""))
            }
            fields += [
                ("simulated_seconds", number(r.simulatedSeconds)), ("events", "\(r.events)"),
                ("wall_seconds", number(wallSeconds)), ("simulated_seconds_per_wall_second", number(simulatedPerWall)),
                ("cpu_seconds", number(cpuSeconds)), ("simulated_seconds_per_cpu_second", number(simulatedPerCPU)),
                ("peak_memory_mb", number(Double(peakBytes) / 1e6)),
                ("memory_per_node_kb", number(bytesPerNode / 1e3)),
                ("huge_pages_mb", number(Double(hugePageBytes) / 1e6)),
                ("signature_checks", "\(r.signatureChecks.asked)"),
                ("signature_verifications", "\(r.signatureChecks.verified)"),
                ("trace_hash", "\"\(r.traceHash.hex)\""),
            ]
            return fields
        }

        var json: String { "{" + fields.map { "\"\($0.0)\":\($0.1)" }.joined(separator: ",") + "}" }

        var text: [String] {
            fields.map { name, value in
                name.replacingOccurrences(of: "_", with: " ") + ": " + value.replacingOccurrences(of: "\"", with: "")
            }
        }
    }

    /// Runs `config` and measures the wall time and the process's peak memory (VmHWM) around it.
    ///
    /// The process first keeps the memory a simulation frees instead of handing it back to the kernel. A run
    /// allocates and frees millions of small blocks (RPCs, action lists, cache entries) while its heap grows to
    /// hundreds of megabytes; by default glibc trims the top of the heap whenever 128 KiB of it is free, so the same
    /// pages are faulted in and zeroed again, over and over. So: no trimming below 1 GiB free, 64 MiB of slack on
    /// each growth, mmap only for blocks of 32 MiB and more (idempotent, so each measured setting may set it). See
    /// docs/simulator.md.
    ///
    /// `last` says no other simulation runs in this command after this one: when the process then exits
    /// (`processExitsAfterCommand`), its state is never freed (the exit returns it); an earlier one is freed for the
    /// next to reuse.
    static func measure(_ config: SimulationConfig, last: Bool) throws(CLIError) -> Measured {
        Syscall.keepHeap(trimBytes: 1 << 30, padBytes: 64 << 20, mmapBytes: 32 << 20)
        let baseline = BenchAttribution.memory("VmRSS")
        let run = try timed { () throws(SimulatorError) in
            last && processExitsAfterCommand
                ? try GossipSimulator.runLeavingStateForExit(config) : try GossipSimulator.run(config)
        }
        return Measured(
            config: config, report: run.result, wallSeconds: run.wall, cpuSeconds: run.cpu, peakBytes: run.peak,
            bytesPerNode: Double(max(0, run.peak - baseline)) / Double(config.nodes),
            hugePageBytes: BenchAttribution.memory("AnonHugePages", in: "/proc/self/smaps_rollup"))
    }

    /// The CPU time this process has used (all threads; the simulator runs on one).
    static func processCPUSeconds() -> Double {
        var time = timespec()
        clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &time)
        return Double(time.tv_sec) + Double(time.tv_nsec) / 1e9
    }
}
