import Foundation
import TestSupport
import Testing

/// Waits (up to `patientSeconds`) until `process` has written `text` to standard output.
private func waitForOutput(_ process: ChildProcess, _ text: String) throws {
    let seen = poll { process.output.contains(text) || !process.process.isRunning }
    guard seen, process.output.contains(text) else {
        throw NSError(
            domain: "lifecycle", code: 1,
            userInfo: [NSLocalizedDescriptionKey: "no '\(text)' in: \(process.output) \(process.errors)"])
    }
}

/// SIGTERM stops `openledger devnet` cleanly: services stop in reverse, the last lines are logfmt, exit 0.
@Test(.integration) func devnetExitsZeroOnSIGTERMWithLogfmtLines() throws {
    let node = try ChildProcess(
        DevnetProcess.binary,
        [
            "devnet", "--data-dir", DevnetProcess.temporaryDirectory("lifecycle"), "--rpc-port", "0",
            "--block-time", "50ms", "--config",
            Fixtures.packageRoot.appendingPathComponent("netconfig/devnet.json").path,
        ])
    try waitForOutput(node, "Listening. Ctrl-C stops the node.")
    node.process.terminate()
    #expect(node.wait(timeout: patientSeconds) == 0, "\(node.errors)")
    let lines = node.errors.split(separator: "\n").map(String.init)
    #expect(lines.contains { $0.hasPrefix("time=") && $0.contains(#"level=info module=devnet msg="shutting down""#) })
    #expect(lines.contains { $0.contains("level=info module=devnet msg=stopped head=") })
    #expect(node.output.hasPrefix("OpenLedger devnet\nRPC URL:     http://127.0.0.1:"))
}

/// `--log-format json` turns the same lines into JSON objects; SIGINT stops the node with exit 0 too.
@Test(.integration) func devnetLogsJSONLinesWhenAsked() throws {
    let node = try ChildProcess(
        DevnetProcess.binary,
        [
            "devnet", "--data-dir", DevnetProcess.temporaryDirectory("lifecycle-json"), "--rpc-port", "0",
            "--log-format", "json",
            "--config", Fixtures.packageRoot.appendingPathComponent("netconfig/devnet.json").path,
        ])
    try waitForOutput(node, "Listening.")
    kill(node.process.processIdentifier, SIGINT)
    #expect(node.wait(timeout: patientSeconds) == 0, "\(node.errors)")
    let objects = try node.errors.split(separator: "\n").map {
        try #require(try JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: String])
    }
    #expect(objects.map { $0["msg"] } == ["shutting down", "stopped"])
    #expect(objects.allSatisfy { $0["module"] == "devnet" && $0["level"] == "info" && $0["time"] != nil })
}

/// `p2p listen` prints its address, logs `listening` as logfmt, and exits 0 on SIGTERM.
@Test(.integration) func p2pListenExitsZeroOnSIGTERM() throws {
    let node = try ChildProcess(
        DevnetProcess.binary,
        ["p2p", "listen", "--listen", "/ip4/127.0.0.1/tcp/0", "--data-dir", DevnetProcess.temporaryDirectory("listen")])
    let address = try node.firstLine()
    #expect(address.hasPrefix("/ip4/127.0.0.1/tcp/") && address.contains("/p2p/12D3KooW"))
    #expect(poll { node.errors.contains("msg=listening") }, "never logged listening: \(node.errors)")
    node.process.terminate()
    #expect(node.wait(timeout: patientSeconds) == 0, "\(node.errors)")
    let peer = address.split(separator: "/").last.map(String.init) ?? ""
    #expect(node.errors.contains("level=info module=p2p msg=listening peer=\(peer) protocols=/ipfs/id/1.0.0"))
    #expect(node.errors.contains(#"level=info module=p2p msg="shutting down""#))
}

/// `light follow` prints each newly verified head of a running devnet and exits 0 on SIGTERM; a server it
/// cannot reach fails it at once.
@Test(.integration) func lightFollowPrintsNewHeadsUntilSIGTERM() throws {
    let config = Fixtures.packageRoot.appendingPathComponent("netconfig/devnet.json").path
    let devnet = try DevnetProcess(dataDirectory: DevnetProcess.temporaryDirectory("follow"), blockTime: "50ms")
    let follower = try ChildProcess(
        DevnetProcess.binary,
        ["light", "follow", "--rpc", "http://127.0.0.1:\(devnet.port)", "--interval", "20ms", "--config", config])
    poll { follower.output.split(separator: "\n").count >= 3 || !follower.process.isRunning }
    follower.process.terminate()
    #expect(follower.wait(timeout: patientSeconds) == 0, "\(follower.errors)")
    let lines = follower.output.split(separator: "\n")
    #expect(lines.count >= 3, "\(follower.output) \(follower.errors)")
    let numbers = lines.compactMap { line -> Int? in
        guard line.hasPrefix("head: block ") else { return nil }
        return Int(line.split(separator: " ")[2])
    }
    #expect(numbers.count == lines.count)
    #expect(numbers == numbers.sorted() && Set(numbers).count == numbers.count)
    #expect(devnet.interrupt() == 0)
    let unreachable = try DevnetProcess.run(["light", "follow", "--rpc", "http://127.0.0.1:1", "--config", config])
    #expect(unreachable.status == 1 && unreachable.stderr.contains("cannot connect"), "\(unreachable.stderr)")
}
