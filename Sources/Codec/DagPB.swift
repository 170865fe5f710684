/// One link of a dag-pb node: the target's CID, an optional name and the cumulative size of the target's DAG.
public struct PBLink: Hashable, Sendable {
    /// The CID of the linked block.
    public var hash: CID
    /// The link's name (kubo writes an empty name for every link of a file).
    public var name: String?
    /// The cumulative size of the linked DAG: the encoded node plus the sizes its own links carry.
    public var tsize: UInt64?

    /// A link to `hash` with `name` and `tsize`.
    public init(hash: CID, name: String? = "", tsize: UInt64? = nil) {
        self.hash = hash
        self.name = name
        self.tsize = tsize
    }
}

/// A dag-pb node (IPLD dag-pb spec): links, then optional data, encoded byte for byte as go-codec-dagpb does.
///
/// Encoding writes every link (field 2: Hash, Name, Tsize in that order, each when present) before Data (field 1).
/// Decoding is the spec's strict form: only those fields, in that order, each at most once, a Hash in every link.
public struct PBNode: Hashable, Sendable {
    /// The most links a decoded node may carry unless the caller allows more.
    public static let defaultMaxLinks = 65_536

    /// The node's links, in order.
    public var links: [PBLink]
    /// The node's data (absent and empty are different nodes).
    public var data: [UInt8]?

    /// A node with `links` and `data`.
    public init(links: [PBLink] = [], data: [UInt8]? = nil) {
        self.links = links
        self.data = data
    }

    /// The canonical encoding.
    public var encoded: [UInt8] {
        var writer = ProtobufWriter()
        for link in links {
            var inner = ProtobufWriter()
            inner.bytes(1, link.hash.bytes)
            if let name = link.name { inner.string(2, name) }
            if let tsize = link.tsize { inner.varint(3, tsize) }
            writer.bytes(2, inner.bytes)
        }
        if let data { writer.bytes(1, data) }
        return writer.bytes
    }

    /// Decodes a dag-pb block strictly, allowing at most `maxLinks` links.
    public init(decoding bytes: [UInt8], maxLinks: Int = PBNode.defaultMaxLinks) throws(CodecError) {
        var reader = ProtobufReader(bytes)
        var links: [PBLink] = []
        var data: [UInt8]?
        while true {
            let next: ProtobufField?
            do {
                next = try reader.next()
            } catch {
                throw .invalidDagPB("\(error)")
            }
            guard let field = next else { break }
            guard case .bytes(let payload) = field.value else {
                throw .invalidDagPB("field \(field.number) has the wrong wire type")
            }
            switch field.number {
            case 1:
                guard data == nil else { throw .invalidDagPB("duplicate Data") }
                data = payload
            case 2:
                guard data == nil else { throw .invalidDagPB("a link after Data") }
                guard links.count < maxLinks else { throw .invalidDagPB("more than \(maxLinks) links") }
                links.append(try Self.decodeLink(payload, index: links.count))
            default:
                throw .invalidDagPB("unknown field \(field.number)")
            }
        }
        self.init(links: links, data: data)
    }

    private static func decodeLink(_ bytes: [UInt8], index: Int) throws(CodecError) -> PBLink {
        var reader = ProtobufReader(bytes)
        var hash: CID?
        var name: String?
        var tsize: UInt64?
        var last = 0
        while true {
            let next: ProtobufField?
            do {
                next = try reader.next()
            } catch {
                throw .invalidDagPB("link \(index): \(error)")
            }
            guard let field = next else { break }
            guard field.number > last else {
                throw .invalidDagPB("link \(index): field \(field.number) out of order or repeated")
            }
            last = field.number
            switch (field.number, field.value) {
            case (1, .bytes(let payload)):
                do {
                    hash = try CID(bytes: payload)
                } catch {
                    throw .invalidDagPB("link \(index): \(error)")
                }
            case (2, .bytes(let payload)):
                guard let text = String(validating: payload, as: UTF8.self) else {
                    throw .invalidDagPB("link \(index): name is not UTF-8")
                }
                name = text
            case (3, .varint(let value)):
                guard value <= UInt64(Int64.max) else { throw .invalidDagPB("link \(index): Tsize exceeds 2^63-1") }
                tsize = value
            default:
                throw .invalidDagPB("link \(index): unexpected field \(field.number) or wire type")
            }
        }
        guard let hash else { throw .invalidDagPB("link \(index) has no Hash") }
        return PBLink(hash: hash, name: name, tsize: tsize)
    }
}
