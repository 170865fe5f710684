import Codec
import Content
import Foundation
import P2P
import Runtime
import Synchronization

/// Fetches a DAG by CID into the content store through the node's running host: from every connected peer and
/// from providers found on the DHT (each dialled as it is found), every block verified on arrival; a fetch resumes
/// from the blocks already held and ends at a bounded timeout with a clear error.
public final class ContentFetcher: Sendable {
    private let host: P2PHostService
    private let content: ContentService
    private let dht: DHTService?
    private let store: ContentStore
    private let logger: Logger

    /// A fetcher over the services of a running node (the DHT's providers are used when it is given).
    public init(
        host: P2PHostService, content: ContentService, dht: DHTService?, store: ContentStore, logger: Logger
    ) {
        self.host = host
        self.content = content
        self.dht = dht
        self.store = store
        self.logger = logger
    }

    /// Finds providers of `root` on `dht`, dials each as it is found and adds the first address that connects to
    /// `bitswap`'s running fetches; `onAdded` hears of each provider added.
    public static func addProviders(
        of root: CID, dht: Kademlia, host: P2PHost, bitswap: Bitswap, onAdded: @escaping @Sendable () -> Void = {}
    ) async {
        _ = await dht.findProviders(root.multihash.bytes, count: 20) { provider in
            Task {
                for address in provider.addresses {
                    let full = address.peerID == nil ? address.appending(peer: provider.id) : address
                    if (try? await host.connect(full)) == provider.id {
                        bitswap.addPeers([provider.id])
                        onAdded()
                        return
                    }
                }
            }
        }
    }

    /// Whether the whole DAG under `root` is held.
    public func isHeld(_ root: CID) -> Bool { (try? store.missing(root, limit: 1).isEmpty) ?? false }

    /// Fetches `root` (pinned for `reason` first, so collection keeps what arrives), waiting at most `timeoutSeconds`;
    /// returns at once when the DAG is held.
    ///
    /// Blocks the calling thread: call it off event loops.
    public func fetch(_ root: CID, reason: PinReason, timeoutSeconds: Double) throws(NodeError) {
        do {
            _ = try store.pin(root, reason: reason)
        } catch {
            throw .contentFetch(cid: root.description, reason: "\(error)")
        }
        if isHeld(root) { return }
        guard let p2p = host.host, let bitswap = content.bitswap else {
            throw .contentFetch(cid: root.description, reason: "the content exchange is not running")
        }
        let outcome = Mutex<Bool?>(nil)
        let done = DispatchSemaphore(value: 0)
        let dht = self.dht?.dht
        let logger = self.logger
        let task = Task {
            let peers = await p2p.connectedPeers()
            let finder = dht.map { dht in
                Task { await Self.addProviders(of: root, dht: dht, host: p2p, bitswap: bitswap) }
            }
            defer { finder?.cancel() }
            let result = await bitswap.fetch([root], from: peers, expand: ContentDAG.links)
            outcome.withLock { $0 = result.complete }
            done.signal()
        }
        if done.wait(timeout: .now() + timeoutSeconds) == .timedOut {
            task.cancel()
            _ = done.wait(timeout: .now() + 5)
        }
        if isHeld(root) {
            logger.info("fetched", ["cid": root.description])
            return
        }
        let finished = outcome.withLock { $0 }
        throw .contentFetch(
            cid: root.description,
            reason: finished == nil
                ? "not found within \(timeoutSeconds) s (no peer served every block)" : "the fetch ended incomplete")
    }
}
