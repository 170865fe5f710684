import Codec

extension BitswapMessage {
    /// Bounds applied while decoding a message from a peer.
    public struct Limits: Sendable, Equatable {
        /// The largest message, bytes (a few blocks and a wantlist).
        public var maxSize: Int
        /// The largest block, bytes.
        public var maxBlockSize: Int
        /// Wantlist entries in one message.
        public var maxWants: Int
        /// Blocks in one message.
        public var maxBlocks: Int
        /// Presences in one message.
        public var maxPresences: Int

        /// Bounds of these values (go's message limit is 4 MiB; blocks are at most 2 MiB).
        public init(
            maxSize: Int = 4 * 1024 * 1024 + 64 * 1024, maxBlockSize: Int = 2 * 1024 * 1024, maxWants: Int = 1_024,
            maxBlocks: Int = 256, maxPresences: Int = 1_024
        ) {
            self.maxSize = maxSize
            self.maxBlockSize = maxBlockSize
            self.maxWants = maxWants
            self.maxBlocks = maxBlocks
            self.maxPresences = maxPresences
        }
    }

    /// The protobuf, as 1.2.0 writes it (blocks in field 3 with their prefixes).
    public func encoded() -> [UInt8] {
        var writer = ProtobufWriter()
        if !wants.isEmpty || full {
            var list = ProtobufWriter()
            for entry in wants {
                var item = ProtobufWriter()
                item.bytes(1, entry.cid.bytes)
                if entry.priority != 0 { item.varint(2, UInt64(bitPattern: Int64(entry.priority))) }
                if entry.cancel { item.varint(3, 1) }
                if entry.wantType != .block { item.varint(4, entry.wantType.rawValue) }
                if entry.sendDontHave { item.varint(5, 1) }
                list.bytes(1, item.bytes)
            }
            if full { list.varint(2, 1) }
            writer.bytes(1, list.bytes)
        }
        for block in blocks {
            var item = ProtobufWriter()
            item.bytes(1, block.prefix.bytes)
            item.bytes(2, block.data)
            writer.bytes(3, item.bytes)
        }
        for presence in presences {
            var item = ProtobufWriter()
            item.bytes(1, presence.cid.bytes)
            if presence.kind != .have { item.varint(2, presence.kind.rawValue) }
            writer.bytes(4, item.bytes)
        }
        if pendingBytes != 0 { writer.varint(5, UInt64(bitPattern: Int64(pendingBytes))) }
        return writer.bytes
    }

    /// Decodes a message within `limits`.
    ///
    /// Unknown fields are skipped; a 1.0.0 bare block (field 2) is read as the CIDv0 block of its bytes.
    public init(decoding bytes: some Collection<UInt8>, limits: Limits = Limits()) throws(BitswapError) {
        let message = Array(bytes)
        try self.init(decoding: message, range: 0..<message.count, limits: limits)
    }

