import Foundation
import TestSupport
import Testing

@testable import openledger

private func runCommand(_ arguments: [String]) -> (status: Int32, stdout: String, stderr: String) {
    let lock = NSLock()
    nonisolated(unsafe) var out = ""
    nonisolated(unsafe) var err = ""
    var output = CommandOutput(
        write: { text in lock.withLock { out += text } }, writeError: { text in lock.withLock { err += text } })
    let status = CommandLineInterface(root: Commands.root, version: "test").run(arguments, output: &output)
    return lock.withLock { (status, out, err) }
}

private func config(bootstrap: Any) throws -> String {
    let devnet = Fixtures.packageRoot.appendingPathComponent("netconfig/devnet.json")
    var object = try #require(try JSONSerialization.jsonObject(with: Data(contentsOf: devnet)) as? [String: Any])
    object["bootstrap"] = bootstrap
    let path = DevnetProcess.temporaryDirectory("dht-cli") + "/network.json"
    try JSONSerialization.data(withJSONObject: object).write(to: URL(fileURLWithPath: path))
    return path
}

private let cid = "bafkreihdwdcefgh4dqkjv67uzcmw7ojee6xedzdetojuzjevtenxquvyku"
private let peer = "12D3KooWATV9LN92W7iJoFuNa5YEfjY8Xxhqb83WMRyuM8HQAwRY"

/// Bad arguments to the DHT commands are usage errors (exit 64) naming what is wrong; nothing is dialed.
@Test(arguments: [
    (["p2p", "find-providers", "nonsense", "--bootstrap", "/ip4/127.0.0.1/tcp/1/p2p/\(peer)"], "invalid CID"),
    (["p2p", "find-providers", cid], "no bootstrap peer"),
    (["p2p", "find-providers", cid, "--bootstrap", "/ip4/127.0.0.1/tcp/1"], "must end in /p2p/<peer id>"),
    (["p2p", "find-providers", cid, "--bootstrap", "/ip4/300.0.0.1/tcp/1"], "invalid multiaddr"),
    (["p2p", "find-providers", cid, "--count", "0", "--bootstrap", "/ip4/127.0.0.1/tcp/1/p2p/\(peer)"], "count"),
    (["p2p", "find-peer", "not-a-peer", "--bootstrap", "/ip4/127.0.0.1/tcp/1/p2p/\(peer)"], "invalid peer id"),
    (["p2p", "find-peer", peer, "--timeout", "0", "--bootstrap", "/ip4/127.0.0.1/tcp/1/p2p/\(peer)"], "timeout"),
    (["p2p", "listen", "--dht", "sometimes"], "expects server or client"),
    (["p2p", "listen", "--provide", "Qm-nope"], "invalid CID"),
    (["p2p", "listen", "--conn-low", "50", "--conn-high", "40"], "below --conn-high"),
    (["p2p", "listen", "--max-per-ip", "0"], "max-per-ip"),
])
func dhtCommandsRefuseBadArguments(arguments: [String], message: String) {
    let result = runCommand(arguments)
    #expect(result.status == 64, "\(arguments): \(result.stderr)")
    #expect(result.stderr.contains(message), "\(arguments): \(result.stderr)")
    #expect(result.stdout.isEmpty)
}

/// A network config's bootstrap list is read and checked: a malformed entry fails naming it; a well-formed list
/// whose peer is not there ends in "not found" within the timeout, exit 1.
@Test func dhtCommandsReadTheNetworkConfigsBootstrapList() throws {
    let bad = try config(bootstrap: ["/ip4/127.0.0.1/tcp/1"])
    let refused = runCommand(["p2p", "find-providers", cid, "--config", bad])
    #expect(refused.status == 1)
    #expect(refused.stderr.contains("does not end in /p2p/<peer id>"), "\(refused.stderr)")
    let tooMany = try config(bootstrap: Array(repeating: "/ip4/127.0.0.1/tcp/1/p2p/\(peer)", count: 65))
    #expect(runCommand(["p2p", "find-peer", peer, "--config", tooMany]).stderr.contains("more than 64"))
    let notAList = try config(bootstrap: 7)
    #expect(runCommand(["p2p", "find-peer", peer, "--config", notAList]).status == 1)

    // Port 1 on loopback refuses connections: the lookup has nobody to ask.
    let absent = try config(bootstrap: ["/ip4/127.0.0.1/tcp/1/p2p/\(peer)"])
    let missing = runCommand(["p2p", "find-providers", cid, "--config", absent, "--timeout", "5"])
    #expect(missing.status == 1, "\(missing.stderr)")
    #expect(missing.stderr.contains("no provider of \(cid) found"), "\(missing.stderr)")
    #expect(missing.stdout.isEmpty)
}
