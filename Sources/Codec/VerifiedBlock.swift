/// A block whose bytes hash to its CID: made only by checking, or by a builder that computed the CID itself.
///
/// Holding one is the proof that the bytes were verified; the content store and the exchange pass these around.
public struct VerifiedBlock: Hashable, Sendable {
    /// The largest block accepted from anyone: 2 MiB, as Bitswap implementations bound it.
    public static let maxSize = 2 << 20

    /// The block's CID.
    public let cid: CID
    /// The block's bytes.
    public let bytes: [UInt8]

    /// Checks that `bytes` hash to `cid` and are at most `maxSize` bytes.
    public init(cid: CID, bytes: [UInt8], maxSize: Int = VerifiedBlock.maxSize) throws(CodecError) {
        guard bytes.count <= maxSize else { throw .blockTooLarge(size: bytes.count, limit: maxSize) }
        try cid.verify(bytes)
        self.cid = cid
        self.bytes = bytes
    }

    /// The block of `bytes` under a CID prefix, verified by construction: its CID is computed from the bytes.
    ///
    /// One hash; throws for a hash the node does not compute or bytes over `maxSize`.
    public static func hashing(
        _ bytes: [UInt8], version: Int, codec: UInt64, function: Multihash.Function, digestLength: Int,
        maxSize: Int = VerifiedBlock.maxSize
    ) throws(CodecError) -> VerifiedBlock {
        guard bytes.count <= maxSize else { throw .blockTooLarge(size: bytes.count, limit: maxSize) }
        guard function != .identity else { throw .unsupportedHash(code: function.rawValue) }
        let multihash = Multihash(hashing: bytes, with: function, length: digestLength)
        let cid = version == 0 ? try CID(v0: multihash) : CID(codec: codec, multihash: multihash)
        return VerifiedBlock(computed: cid, bytes: bytes)
    }

    /// A block whose CID was just computed from `bytes` by the caller in this module.
    init(computed cid: CID, bytes: [UInt8]) {
        self.cid = cid
        self.bytes = bytes
    }

    /// The dag-pb node of a dag-pb block, decoded strictly; nil for a raw block.
    public func node(maxLinks: Int = PBNode.defaultMaxLinks) throws(CodecError) -> PBNode? {
        switch cid.codec {
        case CID.Codec.dagProtobuf.rawValue: return try PBNode(decoding: bytes, maxLinks: maxLinks)
        case CID.Codec.raw.rawValue: return nil
        default: throw .invalidCID("codec 0x\(String(cid.codec, radix: 16)) is neither raw nor dag-pb")
        }
    }
}

extension CID {
    /// Throws unless `bytes` hash to this CID's multihash (truncated digests compare their prefix).
    public func verify(_ bytes: [UInt8]) throws(CodecError) {
        guard let function = multihash.function else { throw .unsupportedHash(code: multihash.code) }
        let matches: Bool
        if function == .identity {
            matches = multihash.digest == bytes
        } else {
            let digest = function.digest(bytes)
            matches = !multihash.digest.isEmpty && digest.starts(with: multihash.digest)
        }
        guard matches else { throw .blockMismatch(cid: description) }
    }

    /// The same block addressed as CIDv1 (a CIDv0 becomes dag-pb CIDv1; a CIDv1 is itself): one key per block.
    public var normalized: CID { version == 0 ? CID(codec: codec, multihash: multihash) : self }
}