    /// Decodes the message at `range` of `buffer` within `limits`, copying each block's bytes once (out of the
    /// buffer) and nothing else of size.
    public init(decoding buffer: [UInt8], range: Range<Int>, limits: Limits = Limits()) throws(BitswapError) {
        guard range.count <= limits.maxSize else { throw .messageTooLarge(size: range.count, limit: limits.maxSize) }
        self.init()
        var reader = ProtobufReader(buffer, range: range)
        while let span = try Self.nextSpan(&reader) {
            if span.number == 3 {
                guard let range = span.range else { throw .wrongWireType(field: "Message.payload") }
                var item = ProtobufReader(buffer, range: range)
                var prefix: CIDPrefix?
                var data: [UInt8] = []
                while let part = try Self.nextSpan(&item) {
                    switch part.number {
                    case 1:
                        guard let range = part.range else { throw .wrongWireType(field: "Block.prefix") }
                        // py-libp2p sends CIDv0 blocks with an empty prefix: read as 00 70 12 20.
                        prefix = range.isEmpty ? .v0 : try CIDPrefix(bytes: Array(buffer[range]))
                    case 2:
                        guard let range = part.range else { throw .wrongWireType(field: "Block.data") }
                        try Self.countBlock(&blocks, range.count, limits)
                        data = Array(buffer[range])
                    default: continue
                    }
                }
                guard let prefix else { throw .malformedProtobuf("a block without its CID prefix field") }
                try Self.countBlock(&blocks, data.count, limits)
                blocks.append(Block(prefix: prefix, data: data))
                continue
            }
            let field =
                if let range = span.range {
                    ProtobufField(number: span.number, value: .bytes(Array(buffer[range])))
                } else {
                    ProtobufField(number: span.number, value: span.scalar!)
                }
            switch field.number {
            case 1:
                var list = ProtobufReader(try Self.payload(field, "Message.wantlist"))
                while let item = try Self.next(&list) {
                    switch item.number {
                    case 1:
                        guard wants.count < limits.maxWants else {
                            throw .tooMany(what: "wantlist entries", limit: limits.maxWants)
                        }
                        wants.append(try Self.entry(try Self.payload(item, "Wantlist.entries")))
                    case 2: full = try Self.flag(item, "Wantlist.full")
                    default: continue
                    }
                }
            case 2:
                let data = try Self.payload(field, "Message.blocks")
                try Self.countBlock(&blocks, data.count, limits)
                blocks.append(
                    Block(prefix: CIDPrefix(version: 0, codec: 0x70, hashFunction: 0x12, digestLength: 32), data: data))
            case 4:
                guard presences.count < limits.maxPresences else {
                    throw .tooMany(what: "block presences", limit: limits.maxPresences)
                }
                var item = ProtobufReader(try Self.payload(field, "Message.blockPresences"))
                var cid: CID?
                var kind = Presence.Kind.have
                while let part = try Self.next(&item) {
                    switch part.number {
                    case 1: cid = try Self.cid(try Self.payload(part, "BlockPresence.cid"))
                    case 2:
                        guard let raw = part.varint else { throw .wrongWireType(field: "BlockPresence.type") }
                        guard let value = Presence.Kind(rawValue: raw) else {
                            throw .malformedProtobuf("presence type \(raw)")
                        }
                        kind = value
                    default: continue
                    }
                }
                guard let cid else { throw .malformedProtobuf("a presence without its CID") }
                presences.append(Presence(cid: cid, kind: kind))
            case 5:
                guard let raw = field.varint else { throw .wrongWireType(field: "Message.pendingBytes") }
                pendingBytes = Int32(truncatingIfNeeded: Int64(bitPattern: raw))
            default: continue
            }
        }
    }

    private static func countBlock(_ blocks: inout [Block], _ size: Int, _ limits: Limits) throws(BitswapError) {
        guard blocks.count < limits.maxBlocks else { throw .tooMany(what: "blocks", limit: limits.maxBlocks) }
        guard size <= limits.maxBlockSize else { throw .blockTooLarge(size: size, limit: limits.maxBlockSize) }
    }

    private static func entry(_ bytes: [UInt8]) throws(BitswapError) -> Entry {
        var reader = ProtobufReader(bytes)
        var cid: CID?
        var entry = Entry(cid: CID.raw(sha256Of: []), priority: 0)
        while let field = try next(&reader) {
            switch field.number {
            case 1: cid = try Self.cid(try payload(field, "Entry.block"))
            case 2:
                guard let raw = field.varint else { throw .wrongWireType(field: "Entry.priority") }
                entry.priority = Int32(truncatingIfNeeded: Int64(bitPattern: raw))
            case 3: entry.cancel = try flag(field, "Entry.cancel")
            case 4:
                guard let raw = field.varint else { throw .wrongWireType(field: "Entry.wantType") }
                guard let type = WantType(rawValue: raw) else { throw .malformedProtobuf("want type \(raw)") }
                entry.wantType = type
            case 5: entry.sendDontHave = try flag(field, "Entry.sendDontHave")
            default: continue
            }
        }
        guard let cid else { throw .malformedProtobuf("a wantlist entry without its CID") }
        entry.cid = cid
        return entry
    }

    private static func cid(_ bytes: [UInt8]) throws(BitswapError) -> CID {
        guard bytes.count <= 128 else { throw .invalidCID("\(bytes.count) bytes") }
        do {
            return try CID(bytes: bytes)
        } catch {
            throw .invalidCID("\(error)")
        }
    }

    private static func nextSpan(_ reader: inout ProtobufReader) throws(BitswapError) -> ProtobufSpan? {
        do {
            return try reader.nextSpan()
        } catch {
            throw .malformedProtobuf("\(error)")
        }
    }

