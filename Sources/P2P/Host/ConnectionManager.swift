import Codec
import EventLoop
import Runtime
import Synchronization

/// The host's connection manager: the shell around `ConnectionManagerPolicy`.
///
/// The host reports every connection to it on its loop thread (accepted or dialed, upgraded, closed) and runs a
/// trim on a repeating loop timer every `trimInterval` seconds; the application protects and tags peers from any
/// thread. It refuses inbound connections past the per-IP limit (the host closes them on accept with a logged
/// reason) and closes the peers a trim chooses, each with its reason in the connection's closing log line. Gossip
/// protects its mesh peers under `Gossip.meshProtectionTag`; the DHT protects its closest peers the same way.
public final class ConnectionManager: @unchecked Sendable {
    /// The settings, from the host's `HostConfig.connectionManager`.
    public let config: ConnectionManagerConfig
    private let policy: Mutex<ConnectionManagerPolicy>
    private let logger: Logger
    /// Set once by the host's `init`, before its loop runs a job that reaches here; weak, as the host owns this.
    private weak var host: P2PHost?

    init(config: ConnectionManagerConfig, logger: Logger) {
        self.config = config
        self.logger = logger
        policy = Mutex(ConnectionManagerPolicy(config: config))
    }

    /// Ties the manager to `host`, whose connections it closes and whose loop's clock it reads.
    func attach(_ host: P2PHost) { self.host = host }

    // MARK: The application's API (any thread)

    /// Protects `peer` under `tag`: trims never close it until every tag protecting it is removed.
    ///
    /// The protection outlives the peer's connections (a reconnecting peer is protected at once).
    public func protect(_ peer: PeerID, tag: String) { handle(.protect(peer, tag: tag)) }

    /// Removes `peer`'s protection under `tag` (its other protections stay).
    public func unprotect(_ peer: PeerID, tag: String) { handle(.unprotect(peer, tag: tag)) }

    /// Makes `peers` exactly the peers protected under `tag`: those that joined are protected, those that left
    /// unprotected (what gossip does with its mesh after every heartbeat).
    public func protectOnly(_ peers: Set<PeerID>, tag: String) { handle(.protectOnly(peers, tag: tag)) }

    /// Sets the weight of `tag` on a connected `peer`: trims close peers with the lowest sum of weights first.
    public func tag(_ peer: PeerID, _ tag: String, weight: Int) { handle(.tag(peer, tag: tag, weight: weight)) }

    /// Removes `tag` from `peer`.
    public func untag(_ peer: PeerID, _ tag: String) { handle(.untag(peer, tag: tag)) }

    /// Whether `peer` is protected under any tag.
    public func isProtected(_ peer: PeerID) -> Bool { policy.withLock { $0.isProtected(peer) } }

    /// The sum of `peer`'s tag weights.
    public func value(of peer: PeerID) -> Int { policy.withLock { $0.value(of: peer) } }

    /// Upgraded connections the watermarks count (those a trim is closing no longer count).
    public var openConnections: Int { policy.withLock { $0.openConnections } }

    /// The policy's state, for inspection (a copy).
    public var snapshot: ConnectionManagerPolicy { policy.withLock { $0 } }

    // MARK: The host's reports (loop thread)

    /// The policy's name for the connection on `fd` (descriptors are unique among open connections).
    static func connectionID(_ fd: Int32) -> ConnectionManagerPolicy.ConnectionID { UInt64(UInt32(bitPattern: fd)) }

    /// Records a connection accepted from or dialed to `ip`; returns why an inbound one must be refused instead.
    func opened(_ fd: Int32, ip: String, outbound: Bool) -> ConnectionManagerPolicy.Refusal? {
        var refusal: ConnectionManagerPolicy.Refusal?
        for action in run(.opened(Self.connectionID(fd), ip: ip, outbound: outbound)) {
            if case .refuse(_, let reason) = action { refusal = reason } else { perform(action) }
        }
        return refusal
    }

    /// The connection on `fd` finished its upgrade: it is to `peer`.
    func connected(_ fd: Int32, peer: PeerID) { handle(.connected(Self.connectionID(fd), peer: peer)) }

    /// The connection on `fd` closed.
    func disconnected(_ fd: Int32) { handle(.disconnected(Self.connectionID(fd))) }

    /// Runs a trim at `now` (the loop timer's time): closes the least useful peers when over the high watermark.
    func trim(now: Instant) {
        let actions = run(.trim, now: now)
        guard !actions.isEmpty else { return }
        logger.info(
            "connection manager trimming \(actions.count) peers",
            ["low": "\(config.lowWater)", "high": "\(config.highWater)"])
        for action in actions { perform(action) }
    }

    // MARK: Carrying out

    private func handle(_ event: ConnectionManagerPolicy.Event) {
        for action in run(event) { perform(action) }
    }

    /// Hands `event` to the policy under the lock (actions are carried out outside it: a close reports back).
    private func run(_ event: ConnectionManagerPolicy.Event, now: Instant? = nil) -> [ConnectionManagerPolicy.Action] {
        guard let time = now ?? host?.loop.now() else { return [] }
        return policy.withLock { $0.on(event, now: time) }
    }

    private func perform(_ action: ConnectionManagerPolicy.Action) {
        switch action {
        case .refuse(let id, let reason):
            // Only `opened` answers with it, and it hands it to the host.
            logger.info("refused connection \(id): \(reason)", ["reason": "\(reason)"])
        case .close(let peer, let reason):
            logger.info("closing \(peer): \(reason)", ["peer": "\(peer)", "reason": "\(reason)"])
            guard let host else { return }
            if host.loop.isLoopThread {
                host.closeConnections(of: peer, reason: reason.description)
            } else {
                host.loop.execute { [weak host] in host?.closeConnections(of: peer, reason: reason.description) }
            }
        case .rejected(let error):
            logger.warning("\(error)", ["reason": "\(error)"])
        }
    }
}
