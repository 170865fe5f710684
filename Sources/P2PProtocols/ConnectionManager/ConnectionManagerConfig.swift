/// The connection manager's settings: watermarks, grace period, per-IP limit, and the bounds on its state.
///
/// The defaults follow go-libp2p's connection manager (low 160, high 192, grace 20 s) and its resource manager's
/// per-address limit (8 connections per IPv4 address, loopback exempt).
public struct ConnectionManagerConfig: Sendable, Equatable {
    /// Trimming closes connections until at most this many are open.
    public var lowWater = 160
    /// Trimming starts once more than this many connections are open.
    public var highWater = 192
    /// Seconds after a peer's first connection during which trimming leaves it alone.
    public var gracePeriod = 20.0
    /// Seconds between two trim checks (the shell's timer).
    public var trimInterval = 10.0
    /// Connections with one IP address (either direction, upgrading or open) past which inbound ones are refused.
    public var maxConnectionsPerIP = 8
    /// Whether loopback addresses (`127.0.0.0/8`) are exempt from the per-IP limit: local tools, tests, proxies.
    public var exemptLoopback = true
    /// Weighted tags per peer, and protection tags per peer (each bound separately).
    public var maxTagsPerPeer = 16
    /// Bytes of a tag's name.
    public var maxTagLength = 64
    /// The most a tag's weight counts, either way: weights are clamped to ±this, so sums cannot overflow.
    public var maxTagWeight = 1_000_000
    /// Connected peers tracked at once; a connection that would make one more is closed.
    public var maxConnectedPeers = 4_096
    /// Protected peers that are not connected (kept so that a reconnecting peer is protected at once).
    public var maxUnconnectedProtected = 1_024

    /// The defaults.
    public init() {}
}
