import Chain
import Codec
import Content
import Crypto
import Foundation
import Inference
import LightClient

/// Publishing an adapter on `ModelRegistry`: its base model found (or registered) by the GGUF's SHA-256, the adapter
/// file stored as content and published with its CID, Datanet snapshot roots and price, and its training provenance
/// recorded beside it; each step dry-run, sent and followed to a verified receipt (docs/datanets.md).
public struct AdapterPublisher: Sendable {
    /// The most base models scanned when looking one up by hash.
    public static let maximumBaseModels: UInt64 = 10_000

    /// The light client every read and transaction goes through.
    public let client: LightClient
    private let caller: ContractCaller

    /// A publisher signing with `key` through `client`.
    public init(client: LightClient, key: Secp256k1PrivateKey, inclusionTimeoutSeconds: Double = 60) {
        self.client = client
        caller = ContractCaller(
            client: client, key: key, contract: ModelRegistry.defaultAddress,
            signature: { ModelRegistry.method(named: $0)?.signature },
            inclusionTimeoutSeconds: inclusionTimeoutSeconds)
    }

    /// The account that owns what it publishes.
    public var account: Address { caller.account }

    /// The id of the registered base model whose GGUF hashes to `ggufHash`, from proven storage; nil when none does.
    public func baseModelID(ggufHash: [UInt8]) throws(NodeError) -> UInt256? {
        try ledger { () throws(LightClientError) in
            let head = try client.syncHead()
            var id: UInt64 = 1
            while id <= Self.maximumBaseModels {
                guard let model = try client.read(ModelRegistry.BaseModelLayout.self, UInt256(id), at: head).value
                else { return nil }
                if model.ggufHash == ggufHash { return UInt256(id) }
                id += 1
            }
            return nil
        }
    }

    /// Registers a base model; returns its id.
    public func registerBaseModel(ggufHash: [UInt8], architecture: String, tokenizerHash: [UInt8]) throws(NodeError)
        -> UInt256
    {
        let data = try caller.calldata(
            "registerBaseModel", [.fixedBytes(ggufHash), .string(architecture), .fixedBytes(tokenizerHash)])
        let (receipt, _, _) = try caller.submit("registerBaseModel", data: data)
        guard let event = try caller.event("BaseModelRegistered", in: receipt), case .uint(let id)? = event["modelId"]
        else { throw .ledger(.verificationFailed("the receipt of registerBaseModel has no BaseModelRegistered log")) }
        return id
    }

    /// The identity of a GGUF base model as the registry records it: the file's SHA-256, its architecture, and the
    /// SHA-256 of its vocabulary (each token's bytes followed by a zero byte).
    public static func baseModelIdentity(path: String) throws(NodeError) -> (
        hash: [UInt8], architecture: String, tokenizerHash: [UInt8]
    ) {
        let file: GGUFFile
        do {
            file = try GGUFFile(path: path)
        } catch {
            throw .publishing(path: path, reason: "\(error)")
        }
        guard let architecture = file.metadata["general.architecture"]?.string,
            case .array(let tokens)? = file.metadata["tokenizer.ggml.tokens"]
        else { throw .publishing(path: path, reason: "no architecture or vocabulary") }
        var vocabulary = SHA256()
        for token in tokens {
            vocabulary.update(Array((token.string ?? "").utf8) + [0])
        }
        return (try fileHash(path), architecture, vocabulary.finalize())
    }

    /// The SHA-256 of the file at `path`, read in pieces.
    public static func fileHash(_ path: String) throws(NodeError) -> [UInt8] {
        guard let handle = FileHandle(forReadingAtPath: path) else {
            throw .publishing(path: path, reason: "cannot read it")
        }
        defer { try? handle.close() }
        var hasher = SHA256()
        while true {
            let chunk = handle.readData(ofLength: 1 << 22)
            if chunk.isEmpty { break }
            hasher.update(Array(chunk))
        }
        return hasher.finalize()
    }

    /// What `publish` recorded.
    public struct Published: Sendable {
        /// The adapter's id.
        public var adapterID: UInt256
        /// The CID of its file.
        public var cid: CID
        /// Its file's size.
        public var bytes: Int
        /// The verified block that holds the publication.
        public var block: [UInt8]
        /// Its number.
        public var blockNumber: UInt64
    }