    private static func next(_ reader: inout ProtobufReader) throws(BitswapError) -> ProtobufField? {
        do {
            return try reader.next()
        } catch {
            throw .malformedProtobuf("\(error)")
        }
    }

    private static func payload(_ field: ProtobufField, _ name: String) throws(BitswapError) -> [UInt8] {
        guard let bytes = field.bytes else { throw .wrongWireType(field: name) }
        return bytes
    }

    private static func flag(_ field: ProtobufField, _ name: String) throws(BitswapError) -> Bool {
        guard let value = field.varint else { throw .wrongWireType(field: name) }
        return value != 0
    }
}

/// The length-prefixed framing of Bitswap messages on a stream (an unsigned varint, then the message).
public enum BitswapFraming {
    /// `message` with its length prefix, written into one array sized for it: each block's bytes are copied once.
    ///
    /// The bytes are those of `Varint.encode(body.count) + message.encoded()`: the wantlist, then every block as an
    /// embedded `Block{prefix, data}` message, then the presences and `pendingBytes`.
    public static func frame(_ message: BitswapMessage) -> [UInt8] {
        let headBytes = BitswapMessage(wants: message.wants, full: message.full).encoded()
        let tailBytes = BitswapMessage(presences: message.presences, pendingBytes: message.pendingBytes).encoded()
        func varintSize(_ value: Int) -> Int { Varint.size(UInt64(value)) }
        let inner = message.blocks.map { block in
            1 + varintSize(block.prefix.bytes.count) + block.prefix.bytes.count + 1 + varintSize(block.data.count)
                + block.data.count
        }
        let body = headBytes.count + tailBytes.count + inner.reduce(0) { $0 + 1 + varintSize($1) + $1 }
        var out: [UInt8] = []
        out.reserveCapacity(varintSize(body) + body)
        Varint.append(UInt64(body), to: &out)
        out += headBytes
        for (block, size) in zip(message.blocks, inner) {
            out.append(3 << 3 | 2)
            Varint.append(UInt64(size), to: &out)
            out.append(1 << 3 | 2)
            Varint.append(UInt64(block.prefix.bytes.count), to: &out)
            out += block.prefix.bytes
            out.append(2 << 3 | 2)
            Varint.append(UInt64(block.data.count), to: &out)
            out += block.data
        }
        out += tailBytes
        return out
    }

    /// The first message in `buffer` and the bytes it took, nil when incomplete; a length over the bound is
    /// refused before the body is buffered.
    public static func parse(
        _ buffer: some Collection<UInt8>, limits: BitswapMessage.Limits = .init()
    ) throws(BitswapError) -> (message: BitswapMessage, consumed: Int)? {
        let bytes = Array(buffer)
        return try parse(bytes, from: 0, limits: limits)
    }

    /// The length a message at `offset` of `buffer` declares, with the prefix's own size, nil while the prefix is
    /// incomplete; a length over the bound is refused before the body is buffered.
    public static func length(
        _ buffer: [UInt8], from offset: Int, limits: BitswapMessage.Limits = .init()
    ) throws(BitswapError) -> (body: Int, prefix: Int)? {
        var length: UInt64 = 0
        var shift: UInt64 = 0
        var index = offset
        var headerLength = 0
        while true {
            guard index < buffer.count else { return nil }
            let byte = buffer[index]
            index += 1
            headerLength += 1
            guard headerLength <= 9 else { throw .malformedProtobuf("length prefix over 9 bytes") }
            length |= UInt64(byte & 0x7F) << shift
            if byte & 0x80 == 0 { break }
            shift += 7
        }
        guard length <= UInt64(limits.maxSize) else { throw .frameTooLarge(length: length, limit: limits.maxSize) }
        return (Int(length), headerLength)
    }

    /// The message at `offset` of `buffer` and the bytes it took, nil when incomplete; decoded in place (only the
    /// blocks' bytes are copied out).
    public static func parse(
        _ buffer: [UInt8], from offset: Int, limits: BitswapMessage.Limits = .init()
    ) throws(BitswapError) -> (message: BitswapMessage, consumed: Int)? {
        guard let (body, prefix) = try length(buffer, from: offset, limits: limits) else { return nil }
        let start = offset + prefix
        guard buffer.count - start >= body else { return nil }
        return (try BitswapMessage(decoding: buffer, range: start..<(start + body), limits: limits), prefix + body)
    }
}
