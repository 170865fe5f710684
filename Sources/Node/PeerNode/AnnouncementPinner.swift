import Chain
import Codec
import Content
import Foundation
import Inference
import LightClient
import P2P
import Runtime
import Synchronization

/// What a peer does with the announce topic: every announcement is checked for form by the topic's validator; a seeder
/// then checks each Datanet snapshot or adapter it announces against the ledger, fetches its content by CID (from the
/// announcer or any provider), pins it and provides it on the DHT, so that a community's host holds every Datanet and
/// adapter its peers publish (docs/peer-node.md).
///
/// A peer that loads a ledger adapter announces it.
public final class AnnouncementPinner: Sendable {
    /// Announcements waiting to be handled at most; past it, new ones are dropped with a log line.
    public static let maximumQueued = 64

    private let light: LightClient
    private let store: ContentStore
    private let fetcher: ContentFetcher
    private let dht: DHTService
    private let logger: Logger
    private let queue = DispatchQueue(label: "announcements")
    private let pending = Atomic<Int>(0)
    private let seen = Mutex<Set<String>>([])

    /// A pinner fetching through `fetcher` into `store`, checking through `light`, providing through `dht`.
    public init(light: LightClient, store: ContentStore, fetcher: ContentFetcher, dht: DHTService, logger: Logger) {
        self.light = light
        self.store = store
        self.fetcher = fetcher
        self.dht = dht
        self.logger = logger
    }

    /// The announce topic's validator: form only (the ledger checks come with pinning, off the gossip path).
    public static let validator: Gossip.Validator = { message, _ in
        (try? Announcement.decode(message.data)) == nil ? .reject : .accept
    }

    /// Queues an announcement delivered by gossip (bounded; each CID handled once).
    public func deliver(_ data: [UInt8]) {
        guard let announcement = try? Announcement.decode(data) else { return }
        let key: String
        switch announcement {
        case .adapter(let adapter): key = "adapter:" + adapter.cid
        case .datanetSnapshot(let snapshot): key = "datanet:" + snapshot.cid
        case .rewardClaim: return
        }
        guard seen.withLock({ $0.insert(key).inserted }) else { return }
        guard pending.add(1, ordering: .relaxed).newValue <= Self.maximumQueued else {
            pending.subtract(1, ordering: .relaxed)
            seen.withLock { _ = $0.remove(key) }
            logger.warning("announcement dropped: too many waiting", ["key": key])
            return
        }
        queue.async { [self] in
            defer { pending.subtract(1, ordering: .relaxed) }
            do throws(NodeError) {
                try handle(announcement)
            } catch {
                // A failed one may be announced again and retried.
                seen.withLock { _ = $0.remove(key) }
                logger.warning("announcement not pinned", ["key": key, "reason": "\(error)"])
            }
        }
    }

    /// Checks an announcement against the ledger, fetches and pins its content, provides it.
    func handle(_ announcement: Announcement) throws(NodeError) {
        switch announcement {
        case .adapter(let adapter):
            guard let id = UInt256(decimal: adapter.adapterId), let cid = try? CID(string: adapter.cid) else { return }
            let record = try ledger { () throws(LightClientError) in
                try light.read(ModelRegistry.AdapterLayout.self, id, at: try light.syncHead()).value
            }
            guard let record, String(decoding: record.cid, as: UTF8.self) == adapter.cid else {
                throw .contentFetch(cid: adapter.cid, reason: "the ledger's adapter \(id) has another CID")
            }
            try fetcher.fetch(cid, reason: .adapter, timeoutSeconds: PeerNode.fetchTimeoutSeconds)
            provide(cid)
            logger.info("pinned an announced adapter", ["adapter": adapter.adapterId, "cid": adapter.cid])
        case .datanetSnapshot(let snapshot):
            guard let id = UInt256(decimal: snapshot.datanetId), let root = try? Hex.decode(snapshot.root),
                let cid = try? CID(string: snapshot.cid)
            else { return }
            let committed = try ledger { () throws(LightClientError) in
                try light.read(DatanetRegistry.CommittedRootLayout.self, root, at: try light.syncHead()).value
            }
            guard committed == id else {
                throw .datanetContent(datanet: id, reason: "snapshot \(snapshot.root) was never committed by it")
            }
            try fetcher.fetch(cid, reason: .datanetSnapshot, timeoutSeconds: PeerNode.fetchTimeoutSeconds)
            let list: DatanetShardList
            do {
                list = try DatanetShardList.decode(try store.readFile(cid))
            } catch let error as NodeError {
                throw error
            } catch {
                throw .contentFetch(cid: snapshot.cid, reason: "\(error)")
            }
            guard list.datanetId == snapshot.datanetId, list.snapshotRoot == Hex.encode(root) else {
                throw .datanetContent(datanet: id, reason: "the shard list is of another snapshot")
            }
            let fetcher = self.fetcher
            let contents = try DatanetContents.read(id, client: light, store: store) { batch throws(NodeError) in
                try fetcher.fetch(batch, reason: .datanetSnapshot, timeoutSeconds: PeerNode.fetchTimeoutSeconds)
            }
            guard contents.records(atRoot: root) != nil else {
                throw .datanetContent(datanet: id, reason: "no approved batch ends at \(snapshot.root)")
            }
            provide(cid)
            for batch in contents.batches { provide(batch.cid) }
            logger.info(
                "pinned an announced Datanet snapshot",
                ["datanet": snapshot.datanetId, "root": snapshot.root, "batches": "\(contents.batches.count)"])
        case .rewardClaim:
            return
        }
    }

    /// Announces on the DHT that this peer provides `cid`.
    func provide(_ cid: CID) {
        guard let dht = dht.dht else { return }
        Task { _ = await dht.provide(cid.multihash.bytes) }
    }

    private func ledger<R>(_ body: () throws(LightClientError) -> R) throws(NodeError) -> R {
        do {
            return try body()
        } catch {
            throw .ledger(error)
        }
    }
}
