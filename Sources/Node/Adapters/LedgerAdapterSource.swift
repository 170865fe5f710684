import Chain
import Codec
import Content
import FileIO
import Foundation
import Inference
import LightClient
import Runtime

/// The name a request uses for an adapter published on `ModelRegistry`: `adapter-<id>`.
public enum LedgerAdapterName {
    /// The names' prefix.
    public static let prefix = "adapter-"

    /// The name of adapter `id`.
    public static func name(_ id: UInt256) -> String { prefix + id.description }

    /// The adapter id a name stands for, or nil when it is not `adapter-<decimal>` (1 … 78 digits, no leading zero).
    public static func id(_ name: String) -> UInt256? {
        guard name.hasPrefix(prefix) else { return nil }
        let digits = name.dropFirst(prefix.count)
        guard (1...78).contains(digits.count), digits.allSatisfy({ $0.isASCII && $0.isNumber }),
            digits.first != "0" || digits.count == 1, let id = UInt256(decimal: String(digits)), id != .zero
        else { return nil }
        return id
    }
}

/// Fetching content by CID into the store (`ContentFetcher` over the network; a test gives its own).
public protocol ContentFetching: Sendable {
    /// Fetches the DAG under `root`, pinned for `reason`, within `timeoutSeconds`.
    func fetch(_ root: CID, reason: PinReason, timeoutSeconds: Double) throws(NodeError)
}

extension ContentFetcher: ContentFetching {}

/// Adapters on demand: `adapter-<id>` is resolved through the ledger when a request first names it.
///
/// Its `ModelRegistry` record is read through the light client (proven), its base model must be the one this node
/// serves, its file is fetched by CID from whoever provides it (verified block by block), written beside the other
/// cached adapters, loaded and checked against the base. Other names go to the directory source.
public final class LedgerAdapterSource: AdapterSource {
    /// The largest adapter file taken from the network.
    public static let maximumAdapterBytes = 1 << 30

    private let light: LightClient
    private let store: ContentStore
    private let fetcher: any ContentFetching
    private let baseModelHash: [UInt8]
    private let directory: AdapterDirectory
    private let timeoutSeconds: Double
    private let onLoaded: @Sendable (UInt256, ModelRegistry.Adapter) -> Void
    private let logger: Logger

    /// Adapters of the ledger for the base model whose GGUF hashes to `baseModelHash`, cached as files in
    /// `directory` (which also serves its own adapters by name); `onLoaded` hears of each ledger adapter loaded.
    public init(
        light: LightClient, store: ContentStore, fetcher: any ContentFetching, baseModelHash: [UInt8],
        directory: String, timeoutSeconds: Double = 60, logger: Logger,
        onLoaded: @escaping @Sendable (UInt256, ModelRegistry.Adapter) -> Void = { _, _ in }
    ) {
        self.light = light
        self.store = store
        self.fetcher = fetcher
        self.baseModelHash = baseModelHash
        self.directory = AdapterDirectory(path: directory)
        self.timeoutSeconds = timeoutSeconds
        self.onLoaded = onLoaded
        self.logger = logger
    }

    /// The adapters of the directory, including the ledger adapters fetched before.
    public func names() -> [String] { directory.names() }

    /// Directory names, and every `adapter-<id>`.
    public func accepts(_ name: String) -> Bool { LedgerAdapterName.id(name) != nil || directory.accepts(name) }

    /// Loads `name`: a ledger adapter is checked against its record (fetched first when the store lacks its file).
    public func load(_ name: String, base: LoRABase) throws(LoRAError) -> LoRAAdapter {
        guard let id = LedgerAdapterName.id(name) else { return try directory.load(name, base: base) }
        let adapter: ModelRegistry.Adapter?
        let model: ModelRegistry.BaseModel?
        do {
            let head = try light.syncHead()
            adapter = try light.read(ModelRegistry.AdapterLayout.self, id, at: head).value
            model =
                try adapter.map { adapter throws(LightClientError) in
                    try light.read(ModelRegistry.BaseModelLayout.self, adapter.baseModelID, at: head).value
                } ?? nil
        } catch {
            throw .unavailable(name, "its ModelRegistry record cannot be read: \(error)")
        }
        guard let adapter else { throw .unknownAdapter(name) }
        guard !adapter.deprecated else { throw .unsupported(name, "adapter \(id) is deprecated by its owner") }
        guard let model, model.ggufHash == baseModelHash else {
            throw .baseMismatch(
                name,
                "it is published on base model \(adapter.baseModelID) (\(model.map { Hex.encode($0.ggufHash) } ?? "unregistered")), this node serves \(Hex.encode(baseModelHash))"
            )
        }
        guard let text = String(validating: adapter.cid, as: UTF8.self), let cid = try? CID(string: text) else {
            throw .malformed(name, "its on-chain CID is not a CID")
        }
        let path = (directory.path as NSString).appendingPathComponent(name + ".gguf")
        if !FileManager.default.fileExists(atPath: path) {
            do throws(NodeError) {
                try fetcher.fetch(cid, reason: .adapter, timeoutSeconds: timeoutSeconds)
            } catch {
                throw .unavailable(name, "\(error)")
            }
            try materialize(cid, to: path, name: name)
            logger.info("adapter fetched", ["adapter": name, "cid": cid.description])
        }
        let loaded = try LoRAAdapter.load(path: path, name: name, base: base)
        onLoaded(id, adapter)
        return loaded
    }

    /// Writes the verified file under `cid` to `path` atomically (a crash leaves the old state or the whole file).
    private func materialize(_ cid: CID, to path: String, name: String) throws(LoRAError) {
        let bytes: [UInt8]
        do {
            var stream = store.openFile(cid)
            var out: [UInt8] = []
            while let piece = try stream.next() {
                out += piece
                guard out.count <= Self.maximumAdapterBytes else {
                    throw LoRAError.unsupported(name, "the file is over \(Self.maximumAdapterBytes) bytes")
                }
            }
            bytes = out
        } catch let error as LoRAError {
            throw error
        } catch {
            throw .unavailable(name, "reading \(cid) from the store: \(error)")
        }
        do {
            try FileManager.default.createDirectory(atPath: directory.path, withIntermediateDirectories: true)
            try AtomicFile.write(bytes, to: path)
        } catch {
            throw .io(path, "\(error)")
        }
    }
}
