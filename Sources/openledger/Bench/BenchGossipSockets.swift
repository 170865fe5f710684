import Foundation
import Runtime
import Synchronization

/// Gossip over real sockets: `openledger p2p listen --topic` processes on loopback, one publisher.
///
/// The listeners form a seeded random connected topology and the publisher sends at a fixed rate; delivery latency is the time from writing a line to the publisher's
/// standard input to reading it from a receiver's standard output. The reference in the same run is the time a
/// line takes through the same pipes and JSON printing with no network: the one-process floor.
enum BenchGossipSockets {
    struct Result {
        var latenciesMilliseconds: [Double]
        var expected: Int
        var floorMilliseconds: [Double]
    }

    /// Starts `processes` listeners, waits until probes cross the whole network, then publishes `messages` lines
    /// of `bytes` bytes at `rate` per second from the first and collects what every other prints.
    static func measure(processes: Int, messages: Int, bytes: Int, rate: Double, seed: UInt64) throws -> Result {
        let binary = URL(fileURLWithPath: "/proc/self/exe").resolvingSymlinksInPath()
        let root = FileManager.default.temporaryDirectory.appendingPathComponent("ol-bench-gossip-\(getpid())")
        defer { try? FileManager.default.removeItem(at: root) }
        var random = SeededRandom(seed: seed)
        var nodes: [Listener] = []
        defer { for node in nodes { node.stop() } }
        for index in 0..<processes {
            var arguments = [
                "p2p", "listen", "--listen", "/ip4/127.0.0.1/tcp/0", "--data-dir",
                root.appendingPathComponent("\(index)").path, "--topic", "/openledger/bench/gossip", "--log-level",
                "warning",
            ]
            if index > 0 {
                arguments += ["--bootstrap", nodes[Int(random.next() % UInt64(index))].address]
                if index > 1 { arguments += ["--bootstrap", nodes[Int(random.next() % UInt64(index))].address] }
            }
            nodes.append(try Listener(binary: binary, arguments: arguments))
        }
        // Ready when a probe from the publisher reaches everyone.
        var ready = false
        for round in 0..<60 where !ready {
            nodes[0].write("probe-\(round)\n")
            let deadline = DispatchTime.now().uptimeNanoseconds + 2_000_000_000
            while !ready && DispatchTime.now().uptimeNanoseconds < deadline {
                ready = nodes.dropFirst().allSatisfy { $0.seen("probe-\(round)") != nil }
                if !ready { usleep(10_000) }
            }
        }
        guard ready else { throw CLIError.failure("the \(processes) listeners never all heard the publisher") }
        let padding = String(repeating: "x", count: max(0, bytes - 16))
        var sent = [UInt64](repeating: 0, count: messages)
        let start = DispatchTime.now().uptimeNanoseconds
        for index in 0..<messages {
            let due = start + UInt64(Double(index) / rate * 1e9)
            while DispatchTime.now().uptimeNanoseconds < due { usleep(100) }
            sent[index] = DispatchTime.now().uptimeNanoseconds
            nodes[0].write("m\(index)-\(padding)\n")
        }
        let expected = messages * (processes - 1)
        let deadline = DispatchTime.now().uptimeNanoseconds + 60_000_000_000
        while DispatchTime.now().uptimeNanoseconds < deadline {
            if nodes.dropFirst().reduce(0, { $0 + $1.count(prefix: "m") }) >= expected { break }
            usleep(20_000)
        }
        var latencies: [Double] = []
        for node in nodes.dropFirst() {
            for index in 0..<messages {
                if let at = node.seen("m\(index)-\(padding)") { latencies.append(Double(at - sent[index]) / 1e6) }
            }
        }
        // The floor: a line's trip through a child's pipes with no network (`cat`).
        let floor = try pipeFloor(lines: min(messages, 1_000), bytes: bytes)
        return Result(latenciesMilliseconds: latencies, expected: expected, floorMilliseconds: floor)
    }

