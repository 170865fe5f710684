import Codec

extension KademliaMessage {
    /// Bounds applied while decoding a message from a peer.
    public struct Limits: Sendable, Equatable {
        /// The largest message, bytes.
        public var maxSize: Int
        /// Entries of `closerPeers` plus `providerPeers`; more is an error.
        public var maxPeers: Int
        /// Addresses kept per peer; more are skipped.
        public var maxAddressesPerPeer: Int
        /// Bytes of the message key and the record key.
        public var maxKeyLength: Int
        /// Bytes of a record's value.
        public var maxValueLength: Int

        /// Bounds of their values (go-libp2p sends 20 closer peers; 64 KiB values are far above our records).
        public init(
            maxSize: Int = 128 * 1024, maxPeers: Int = 100, maxAddressesPerPeer: Int = 16, maxKeyLength: Int = 512,
            maxValueLength: Int = 16 * 1024
        ) {
            self.maxSize = maxSize
            self.maxPeers = maxPeers
            self.maxAddressesPerPeer = maxAddressesPerPeer
            self.maxKeyLength = maxKeyLength
            self.maxValueLength = maxValueLength
        }
    }

    /// The protobuf (fields in number order; proto3: zero and empty fields are omitted).
    public func encoded() -> [UInt8] {
        var writer = ProtobufWriter()
        if type != .putValue { writer.varint(1, type.rawValue) }
        if !key.isEmpty { writer.bytes(2, key) }
        if let record { writer.bytes(3, record.encoded()) }
        for peer in closerPeers { writer.bytes(8, peer.encoded()) }
        for peer in providerPeers { writer.bytes(9, peer.encoded()) }
        if clusterLevel != 0 { writer.varint(10, clusterLevel) }
        return writer.bytes
    }

    /// Decodes a message within `limits`.
    ///
    /// Unknown fields (py-libp2p's `senderRecord`, 11) are skipped; peers with an
    /// invalid id are skipped, as are addresses that do not parse and addresses beyond the bound.
    public init(decoding bytes: some Collection<UInt8>, limits: Limits = Limits()) throws(KademliaError) {
        guard bytes.count <= limits.maxSize else { throw .messageTooLarge(size: bytes.count, limit: limits.maxSize) }
        self.init(type: .putValue)
        var peers = 0
        var reader = ProtobufReader(Array(bytes))
        while let field = try Self.next(&reader) {
            switch field.number {
            case 1:
                guard let raw = field.varint else { throw .wrongWireType(field: "Message.type") }
                guard let value = MessageType(rawValue: raw) else { throw .unknownMessageType(raw) }
                type = value
            case 2: key = try Self.bounded(field, "Message.key", limits.maxKeyLength)
            case 3: record = try KademliaRecord(decoding: try Self.payload(field, "Message.record"), limits: limits)
            case 8, 9:
                peers += 1
                guard peers <= limits.maxPeers else { throw .tooMany(what: "peers", limit: limits.maxPeers) }
                let payload = try Self.payload(
                    field, field.number == 8 ? "Message.closerPeers" : "Message.providerPeers")
                guard let peer = try KademliaPeerInfo(decoding: payload, limits: limits) else { continue }
                if field.number == 8 { closerPeers.append(peer) } else { providerPeers.append(peer) }
            case 10:
                guard let raw = field.varint else { throw .wrongWireType(field: "Message.clusterLevelRaw") }
                clusterLevel = raw
            default: continue
            }
        }
    }

    static func next(_ reader: inout ProtobufReader) throws(KademliaError) -> ProtobufField? {
        do {
            return try reader.next()
        } catch {
            throw .malformedProtobuf("\(error)")
        }
    }

    static func payload(_ field: ProtobufField, _ name: String) throws(KademliaError) -> [UInt8] {
        guard let bytes = field.bytes else { throw .wrongWireType(field: name) }
        return bytes
    }

    static func bounded(_ field: ProtobufField, _ name: String, _ limit: Int) throws(KademliaError) -> [UInt8] {
        let bytes = try payload(field, name)
        guard bytes.count <= limit else { throw .fieldTooLong(field: name, length: bytes.count, limit: limit) }
        return bytes
    }
}

