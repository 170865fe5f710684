import Foundation
import TestSupport
import Testing

private let networkConfig = Fixtures.packageRoot.appendingPathComponent("netconfig/devnet.json").path

/// The value after `prefix` on the first line of `process`'s output that starts with it, waiting for it.
private func printed(_ process: ChildProcess, _ prefix: String) throws -> String {
    var value: String?
    poll {
        value = process.output.split(separator: "\n").first { $0.hasPrefix(prefix) }.map {
            String($0.dropFirst(prefix.count))
        }
        return value != nil || !process.process.isRunning
    }
    guard let value else {
        throw NSError(
            domain: "node", code: 1,
            userInfo: [NSLocalizedDescriptionKey: "no '\(prefix)' line in: \(process.output) \(process.errors)"])
    }
    return value
}

/// GET `path` of the HTTP server on 127.0.0.1:`port`: status and body text.
private func get(_ port: Int, _ path: String) -> (status: Int, body: String)? {
    guard let client = HTTPTestClient(port: port, timeoutSeconds: 10) else { return nil }
    guard client.send(Array("GET \(path) HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n".utf8)),
        let response = client.readResponse()
    else { return nil }
    return (response.status, String(decoding: response.body, as: UTF8.self))
}

/// The value of the unlabelled sample `name` in a Prometheus text.
private func sample(_ text: String, _ name: String) -> Double? {
    for line in text.split(separator: "\n") where line.hasPrefix(name + " ") {
        return Double(line.dropFirst(name.count + 1))
    }
    return nil
}

private func port(ofURL url: String) -> Int { Int(url.split(separator: ":").last ?? "") ?? 0 }

/// Peak resident memory of `pid` in kB (VmHWM).
private func peakRSS(_ pid: Int32) -> Int? {
    guard let text = try? String(contentsOfFile: "/proc/\(pid)/status", encoding: .utf8) else { return nil }
    for line in text.split(separator: "\n") where line.hasPrefix("VmHWM:") {
        return Int(line.split(separator: " ", omittingEmptySubsequences: true)[1])
    }
    return nil
}

