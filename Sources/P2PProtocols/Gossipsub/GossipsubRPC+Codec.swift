import Codec

extension GossipsubRPC {
    /// Bounds applied while decoding an RPC from a peer: the decoder stops at the first one broken.
    public struct Limits: Sendable, Equatable {
        /// The largest RPC, bytes.
        public var maxSize: Int
        /// Subscription changes per RPC.
        public var maxSubscriptions: Int
        /// Messages per RPC.
        public var maxMessages: Int
        /// Control entries (IHAVE + IWANT + GRAFT + PRUNE + IDONTWANT) per RPC.
        public var maxControlEntries: Int
        /// Message ids across all control entries of one RPC.
        public var maxMessageIDs: Int
        /// PX entries across all PRUNEs of one RPC.
        public var maxPeerInfos: Int
        /// Bytes of one topic name.
        public var maxTopicLength: Int
        /// Bytes of one message id.
        public var maxMessageIDLength: Int

        /// Bounds of their values.
        public init(
            maxSize: Int = 1 << 20, maxSubscriptions: Int = 1_024, maxMessages: Int = 10_000,
            maxControlEntries: Int = 5_000, maxMessageIDs: Int = 20_000, maxPeerInfos: Int = 1_024,
            maxTopicLength: Int = 512, maxMessageIDLength: Int = 256
        ) {
            self.maxSize = maxSize
            self.maxSubscriptions = maxSubscriptions
            self.maxMessages = maxMessages
            self.maxControlEntries = maxControlEntries
            self.maxMessageIDs = maxMessageIDs
            self.maxPeerInfos = maxPeerInfos
            self.maxTopicLength = maxTopicLength
            self.maxMessageIDLength = maxMessageIDLength
        }

        /// The bounds a router with `config` applies: the largest RPC any topic allows, the config's counts.
        public init(config: GossipsubConfig) {
            self.init(
                maxSize: config.topicMaxRPCSize.values.reduce(config.maxRPCSize, max),
                maxSubscriptions: config.maxTopics, maxControlEntries: config.maxControlMessages,
                maxMessageIDs: config.maxMessageIDsPerRPC, maxPeerInfos: max(config.prunePeers, 16) * 64,
                maxTopicLength: config.maxTopicLength, maxMessageIDLength: config.maxMessageIDLength)
        }
    }

    /// The RPC protobuf (fields in number order; messages always carry `data` and `topic`).
    public func encoded() -> [UInt8] {
        var writer = ProtobufWriter()
        for subscription in subscriptions {
            var sub = ProtobufWriter()
            sub.varint(1, subscription.subscribe ? 1 : 0)
            sub.string(2, subscription.topic)
            writer.bytes(1, sub.bytes)
        }
        for message in messages { writer.bytes(2, message.encoded()) }
        if let control {
            var ctl = ProtobufWriter()
            for ihave in control.ihave {
                var entry = ProtobufWriter()
                entry.string(1, ihave.topic)
                for id in ihave.messageIDs { entry.bytes(2, id.bytes) }
                ctl.bytes(1, entry.bytes)
            }
            for iwant in control.iwant { ctl.bytes(2, Self.encodedIDList(iwant)) }
            for graft in control.graft {
                var entry = ProtobufWriter()
                entry.string(1, graft)
                ctl.bytes(3, entry.bytes)
            }
            for prune in control.prune {
                var entry = ProtobufWriter()
                entry.string(1, prune.topic)
                for peer in prune.peers {
                    var info = ProtobufWriter()
                    if let id = peer.peerID { info.bytes(1, id) }
                    if let record = peer.signedRecord { info.bytes(2, record) }
                    entry.bytes(2, info.bytes)
                }
                if let backoff = prune.backoff { entry.varint(3, backoff) }
                ctl.bytes(4, entry.bytes)
            }
            for idontwant in control.idontwant { ctl.bytes(5, Self.encodedIDList(idontwant)) }
            writer.bytes(3, ctl.bytes)
        }
        return writer.bytes
    }

