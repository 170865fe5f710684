import Codec

/// A peer id as the score keeper's dictionary key: the peer id itself, which hashes its `Fingerprint`.
struct GossipsubScorePeerKey: Hashable, Sendable {
    /// The peer.
    let peer: PeerID

    init(_ peer: PeerID) { self.peer = peer }
}

/// A message id as the delivery records' dictionary key: the id itself, which hashes its `Fingerprint`.
struct GossipsubScoreMessageKey: Hashable, Sendable {
    /// The message id.
    let id: GossipsubMessageID

    init(_ id: GossipsubMessageID) { self.id = id }
}
