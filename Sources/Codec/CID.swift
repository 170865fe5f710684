/// A content identifier (multiformats/cid): version, content codec and multihash.
public struct CID: Hashable, Sendable, CustomStringConvertible {
    /// Multicodec codes of content types.
    public enum Codec: UInt64, Sendable {
        case raw = 0x55
        case dagProtobuf = 0x70
        case dagCBOR = 0x71
        case libp2pKey = 0x72
    }

    /// The CID version: 0 (bare sha2-256 multihash, base58btc) or 1.
    public let version: Int
    /// The multicodec code of the content type (`Codec` names the known ones).
    public let codec: UInt64
    /// The multihash of the content.
    public let multihash: Multihash

    /// A CIDv1.
    public init(codec: UInt64, multihash: Multihash) {
        version = 1
        self.codec = codec
        self.multihash = multihash
    }

    /// A CIDv0: dag-pb with a sha2-256 multihash, written as bare base58btc.
    public init(v0 multihash: Multihash) throws(CodecError) {
        guard multihash.code == Multihash.Function.sha2x256.rawValue, multihash.digest.count == 32 else {
            throw .invalidCID("a CIDv0 holds a 32-byte sha2-256 multihash")
        }
        version = 0
        codec = Codec.dagProtobuf.rawValue
        self.multihash = multihash
    }

    /// The CIDv1 of raw bytes: raw codec, sha2-256 (how blobs are addressed in the content store).
    public static func raw(sha256Of data: [UInt8]) -> CID {
        CID(codec: Codec.raw.rawValue, multihash: .sha256(data))
    }

    /// The binary form.
    public var bytes: [UInt8] {
        if version == 0 { return multihash.bytes }
        var out = Varint.encode(1)
        Varint.append(codec, to: &out)
        return out + multihash.bytes
    }

    /// The text form: base32 multibase for v1, bare base58btc for v0.
    public var description: String {
        version == 0 ? Base58.encode(bytes) : Multibase.base32.encode(bytes)
    }

    /// The text form of a v1 CID in another base.
    public func text(in base: Multibase) -> String { version == 0 ? description : base.encode(bytes) }

    /// Decodes the binary form (v0 or v1).
    public init(bytes: [UInt8]) throws(CodecError) {
        if bytes.count == 34 && bytes[0] == 0x12 && bytes[1] == 0x20 {
            try self.init(v0: try Multihash(bytes: bytes))
            return
        }
        var position = 0
        let version: UInt64
        let codec: UInt64
        let multihash: Multihash
        do {
            version = try Varint.read(bytes, at: &position)
            codec = try Varint.read(bytes, at: &position)
            multihash = try Multihash.read(bytes, at: &position)
        } catch {
            throw .invalidCID("\(error)")
        }
        guard version == 1 else { throw .invalidCID("unsupported CID version \(version)") }
        guard position == bytes.count else { throw .invalidCID("\(bytes.count - position) trailing byte(s)") }
        self.init(codec: codec, multihash: multihash)
    }

    /// Decodes the text form: a CIDv0 (`Qm…`) or any multibase CIDv1.
    public init(string text: some StringProtocol) throws(CodecError) {
        if text.utf8.count == 46 && text.hasPrefix("Qm") {
            let bytes: [UInt8]
            do {
                bytes = try Base58.decode(text)
            } catch {
                throw .invalidCID("\(error)")
            }
            try self.init(bytes: bytes)
            return
        }
        let decoded: (base: Multibase, bytes: [UInt8])
        do {
            decoded = try Multibase.decode(text)
        } catch {
            throw .invalidCID("\(error)")
        }
        try self.init(bytes: decoded.bytes)
        guard version == 1 else { throw .invalidCID("a CIDv0 must be written in bare base58btc") }
    }
}