    private static func encodedIDList(_ ids: [GossipsubMessageID]) -> [UInt8] {
        var entry = ProtobufWriter()
        for id in ids { entry.bytes(1, id.bytes) }
        return entry.bytes
    }

    /// The length of `encoded()`, computed without encoding.
    public var encodedSize: Int {
        var size = 0
        for subscription in subscriptions {
            let sub =
                ProtobufSize.varintField(subscription.subscribe ? 1 : 0)
                + ProtobufSize.field(subscription.topic.utf8.count)
            size += ProtobufSize.field(sub)
        }
        for message in messages { size += ProtobufSize.field(message.encodedSize) }
        if let control { size += ProtobufSize.field(control.encodedSize) }
        return size
    }

    /// Decodes an RPC within `limits`; unknown fields (py-libp2p's `senderRecord`, 4) are skipped.
    public init(decoding bytes: ArraySlice<UInt8>, limits: Limits) throws(GossipsubError) {
        guard bytes.count <= limits.maxSize else { throw .rpcTooLarge(size: bytes.count, limit: limits.maxSize) }
        var budget = Budget(limits: limits)
        self.init()
        var reader = ProtobufReader(Array(bytes))
        while let field = try Self.next(&reader) {
            switch field.number {
            case 1:
                try budget.take(\.subscriptions, "subscriptions", limits.maxSubscriptions)
                subscriptions.append(try Self.decodeSubscription(try Self.payload(field, "RPC.subscriptions"), limits))
            case 2:
                try budget.take(\.messages, "messages", limits.maxMessages)
                messages.append(try GossipsubMessage(decoding: try Self.payload(field, "RPC.publish"), limits: limits))
            case 3:
                let decoded = try Self.decodeControl(try Self.payload(field, "RPC.control"), &budget)
                if var existing = control {
                    // A repeated embedded message merges (protobuf semantics).
                    existing.ihave += decoded.ihave
                    existing.iwant += decoded.iwant
                    existing.graft += decoded.graft
                    existing.prune += decoded.prune
                    existing.idontwant += decoded.idontwant
                    control = existing
                } else {
                    control = decoded
                }
            default: continue
            }
        }
    }

    /// Counts what one RPC has used of its limits.
    fileprivate struct Budget {
        let limits: Limits
        var subscriptions = 0
        var messages = 0
        var controlEntries = 0
        var messageIDs = 0
        var peerInfos = 0

        mutating func take(_ counter: WritableKeyPath<Budget, Int>, _ what: String, _ limit: Int)
            throws(GossipsubError)
        {
            self[keyPath: counter] += 1
            guard self[keyPath: counter] <= limit else { throw .tooMany(what: what, limit: limit) }
        }
    }

    static func next(_ reader: inout ProtobufReader) throws(GossipsubError) -> ProtobufField? {
        do {
            return try reader.next()
        } catch {
            throw .malformedProtobuf("\(error)")
        }
    }

    static func payload(_ field: ProtobufField, _ name: String) throws(GossipsubError) -> [UInt8] {
        guard let bytes = field.bytes else { throw .wrongWireType(field: name) }
        return bytes
    }

    static func varint(_ field: ProtobufField, _ name: String) throws(GossipsubError) -> UInt64 {
        guard let value = field.varint else { throw .wrongWireType(field: name) }
        return value
    }

    static func string(_ field: ProtobufField, _ name: String, limit: Int) throws(GossipsubError) -> String {
        let bytes = try payload(field, name)
        guard bytes.count <= limit else { throw .fieldTooLong(field: name, length: bytes.count, limit: limit) }
        guard let text = String(validating: bytes, as: UTF8.self) else { throw .invalidUTF8(field: name) }
        return text
    }