    /// Stores the adapter file at `path` (pinned as an adapter) and publishes it on base model `baseModelID`,
    /// trained on `datanetRoots`, at `pricePer1kTokens` wei.
    public func publish(
        path: String, store: ContentStore, baseModelID: UInt256, datanetRoots: [[UInt8]], pricePer1kTokens: UInt256
    ) throws(NodeError) -> Published {
        let cid: CID
        let size: Int
        do {
            cid = try store.add(path: path, pin: .adapter)
        } catch {
            throw .publishing(path: path, reason: "storing it: \(error)")
        }
        size = ((try? FileManager.default.attributesOfItem(atPath: path))?[.size] as? Int) ?? 0
        let data = try caller.calldata(
            "publishAdapter",
            [
                .bytes(Array(cid.description.utf8)), .uint(baseModelID),
                .array(datanetRoots.map { .fixedBytes($0) }), .uint(pricePer1kTokens),
            ])
        let (receipt, header, _) = try caller.submit("publishAdapter", data: data)
        guard let event = try caller.event("AdapterPublished", in: receipt), case .uint(let id)? = event["adapterId"]
        else { throw .ledger(.verificationFailed("the receipt of publishAdapter has no AdapterPublished log")) }
        return Published(adapterID: id, cid: cid, bytes: size, block: header.hash, blockNumber: header.number)
    }

    /// Records adapter `id`'s provenance; returns the verified block's number.
    public func recordProvenance(
        _ id: UInt256, trainingLogRoot: [UInt8], trainingDataHash: [UInt8], document: [UInt8]
    ) throws(NodeError) -> UInt64 {
        let data = try caller.calldata(
            "recordProvenance",
            [.uint(id), .fixedBytes(trainingLogRoot), .fixedBytes(trainingDataHash), .bytes(document)])
        return try caller.submit("recordProvenance", data: data).header.number
    }

    private func ledger<R>(_ body: () throws(LightClientError) -> R) throws(NodeError) -> R {
        do {
            return try body()
        } catch {
            throw .ledger(error)
        }
    }
}

/// The fields of a training run's `provenance.json` that go on-chain beside the adapter.
public struct TrainingProvenance: Sendable, Equatable {
    /// The most bytes a provenance file may take before it is compacted.
    public static let maximumFileBytes = 1 << 20

    /// The SHA-256 of the base model's GGUF file.
    public var baseModelHash: [UInt8]
    /// The SHA-256 of the training data.
    public var trainingDataHash: [UInt8]
    /// The training log's Merkle root.
    public var trainingLogRoot: [UInt8]
    /// The Datanets trained on: id and snapshot root.
    public var datanets: [(id: UInt256, root: [UInt8])]
    /// The document as recorded on-chain: the file's JSON, compact with sorted keys.
    public var document: [UInt8]

    /// Equal when every field is.
    public static func == (a: TrainingProvenance, b: TrainingProvenance) -> Bool {
        a.baseModelHash == b.baseModelHash && a.trainingDataHash == b.trainingDataHash
            && a.trainingLogRoot == b.trainingLogRoot && a.document == b.document
            && a.datanets.map(\.id) == b.datanets.map(\.id) && a.datanets.map(\.root) == b.datanets.map(\.root)
    }

    /// Reads `provenance.json` as `openledger train` writes it.
    public static func parse(_ bytes: [UInt8], path: String) throws(NodeError) -> TrainingProvenance {
        guard bytes.count <= maximumFileBytes,
            let object = try? JSONSerialization.jsonObject(with: Data(bytes)) as? [String: Any]
        else { throw .publishing(path: path, reason: "not a provenance JSON object") }
        func hash(_ value: Any?, _ name: String) throws(NodeError) -> [UInt8] {
            guard let text = value as? String, let bytes = try? Hex.decode(text), bytes.count == 32 else {
                throw .publishing(path: path, reason: "\(name) must be a 32-byte hex string")
            }
            return bytes
        }
        let base = try hash((object["base_model"] as? [String: Any])?["sha256"], "base_model.sha256")
        let data = try hash((object["training_data"] as? [String: Any])?["sha256"], "training_data.sha256")
        let log = try hash(object["training_log_root"], "training_log_root")
        var datanets: [(id: UInt256, root: [UInt8])] = []
        for entry in (object["datanets"] as? [[String: Any]]) ?? [] {
            guard let text = entry["id"] as? String, let id = UInt256(decimal: text) else {
                throw .publishing(path: path, reason: "datanets[].id must be a decimal string")
            }
            datanets.append((id, try hash(entry["snapshot_root"], "datanets[].snapshot_root")))
        }
        guard
            let compact = try? JSONSerialization.data(
                withJSONObject: object, options: [.sortedKeys, .withoutEscapingSlashes])
        else { throw .publishing(path: path, reason: "does not encode") }
        guard compact.count <= ModelRegistry.maxProvenanceBytes else {
            throw .publishing(
                path: path,
                reason: "\(compact.count) bytes compact; the ledger keeps at most \(ModelRegistry.maxProvenanceBytes)")
        }
        return TrainingProvenance(
            baseModelHash: base, trainingDataHash: data, trainingLogRoot: log, datanets: datanets,
            document: Array(compact))
    }
}
