import Foundation
import TestSupport
import Testing

/// Runs the built `openledger` binary as a real process.
enum Executable {
    static func run(_ arguments: [String]) throws -> (status: Int32, stdout: String, stderr: String) {
        try DevnetProcess.run(arguments)
    }
}

@Test(.integration) func binaryPrintsHelpAndVersion() throws {
    let help = try Executable.run(["--help"])
    #expect(help.status == 0)
    #expect(help.stdout.contains("usage: openledger <command>"))
    #expect(help.stdout.contains("bench"))
    let version = try Executable.run(["--version"])
    #expect(version.status == 0)
    #expect(version.stdout.hasPrefix("openledger "))
}

@Test(
    .integration,
    arguments: [["frobnicate"], ["--frobnicate"], ["bench", "crypto", "--frobnicate"], ["bench", "nothing"]])
func binaryRejectsUnknownCommandsAndFlagsWith64(arguments: [String]) throws {
    let result = try Executable.run(arguments)
    #expect(result.status == 64)
    #expect(result.stderr.contains("usage: openledger"))
}

@Test(.integration) func binaryRejectsBadOptionValues() throws {
    let result = try Executable.run(["bench", "crypto", "--seconds", "-3"])
    #expect(result.status == 64)
    #expect(result.stderr.contains("--seconds"))
    let missing = try Executable.run(["bench", "crypto", "--seconds", "0.01", "--reference", "/nonexistent/figures"])
    #expect(missing.status == 1)
    #expect(missing.stderr.contains("cannot read reference figures"))
}

@Test(.integration) func benchCryptoPrintsJSONLinesWithRatios() throws {
    let reference = FileManager.default.temporaryDirectory.appendingPathComponent("ref-\(getpid()).jsonl")
    try Data(#"{"bench":"keccak256","impl":"pycryptodome","mb_s":100.0}"#.utf8).write(to: reference)
    defer { try? FileManager.default.removeItem(at: reference) }
    let result = try Executable.run(["bench", "crypto", "--seconds", "0.01", "--reference", reference.path])
    #expect(result.status == 0)
    let lines = result.stdout.split(separator: "\n")
    #expect(!lines.isEmpty)
    for line in lines {
        let object = try JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any]
        #expect(object?["bench"] is String)
    }
    let keccak = try lines.compactMap { try JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any] }
        .first { $0["bench"] as? String == "keccak256" }
    let rate = (keccak?["mb_s"] as? NSNumber)?.doubleValue ?? 0
    let ratio = (keccak?["ratio"] as? NSNumber)?.doubleValue ?? 0
    #expect(rate > 0)
    #expect(abs(ratio - rate / 100.0) < 0.01 * max(1, ratio))
}

@Test(.integration) func p2pIdentityIsCreatedOnceAndKept() throws {
    let directory = DevnetProcess.temporaryDirectory("p2p")
    let first = try Executable.run(["p2p", "id", "--data-dir", directory])
    #expect(first.status == 0 && first.stdout.hasPrefix("12D3Koo"))
    let second = try Executable.run(["p2p", "id", "--data-dir", directory, "--key-type", "secp256k1"])
    #expect(second.stdout == first.stdout)  // the existing key wins
    let attributes = try FileManager.default.attributesOfItem(atPath: directory + "/identity.key")
    #expect((attributes[.posixPermissions] as? Int) == 0o600)
    let other = DevnetProcess.temporaryDirectory("p2p-secp")
    #expect(
        try Executable.run(["p2p", "id", "--data-dir", other, "--key-type", "secp256k1"]).stdout.hasPrefix("16Uiu2"))
    try Data([1, 2, 3]).write(to: URL(fileURLWithPath: other + "/identity.key"))
    let corrupt = try Executable.run(["p2p", "id", "--data-dir", other])
    #expect(corrupt.status == 1 && corrupt.stderr.contains("identity.key"))
    #expect(try Executable.run(["p2p", "id", "--key-type", "rsa", "--data-dir", other]).status == 64)
    // A key that is there but cannot be read (here a directory) is an error, not a reason to make a new key.
    let unreadable = DevnetProcess.temporaryDirectory("p2p-unreadable")
    try FileManager.default.createDirectory(atPath: unreadable + "/identity.key", withIntermediateDirectories: true)
    let refused = try Executable.run(["p2p", "id", "--data-dir", unreadable])
    #expect(refused.status == 1 && refused.stdout.isEmpty)
    #expect(refused.stderr.contains(unreadable + "/identity.key is not a regular file"))
}

@Test(.integration) func simulationsRestartWithHugePagesWhenTheKernelOffersThem() throws {
    let mode = (try? String(contentsOfFile: "/sys/kernel/mm/transparent_hugepage/enabled", encoding: .utf8)) ?? ""
    let result = try Executable.run(["sim", "gossip", "--nodes", "3000", "--messages", "1", "--seed", "1", "--json"])
    #expect(result.status == 0, "\(result.stderr)")
    let object = try #require(
        try JSONSerialization.jsonObject(with: Data(result.stdout.utf8)) as? [String: Any], "\(result.stdout)")
    let hugeMegabytes = try #require((object["huge_pages_mb"] as? NSNumber)?.doubleValue)
    if mode.isEmpty || mode.contains("[never]") {
        #expect(hugeMegabytes == 0)
    } else {
        #expect(hugeMegabytes > 0, "transparent huge pages: \(mode)")
    }
}

@Test(.integration) func benchGossipSpeedReportsItsMemoryFloorFromAProcessOfItsOwn() throws {
    let result = try Executable.run(["bench", "gossip", "--quick", "--only", "speed"])
    #expect(result.status == 0, "\(result.stderr)")
    let object = try #require(
        try JSONSerialization.jsonObject(with: Data(result.stdout.utf8)) as? [String: Any], "\(result.stdout)")
    #expect(object["bench"] as? String == "gossip_sim_speed")
    func number(_ key: String) -> Double {
        (object[key] as? NSNumber)?.doubleValue ?? Double(object[key] as? String ?? "") ?? -1
    }
    let speed = number("sim_s_per_cpu_s")
    let floor = number("floor_sim_s_per_cpu_s")
    #expect(speed > 0 && floor > 0 && number("floor_4kib_per_node_sim_s_per_cpu_s") > 0)
    // The floor does strictly less than the run it replays, on the same shape.
    #expect(floor > speed, "run \(speed), floor \(floor)")
    #expect(abs(number("of_floor") - speed / floor) < 0.01)
}
