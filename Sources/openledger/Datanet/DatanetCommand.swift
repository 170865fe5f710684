import AttributionRules
import Chain
import Codec
import Content
import Foundation
import LightClient
import Node
import P2P

/// `openledger datanet …`: create a Datanet, contribute records to it, decide on batches as a curator, check and
/// publish its snapshot, and show it, every read proven through the light client (docs/datanets.md).
enum DatanetCommand {
    static let common =
        [NodeOptions.dataDirectory("The wallet key and the content store are in DIR.")] + WalletCommand.ledger
    static let datanetOption = OptionSpec(name: "datanet", valueName: "ID", help: "The Datanet's number.")
    static let announceTo = OptionSpec(
        name: "announce-to", valueName: "MULTIADDR",
        help: "Publish the announcement to this peer (/…/p2p/<id>, repeatable) and serve it the content until taken.",
        repeatable: true)

    /// Sends `announcement` to the `--announce-to` peers and serves them the DAGs under `roots`; prints the outcome.
    static func announce(
        _ announcement: Announcement, roots: [CID], store: ContentStore, _ arguments: ParsedArguments,
        _ output: CommandOutput
    ) throws(CLIError) {
        let texts = arguments.strings("announce-to")
        guard !texts.isEmpty else { return }
        var peers: [Multiaddr] = []
        for text in texts {
            let address = try P2PCommand.multiaddr(text, arguments)
            guard address.peerID != nil else {
                throw .usage("peer address '\(text)' must end in /p2p/<peer id>", command: arguments.command)
            }
            peers.append(address)
        }
        let chainId = try NodeOptions.configuration(arguments).network.chainId
        let blocks = AnnouncementSender.blockCount(roots, store: store)
        let outcome = try WalletCommand.node { () throws(NodeError) in
            try AnnouncementSender.send(
                announcement, chainId: chainId, to: peers, store: store, blocks: blocks, timeoutSeconds: 60,
                logger: .discarding)
        }
        output.line(
            "announced to \(outcome.subscribed) of \(outcome.peers) peers; served \(outcome.blocksSent) of \(blocks) blocks"
        )
    }

