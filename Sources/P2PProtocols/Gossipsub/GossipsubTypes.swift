import Codec

/// The gossipsub protocol ids, newest first (the order a dialer offers them in).
public enum GossipsubVersion: String, Sendable, CaseIterable, Comparable {
    /// v1.2: adds IDONTWANT.
    case v12 = "/meshsub/1.2.0"
    /// v1.1: peer scoring, PX, backoff, flood publishing.
    case v11 = "/meshsub/1.1.0"
    /// v1.0: accepted from peers that speak nothing newer (no PX, no IDONTWANT).
    case v10 = "/meshsub/1.0.0"

    private var rank: Int {
        switch self {
        case .v10: 0
        case .v11: 1
        case .v12: 2
        }
    }

    /// Orders versions from oldest to newest.
    public static func < (lhs: Self, rhs: Self) -> Bool { lhs.rank < rhs.rank }
}

/// A message id, as the topic's message-id function computes it.
public struct GossipsubMessageID: Hashable, Sendable, CustomStringConvertible {
    /// The id's bytes.
    public let bytes: [UInt8]
    /// The bytes' `Fingerprint`, computed once: tables hash it, and comparisons start with it.
    public let fingerprint: UInt64

    /// An id of `bytes`.
    public init(_ bytes: [UInt8]) {
        self.bytes = bytes
        fingerprint = Fingerprint.of(bytes)
    }

    /// The id in hex.
    public var description: String { Hex.encode(bytes) }

    /// Two ids are equal when their bytes are.
    public static func == (lhs: Self, rhs: Self) -> Bool { lhs.fingerprint == rhs.fingerprint && lhs.bytes == rhs.bytes }

    /// Feeds the fingerprint alone.
    public func hash(into hasher: inout Hasher) { hasher.combine(fingerprint) }
}

/// A pubsub message as the `Message` protobuf carries it (fields 1 from, 2 data, 3 seqno, 4 topic, 5 signature,
/// 6 key).
public struct GossipsubMessage: Hashable, Sendable {
    /// The author's peer id bytes (the multihash).
    public var from: [UInt8]?
    /// The payload.
    public var data: [UInt8]
    /// The author's sequence number: 8 bytes, big-endian.
    public var seqno: [UInt8]?
    /// The topic.
    public var topic: String
    /// The author's signature over `"libp2p-pubsub:"` ‖ the message protobuf without `signature` and `key`.
    public var signature: [UInt8]?
    /// The author's public key protobuf, when the peer id does not embed it.
    public var key: [UInt8]?

    /// A message of its fields.
    public init(
        from: [UInt8]?, data: [UInt8], seqno: [UInt8]?, topic: String, signature: [UInt8]? = nil,
        key: [UInt8]? = nil
    ) {
        self.from = from
        self.data = data
        self.seqno = seqno
        self.topic = topic
        self.signature = signature
        self.key = key
    }
}

/// The application's verdict on a message (libp2p's validation results).
public enum GossipsubValidationResult: Sendable, Equatable {
    /// Deliver and forward.
    case accept
    /// Drop and penalize the peer that forwarded it (P4).
    case reject
    /// Drop without penalty.
    case ignore
}