    private static func messageID(_ field: ProtobufField, _ name: String, _ budget: inout Budget)
        throws(GossipsubError) -> GossipsubMessageID
    {
        try budget.take(\.messageIDs, "message ids", budget.limits.maxMessageIDs)
        let bytes = try payload(field, name)
        let limit = budget.limits.maxMessageIDLength
        guard bytes.count <= limit else { throw .fieldTooLong(field: name, length: bytes.count, limit: limit) }
        return GossipsubMessageID(bytes)
    }

    private static func decodeSubscription(_ bytes: [UInt8], _ limits: Limits) throws(GossipsubError) -> Subscription {
        var reader = ProtobufReader(bytes)
        var subscribe = false
        var topic: String?
        while let field = try next(&reader) {
            switch field.number {
            case 1: subscribe = try varint(field, "SubOpts.subscribe") != 0
            case 2: topic = try string(field, "SubOpts.topicid", limit: limits.maxTopicLength)
            default: continue
            }
        }
        guard let topic else { throw .missingField("SubOpts.topicid") }
        return Subscription(subscribe: subscribe, topic: topic)
    }

    private static func decodeControl(_ bytes: [UInt8], _ budget: inout Budget) throws(GossipsubError) -> Control {
        var reader = ProtobufReader(bytes)
        var control = Control()
        let limits = budget.limits
        while let field = try next(&reader) {
            guard (1...5).contains(field.number) else { continue }
            try budget.take(\.controlEntries, "control entries", limits.maxControlEntries)
            var entry = ProtobufReader(try payload(field, "ControlMessage.\(field.number)"))
            switch field.number {
            case 1:
                var topic: String?
                var ids: [GossipsubMessageID] = []
                while let inner = try next(&entry) {
                    switch inner.number {
                    case 1: topic = try string(inner, "ControlIHave.topicID", limit: limits.maxTopicLength)
                    case 2: ids.append(try messageID(inner, "ControlIHave.messageIDs", &budget))
                    default: continue
                    }
                }
                control.ihave.append(IHave(topic: topic ?? "", messageIDs: ids))
            case 2, 5:
                var ids: [GossipsubMessageID] = []
                while let inner = try next(&entry) {
                    guard inner.number == 1 else { continue }
                    ids.append(try messageID(inner, "ControlIWant.messageIDs", &budget))
                }
                if field.number == 2 { control.iwant.append(ids) } else { control.idontwant.append(ids) }
            case 3:
                var topic: String?
                while let inner = try next(&entry) {
                    guard inner.number == 1 else { continue }
                    topic = try string(inner, "ControlGraft.topicID", limit: limits.maxTopicLength)
                }
                control.graft.append(topic ?? "")
            default:
                var prune = Prune(topic: "")
                while let inner = try next(&entry) {
                    switch inner.number {
                    case 1: prune.topic = try string(inner, "ControlPrune.topicID", limit: limits.maxTopicLength)
                    case 2:
                        try budget.take(\.peerInfos, "PX peers", limits.maxPeerInfos)
                        prune.peers.append(try decodePeerInfo(try payload(inner, "ControlPrune.peers")))
                    case 3: prune.backoff = try varint(inner, "ControlPrune.backoff")
                    default: continue
                    }
                }
                control.prune.append(prune)
            }
        }
        return control
    }

    private static func decodePeerInfo(_ bytes: [UInt8]) throws(GossipsubError) -> PeerInfo {
        var reader = ProtobufReader(bytes)
        var info = PeerInfo(peerID: nil, signedRecord: nil)
        while let field = try next(&reader) {
            switch field.number {
            case 1: info.peerID = try payload(field, "PeerInfo.peerID")
            case 2: info.signedRecord = try payload(field, "PeerInfo.signedPeerRecord")
            default: continue
            }
        }
        return info
    }
}

