import Foundation
import Testing

@testable import openledger

/// Runs `openledger ARGUMENTS` in this process, capturing its output.
private func runSim(_ arguments: [String]) -> (status: Int32, stdout: String, stderr: String) {
    let lock = NSLock()
    nonisolated(unsafe) var out = ""
    nonisolated(unsafe) var err = ""
    var output = CommandOutput(
        write: { text in lock.withLock { out += text } }, writeError: { text in lock.withLock { err += text } })
    let status = CommandLineInterface(root: Commands.root, version: "test").run(arguments, output: &output)
    return lock.withLock { (status, out, err) }
}

@Test(arguments: [
    (["--attack", "flood:0.1"], "--attack"), (["--attack", "sybil:1.5"], "--attack"),
    (["--latency-ms", "50-20"], "--latency-ms"), (["--latency-ms", "fast"], "--latency-ms"),
    (["--loss", "1"], "--loss"), (["--nodes", "10", "--degree", "10"], "--degree"),
    (["--partition", "5-2"], "--partition"), (["--seed", "-1"], "--seed"),
])
func simGossipRefusesBadOptionsByName(_ options: [String], _ named: String) {
    let result = runSim(["sim", "gossip"] + options)
    #expect(result.status == 64, "\(options)")
    #expect(result.stderr.contains(named), "\(result.stderr)")
}

@Test func simGossipPrintsItsFiguresAsJSON() throws {
    let result = runSim(["sim", "gossip", "--nodes", "30", "--degree", "4", "--messages", "2", "--seed", "5", "--json"])
    #expect(result.status == 0, "\(result.stderr)")
    let object = try #require(
        try JSONSerialization.jsonObject(with: Data(result.stdout.utf8)) as? [String: Any], "\(result.stdout)")
    #expect((object["delivery_ratio"] as? NSNumber)?.doubleValue == 1)
    #expect((object["trace_hash"] as? String)?.count == 16)
    for key in ["latency_p99_ms", "bound_p99_ms", "duplicates_per_delivery", "peak_memory_mb", "wall_seconds"] {
        #expect(object[key] is NSNumber, "\(key)")
    }
    let again = runSim(["sim", "gossip", "--nodes", "30", "--degree", "4", "--messages", "2", "--seed", "5", "--json"])
    let hash =
        try #require(
            try JSONSerialization.jsonObject(with: Data(again.stdout.utf8)) as? [String: Any])["trace_hash"] as? String
    #expect(hash == object["trace_hash"] as? String)
}

@Test(arguments: [
    (["--nodes", "1"], "--nodes"), (["--loss", "1"], "--loss"), (["--churn", "2"], "--churn"),
    (["--lookups", "0"], "--lookups"), (["--latency-ms", "9-3"], "--latency-ms"), (["--seed", "x"], "--seed"),
    (["--nodes", "10", "--providers", "9"], "--providers"),
])
func simDHTRefusesBadOptionsByName(_ options: [String], _ named: String) {
    let result = runSim(["sim", "dht"] + options)
    #expect(result.status == 64, "\(options)")
    #expect(result.stderr.contains(named), "\(result.stderr)")
}

@Test func simDHTPrintsItsFiguresAsJSONAndReplays() throws {
    let arguments = ["sim", "dht", "--nodes", "60", "--lookups", "30", "--seed", "9", "--json"]
    let result = runSim(arguments)
    #expect(result.status == 0, "\(result.stderr)")
    let object = try #require(
        try JSONSerialization.jsonObject(with: Data(result.stdout.utf8)) as? [String: Any], "\(result.stdout)")
    #expect((object["find_providers_success"] as? NSNumber)?.doubleValue == 1)
    #expect((object["nodes"] as? NSNumber)?.intValue == 60)
    #expect((object["trace_hash"] as? String)?.count == 16)
    for key in ["hops_p50", "hops_p90", "lookup_latency_p99_ms", "provide_latency_p90_ms", "wall_seconds"] {
        #expect(object[key] is NSNumber, "\(key)")
    }
    let again = runSim(arguments)
    let hash =
        try #require(
            try JSONSerialization.jsonObject(with: Data(again.stdout.utf8)) as? [String: Any])["trace_hash"] as? String
    #expect(hash == object["trace_hash"] as? String)
    let text = runSim(["sim", "dht", "--nodes", "60", "--lookups", "30", "--seed", "9"])
    #expect(text.status == 0)
    #expect(text.stdout.contains("find providers success"))
}

/// `sim content` prints its figures as JSON, every peer completes, and the same seed replays the same trace.
@Test func simContentReportsAndReplays() throws {
    let arguments = ["sim", "content", "--nodes", "40", "--megabytes", "2", "--degree", "5", "--json"]
    let first = runSim(arguments)
    #expect(first.status == 0, "\(first.stderr)")
    let object = try #require(try JSONSerialization.jsonObject(with: Data(first.stdout.utf8)) as? [String: Any])
    #expect(object["completed"] as? Int == 40)
    #expect(object["blocks"] as? Int == 9)
    let hash = try #require(object["trace_hash"] as? String)
    let again = try #require(
        try JSONSerialization.jsonObject(with: Data(runSim(arguments).stdout.utf8)) as? [String: Any])
    #expect(again["trace_hash"] as? String == hash)
    let bad = runSim(["sim", "content", "--latency-ms", "9-1"])
    #expect(bad.status == 64 && bad.stderr.contains("--latency-ms"))
}

@Test func onlySimulationsAskForHugePages() {
    #expect(SimCommand.runsSimulation(["sim", "gossip", "--nodes", "10"]))
    #expect(SimCommand.runsSimulation(["sim", "dht"]))
    #expect(SimCommand.runsSimulation(["bench", "gossip", "--only", "speed"]))
    #expect(!SimCommand.runsSimulation(["bench", "crypto"]))
    #expect(!SimCommand.runsSimulation(["bench"]))
    #expect(!SimCommand.runsSimulation(["p2p", "listen", "sim"]))
    #expect(!SimCommand.runsSimulation([]))
}

@Test func simFloorReportsTheLinesItWrote() throws {
    let result = runSim([
        "sim", "floor", "--nodes", "50", "--bytes-per-node", "1024", "--deliveries", "3000", "--other-events", "500",
        "--pending", "40", "--lines", "3", "--json",
    ])
    #expect(result.status == 0, "\(result.stderr)")
    let object = try #require(
        try JSONSerialization.jsonObject(with: Data(result.stdout.utf8)) as? [String: Any], "\(result.stdout)")
    #expect((object["lines_written"] as? NSNumber)?.intValue == 3000 * 3 + 500)
    #expect(((object["checksum"] as? NSNumber)?.intValue ?? 0) >= 9500)
    #expect(((object["cpu_seconds"] as? NSNumber)?.doubleValue ?? -1) >= 0)
}

@Test(arguments: [
    (["--nodes", "0"], "--nodes"), (["--bytes-per-node", "32"], "--bytes-per-node"),
    (["--lines", "65"], "--lines"), (["--pending", "0"], "--pending"), (["--deliveries", "-5"], "--deliveries"),
    (["--seed", "x"], "--seed"), (["--nodes", "10000000", "--bytes-per-node", "67108864"], "--bytes-per-node"),
])
func simFloorRefusesBadOptionsByName(_ options: [String], _ named: String) {
    let result = runSim(["sim", "floor"] + options)
    #expect(result.status == 64, "\(options)")
    #expect(result.stderr.contains(named), "\(result.stderr)")
}