    /// One line's trip through a child's standard input and output (`cat`), in ms, per line.
    static func pipeFloor(lines: Int, bytes: Int) throws -> [Double] {
        let cat = try Listener(binary: URL(fileURLWithPath: "/bin/cat"), arguments: [], raw: true)
        defer { cat.stop() }
        var times: [Double] = []
        let padding = String(repeating: "x", count: max(0, bytes - 16))
        for index in 0..<lines {
            let line = "f\(index)-\(padding)"
            let start = DispatchTime.now().uptimeNanoseconds
            cat.write(line + "\n")
            while cat.seen(line) == nil { usleep(10) }
            times.append(Double(cat.seen(line)! - start) / 1e6)
        }
        return times
    }

    /// A child process whose output lines are timestamped as they are read.
    final class Listener: @unchecked Sendable {
        let process = Process()
        let input = Pipe()
        let output = Pipe()
        private let state = Mutex<(partial: [UInt8], lines: [String: UInt64], count: [String: Int], first: String?)>(
            ([], [:], [:], nil))
        private let raw: Bool

        init(binary: URL, arguments: [String], raw: Bool = false) throws {
            self.raw = raw
            process.executableURL = binary
            process.arguments = arguments
            process.standardInput = input
            process.standardOutput = output
            process.standardError = FileHandle.nullDevice
            output.fileHandleForReading.readabilityHandler = { [weak self] handle in
                self?.consume(Array(handle.availableData))
            }
            try process.run()
            if !raw {
                let deadline = DispatchTime.now().uptimeNanoseconds + 30_000_000_000
                while state.withLock({ $0.first }) == nil && DispatchTime.now().uptimeNanoseconds < deadline {
                    usleep(10_000)
                }
                guard state.withLock({ $0.first }) != nil else {
                    throw CLIError.failure("p2p listen printed no address")
                }
            }
        }

        var address: String { state.withLock { $0.first } ?? "" }

        private func consume(_ data: [UInt8]) {
            let now = DispatchTime.now().uptimeNanoseconds
            state.withLock { state in
                state.partial += data
                while let end = state.partial.firstIndex(of: UInt8(ascii: "\n")) {
                    let line = String(decoding: state.partial[..<end], as: UTF8.self)
                    state.partial.removeSubrange(...end)
                    if state.first == nil && !raw {
                        state.first = line
                        continue
                    }
                    let key = raw ? line : Self.data(of: line)
                    guard let key, state.lines[key] == nil else { continue }
                    state.lines[key] = now
                    state.count[String(key.prefix(1)), default: 0] += 1
                }
            }
        }

        /// The `data` field of a JSON line `p2p listen` printed.
        private static func data(of line: String) -> String? {
            guard let object = try? JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any] else {
                return nil
            }
            return object["data"] as? String
        }

        func seen(_ key: String) -> UInt64? { state.withLock { $0.lines[key] } }
        func count(prefix: String) -> Int { state.withLock { $0.count[prefix] ?? 0 } }
        func write(_ text: String) { try? input.fileHandleForWriting.write(contentsOf: Data(text.utf8)) }

        func stop() {
            guard process.isRunning else { return }
            process.terminate()
            process.waitUntilExit()
        }
    }

    /// The figures: delivery ratio, p50 and p99 latency against the pipe floor.
    static func figures(_ result: Result, processes: Int, rate: Double, bytes: Int) -> [String] {
        func percentile(_ values: [Double], _ p: Double) -> Double {
            guard !values.isEmpty else { return 0 }
            let sorted = values.sorted()
            return sorted[min(sorted.count - 1, Int(Double(sorted.count - 1) * p))]
        }
        let details = ["processes": "\(processes)", "rate": "\(Int(rate))", "bytes": "\(bytes)"]
        var lines: [String] = []
        lines.append(
            BenchFigure(
                bench: "gossip_sockets_delivery", unit: .fraction,
                value: Double(result.latenciesMilliseconds.count) / Double(max(1, result.expected)),
                details: details
            ).jsonLine(references: []))
        for (name, p) in [("p50", 0.5), ("p99", 0.99)] {
            let floor = BenchFigure(
                bench: "gossip_sockets_latency_\(name)", unit: .milliseconds,
                value: percentile(result.floorMilliseconds, p), implementation: "pipe-floor")
            lines.append(floor.jsonLine(references: []))
            lines.append(
                BenchFigure(
                    bench: "gossip_sockets_latency_\(name)", unit: .milliseconds,
                    value: percentile(result.latenciesMilliseconds, p), details: details
                ).jsonLine(references: [floor]))
        }
        return lines
    }
}
