import Codec
import Foundation
import Runtime
import Synchronization
import TestSupport
import Testing

@testable import P2P

/// The messages one peer of a test received, by payload, with how often each came.
private final class Received: Sendable {
    let counts = Mutex<[String: Int]>([:])
    func add(_ text: String) { counts.withLock { $0[text, default: 0] += 1 } }
    var snapshot: [String: Int] { counts.withLock { $0 } }
}

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

/// A line of three hosts, py₁ — ours — py₂, with py-libp2p 0.8.1's GossipSub (heartbeat 1 s, StrictSign, spam
/// protection off): 1,000 messages from each of the three, at 50 a second each, reach the other two through our
/// host, each once; the version asked for is the one negotiated.
@Test(.integration, .timeLimit(.minutes(8)), arguments: [GossipsubVersion.v12, .v11])
func aLineOfPyLibp2pOursPyLibp2pDeliversEveryMessageOnce(version: GossipsubVersion) async throws {
    guard let python = Fixtures.python() else { return }
    let script = Fixtures.packageRoot.appendingPathComponent("tools/interop/gossip_peer.py").path
    let topic = "/openledger/interop/\(version == .v12 ? "12" : "11")"
    let host = try P2PHost(identity: .ed25519(.generate()))
    defer { host.close() }
    let address = try host.listen(try Multiaddr("/ip4/127.0.0.1/tcp/0"))
    let ours = Received()
    let gossip = Gossip(host: host, random: SeededRandom(seed: 14), logger: .discarding) { delivery in
        ours.add(String(decoding: delivery.message.data, as: UTF8.self))
    }
    defer { gossip.close() }
    gossip.subscribe(topic)
    let flag = version == .v12 ? "1.2" : "1.1"
    let py1 = try ChildProcess(python, [script, "--topic", topic, "--connect", "\(address)", "--protocols", flag])
    let py2 = try ChildProcess(python, [script, "--topic", topic, "--connect", "\(address)", "--protocols", flag])
    for (name, py) in [("py1", py1), ("py2", py2)] {
        let ready = try await onOwnThread { poll { py.output.contains("\"ready\": true") || !py.process.isRunning } }
        #expect(ready, "\(name) never ready")
        try #require(py.output.contains("\"ready\": true"), "\(name): \(py.errors.suffix(3_000))")
        #expect(py.output.contains(version.rawValue), "\(name) negotiated: \(py.output.prefix(400))")
        let peer = try PeerID(string: try #require(py.output.split(separator: "\n").first?.split(separator: "/").last))
        #expect(gossip.version(of: peer) == version)
    }
    py1.write("burst 1000 a 50\n")
    py2.write("burst 1000 b 50\n")
    for index in 0..<1_000 {
        gossip.publish(topic: topic, data: Array("o\(index)".utf8))
        // Pacing the publisher (50 a second, like the two py-libp2p ones), not waiting for anything: py-libp2p's
        // outbound RPC queue drops what a Python peer cannot write in time, and a line of three py-libp2p peers
        // loses messages at 200 a second per publisher (docs/gossipsub.md).
        try await Task.sleep(for: .milliseconds(20))
    }
    let expected: [(String, @Sendable () -> [String: Int], [String])] = [
        ("py1", { pyReceived(py1) }, ["b", "o"]), ("py2", { pyReceived(py2) }, ["a", "o"]),
        ("ours", { ours.snapshot }, ["a", "b"]),
    ]
    let complete = try await onOwnThread {
        poll {
            expected.allSatisfy { _, counts, prefixes in
                let now = counts()
                return prefixes.allSatisfy { exactlyOnce(now, prefix: $0, count: 1_000).missing.isEmpty }
            }
        }
    }
    #expect(
        complete,
        "not every message arrived: \(gossip.router.counters) py1 \(py1.errors.suffix(1_000)) py2 \(py2.errors.suffix(1_000))"
    )
    for (name, read, prefixes) in expected {
        let counts = read()
        for prefix in prefixes {
            let (missing, duplicated) = exactlyOnce(counts, prefix: prefix, count: 1_000)
            #expect(
                missing.isEmpty && duplicated == 0,
                "\(name) from \(prefix): \(missing.count) missing (\(missing.prefix(10))), \(duplicated) twice")
        }
    }
    #expect(gossip.droppedFrames == 0)
    py1.write("quit\n")
    py2.write("quit\n")
}
