import Foundation
import TestSupport
import Testing

/// Ten real `openledger p2p listen --topic` processes on loopback in a seeded random connected topology (each
/// bootstraps to one or two earlier ones): every message published at any of them, read from its standard input,
/// is printed once by every other, as the JSON line the command documents.
@Test(.integration, .timeLimit(.minutes(8))) func tenListenProcessesDeliverEveryMessageOnceToEveryOther() throws {
    let topic = "/openledger/test/gossip/1"
    var random = SeededRandom(seed: 10)
    var nodes: [ChildProcess] = []
    var addresses: [String] = []
    var peers: [String] = []
    for index in 0..<10 {
        var arguments = [
            "p2p", "listen", "--listen", "/ip4/127.0.0.1/tcp/0", "--data-dir",
            DevnetProcess.temporaryDirectory("gossip-\(index)"), "--topic", topic,
        ]
        if index > 0 {
            let first = Int(random.next() % UInt64(index))
            arguments += ["--bootstrap", addresses[first]]
            let second = Int(random.next() % UInt64(index))
            if second != first { arguments += ["--bootstrap", addresses[second]] }
        }
        let node = try ChildProcess(DevnetProcess.binary, arguments)
        let address = try node.firstLine()
        #expect(address.hasPrefix("/ip4/127.0.0.1/tcp/"), "\(node.errors)")
        nodes.append(node)
        addresses.append(address)
        peers.append(String(address.split(separator: "/").last ?? ""))
    }
    // Ready when a probe round from every node reaches every other: until then a message published by a node
    // that has not yet learned its neighbours' subscriptions would have nowhere to go.
    var ready = false
    for round in 0..<30 where !ready {
        for (index, node) in nodes.enumerated() { node.write("probe-\(round)-\(index)\n") }
        ready = poll(timeout: 3) {
            nodes.enumerated().allSatisfy { index, node in
                (0..<10).allSatisfy { other in other == index || node.output.contains("probe-\(round)-\(other)\"") }
            }
        }
    }
    try #require(ready, "the ten nodes never all heard each other: \(nodes[0].errors.suffix(2_000))")
    let perNode = 20
    for (index, node) in nodes.enumerated() {
        for message in 0..<perNode { node.write("n\(index)-m\(message)\n") }
    }
    func received(_ node: ChildProcess) -> [String: [String]] {
        var byData: [String: [String]] = [:]
        for line in node.output.split(separator: "\n").dropFirst() {
            guard let object = try? JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any],
                let data = object["data"] as? String, let from = object["from"] as? String
            else { continue }
            byData[data, default: []].append(from)
        }
        return byData
    }
    let everyone = poll {
        nodes.enumerated().allSatisfy { index, node in
            received(node).keys.filter { $0.hasPrefix("n") && !$0.hasPrefix("n\(index)-") }.count == 9 * perNode
        }
    }
    #expect(everyone, "not every message reached every node")
    for (index, node) in nodes.enumerated() {
        let byData = received(node)
        for other in 0..<10 where other != index {
            for message in 0..<perNode {
                let froms = byData["n\(other)-m\(message)"] ?? []
                #expect(froms == [peers[other]], "node \(index) got n\(other)-m\(message) from \(froms)")
            }
        }
        #expect(node.process.isRunning, "node \(index) exited: \(node.errors.suffix(2_000))")
    }
}