    static let command = CommandSpec(
        name: "datanet", summary: "Datanets: create, contribute records, approve batches, snapshot, show.",
        subcommands: [
            CommandSpec(
                name: "create", summary: "Create a Datanet owned by the wallet; print its id.",
                options: [
                    OptionSpec(name: "name", valueName: "NAME", help: "The Datanet's name (1 to 128 bytes)."),
                    OptionSpec(name: "curated", help: "Curators approve each batch (otherwise batches count at once)."),
                    OptionSpec(
                        name: "curator", valueName: "ADDRESS", help: "A curator besides the owner (repeatable).",
                        repeatable: true),
                ] + common,
                action: { arguments, output throws(CLIError) in
                    guard let name = arguments.string("name") else {
                        throw .usage("missing option --name", command: arguments.command)
                    }
                    let curators = try arguments.strings("curator").map { text throws(CLIError) in
                        try LightCommand.parseAddress(text, arguments)
                    }
                    let client = try makeClient(arguments)
                    let curated = arguments.flag("curated") || !curators.isEmpty
                    let (id, block) = try WalletCommand.node { () throws(NodeError) in
                        try client.create(name: name, curated: curated, curators: curators)
                    }
                    output.line("created Datanet \(id) \"\(name)\" (\(curated ? "curated" : "open")) in block \(block)")
                }),
            CommandSpec(
                name: "contribute",
                summary: "Store JSONL records as content and contribute them on-chain (batches of up to 1,024).",
                discussion: """
                    Each line is {"contributor": "0x…", "text": "…"} or {"contributor": "0x…", "instruction": "…",
                    "response": "…"}, and every record must credit the wallet's account, which sends the batches. Each
                    batch is stored in DIR/content and pinned; its CID, record hashes and leaves root go on-chain.
                    """,
                options: [
                    datanetOption,
                    OptionSpec(name: "records", valueName: "FILE", help: "The records, one JSON object per line."),
                ] + common,
                action: { arguments, output throws(CLIError) in
                    let id = try datanetID(arguments)
                    guard let path = arguments.string("records") else {
                        throw .usage("missing option --records", command: arguments.command)
                    }
                    let bytes = try readFile(path, limit: 16 * DatanetBatch.maximumBytes)
                    let client = try makeClient(arguments)
                    let batches: [DatanetBatch]
                    do throws(NodeError) {
                        batches = try DatanetBatch.split(bytes, contributor: client.account)
                    } catch .datanetBatchInvalid(let line, let reason) {
                        throw .failure("\(path)\(line.map { ":\($0)" } ?? ""): \(reason)")
                    } catch {
                        throw NodeOptions.failure(error)
                    }
                    let store = try ContentCommand.open(arguments)
                    let contributions = try WalletCommand.node { () throws(NodeError) in
                        try client.contribute(batches, to: id, store: store)
                    }
                    for contribution in contributions {
                        let state =
                            contribution.snapshotRoot.map { "approved, snapshot root \(Hex.encode($0))" }
                            ?? "pending curation"
                        output.line(
                            "batch \(contribution.batchID): \(contribution.records) records, \(contribution.cid), \(state), block \(contribution.block)"
                        )
                    }
                }),
            decision(approve: true), decision(approve: false),
            CommandSpec(
                name: "snapshot",
                summary: "Check the committed snapshot against its content, publish its shard list, index it.",
                discussion: """
                    Reads every approved batch from DIR/content, checks each against its on-chain leaves root and the
                    whole against the committed snapshot root, then stores the shard list (JSON: the batches' CIDs in
                    leaf order) as content, builds the attribution index in DIR/attribution/<root>, and prints the
                    announcement of the snapshot.
                    """,
                options: [datanetOption, announceTo] + common,
                action: { arguments, output throws(CLIError) in
                    let id = try datanetID(arguments)
                    let light = try LightCommand.makeClient(arguments)
                    let store = try ContentCommand.open(arguments)
                    let contents = try WalletCommand.node { () throws(NodeError) in
                        try DatanetContents.read(id, client: light, store: store)
                    }
                    let published = try WalletCommand.node { () throws(NodeError) in
                        try DatanetPublication.publish(contents, store: store)
                    }
                    let directory = NodeOptions.dataDirectory(arguments).attributionIndex(root: contents.snapshotRoot)
                    let shards = try WalletCommand.node { () throws(NodeError) in
                        let shards = try SnapshotIndexFiles.build(contents.records, root: contents.snapshotRoot)
                        try SnapshotIndexFiles.write(shards, to: directory)
                        return shards
                    }
                    output.line(
                        "Datanet \(id) snapshot \(Hex.encode(contents.snapshotRoot)): \(contents.records.count) records in \(contents.batches.count) batches, verified at block \(contents.header.number)"
                    )
                    output.line("shard list \(published.manifest)")
                    output.line("attribution index \(directory) (\(shards.count) shard\(shards.count == 1 ? "" : "s"))")
                    output.line("announcement \(published.announcementJSON)")
                    try announce(
                        published.announcement, roots: [published.manifest] + contents.batches.map(\.cid), store: store,
                        arguments, output)
                }),
            CommandSpec(
                name: "show", summary: "A Datanet from proven registry storage: owner, batches, snapshot.",
                arguments: [ArgumentSpec(name: "datanet-id", help: "The Datanet's number.")],
                options: [
                    NodeOptions.dataDirectory("The content store is in DIR (its records are checked when held)."),
                    OptionSpec(name: "json", help: "Print one JSON object."),
                ] + WalletCommand.ledger,
                action: { arguments, output throws(CLIError) in
                    let id = try LightCommand.parseNumber(arguments.positionals[0], arguments)
                    try show(id, arguments, output)
                }),
        ])

    static func decision(approve: Bool) -> CommandSpec {
        CommandSpec(
            name: approve ? "approve" : "reject",
            summary: approve
                ? "Approve a pending batch as owner or curator: its records join the snapshot."
                : "Reject a pending batch as owner or curator.",
            options: [
                datanetOption, OptionSpec(name: "batch", valueName: "N", help: "The batch's number."),
            ] + common,
            action: { arguments, output throws(CLIError) in
                let id = try datanetID(arguments)
                guard let text = arguments.string("batch") else {
                    throw .usage("missing option --batch", command: arguments.command)
                }
                let batch = try LightCommand.parseNumber(text, arguments)
                let client = try makeClient(arguments)
                let (root, block) = try WalletCommand.node { () throws(NodeError) in
                    try client.decide(datanet: id, batch: batch, approve: approve)
                }
                output.line(
                    approve
                        ? "approved batch \(batch) of Datanet \(id) in block \(block): snapshot root \(root.map { Hex.encode($0) } ?? "-")"
                        : "rejected batch \(batch) of Datanet \(id) in block \(block)")
            })
    }

