import Codec
import Crypto
import P2P
import Runtime
import Synchronization

/// Gossipsub on the node's libp2p host, as a service: subscribes to its topics and dials its bootstrap peers.
public final class GossipService: Service {
    /// "gossip".
    public let name = "gossip"
    private let hostService: P2PHostService
    private let config: GossipsubConfig
    private let topics: [String]
    private let validators: [String: Gossip.Validator]
    private let bootstrap: [Multiaddr]
    private let logger: Logger
    private let onDeliver: @Sendable (Gossip.Delivery) -> Void
    private let state = Mutex<Gossip?>(nil)

    /// Gossip with `config` on the host `hostService` starts (which must start first), subscribed to `topics`
    /// (those in `validators` validated by theirs), dialing `bootstrap` at start; each delivered message goes to
    /// `onDeliver`.
    public init(
        host hostService: P2PHostService, config: GossipsubConfig = GossipsubConfig(), topics: [String],
        validators: [String: Gossip.Validator] = [:], bootstrap: [Multiaddr], logger: Logger,
        onDeliver: @escaping @Sendable (Gossip.Delivery) -> Void
    ) {
        self.validators = validators
        self.hostService = hostService
        self.config = config
        self.topics = topics
        self.bootstrap = bootstrap
        self.logger = logger
        self.onDeliver = onDeliver
    }

    /// The running gossip, once started.
    public var gossip: Gossip? { state.withLock { $0 } }

    /// Starts gossip on the host, joins the topics and dials the bootstrap peers (failures are logged).
    public func start() throws(NodeError) {
        guard let host = hostService.host else {
            throw .serviceFailed(service: name, reason: P2PError.connectionClosed("the libp2p host is not running"))
        }
        let gossip = Gossip(
            host: host, config: config, validators: validators, random: SeededRandom(seed: SecureRandom.seed()),
            logger: logger,
            onDeliver: onDeliver)
        for topic in topics { gossip.subscribe(topic) }
        state.withLock { $0 = gossip }
        for address in bootstrap {
            Task { [logger] in
                do {
                    let peer = try await host.connect(address)
                    logger.info("bootstrap peer connected", ["peer": "\(peer)", "address": "\(address)"])
                } catch {
                    logger.warning("bootstrap dial failed", ["address": "\(address)", "reason": "\(error)"])
                }
            }
        }
    }

    /// Publishes `data` on `topic`.
    public func publish(topic: String, data: [UInt8]) { gossip?.publish(topic: topic, data: data) }

    /// Stops the heartbeat and the outboxes.
    public func stop() { state.withLock { $0 }?.close() }
}
