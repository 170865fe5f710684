import Chain
import Codec
import Content
import Foundation
import Inference
import LightClient
import Node
import Training

/// `openledger model …`: base models and adapters on `ModelRegistry`, published with their provenance.
enum ModelCommand {
    static let command = CommandSpec(
        name: "model", summary: "Publish LoRA adapters (and their base models) on ModelRegistry with provenance.",
        subcommands: [publishAdapter, proveStep])

    static let proveStep = CommandSpec(
        name: "prove-step",
        summary: "Prove one step of a training run's log against its Merkle root, the on-chain one with --adapter.",
        options: [
            OptionSpec(name: "run", valueName: "DIR", help: "The training run's output directory (`train --out`)."),
            OptionSpec(name: "step", valueName: "K", help: "The step to prove (1-based)."),
            OptionSpec(
                name: "adapter", valueName: "ID", help: "Check against the root ModelRegistry records for this adapter."
            ),
        ] + DatanetCommand.common,
        action: { arguments, output throws(CLIError) in
            guard let directory = arguments.string("run") else {
                throw .usage("missing option --run", command: arguments.command)
            }
            guard let step = try arguments.int("step", in: 1...100_000_000) else {
                throw .usage("missing option --step", command: arguments.command)
            }
            let log: [TrainingLogEntry]
            do {
                log = try TrainingCheckpoint.read(from: directory).log
            } catch {
                throw .failure("\(directory): \(error)")
            }
            guard let index = log.firstIndex(where: { $0.step == step }) else {
                throw .failure("the run's log has steps 1 to \(log.count), not \(step)")
            }
            let entry = log[index]
            let path = TrainingLogTree.proof(log, index: index)
            var root = TrainingLogTree.root(log)
            var anchor = "the run's own log (\(log.count) steps)"
            if let text = arguments.string("adapter") {
                let id = try LightCommand.parseNumber(text, arguments)
                let light = try LightCommand.makeClient(arguments)
                let (provenance, head) = try LightCommand.run { () throws(LightClientError) in
                    try light.read(ModelRegistry.ProvenanceLayout.self, id, at: try light.syncHead())
                }
                guard let provenance else {
                    throw .failure("adapter \(id) has no provenance at block \(head.number) (proven absent)")
                }
                root = provenance.trainingLogRoot
                anchor = "adapter \(id)'s training log root on ModelRegistry, proven at block \(head.number)"
            }
            output.line("entry \(String(decoding: entry.leafBytes, as: UTF8.self))")
            output.line("leaf \(Hex.encode(TrainingLogTree.leaf(entry)))")
            for (hash, left) in path { output.line("  \(left ? "left " : "right") \(Hex.encode(hash))") }
            guard TrainingLogTree.verify(entry, path: path, root: root) else {
                throw .failure("step \(step) does NOT verify against root \(Hex.encode(root)) (\(anchor))")
            }
            output.line("verified: step \(step) is under root \(Hex.encode(root)), \(anchor)")
        })

    static let publishAdapter = CommandSpec(
        name: "publish-adapter",
        summary: "Store an adapter as content, publish it on ModelRegistry with its provenance, and announce it.",
        discussion: """
            --base-model is the base model's GGUF file (registered first when the registry does not know it) or the
            SHA-256 of a registered one. The training provenance (`provenance.json` beside FILE unless --provenance
            names another) is checked against the base model and the Datanets, and recorded on-chain: training log
            root, training data hash, and the document. The Datanet roots published are the snapshots the adapter
            was trained on, each checked as committed by its Datanet; without provenance, each Datanet's current
            snapshot.
            """,
        arguments: [ArgumentSpec(name: "file", help: "The adapter: a GGUF-LoRA file.")],
        options: [
            OptionSpec(name: "base-model", valueName: "HASH|FILE", help: "The base model: its GGUF file or SHA-256."),
            OptionSpec(
                name: "datanet", valueName: "ID", help: "A Datanet the adapter was trained on (repeatable).",
                repeatable: true),
            OptionSpec(
                name: "price", valueName: "AMOUNT", help: "Price per 1,000 tokens: wei, or OPEN.", defaultValue: "0"),
            OptionSpec(name: "provenance", valueName: "FILE", help: "The training provenance (JSON)."),
            OptionSpec(name: "no-provenance", help: "Publish without a training provenance."),
            DatanetCommand.announceTo,
        ] + DatanetCommand.common,
        action: { arguments, output throws(CLIError) in try publish(arguments, output) })

