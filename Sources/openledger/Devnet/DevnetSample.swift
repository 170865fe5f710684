import Chain
import Codec
import Content
import Crypto
import Foundation
import Inference
import LightClient
import Node
import Runtime
import Training

/// The sample economy a devnet with peers starts from: the sample Datanet (netconfig/sample-datanet, each contributor's
/// records sent as that account's batches and stored in the seeder's content store), its snapshot's shard list, an
/// adapter trained on it for a few steps and published with its provenance, and the peers' stakes.
///
/// On a chain that already has them (a restarted devnet) nothing is sent again.
enum DevnetSample {
    /// What the sample is, on the ledger.
    struct Sample {
        /// The sample Datanet's id.
        var datanetID: UInt256
        /// Its committed snapshot root.
        var snapshotRoot: [UInt8]
        /// Its record count.
        var records: Int
        /// The shard list's CID.
        var shardList: CID?
        /// The sample adapter's id.
        var adapterID: UInt256
        /// The adapter's CID.
        var adapterCID: String
    }

    /// The account that owns the sample Datanet and adapter: dev account 0.
    static let ownerIndex = 0

    /// Publishes the sample (unless the chain has it) with `light`, the dev keys of `config`, content into
    /// `seederStore`, the adapter trained on `modelPath` in `work`.
    static func prepare(
        light: LightClient, config: NetworkConfig, seederStore: ContentStore, modelPath: String, work: String,
        logger: Logger, progress: (String) -> Void
    ) throws(CLIError) -> Sample {
        let keys = try config.devAccounts.map { account throws(CLIError) in
            do {
                return try Secp256k1PrivateKey(bytes: account.privateKey)
            } catch {
                throw .failure("dev account key: \(error)")
            }
        }
        let owner = keys[ownerIndex]
        let existing = try LightCommand.run { () throws(LightClientError) in
            let head = try light.syncHead()
            return (
                try light.read(DatanetRegistry.DatanetLayout.self, UInt256(1), at: head).value,
                try light.read(ModelRegistry.AdapterLayout.self, UInt256(1), at: head).value
            )
        }
        if existing.0 == nil {
            try publishDatanet(light: light, owner: owner, keys: keys, store: seederStore, progress: progress)
        }
        let contents = try WalletCommand.node { () throws(NodeError) in
            try DatanetContents.read(UInt256(1), client: light, store: seederStore)
        }
        let shards = try? DatanetPublication.publish(contents, store: seederStore).manifest
        if let adapter = existing.1 {
            return Sample(
                datanetID: 1, snapshotRoot: contents.snapshotRoot, records: contents.records.count,
                shardList: shards, adapterID: 1, adapterCID: String(decoding: adapter.cid, as: UTF8.self))
        }
        progress("training the sample adapter on Datanet 1 (\(contents.records.count) records)")
        let adapterPath = try train(contents, modelPath: modelPath, work: work)
        progress("publishing the sample adapter")
        let publisher = AdapterPublisher(client: light, key: owner)
        let published = try WalletCommand.node { () throws(NodeError) in
            let identity = try AdapterPublisher.baseModelIdentity(path: modelPath)
            var base = try publisher.baseModelID(ggufHash: identity.hash)
            if base == nil {
                base = try publisher.registerBaseModel(
                    ggufHash: identity.hash, architecture: identity.architecture, tokenizerHash: identity.tokenizerHash)
            }
            let published = try publisher.publish(
                path: adapterPath, store: seederStore, baseModelID: base!, datanetRoots: [contents.snapshotRoot],
                pricePer1kTokens: .zero)
            let provenancePath = work + "/sample-adapter/provenance.json"
            guard let bytes = FileManager.default.contents(atPath: provenancePath) else {
                throw NodeError.publishing(path: provenancePath, reason: "not written")
            }
            let provenance = try TrainingProvenance.parse(Array(bytes), path: provenancePath)
            _ = try publisher.recordProvenance(
                published.adapterID, trainingLogRoot: provenance.trainingLogRoot,
                trainingDataHash: provenance.trainingDataHash, document: provenance.document)
            return published
        }
        return Sample(
            datanetID: 1, snapshotRoot: contents.snapshotRoot, records: contents.records.count, shardList: shards,
            adapterID: published.adapterID, adapterCID: published.cid.description)
    }

