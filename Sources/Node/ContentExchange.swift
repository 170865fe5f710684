import Codec
import Content
import Crypto
import P2P
import Runtime
import Synchronization

/// The content store as Bitswap's block store: reads come verified from the store, writes are verified again by
/// it, want-haves are answered from the index.
public struct ContentBlockSource: BitswapBlockStore {
    /// The store.
    public let store: ContentStore

    /// The source over `store`.
    public init(store: ContentStore) { self.store = store }

    /// The block's size from the index.
    public func size(of cid: CID) -> Int? { (try? store.size(of: cid)) ?? nil }

    /// The block's bytes, verified by the store.
    public func block(_ cid: CID) -> [UInt8]? { (try? store.get(cid))??.bytes }

    /// Stores a block verified on arrival (the store takes it as verified: no second hash).
    public func put(_ block: VerifiedBlock) throws { _ = try store.put([block]) }
    /// Stores several verified blocks in one write of the store.
    public func put(_ blocks: [VerifiedBlock]) throws { _ = try store.put(blocks) }
}

/// The links of a block of a UnixFS DAG: a dag-pb node's children; a raw block has none.
public enum ContentDAG {
    /// The CIDs a block links to (none when it is raw or does not decode: the file reader refuses such a DAG).
    public static func links(_ cid: CID, _ data: [UInt8]) -> [CID] {
        guard cid.codec == CID.Codec.dagProtobuf.rawValue, let node = try? PBNode(decoding: data) else { return [] }
        return node.links.map(\.hash)
    }
}

/// The content exchange on the node's libp2p host, as a service: Bitswap over the content store (the DHT service
/// provides the pins).
public final class ContentService: Service {
    /// "content".
    public let name = "content"
    private let hostService: P2PHostService
    private let store: ContentStore
    private let logger: Logger
    private let state = Mutex<Bitswap?>(nil)

    /// The exchange over `store` on the host `hostService` starts (which must start first).
    public init(host hostService: P2PHostService, store: ContentStore, logger: Logger) {
        self.hostService = hostService
        self.store = store
        self.logger = logger
    }

    /// The running exchange, once started.
    public var bitswap: Bitswap? { state.withLock { $0 } }

    /// Starts Bitswap on the host.
    public func start() throws(NodeError) {
        guard let host = hostService.host else {
            throw .serviceFailed(service: name, reason: P2PError.connectionClosed("the libp2p host is not running"))
        }
        state.withLock { $0 = Bitswap(host: host, store: ContentBlockSource(store: store), logger: logger) }
        logger.info("serving content", ["pins": "\(((try? store.pins()) ?? []).count)"])
    }

    /// Stops the exchange.
    public func stop() { state.withLock { $0 }?.close() }
}