    static func publish(_ arguments: ParsedArguments, _ output: CommandOutput) throws(CLIError) {
        let path = arguments.positionals[0]
        let inspection: LoRAInspection
        do {
            inspection = try LoRAInspection.inspect(path: path)
        } catch {
            throw .failure("\(path) is not a LoRA adapter: \(error)")
        }
        guard inspection.format == .gguf else { throw .failure("\(path): publish the GGUF-LoRA file") }
        guard let baseText = arguments.string("base-model") else {
            throw .usage("missing option --base-model", command: arguments.command)
        }
        guard let priceText = arguments.string("price") ?? Optional("0"), let price = OpenAmount.parse(priceText) else {
            throw .usage("option --price expects wei or an OPEN amount", command: arguments.command)
        }
        let datanetIDs = try arguments.strings("datanet").map { text throws(CLIError) in
            try LightCommand.parseNumber(text, arguments)
        }
        var provenance: TrainingProvenance?
        if !arguments.flag("no-provenance") {
            let named = arguments.string("provenance")
            let file =
                named
                ?? ((path as NSString).deletingLastPathComponent as NSString)
                .appendingPathComponent("provenance.json")
            if named != nil || FileManager.default.fileExists(atPath: file) {
                let bytes = try DatanetCommand.readFile(file, limit: TrainingProvenance.maximumFileBytes)
                provenance = try WalletCommand.node { () throws(NodeError) in
                    try TrainingProvenance.parse(bytes, path: file)
                }
            }
        }
        let light = try LightCommand.makeClient(arguments)
        let publisher = AdapterPublisher(client: light, key: try WalletCommand.loadKey(arguments))
        // The base model: a file is hashed (and registered when new), a hash must be registered.
        let baseHash: [UInt8]
        var identity: (hash: [UInt8], architecture: String, tokenizerHash: [UInt8])?
        if FileManager.default.fileExists(atPath: baseText) {
            identity = try WalletCommand.node { () throws(NodeError) in
                try AdapterPublisher.baseModelIdentity(path: baseText)
            }
            baseHash = identity!.hash
        } else {
            guard let bytes = try? Hex.decode(baseText), bytes.count == 32 else {
                throw .usage(
                    "--base-model '\(baseText)' is neither a file nor a 32-byte hex hash", command: arguments.command)
            }
            baseHash = bytes
        }
        if let provenance, provenance.baseModelHash != baseHash {
            throw .failure(
                "the adapter was trained on base model \(Hex.encode(provenance.baseModelHash)), not \(Hex.encode(baseHash))"
            )
        }
        // Everything is checked before the first transaction: a refused publication leaves nothing on-chain.
        let roots = try datanetRoots(datanetIDs, provenance: provenance, light: light, arguments)
        var baseModelID = try WalletCommand.node { () throws(NodeError) in try publisher.baseModelID(ggufHash: baseHash)
        }
        if baseModelID == nil {
            guard let identity else {
                throw .failure(
                    "no base model with hash \(Hex.encode(baseHash)) is registered: give its GGUF file to --base-model")
            }
            baseModelID = try WalletCommand.node { () throws(NodeError) in
                try publisher.registerBaseModel(
                    ggufHash: identity.hash, architecture: identity.architecture, tokenizerHash: identity.tokenizerHash)
            }
            output.line(
                "registered base model \(baseModelID!) (\(identity.architecture), \(Hex.encode(identity.hash)))")
        }
        let store = try ContentCommand.open(arguments)
        let published = try WalletCommand.node { () throws(NodeError) in
            try publisher.publish(
                path: path, store: store, baseModelID: baseModelID!, datanetRoots: roots, pricePer1kTokens: price)
        }
        output.line(
            "published adapter \(published.adapterID): \(published.cid) (\(published.bytes) bytes, rank \(inspection.entries.first?.rank ?? 0)) on base model \(baseModelID!), block \(published.blockNumber)"
        )
        for (index, root) in roots.enumerated() {
            output.line("  trained on Datanet \(datanetIDs[index]) snapshot \(Hex.encode(root))")
        }
        if let provenance {
            let block = try WalletCommand.node { () throws(NodeError) in
                try publisher.recordProvenance(
                    published.adapterID, trainingLogRoot: provenance.trainingLogRoot,
                    trainingDataHash: provenance.trainingDataHash, document: provenance.document)
            }
            output.line(
                "  provenance recorded in block \(block): training log root \(Hex.encode(provenance.trainingLogRoot)), data \(Hex.encode(provenance.trainingDataHash)), \(provenance.document.count) bytes"
            )
        }
        let announcement = Announcement.adapter(
            .init(
                adapterId: published.adapterID.description, baseModelId: baseModelID!.description,
                owner: publisher.account.checksummed, cid: published.cid.description, format: "gguf-lora",
                rank: inspection.entries.first?.rank ?? 0, bytes: "\(published.bytes)",
                block: Hex.encode(published.block)))
        output.line("announcement \(String(decoding: announcement.encoded, as: UTF8.self))")
        try DatanetCommand.announce(announcement, roots: [published.cid], store: store, arguments, output)
    }

    /// The roots to publish, one per `--datanet` in order: the provenance's for that Datanet (checked as committed
    /// by it), or the Datanet's current snapshot root when the run names none.
    static func datanetRoots(
        _ ids: [UInt256], provenance: TrainingProvenance?, light: LightClient, _ arguments: ParsedArguments
    ) throws(CLIError) -> [[UInt8]] {
        if let provenance {
            let trained = Set(provenance.datanets.map(\.id))
            for id in ids where !trained.contains(id) {
                throw .failure("the provenance does not name Datanet \(id) among those the adapter was trained on")
            }
            for (id, _) in provenance.datanets where !ids.contains(id) {
                throw .failure("the adapter was trained on Datanet \(id): name it with --datanet \(id)")
            }
        }
        var roots: [[UInt8]] = []
        for id in ids {
            let trainedRoot = provenance?.datanets.first { $0.id == id }?.root
            let root = try LightCommand.run { () throws(LightClientError) in
                let head = try light.syncHead()
                if let trainedRoot {
                    let committed = try light.read(DatanetRegistry.CommittedRootLayout.self, trainedRoot, at: head)
                    guard committed.value == id else {
                        throw LightClientError.verificationFailed(
                            "snapshot \(Hex.encode(trainedRoot)) was never committed by Datanet \(id)")
                    }
                    return trainedRoot
                }
                let tree = try light.read(DatanetRegistry.SnapshotLayout.self, id, at: head).value
                guard tree.count > 0 else {
                    throw LightClientError.verificationFailed("Datanet \(id) has no records in its snapshot")
                }
                return tree.snapshotRoot
            }
            roots.append(root)
        }
        return roots
    }
}
