import Foundation
import TestSupport
import Testing

/// The devnet's dev-account mnemonic, from netconfig/devnet.json.
private func devMnemonic() throws -> String {
    let source = Fixtures.packageRoot.appendingPathComponent("netconfig/devnet.json")
    let config = try #require(try JSONSerialization.jsonObject(with: Data(contentsOf: source)) as? [String: Any])
    return try #require(config["devMnemonic"] as? String)
}

/// A Datanet's and an adapter's whole publication against a real devnet, every step an `openledger` process:
/// a curated Datanet gets batches from two contributors, one rejected and two approved out of their order; a peer
/// without the batches cannot snapshot it, fetches them as content and then checks the snapshot against the ledger;
/// an adapter trained on that snapshot (`train --datanet`) is published with its provenance, which `light adapter`
/// reads back proven and `model prove-step` checks a step against.
@Test(.integration) func aDatanetAndAnAdapterArePublishedWithProvenanceOnADevnet() throws {
    guard let model = Fixtures.modelPath() else { return }
    let directory = DevnetProcess.temporaryDirectory("datanet-process")
    defer { try? FileManager.default.removeItem(atPath: directory) }
    let config = Fixtures.packageRoot.appendingPathComponent("netconfig/devnet.json").path
    let devnet = try ChildProcess(
        DevnetProcess.binary,
        ["devnet", "--data-dir", directory + "/chain", "--rpc-port", "0", "--block-time", "100ms", "--config", config])
    defer { devnet.stop() }
    #expect(poll { devnet.output.contains("Listening.") || !devnet.process.isRunning }, "\(devnet.errors)")
    let url = String(try #require(devnet.output.firstMatch(of: #/RPC URL:\s+(http://127\.0\.0\.1:\d+)/#)?.1))
    let mnemonic = try devMnemonic()

    func run(_ arguments: [String], as account: String, status expected: Int32 = 0) throws -> String {
        let (status, stdout, stderr) = try DevnetProcess.run(
            arguments + ["--data-dir", directory + "/" + account, "--rpc", url, "--config", config])
        #expect(status == expected, "openledger \(arguments.joined(separator: " ")): \(stdout) \(stderr)")
        return stdout + stderr
    }
    var addresses: [String: String] = [:]
    for (name, index) in [("owner", 1), ("alice", 3), ("bob", 4), ("publisher", 5)] {
        let (status, stdout, _) = try DevnetProcess.run([
            "wallet", "import", "--mnemonic", mnemonic, "--index", "\(index)", "--data-dir", directory + "/" + name,
        ])
        #expect(status == 0)
        addresses[name] = String(try #require(stdout.firstMatch(of: #/address: (0x[0-9a-fA-F]{40})/#)?.1))
    }
    // Each contributor's records from the sample Datanet.
    let sample = try String(
        contentsOf: Fixtures.packageRoot.appendingPathComponent("netconfig/sample-datanet/records.jsonl"),
        encoding: .utf8)
    func records(of name: String, limit: Int) throws -> String {
        let lines = sample.split(separator: "\n").filter { $0.contains(addresses[name]!) }.prefix(limit)
        let path = directory + "/\(name).jsonl"
        try (lines.joined(separator: "\n") + "\n").write(toFile: path, atomically: true, encoding: .utf8)
        return path
    }

    #expect(try run(["datanet", "create", "--name", "docs", "--curated"], as: "owner").contains("created Datanet 1"))
    let first = try run(
        ["datanet", "contribute", "--datanet", "1", "--records", try records(of: "alice", limit: 12)], as: "alice")
    #expect(first.contains("batch 1: 12 records") && first.contains("pending curation"), "\(first)")
    let second = try run(
        ["datanet", "contribute", "--datanet", "1", "--records", try records(of: "bob", limit: 9)], as: "bob")
    #expect(second.contains("batch 2: 9 records"), "\(second)")
    _ = try run(
        ["datanet", "contribute", "--datanet", "1", "--records", try records(of: "alice", limit: 2)], as: "alice")
    // Someone else's records, and a contributor deciding on a batch, are refused.
    #expect(
        try run(
            ["datanet", "contribute", "--datanet", "1", "--records", directory + "/bob.jsonl"], as: "alice", status: 1
        )
        .contains("each account contributes its own records"))
    #expect(
        try run(["datanet", "approve", "--datanet", "1", "--batch", "2"], as: "bob", status: 1)
            .contains("only curators decide on batches"))
    _ = try run(["datanet", "reject", "--datanet", "1", "--batch", "3"], as: "owner")
    _ = try run(["datanet", "approve", "--datanet", "1", "--batch", "2"], as: "owner")
    let approved = try run(["datanet", "approve", "--datanet", "1", "--batch", "1"], as: "owner")
    let root = String(try #require(approved.firstMatch(of: #/snapshot root (0x[0-9a-f]{64})/#)?.1, "\(approved)"))

    // The owner holds no batch: the snapshot cannot be checked until their content is fetched.
    #expect(try run(["datanet", "snapshot", "--datanet", "1"], as: "owner", status: 1).contains("is not in the store"))
    let shown = try run(["datanet", "show", "1", "--json"], as: "owner")
    let object = try #require(
        try JSONSerialization.jsonObject(with: Data(shown.utf8)) as? [String: Any], "\(shown)")
    #expect(object["snapshotRoot"] as? String == root && object["size"] as? Int == 21)
    let batches = try #require(object["batches"] as? [[String: Any]])
    #expect(batches.map { $0["status"] as? String } == ["approved", "approved", "rejected"])
    // Each contributor serves its batch as content; the owner fetches both by CID over libp2p (Bitswap).
    for (batch, holder) in zip(batches.prefix(2), ["alice", "bob"]) {
        let cid = try #require(batch["cid"] as? String)
        let server = try ChildProcess(
            DevnetProcess.binary,
            ["content", "serve", "--listen", "/ip4/127.0.0.1/tcp/0", "--data-dir", directory + "/" + holder])
        defer { server.stop() }
        #expect(poll { server.output.contains("/p2p/") || !server.process.isRunning }, "\(server.errors)")
        let address = try #require(server.output.split(separator: "\n").first.map(String.init))
        let (status, stdout, stderr) = try DevnetProcess.run([
            "content", "get", cid, "--peer", address, "--no-output", "--timeout", "60", "--data-dir",
            directory + "/owner",
        ])
        #expect(status == 0, "content fetch \(cid): \(stdout) \(stderr)")
    }
    let snapshot = try run(["datanet", "snapshot", "--datanet", "1"], as: "owner")
    #expect(snapshot.contains("snapshot \(root): 21 records in 2 batches, verified"), "\(snapshot)")
    #expect(snapshot.contains("\"kind\":\"datanet-snapshot\"") && snapshot.contains("\"root\":\"\(root)\""))
    #expect(try run(["datanet", "show", "1"], as: "owner").contains("records held and checked: 21 records"))

    // Train on the checked snapshot, publish the adapter with its provenance, and prove a step against the ledger.
    let out = directory + "/run"
    let trained = try run(
        [
            "train", "--datanet", "1", "--model", model, "--out", out, "--rank", "4", "--targets", "q,v", "--batch",
            "1", "--sequence-length", "32", "--max-steps", "2", "--checkpoint-every", "1", "--quiet",
        ], as: "owner")
    #expect(trained.contains("Datanet 1 snapshot \(root), 21 records in 2 batches"), "\(trained)")
    let logRoot = String(try #require(trained.firstMatch(of: #/log root (0x[0-9a-f]{64})/#)?.1, "\(trained)"))
    try FileManager.default.copyItem(atPath: out, toPath: directory + "/publisher-run")
    #expect(
        try run(
            ["model", "publish-adapter", directory + "/publisher-run/adapter.gguf", "--base-model", model],
            as: "publisher",
            status: 1
        ).contains("the adapter was trained on Datanet 1: name it with --datanet 1"))
    let published = try run(
        [
            "model", "publish-adapter", directory + "/publisher-run/adapter.gguf", "--base-model", model, "--datanet",
            "1", "--price", "0.001 OPEN",
        ], as: "publisher")
    #expect(published.contains("registered base model 1 (llama") && published.contains("published adapter 1: "))
    #expect(published.contains("trained on Datanet 1 snapshot \(root)"))
    #expect(published.contains("training log root \(logRoot)"), "\(published)")
    let adapter = try run(["light", "adapter", "1", "--json"], as: "publisher")
    let record = try #require(
        try JSONSerialization.jsonObject(with: Data(adapter.utf8)) as? [String: Any], "\(adapter)")
    #expect(record["datanetRoots"] as? [String] == [root])
    #expect(record["owner"] as? String == addresses["publisher"])
    let provenance = try #require(record["provenance"] as? [String: Any])
    #expect(provenance["trainingLogRoot"] as? String == logRoot)
    #expect((provenance["document"] as? String)?.contains("\"snapshot_root\":\"\(root)\"") == true)
    let proved = try run(["model", "prove-step", "--run", out, "--step", "2", "--adapter", "1"], as: "publisher")
    #expect(proved.contains("verified: step 2 is under root \(logRoot), adapter 1's training log root"), "\(proved)")
    #expect(
        try run(["model", "prove-step", "--run", out, "--step", "9"], as: "publisher", status: 1)
            .contains("not 9"))

    // A seeder node pins what is announced to it, once the ledger confirms it: the snapshot's shard list and
    // batches, and a second adapter, each served to it by the announcing command.
    let seeder = try ChildProcess(
        DevnetProcess.binary,
        [
            "node", "--role", "seeder", "--data-dir", directory + "/seeder", "--listen", "/ip4/127.0.0.1/tcp/0",
            "--api-port", "0", "--rpc", url, "--config", config,
        ])
    defer { seeder.stop() }
    #expect(poll { seeder.output.contains("api: ") || !seeder.process.isRunning }, "\(seeder.errors)")
    let seederAddress = String(try #require(seeder.output.firstMatch(of: #/p2p: (\S+)/#)?.1, "\(seeder.output)"))
    let announced = try run(["datanet", "snapshot", "--datanet", "1", "--announce-to", seederAddress], as: "owner")
    #expect(announced.contains("announced to 1 of 1 peers"), "\(announced)")
    let shardList = String(try #require(announced.firstMatch(of: #/shard list (\S+)/#)?.1))
    let republished = try run(
        [
            "model", "publish-adapter", directory + "/publisher-run/adapter.gguf", "--base-model", model, "--datanet",
            "1", "--announce-to", seederAddress,
        ], as: "publisher")
    let adapterCID = String(
        try #require(republished.firstMatch(of: #/published adapter 2: (\S+)/#)?.1, "\(republished)"))
    #expect(poll { seeder.errors.contains("pinned an announced adapter") }, "\(seeder.errors)")
    #expect(poll { seeder.errors.contains("pinned an announced Datanet snapshot") }, "\(seeder.errors)")
    seeder.stop()
    let (_, pins, _) = try DevnetProcess.run(["content", "ls", "--data-dir", directory + "/seeder"])
    for cid in [shardList, adapterCID] + batches.prefix(2).compactMap({ $0["cid"] as? String }) {
        #expect(pins.contains(cid), "\(cid) not pinned by the seeder: \(pins)")
    }
}
