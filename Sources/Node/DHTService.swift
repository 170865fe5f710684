import Codec
import Crypto
import P2P
import Runtime
import Synchronization

/// The Kademlia DHT on the node's libp2p host, as a service: joins the network through its bootstrap peers and
/// announces the host as a provider of its keys.
///
/// In server mode the host answers `/ipfs/kad/1.0.0` and identify advertises it; in client mode (edge devices) it
/// only asks. Bootstrap peers come from the network config and the command line; each must end in `/p2p/<id>`.
public final class DHTService: Service {
    /// "dht".
    public let name = "dht"
    private let hostService: P2PHostService
    private let config: KademliaConfig
    private let bootstrap: [Multiaddr]
    private let provide: [CID]
    private let logger: Logger
    private let onProvided: @Sendable (CID, Kademlia.Outcome) -> Void
    private let state = Mutex<(dht: Kademlia?, task: Task<Void, Never>?)>((nil, nil))

    /// A DHT with `config` on the host `hostService` starts (which must start first), joining through `bootstrap`
    /// (dialed first, each success or failure logged) and then providing `provide`; each provide's outcome goes to `onProvided`.
    public init(
        host hostService: P2PHostService, config: KademliaConfig = KademliaConfig(), bootstrap: [Multiaddr],
        provide: [CID] = [], logger: Logger,
        onProvided: @escaping @Sendable (CID, Kademlia.Outcome) -> Void = { _, _ in }
    ) {
        self.hostService = hostService
        self.config = config
        self.bootstrap = bootstrap
        self.provide = provide
        self.logger = logger
        self.onProvided = onProvided
    }

    /// The running DHT, once started.
    public var dht: Kademlia? { state.withLock { $0.dht } }

    /// Starts the DHT on the host; bootstrap and the provides run in the background (failures are logged).
    public func start() throws(NodeError) {
        guard let host = hostService.host else {
            throw .serviceFailed(service: name, reason: P2PError.connectionClosed("the libp2p host is not running"))
        }
        let dht = Kademlia(host: host, config: config, random: SeededRandom(seed: SecureRandom.seed()), logger: logger)
        let peers = Self.peerInfos(bootstrap)
        let keys = provide
        let logger = logger
        let onProvided = onProvided
        let task = Task {
            if !peers.isEmpty {
                let outcome = await dht.join(peers)
                logger.info(
                    "dht bootstrapped",
                    [
                        "peers": "\(peers.count)", "table": "\(dht.dht.table.count)",
                        "outcome": "\(outcome.result.outcome)",
                    ])
            }
            // A provide that reached nobody is tried again, 5 s later, then 10, 20 … up to every 5 minutes. Past
            // ten keys, one a second: py-libp2p takes 10 ADD_PROVIDER per peer per 10 s and resets the rest.
            for (index, cid) in keys.enumerated() {
                if index >= 10 { try? await Task.sleep(for: .seconds(1.05)) }
                var delay = 5.0
                while !Task.isCancelled {
                    let outcome = await dht.provide(cid.multihash.bytes)
                    logger.info(
                        "provided",
                        [
                            "cid": cid.description, "stored": "\(outcome.result.stored)",
                            "found": "\(outcome.result.found)",
                        ])
                    onProvided(cid, outcome)
                    if outcome.result.stored > 0 { break }
                    try? await Task.sleep(for: .seconds(delay))
                    delay = min(delay * 2, 300)
                }
            }
        }
        state.withLock { $0 = (dht, task) }
    }

    /// Stops the DHT's ticks and its background work.
    public func stop() {
        let (dht, task) = state.withLock { $0 }
        task?.cancel()
        dht?.close()
    }

    /// The bootstrap addresses as peers (addresses without their /p2p/<id> ending stay as they are: the host
    /// dials them as given).
    public static func peerInfos(_ addresses: [Multiaddr]) -> [KademliaPeerInfo] {
        var order: [PeerID] = []
        var byPeer: [PeerID: [Multiaddr]] = [:]
        for address in addresses {
            guard let peer = address.peerID else { continue }
            if byPeer[peer] == nil { order.append(peer) }
            byPeer[peer, default: []].append(address)
        }
        return order.map { KademliaPeerInfo(id: $0, addresses: byPeer[$0] ?? []) }
    }
}