    static func show(_ id: UInt256, _ arguments: ParsedArguments, _ output: CommandOutput) throws(CLIError) {
        let light = try LightCommand.makeClient(arguments)
        let (datanet, tree, head) = try LightCommand.run { () throws(LightClientError) in
            let head = try light.syncHead()
            return (
                try light.read(DatanetRegistry.DatanetLayout.self, id, at: head).value,
                try light.read(DatanetRegistry.SnapshotLayout.self, id, at: head).value, head
            )
        }
        guard let datanet else { throw .failure("no Datanet \(id) at block \(head.number) (proven absent)") }
        var batches: [[String: Any]] = []
        var lines: [String] = []
        var number = UInt256(1)
        while number <= datanet.batchCount, batches.count < DatanetContents.maximumBatches {
            let batchID = number
            let batch = try LightCommand.run { () throws(LightClientError) in
                try light.read(DatanetRegistry.BatchLayout.self, (id, batchID), at: head).value
            }
            number = number &+ 1
            guard let batch else { continue }
            let cid = String(decoding: batch.cid, as: UTF8.self)
            batches.append([
                "batchId": batchID.description, "contributor": batch.contributor.checksummed, "records": batch.count,
                "status": "\(batch.status)", "cid": cid, "leavesRoot": Hex.encode(batch.leavesRoot),
            ])
            lines.append("  batch \(batchID): \(batch.count) records by \(batch.contributor), \(batch.status), \(cid)")
        }
        // The records themselves are checked when the store holds every approved batch.
        var held = "records not held here"
        if let store = try? ContentCommand.open(arguments) {
            do throws(NodeError) {
                let contents = try DatanetContents.read(id, client: light, store: store, at: head)
                held = "records held and checked: \(contents.records.count) records hash to the snapshot root"
            } catch .datanetContent(_, let reason) where reason.contains("not in the store") {
                held = "records not held here"
            } catch {
                held = "records held but WRONG: \(error)"
            }
        }
        if arguments.flag("json") {
            let object: [String: Any] = [
                "datanetId": id.description, "name": datanet.name, "owner": datanet.owner.checksummed,
                "curated": datanet.curated, "snapshotRoot": Hex.encode(tree.snapshotRoot), "size": tree.count,
                "batches": batches, "block": head.number, "records": held,
            ]
            guard let data = try? JSONSerialization.data(withJSONObject: object, options: [.sortedKeys]) else {
                throw .failure("cannot encode the Datanet")
            }
            output.line(String(decoding: data, as: UTF8.self))
            return
        }
        output.line(
            "Datanet \(id) \"\(datanet.name)\": owner \(datanet.owner), \(datanet.curated ? "curated" : "open"), \(datanet.batchCount) batches"
        )
        output.line("  snapshot root \(Hex.encode(tree.snapshotRoot)), \(tree.count) records")
        for line in lines { output.line(line) }
        output.line("  \(held)")
        output.line(
            "verified: storage proofs of DatanetRegistry against state root \(Hex.encode(head.header.stateRoot)) of block \(head.number)"
        )
    }

    static func datanetID(_ arguments: ParsedArguments) throws(CLIError) -> UInt256 {
        guard let text = arguments.string("datanet") else {
            throw .usage("missing option --datanet", command: arguments.command)
        }
        return try LightCommand.parseNumber(text, arguments)
    }

    static func makeClient(_ arguments: ParsedArguments) throws(CLIError) -> DatanetClient {
        DatanetClient(client: try LightCommand.makeClient(arguments), key: try WalletCommand.loadKey(arguments))
    }

    /// The bytes of the file at `path`, refused past `limit` before reading.
    static func readFile(_ path: String, limit: Int) throws(CLIError) -> [UInt8] {
        guard let attributes = try? FileManager.default.attributesOfItem(atPath: path),
            let size = attributes[.size] as? Int
        else { throw .failure("cannot read \(path)") }
        guard size <= limit else { throw .failure("\(path): \(size) bytes exceeds \(limit)") }
        guard let data = FileManager.default.contents(atPath: path) else { throw .failure("cannot read \(path)") }
        return Array(data)
    }
}