extension KademliaPeerInfo {
    /// The `Peer` protobuf.
    public func encoded() -> [UInt8] {
        var writer = ProtobufWriter()
        writer.bytes(1, id.multihash.bytes)
        for address in addresses { writer.bytes(2, address.bytes) }
        if connection != .notConnected { writer.varint(3, connection.rawValue) }
        return writer.bytes
    }

    /// Decodes a `Peer`; nil when its id is missing or not a peer id (the entry is skipped, not the message).
    init?(decoding bytes: [UInt8], limits: KademliaMessage.Limits) throws(KademliaError) {
        var id: PeerID?
        var addresses: [Multiaddr] = []
        var connection = Connection.notConnected
        var reader = ProtobufReader(bytes)
        while let field = try KademliaMessage.next(&reader) {
            switch field.number {
            case 1: id = try? PeerID(multihashBytes: try KademliaMessage.payload(field, "Peer.id"))
            case 2:
                let data = try KademliaMessage.payload(field, "Peer.addrs")
                guard addresses.count < limits.maxAddressesPerPeer, let address = try? Multiaddr(bytes: data) else {
                    continue
                }
                addresses.append(address)
            case 3:
                guard let raw = field.varint else { throw .wrongWireType(field: "Peer.connection") }
                connection = Connection(rawValue: raw) ?? .notConnected
            default: continue
            }
        }
        guard let id else { return nil }
        self.init(id: id, addresses: addresses, connection: connection)
    }
}

extension KademliaRecord {
    /// The `Record` protobuf.
    public func encoded() -> [UInt8] {
        var writer = ProtobufWriter()
        if !key.isEmpty { writer.bytes(1, key) }
        if !value.isEmpty { writer.bytes(2, value) }
        if !timeReceived.isEmpty { writer.string(5, timeReceived) }
        return writer.bytes
    }

    /// Decodes a `Record` within `limits`.
    init(decoding bytes: [UInt8], limits: KademliaMessage.Limits) throws(KademliaError) {
        self.init(key: [], value: [])
        var reader = ProtobufReader(bytes)
        while let field = try KademliaMessage.next(&reader) {
            switch field.number {
            case 1: key = try KademliaMessage.bounded(field, "Record.key", limits.maxKeyLength)
            case 2: value = try KademliaMessage.bounded(field, "Record.value", limits.maxValueLength)
            case 5:
                let raw = try KademliaMessage.bounded(field, "Record.timeReceived", 64)
                guard let text = String(validating: raw, as: UTF8.self) else {
                    throw .malformedProtobuf("Record.timeReceived is not UTF-8")
                }
                timeReceived = text
            default: continue
            }
        }
    }
}

/// The DHT's stream framing: each message is preceded by its length as an unsigned varint.
public enum KademliaFraming {
    /// `message` encoded and length-prefixed.
    public static func frame(_ message: KademliaMessage) -> [UInt8] {
        let body = message.encoded()
        var out = Varint.encode(UInt64(body.count))
        out.append(contentsOf: body)
        return out
    }

    /// The first complete message in `buffer` and the bytes it took, or nil when more bytes are needed.
    ///
    /// A length prefix above `limits.maxSize` throws before any body is buffered.
    public static func parse(
        _ buffer: [UInt8], limits: KademliaMessage.Limits = .init()
    ) throws(KademliaError) -> (message: KademliaMessage, consumed: Int)? {
        var position = 0
        let length: UInt64
        do {
            length = try Varint.read(buffer, at: &position)
        } catch {
            // A truncated prefix needs more bytes; anything else is broken.
            if buffer.count < Varint.maxBytes && buffer.allSatisfy({ $0 & 0x80 != 0 }) { return nil }
            throw .malformedProtobuf("frame length: \(error)")
        }
        guard length <= UInt64(limits.maxSize) else { throw .frameTooLarge(length: length, limit: limits.maxSize) }
        let end = position + Int(length)
        guard buffer.count >= end else { return nil }
        let message = try KademliaMessage(decoding: buffer[position..<end], limits: limits)
        return (message, end)
    }
}