extension GossipsubRPC.Control {
    /// The length of the `ControlMessage` protobuf.
    var encodedSize: Int {
        var size = 0
        for ihave in ihave {
            var entry = ProtobufSize.field(ihave.topic.utf8.count)
            for id in ihave.messageIDs { entry += ProtobufSize.field(id.bytes.count) }
            size += ProtobufSize.field(entry)
        }
        for ids in iwant { size += ProtobufSize.field(ProtobufSize.idList(ids)) }
        for topic in graft { size += ProtobufSize.field(ProtobufSize.field(topic.utf8.count)) }
        for prune in prune {
            var entry = ProtobufSize.field(prune.topic.utf8.count)
            for peer in prune.peers {
                var info = 0
                if let id = peer.peerID { info += ProtobufSize.field(id.count) }
                if let record = peer.signedRecord { info += ProtobufSize.field(record.count) }
                entry += ProtobufSize.field(info)
            }
            if let backoff = prune.backoff { entry += ProtobufSize.varintField(backoff) }
            size += ProtobufSize.field(entry)
        }
        for ids in idontwant { size += ProtobufSize.field(ProtobufSize.idList(ids)) }
        return size
    }
}

extension GossipsubMessage {
    /// The `Message` protobuf: from, data, seqno, topic, then signature and key when present.
    public func encoded() -> [UInt8] {
        var writer = signedFields()
        if let signature { writer.bytes(5, signature) }
        if let key { writer.bytes(6, key) }
        return writer.bytes
    }

    /// `signingBytes`, made anew.
    func makeSigningBytes() -> [UInt8] {
        var bytes = Self.signPrefix
        bytes.reserveCapacity(Self.signPrefix.count + unsignedEncodedSize)
        bytes += signedFields().bytes
        return bytes
    }

    /// The prefix of the signed bytes.
    public static let signPrefix = Array("libp2p-pubsub:".utf8)

    private func signedFields() -> ProtobufWriter {
        var writer = ProtobufWriter()
        if let from { writer.bytes(1, from) }
        writer.bytes(2, data)
        if let seqno { writer.bytes(3, seqno) }
        writer.string(4, topic)
        return writer
    }

    /// `encodedSize` without the `signature` and `key` fields.
    private var unsignedEncodedSize: Int {
        var size = encodedSize
        if let signature { size -= ProtobufSize.field(signature.count) }
        if let key { size -= ProtobufSize.field(key.count) }
        return size
    }

    /// Decodes a `Message` protobuf within `limits` (the topic is required).
    public init(decoding bytes: [UInt8], limits: GossipsubRPC.Limits) throws(GossipsubError) {
        var reader = ProtobufReader(bytes)
        var from: [UInt8]?
        var data: [UInt8] = []
        var seqno: [UInt8]?
        var topic: String?
        var signature: [UInt8]?
        var key: [UInt8]?
        while let field = try GossipsubRPC.next(&reader) {
            switch field.number {
            case 1: from = try GossipsubRPC.payload(field, "Message.from")
            case 2: data = try GossipsubRPC.payload(field, "Message.data")
            case 3: seqno = try GossipsubRPC.payload(field, "Message.seqno")
            case 4: topic = try GossipsubRPC.string(field, "Message.topic", limit: limits.maxTopicLength)
            case 5: signature = try GossipsubRPC.payload(field, "Message.signature")
            case 6: key = try GossipsubRPC.payload(field, "Message.key")
            default: continue
            }
        }
        guard let topic else { throw .missingField("Message.topic") }
        self.init(from: from, data: data, seqno: seqno, topic: topic, signature: signature, key: key)
    }
}

/// Sizes of protobuf wire encodings, for `encodedSize` (field numbers here are all below 16: one key byte).
enum ProtobufSize {
    /// Bytes of the varint encoding of `value`.
    static func varint(_ value: UInt64) -> Int { Varint.size(value) }

    /// A length-delimited field of `length` payload bytes.
    static func field(_ length: Int) -> Int { 1 + varint(UInt64(length)) + length }

    /// A varint field.
    static func varintField(_ value: UInt64) -> Int { 1 + varint(value) }

    /// An id-list message (IWANT, IDONTWANT).
    static func idList(_ ids: [GossipsubMessageID]) -> Int {
        var size = 0
        for id in ids { size += field(id.bytes.count) }
        return size
    }
}
