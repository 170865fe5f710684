import Codec
import Synchronization

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
    public static func == (lhs: Self, rhs: Self) -> Bool {
        lhs.fingerprint == rhs.fingerprint && lhs.bytes == rhs.bytes
    }

    /// Feeds the fingerprint alone.
    public func hash(into hasher: inout Hasher) { hasher.combine(fingerprint) }

    /// A table's hash: the fingerprint mixed with the table's seed (`Fingerprint.tableHash`), without `Hasher`.
    public func _rawHashValue(seed: Int) -> Int { Fingerprint.tableHash(fingerprint, seed: seed) }
}

/// A pubsub message as the `Message` protobuf carries it (fields 1 from, 2 data, 3 seqno, 4 topic, 5 signature,
/// 6 key).
///
/// A value over shared immutable storage: a message is forwarded to a whole mesh and kept in caches, so a copy costs
/// one reference, not one per field. Its encoded size is kept with the fields and recomputed when one changes.
public struct GossipsubMessage: Hashable, Sendable {
    /// The protobuf's fields.
    private struct Fields: Hashable {
        var from: [UInt8]?
        var data: [UInt8]
        var seqno: [UInt8]?
        var topic: String
        var signature: [UInt8]?
        var key: [UInt8]?
    }

    /// The fields, immutable and shared between copies: setting a field makes new storage (messages are built once
    /// and then only read, so a read needs no check and a copy costs one reference).
    private final class Storage: Sendable {
        let fields: Fields
        let encodedSize: Int
        /// The id under the default function (`from` ‖ `seqno`), made once: every router that receives a copy of
        /// the message asks for it, and in the simulator they share this storage.
        let fromAndSeqnoID: GossipsubMessageID
        /// The signed bytes, made when first asked for: every router that verifies a copy of the message asks, and
        /// in the simulator they share this storage.
        let signed = Mutex<[UInt8]?>(nil)

        init(_ fields: Fields) {
            self.fields = fields
            fromAndSeqnoID = GossipsubMessageID((fields.from ?? []) + (fields.seqno ?? []))
            var size = ProtobufSize.field(fields.data.count) + ProtobufSize.field(fields.topic.utf8.count)
            if let from = fields.from { size += ProtobufSize.field(from.count) }
            if let seqno = fields.seqno { size += ProtobufSize.field(seqno.count) }
            if let signature = fields.signature { size += ProtobufSize.field(signature.count) }
            if let key = fields.key { size += ProtobufSize.field(key.count) }
            encodedSize = size
        }
    }

    private var storage: Storage

    /// Sets one field: new storage with the others as they were.
    private mutating func update<Value>(_ field: WritableKeyPath<Fields, Value>, _ value: Value) {
        var fields = storage.fields
        fields[keyPath: field] = value
        storage = Storage(fields)
    }

    /// The author's peer id bytes (the multihash).
    public var from: [UInt8]? {
        get { storage.fields.from }
        set { update(\.from, newValue) }
    }
    /// The payload.
    public var data: [UInt8] {
        get { storage.fields.data }
        set { update(\.data, newValue) }
    }
    /// The author's sequence number: 8 bytes, big-endian.
    public var seqno: [UInt8]? {
        get { storage.fields.seqno }
        set { update(\.seqno, newValue) }
    }
    /// The topic.
    public var topic: String {
        get { storage.fields.topic }
        set { update(\.topic, newValue) }
    }
    /// The author's signature over `"libp2p-pubsub:"` ‖ the message protobuf without `signature` and `key`.
    public var signature: [UInt8]? {
        get { storage.fields.signature }
        set { update(\.signature, newValue) }
    }
    /// The author's public key protobuf, when the peer id does not embed it.
    public var key: [UInt8]? {
        get { storage.fields.key }
        set { update(\.key, newValue) }
    }

    /// The length of `encoded()`, kept with the fields.
    public var encodedSize: Int { storage.encodedSize }

    /// The message id `from` ‖ `seqno` (`GossipsubMessageIDFunction.fromAndSeqno`), kept with the fields.
    public var fromAndSeqnoID: GossipsubMessageID { storage.fromAndSeqnoID }

    /// The bytes StrictSign signs: `"libp2p-pubsub:"` ‖ the protobuf without `signature` and `key` (made once per
    /// message and kept with its fields).
    public var signingBytes: [UInt8] {
        if let made = storage.signed.withLock({ $0 }) { return made }
        let made = makeSigningBytes()
        return storage.signed.withLock { kept in
            if let kept { return kept }
            kept = made
            return made
        }
    }

    /// A message of its fields.
    public init(
        from: [UInt8]?, data: [UInt8], seqno: [UInt8]?, topic: String, signature: [UInt8]? = nil,
        key: [UInt8]? = nil
    ) {
        storage = Storage(Fields(from: from, data: data, seqno: seqno, topic: topic, signature: signature, key: key))
    }

    /// Two messages are equal when every field is.
    public static func == (lhs: Self, rhs: Self) -> Bool {
        lhs.storage === rhs.storage || lhs.storage.fields == rhs.storage.fields
    }

    /// Hashes every field.
    public func hash(into hasher: inout Hasher) { hasher.combine(storage.fields) }
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