/// A light peer (settings from a node config file, a flag over one of them) and a seeder follow a devnet, meet over
/// libp2p and report it at /metrics and through `node status`; SIGTERM stops both with exit 0; the light peer stays
/// under 64 MB of peak RSS.
@Test(.integration) func lightAndSeederNodesFollowTheDevnet() throws {
    let devnet = try DevnetProcess(dataDirectory: DevnetProcess.temporaryDirectory("node-devnet"), blockTime: "100ms")
    let rpc = "http://127.0.0.1:\(devnet.port)"
    let common = ["--listen", "/ip4/127.0.0.1/tcp/0", "--api-port", "0", "--config", networkConfig]
    let seeder = try ChildProcess(
        DevnetProcess.binary,
        [
            "node", "--role", "seeder", "--data-dir", DevnetProcess.temporaryDirectory("node-seeder"), "--rpc", rpc,
            "--head-interval", "0.2",
        ] + common)
    defer { seeder.stop() }
    #expect(try printed(seeder, "role: ") == "seeder")
    let seederAddress = try printed(seeder, "p2p: ")
    let seederPeer = try printed(seeder, "peer: ")
    #expect(seederAddress.hasPrefix("/ip4/127.0.0.1/tcp/") && seederAddress.hasSuffix("/p2p/" + seederPeer))
    let seederAPI = try printed(seeder, "api: ")

    let lightDirectory = DevnetProcess.temporaryDirectory("node-light")
    let file = lightDirectory + "/node.json"
    // The file's port 1 would fail to bind: the --api-port flag must win over it. The light peer asks its server
    // for the head once, at start: every later head reaches it by gossip, from the seeder.
    let settings: [String: Any] = [
        "role": "light", "rpc": rpc, "bootstrap": [seederAddress], "api-port": 1, "head-interval": 3_600,
    ]
    try JSONSerialization.data(withJSONObject: settings).write(to: URL(fileURLWithPath: file))
    let light = try ChildProcess(
        DevnetProcess.binary, ["node", "--node-config", file, "--data-dir", lightDirectory] + common)
    defer { light.stop() }
    #expect(try printed(light, "role: ") == "light")
    let lightAPI = try printed(light, "api: ")
    let lightPort = port(ofURL: lightAPI)
    #expect(lightPort > 1)

    var metrics = ""
    let met = poll {
        metrics = get(lightPort, "/metrics")?.body ?? ""
        return (sample(metrics, "openledger_p2p_connected_peers") ?? 0) >= 1
            && (sample(metrics, "openledger_light_head_number") ?? 0) > 0
            && (sample(metrics, "openledger_dht_routing_table_peers") ?? 0) >= 1
            && metrics.contains(#"openledger_light_heads_total{source="gossip"} "#)
            && !metrics.contains(#"openledger_light_heads_total{source="gossip"} 0"#)
    }
    #expect(met, "\(metrics)\n\(light.errors)")
    #expect(metrics.contains("# TYPE openledger_light_head_number gauge"))
    #expect(metrics.contains(#"openledger_node_info{role="light""#))
    #expect(metrics.contains(#"dht_mode="client""#))
    #expect(sample(metrics, "openledger_content_quota_bytes") == Double(64 << 20))
    let seederMetrics = get(port(ofURL: seederAPI), "/metrics")?.body ?? ""
    #expect((sample(seederMetrics, "openledger_p2p_connected_peers") ?? 0) >= 1, "\(seederMetrics)")
    #expect(seederMetrics.contains(#"dht_mode="server""#))
    #expect(get(lightPort, "/v1/models")?.status == 404)

    let status = try DevnetProcess.run(["node", "status", "--endpoint", lightAPI])
    #expect(status.status == 0, "\(status.stderr)")
    #expect(status.stdout.contains("role:     light"))
    #expect(status.stdout.contains("head:     block "))
    #expect(
        status.stdout.contains("peers:    ") && !status.stdout.contains("peers:    0 connected"), "\(status.stdout)")

    let peak = peakRSS(light.process.processIdentifier)
    light.process.terminate()
    #expect(light.wait(timeout: patientSeconds) == 0, "\(light.errors)")
    seeder.process.terminate()
    #expect(seeder.wait(timeout: patientSeconds) == 0, "\(seeder.errors)")
    #expect(light.errors.contains(#"msg="shutting down""#))
    let kilobytes = try #require(peak)
    print("light node peak RSS: \(kilobytes) kB")
    #expect(kilobytes < 64 * 1_024, "light node peak RSS \(kilobytes) kB")
    #expect(devnet.interrupt() == 0)

    let unreachable = try DevnetProcess.run(["node", "status", "--endpoint", "http://127.0.0.1:1"])
    #expect(unreachable.status == 1 && unreachable.stderr.contains("cannot read the node's status"))
    let badFile = lightDirectory + "/bad.json"
    try Data(#"{"role": "light", "api-prot": 80}"#.utf8).write(to: URL(fileURLWithPath: badFile))
    let refused = try DevnetProcess.run(["node", "--node-config", badFile, "--data-dir", lightDirectory])
    #expect(refused.status == 1 && refused.stderr.contains("'api-prot'"), "\(refused.stderr)")
}

/// An inferencer node serves a paid answer on its HTTP port: the chat pays with a voucher, and /metrics and
/// `node status` count the payment and the tokens; SIGTERM stops it with exit 0.
@Test(.integration) func anInferencerNodeServesAPaidAnswer() throws {
    guard let model = Fixtures.modelPath() else { return }
    let root = DevnetProcess.temporaryDirectory("node-inferencer")
    let devnet = try DevnetProcess(dataDirectory: root + "/chain")
    let rpc = "http://127.0.0.1:\(devnet.port)"
    let mnemonic = "test test test test test test test test test test test junk"
    for (directory, index) in [("peer", 2), ("user", 1)] {
        let imported = try DevnetProcess.run([
            "wallet", "import", "--mnemonic", mnemonic, "--index", "\(index)", "--data-dir", root + "/" + directory,
        ])
        #expect(imported.status == 0, "\(imported.stderr)")
    }
    let node = try ChildProcess(
        DevnetProcess.binary,
        [
            "node", "--model", model, "--context", "512", "--rpc", rpc, "--data-dir", root + "/peer", "--listen",
            "/ip4/127.0.0.1/tcp/0", "--api-port", "0", "--config", networkConfig,
        ])
    defer { node.stop() }
    #expect(try printed(node, "role: ") == "inferencer")
    let api = try printed(node, "api: ")
    let chat = try DevnetProcess.run([
        "chat", "--endpoint", api, "--data-dir", root + "/user", "--rpc", rpc, "--config", networkConfig,
        "--max-tokens", "4", "--seed", "1", "Say hello.",
    ])
    #expect(chat.status == 0, "\(chat.stderr) \(node.errors)")
    let metrics = get(port(ofURL: api), "/metrics")?.body ?? ""
    #expect(sample(metrics, "openledger_payments_accepted_total") == 1, "\(metrics)")
    #expect((sample(metrics, "openledger_inference_tokens_total") ?? 0) >= 1)
    #expect(sample(metrics, "openledger_inference_completions_total") == 1)
    #expect(sample(metrics, "openledger_adapter_cache_misses_total") == 0)
    #expect((sample(metrics, "openledger_light_head_number") ?? 0) > 0)
    let status = try DevnetProcess.run(["node", "status", "--endpoint", api])
    #expect(status.stdout.contains("payments: 1 accepted"), "\(status.stdout)")
    #expect(status.stdout.contains("model:    "))
    let peak = peakRSS(node.process.processIdentifier) ?? 0
    print("inferencer node peak RSS: \(peak) kB")
    node.process.terminate()
    #expect(node.wait(timeout: patientSeconds) == 0, "\(node.errors)")
    #expect(devnet.interrupt() == 0)
}

/// Adapters on demand: a seeder holds an adapter published on the ledger; an inferencer that lacks it answers the
/// first request naming `adapter-1` by reading its record, fetching it by CID from the seeder and loading it, and the
/// next request from its cache.
@Test(.integration) func anInferencerNodeFetchesAnAdapterFromASeeder() throws {
    guard let model = Fixtures.modelPath() else { return }
    let root = DevnetProcess.temporaryDirectory("node-adapter")
    let devnet = try DevnetProcess(dataDirectory: root + "/chain")
    let rpc = "http://127.0.0.1:\(devnet.port)"
    let mnemonic = "test test test test test test test test test test test junk"
    let records = (1...12).map {
        #"{"contributor": "0x70997970C51812dc3A010C7d01b50e0d17dc79C8", "text": "Record \#($0) greets the ledger."}"#
    }
    try (records.joined(separator: "\n") + "\n").write(
        toFile: root + "/records.jsonl", atomically: true, encoding: .utf8)
    let trained = try DevnetProcess.run([
        "train", "--records", root + "/records.jsonl", "--model", model, "--out", root + "/run", "--rank", "2",
        "--targets", "q,v", "--batch", "1", "--sequence-length", "16", "--max-steps", "1", "--quiet",
    ])
    #expect(trained.status == 0, "\(trained.stderr)")
    let imported = try DevnetProcess.run([
        "wallet", "import", "--mnemonic", mnemonic, "--index", "3", "--data-dir", root + "/seeder",
    ])
    #expect(imported.status == 0, "\(imported.stderr)")
    let published = try DevnetProcess.run([
        "model", "publish-adapter", root + "/run/adapter.gguf", "--base-model", model, "--no-provenance", "--data-dir",
        root + "/seeder", "--rpc", rpc, "--config", networkConfig,
    ])
    #expect(published.status == 0 && published.stdout.contains("published adapter 1: "), "\(published.stderr)")

    let common = ["--listen", "/ip4/127.0.0.1/tcp/0", "--api-port", "0", "--rpc", rpc, "--config", networkConfig]
    let seeder = try ChildProcess(
        DevnetProcess.binary, ["node", "--role", "seeder", "--data-dir", root + "/seeder"] + common)
    defer { seeder.stop() }
    let seederAddress = try printed(seeder, "p2p: ")
    let seederAPI = try printed(seeder, "api: ")
    let inferencer = try ChildProcess(
        DevnetProcess.binary,
        [
            "node", "--free", "--model", model, "--context", "256", "--data-dir", root + "/inferencer",
            "--bootstrap", seederAddress,
        ] + common)
    defer { inferencer.stop() }
    let api = try printed(inferencer, "api: ")
    let apiPort = port(ofURL: api)
    #expect(poll { (sample(get(apiPort, "/metrics")?.body ?? "", "openledger_p2p_connected_peers") ?? 0) >= 1 })
    let body = Array(#"{"model": "adapter-1", "prompt": "Hello", "max_tokens": 4}"#.utf8)
    for _ in 0..<2 {
        let client = try #require(HTTPTestClient(port: apiPort, timeoutSeconds: 120))
        let response = try #require(client.post(body, path: "/v1/completions"))
        let text = String(decoding: response.body, as: UTF8.self)
        #expect(response.status == 200 && text.contains(#""model":"adapter-1""#), "\(text) \(inferencer.errors)")
    }
    let metrics = get(apiPort, "/metrics")?.body ?? ""
    #expect(sample(metrics, "openledger_adapter_cache_misses_total") == 1, "\(metrics)")
    #expect(sample(metrics, "openledger_adapter_cache_hits_total") == 1)
    #expect((sample(metrics, "openledger_content_received_bytes_total") ?? 0) > 400_000)
    #expect(FileManager.default.fileExists(atPath: root + "/inferencer/adapters/adapter-1.gguf"))
    let served = get(port(ofURL: seederAPI), "/metrics")?.body ?? ""
    #expect((sample(served, "openledger_content_sent_bytes_total") ?? 0) > 400_000, "\(served)")
    #expect((sample(served, "openledger_content_pins") ?? 0) >= 1)
    inferencer.process.terminate()
    #expect(inferencer.wait(timeout: patientSeconds) == 0, "\(inferencer.errors)")
    seeder.process.terminate()
    #expect(seeder.wait(timeout: patientSeconds) == 0, "\(seeder.errors)")
    #expect(devnet.interrupt() == 0)
}
