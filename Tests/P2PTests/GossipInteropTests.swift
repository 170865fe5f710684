import Codec
import Foundation
import Runtime
import Synchronization
import TestSupport
import Testing

@testable import P2P

/// The payloads a py-libp2p gossip peer printed, with how often each came.
private func pyReceived(_ process: ChildProcess) -> [String: Int] {
    var counts: [String: Int] = [:]
    for line in process.output.split(separator: "\n") where line.hasPrefix("{\"from\"") {
        guard let object = try? JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any],
            let data = object["data"] as? String
        else { continue }
        counts[data, default: 0] += 1
    }
    return counts
}

/// Whether `counts` holds exactly `prefix`0 … `prefix`(count-1) once each among the keys with that prefix.
private func exactlyOnce(_ counts: [String: Int], prefix: String, count: Int) -> (missing: [Int], duplicated: Int) {
    let missing = (0..<count).filter { counts["\(prefix)\($0)"] == nil }
    let duplicated = counts.filter { $0.key.hasPrefix(prefix) && $0.value > 1 }.count
    return (missing, duplicated)
}

/// The payloads `openledger p2p listen --topic` printed (its JSON lines after the address), with how often each came.
private func listenReceived(_ process: ChildProcess) -> [String: Int] {
    var counts: [String: Int] = [:]
    for line in process.output.split(separator: "\n").dropFirst() {
        guard let object = try? JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any],
            let data = object["data"] as? String
        else { continue }
        counts[data, default: 0] += 1
    }
    return counts
}

/// A line of three hosts, py₁ — ours — py₂, with py-libp2p 0.8.1's GossipSub (heartbeat 1 s, StrictSign, spam
/// protection off) and ours a real `openledger p2p listen --topic` process: 1,000 messages from each of the three,
/// at 50 a second each, reach the other two through our host, each once; the version asked for is the one
/// negotiated.
///
/// Every party is a process of its own, so nothing here waits on this test process's cooperative threads, which
/// the other integration tests' blocking waits may hold.
@Test(.integration, .timeLimit(.minutes(8)), arguments: [GossipsubVersion.v12, .v11])
func aLineOfPyLibp2pOursPyLibp2pDeliversEveryMessageOnce(version: GossipsubVersion) throws {
    guard let python = Fixtures.python() else { return }
    let script = Fixtures.packageRoot.appendingPathComponent("tools/interop/gossip_peer.py").path
    let topic = "/openledger/interop/\(version == .v12 ? "12" : "11")"
    let ours = try ChildProcess(
        DevnetProcess.binary,
        [
            "p2p", "listen", "--listen", "/ip4/127.0.0.1/tcp/0", "--data-dir",
            DevnetProcess.temporaryDirectory("gossip-line"), "--topic", topic,
        ])
    let address = try ours.firstLine()
    let flag = version == .v12 ? "1.2" : "1.1"
    let py1 = try ChildProcess(python, [script, "--topic", topic, "--connect", address, "--protocols", flag])
    let py2 = try ChildProcess(python, [script, "--topic", topic, "--connect", address, "--protocols", flag])
    for (name, py) in [("py1", py1), ("py2", py2)] {
        #expect(poll { py.output.contains("\"ready\": true") || !py.process.isRunning }, "\(name) never ready")
        try #require(
            py.output.contains("\"ready\": true"),
            "\(name): \(py.errors.suffix(3_000)) ours: \(ours.errors.suffix(2_000))")
        #expect(py.output.contains(version.rawValue), "\(name) negotiated: \(py.output.prefix(400))")
    }
    py1.write("burst 1000 a 50\n")
    py2.write("burst 1000 b 50\n")
    for index in 0..<1_000 {
        ours.write("o\(index)\n")
        // Pacing the publisher (50 a second, like the two py-libp2p ones), not waiting for anything: py-libp2p's
        // outbound RPC queue drops what a Python peer cannot write in time, and a line of three py-libp2p peers
        // loses messages at 200 a second per publisher (docs/gossipsub.md).
        usleep(20_000)
    }
    let expected: [(String, () -> [String: Int], [String])] = [
        ("py1", { pyReceived(py1) }, ["b", "o"]), ("py2", { pyReceived(py2) }, ["a", "o"]),
        ("ours", { listenReceived(ours) }, ["a", "b"]),
    ]
    let complete = poll {
        expected.allSatisfy { _, counts, prefixes in
            let now = counts()
            return prefixes.allSatisfy { exactlyOnce(now, prefix: $0, count: 1_000).missing.isEmpty }
        }
    }
    #expect(complete, "not every message arrived: ours \(ours.errors.suffix(1_000)) py1 \(py1.errors.suffix(1_000))")
    for (name, read, prefixes) in expected {
        let counts = read()
        for prefix in prefixes {
            let (missing, duplicated) = exactlyOnce(counts, prefix: prefix, count: 1_000)
            #expect(
                missing.isEmpty && duplicated == 0,
                "\(name) from \(prefix): \(missing.count) missing (\(missing.prefix(10))), \(duplicated) twice")
        }
    }
    // Our own messages are not delivered back to us.
    #expect(!listenReceived(ours).keys.contains { $0.hasPrefix("o") })
    #expect(ours.process.isRunning, "ours exited: \(ours.errors.suffix(2_000))")
    py1.write("quit\n")
    py2.write("quit\n")
}