    /// Creates the open sample Datanet and sends each contributor's records as that account's batches.
    private static func publishDatanet(
        light: LightClient, owner: Secp256k1PrivateKey, keys: [Secp256k1PrivateKey], store: ContentStore,
        progress: (String) -> Void
    ) throws(CLIError) {
        let path = DevnetSample.recordsPath()
        guard let data = FileManager.default.contents(atPath: path) else { throw .failure("cannot read \(path)") }
        let lines = data.split(separator: 0x0A)
        progress("creating the sample Datanet from \(path) (\(lines.count) records)")
        _ = try WalletCommand.node { () throws(NodeError) in
            try DatanetClient(client: light, key: owner).create(name: "OpenLedger docs (sample)", curated: false)
        }
        let byAddress = Dictionary(uniqueKeysWithValues: keys.map { (WalletKeyFile.address(of: $0).lowercaseHex, $0) })
        var order: [String] = []
        var grouped: [String: [UInt8]] = [:]
        for line in lines {
            guard
                let match = String(decoding: line, as: UTF8.self).firstMatch(
                    of: #/"contributor":\s*"(0x[0-9a-fA-F]{40})"/#)
            else { throw .failure("\(path): a line has no contributor") }
            let address = String(match.1).lowercased()
            if grouped[address] == nil { order.append(address) }
            grouped[address, default: []] += Array(line) + [0x0A]
        }
        for address in order {
            guard let key = byAddress[address] else {
                throw .failure("\(path): contributor \(address) is not a dev account")
            }
            let client = DatanetClient(client: light, key: key)
            try WalletCommand.node { () throws(NodeError) in
                let batches = try DatanetBatch.split(grouped[address]!, contributor: client.account)
                _ = try client.contribute(batches, to: UInt256(1), store: store)
            }
        }
    }

    /// Trains the sample adapter for a few steps on the snapshot; returns the adapter file's path.
    private static func train(_ contents: DatanetContents, modelPath: String, work: String) throws(CLIError) -> String {
        let model: LlamaModel
        do {
            model = try LlamaModel(path: modelPath)
        } catch {
            throw .failure("\(modelPath): \(error)")
        }
        let bytes = contents.contents
        var config = TrainingConfig()
        config.rank = 8
        config.sequenceLength = 96
        config.batch = 2
        config.learningRate = 1e-3
        config.seed = 1
        config.checkpointEvery = 4
        let directory = work + "/sample-adapter"
        do {
            let records = try TrainingRecord.parse(jsonl: bytes)
            let modelHash = try TrainCommand.fileHash(modelPath)
            let trainer = try LoRATrainer(
                model: model, modelHash: modelHash, records: records,
                dataHash: TrainCommand.hexString(SHA256.hash(bytes)), config: config, directory: directory)
            let summary = try trainer.run(resume: false, maxSteps: 4)
            try TrainingOutputs.write(
                summary: summary, trainer: trainer, modelPath: modelPath, recordsPath: "datanet 1",
                datanets: [
                    TrainingDatanet(
                        id: "1", snapshotRoot: Hex.encode(contents.snapshotRoot), records: contents.records.count)
                ], adapterType: .f16)
        } catch {
            throw .failure("training the sample adapter: \(error)")
        }
        return directory + "/adapter.gguf"
    }

    /// netconfig/sample-datanet/records.jsonl beside the network config's directory, or in the working directory.
    static func recordsPath() -> String {
        let candidates = [
            "netconfig/sample-datanet/records.jsonl",
            (CommandLine.arguments[0] as NSString).deletingLastPathComponent
                + "/../../netconfig/sample-datanet/records.jsonl",
        ]
        return candidates.first { FileManager.default.fileExists(atPath: $0) } ?? candidates[0]
    }
}
