import Codec
import Content
import Crypto
import Foundation
import P2P
import Runtime
import Synchronization

/// Announcing from a command that holds content but runs no node (`datanet snapshot`, `model publish-adapter`
/// with `--announce-to`): a short-lived host joins the given peers, publishes the announcement on the announce topic
/// once they subscribe to it, and serves the announced content over Bitswap until the peers have taken every block
/// of it, or the time runs out.
public enum AnnouncementSender {
    /// What a send achieved.
    public struct Outcome: Sendable {
        /// Peers connected.
        public var peers: Int
        /// Peers subscribed to the announce topic when the announcement was published.
        public var subscribed: Int
        /// Blocks served to them.
        public var blocksSent: Int
    }

    /// Publishes `announcement` to `peers` on chain `chainId`'s announce topic and serves `store`'s content until
    /// `blocks` blocks went out (the announced DAGs' blocks; 0: do not wait) or `timeoutSeconds` passed.
    public static func send(
        _ announcement: Announcement, chainId: UInt64, to peers: [Multiaddr], store: ContentStore, blocks: Int,
        timeoutSeconds: Double, logger: Logger
    ) throws(NodeError) -> Outcome {
        let topic = NetworkTopics.announce(chainId: chainId)
        let result = Mutex<Result<Outcome, NodeError>?>(nil)
        let done = DispatchSemaphore(value: 0)
        let task = Task {
            do {
                let host = try P2PHost(identity: .ed25519(.generate()), logger: logger)
                defer { host.close() }
                let bitswap = Bitswap(host: host, store: ContentBlockSource(store: store), logger: logger)
                defer { bitswap.close() }
                let gossip = Gossip(
                    host: host, random: SeededRandom(seed: SecureRandom.seed()), logger: logger, onDeliver: { _ in })
                defer { gossip.close() }
                gossip.subscribe(topic)
                var connected = 0
                for address in peers {
                    do {
                        _ = try await host.connect(address)
                        connected += 1
                    } catch {
                        logger.warning("peer unreachable", ["address": "\(address)", "reason": "\(error)"])
                    }
                }
                guard connected > 0 else {
                    result.withLock { $0 = .failure(.contentFetch(cid: "-", reason: "no peer to announce to")) }
                    done.signal()
                    return
                }
                let deadline = Date().addingTimeInterval(timeoutSeconds)
                while gossip.router.subscribers(topic).count < connected, Date() < deadline {
                    try await Task.sleep(nanoseconds: 50_000_000)
                }
                let subscribed = gossip.router.subscribers(topic).count
                gossip.publish(topic: topic, data: announcement.encoded)
                while bitswap.counters.blocksSent < blocks, Date() < deadline {
                    try await Task.sleep(nanoseconds: 50_000_000)
                }
                // The last frames leave before the host closes.
                try await Task.sleep(nanoseconds: 200_000_000)
                result.withLock {
                    $0 = .success(
                        Outcome(peers: connected, subscribed: subscribed, blocksSent: bitswap.counters.blocksSent))
                }
            } catch {
                result.withLock { $0 = .failure(.contentFetch(cid: "-", reason: "announcing: \(error)")) }
            }
            done.signal()
        }
        if done.wait(timeout: .now() + timeoutSeconds + 15) == .timedOut { task.cancel() }
        switch result.withLock({ $0 }) {
        case .success(let outcome): return outcome
        case .failure(let error): throw error
        case nil: throw .contentFetch(cid: "-", reason: "announcing timed out")
        }
    }

    /// The number of blocks of the DAGs under `roots` in `store` (what a peer fetching them takes).
    public static func blockCount(_ roots: [CID], store: ContentStore) -> Int {
        var count = 0
        var stack = roots
        var seen = Set<CID>()
        while let cid = stack.popLast(), count < 10_000_000 {
            guard seen.insert(cid).inserted, let block = (try? store.get(cid)) ?? nil else { continue }
            count += 1
            stack += ContentDAG.links(cid, block.bytes)
        }
        return count
    }
}
