import Codec
import Runtime

/// The peer score of gossipsub v1.1 (P1–P7 with decay), kept by the router and fed by it.
///
/// API CONTRACT (the router is written against it; bodies are filled by the scoring work): every method below.
public struct GossipsubPeerScore: Sendable {
    /// Why a message was rejected; each counts against the peer that sent it (P4) except `ignored` and
    /// `selfOrigin`.
    public enum RejectReason: Sendable, Equatable {
        /// No signature under StrictSign.
        case missingSignature
        /// A bad signature, a key that does not match `from`, or a malformed author.
        case invalidSignature
        /// The application rejected it.
        case validationFailed
        /// The application ignored it (no penalty).
        case ignored
        /// Our own message came back (no penalty).
        case selfOrigin
    }

    /// The parameters.
    public let parameters: GossipsubScoreParameters

    /// A score keeper with `parameters`.
    public init(parameters: GossipsubScoreParameters) { self.parameters = parameters }

    /// A peer connected, from IP `address` when known.
    public mutating func addPeer(_ peer: PeerID, address: String?, now: Instant) {}
    /// A peer disconnected (its counters are retained for `retainScore`).
    public mutating func removePeer(_ peer: PeerID, now: Instant) {}
    /// The peer joined our mesh of `topic`.
    public mutating func graft(_ peer: PeerID, topic: String, now: Instant) {}
    /// The peer left our mesh of `topic`.
    public mutating func prune(_ peer: PeerID, topic: String, now: Instant) {}
    /// A message passed signature checks and goes to validation (starts its delivery record).
    public mutating func validateMessage(from peer: PeerID, id: GossipsubMessageID, topic: String, now: Instant) {}
    /// A message was validated and delivered; `peer` delivered it first.
    public mutating func deliverMessage(from peer: PeerID, id: GossipsubMessageID, topic: String, now: Instant) {}
    /// A message was rejected for `reason`.
    public mutating func rejectMessage(
        from peer: PeerID, id: GossipsubMessageID?, topic: String, reason: RejectReason, now: Instant
    ) {}
    /// A message already seen arrived again from `peer`.
    public mutating func duplicateMessage(from peer: PeerID, id: GossipsubMessageID, topic: String, now: Instant) {}
    /// Adds `count` behaviour penalties (P7): broken promises, GRAFT during backoff, floods.
    public mutating func addPenalty(_ peer: PeerID, count: Int) {}
    /// Sets the application-specific score (P5).
    public mutating func setApplicationScore(_ peer: PeerID, _ value: Double) {}
    /// Decays the counters when a decay interval has passed and forgets expired peers (called each heartbeat).
    public mutating func refresh(now: Instant) {}
    /// The peer's score at `now`.
    public func score(_ peer: PeerID, now: Instant) -> Double { 0 }
}
