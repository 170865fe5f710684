import Codec

/// A Bitswap message (ipfs/specs `bitswap-protocol.md`, 1.2.0, which reads 1.0.0 and 1.1.0 messages too).
public struct BitswapMessage: Sendable, Equatable {
    /// The protocol ids, newest first.
    public static let protocolIDs = ["/ipfs/bitswap/1.2.0", "/ipfs/bitswap/1.1.0", "/ipfs/bitswap/1.0.0"]

    /// What a want asks for.
    public enum WantType: UInt64, Sendable {
        /// The block itself.
        case block = 0
        /// Whether the peer has it (answered with HAVE or DONT_HAVE).
        case have = 1
    }

    /// One wantlist entry.
    public struct Entry: Sendable, Equatable {
        /// The block wanted.
        public var cid: CID
        /// Higher first.
        public var priority: Int32
        /// Withdraws an earlier want of the block.
        public var cancel: Bool
        /// Block or have.
        public var wantType: WantType
        /// Answer DONT_HAVE when the block is not held.
        public var sendDontHave: Bool

        /// An entry of these values.
        public init(
            cid: CID, priority: Int32 = 1, cancel: Bool = false, wantType: WantType = .block, sendDontHave: Bool = false
        ) {
            self.cid = cid
            self.priority = priority
            self.cancel = cancel
            self.wantType = wantType
            self.sendDontHave = sendDontHave
        }
    }

    /// A block with the prefix of its CID (version, codec, hash function and length), so the receiver can
    /// recompute the CID from the bytes.
    public struct Block: Sendable, Equatable {
        /// The CID prefix.
        public var prefix: CIDPrefix
        /// The bytes.
        public var data: [UInt8]

        /// A block of `data` under `prefix`.
        public init(prefix: CIDPrefix, data: [UInt8]) {
            self.prefix = prefix
            self.data = data
        }

        /// `data` as the block of `cid` (the prefix taken from it).
        public init(cid: CID, data: [UInt8]) {
            prefix = CIDPrefix(cid)
            self.data = data
        }

        /// The CID these bytes have under the prefix.
        public var cid: CID { prefix.cid(of: data) }

        /// The bytes as a verified block: its CID computed from them under the prefix (one hash); nil when the
        /// prefix names a hash the node does not compute or the block is over the size bound.
        public var verified: VerifiedBlock? {
            guard let function = Multihash.Function(rawValue: prefix.hashFunction) else { return nil }
            return try? VerifiedBlock.hashing(
                data, version: Int(prefix.version), codec: prefix.codec, function: function,
                digestLength: Int(prefix.digestLength))
        }
    }

    /// A HAVE or DONT_HAVE answer.
    public struct Presence: Sendable, Equatable {
        /// Whether the sender holds the block.
        public enum Kind: UInt64, Sendable {
            /// It does.
            case have = 0
            /// It does not.
            case dontHave = 1
        }
        /// The block.
        public var cid: CID
        /// Have or don't have.
        public var kind: Kind

        /// A presence of these values.
        public init(cid: CID, kind: Kind) {
            self.cid = cid
            self.kind = kind
        }
    }

    /// The wantlist entries (field 1.1).
    public var wants: [Entry]
    /// Whether the wantlist replaces the one the receiver holds for the sender (field 1.2).
    public var full: Bool
    /// Blocks (field 3, 1.1.0+; a 1.0.0 sender's bare blocks, field 2, are read as CIDv0 blocks).
    public var blocks: [Block]
    /// HAVE and DONT_HAVE answers (field 4).
    public var presences: [Presence]
    /// Bytes the sender still has queued for the receiver (field 5).
    public var pendingBytes: Int32

    /// A message of these parts.
    public init(
        wants: [Entry] = [], full: Bool = false, blocks: [Block] = [], presences: [Presence] = [],
        pendingBytes: Int32 = 0
    ) {
        self.wants = wants
        self.full = full
        self.blocks = blocks
        self.presences = presences
        self.pendingBytes = pendingBytes
    }

    /// Whether the message carries nothing.
    public var isEmpty: Bool { wants.isEmpty && !full && blocks.isEmpty && presences.isEmpty }
}

/// The prefix of a CID without its digest: version, codec, hash function and digest length.
///
/// Bitswap 1.1.0+ sends it with each block. For CIDv0 blocks it is `00 70 12 20`.
public struct CIDPrefix: Sendable, Equatable, Hashable {
    /// 0 or 1.
    public var version: UInt64
    /// The content codec.
    public var codec: UInt64
    /// The multihash function code.
    public var hashFunction: UInt64
    /// The digest length.
    public var digestLength: UInt64

    /// The prefix of every CIDv0: dag-pb, sha2-256, 32 bytes.
    public static let v0 = CIDPrefix(version: 0, codec: 0x70, hashFunction: 0x12, digestLength: 32)

    /// The prefix of `cid`.
    public init(_ cid: CID) {
        version = UInt64(cid.version)
        codec = cid.codec
        hashFunction = cid.multihash.code
        digestLength = UInt64(cid.multihash.digest.count)
    }

    /// A prefix of these values.
    public init(version: UInt64, codec: UInt64, hashFunction: UInt64, digestLength: UInt64) {
        self.version = version
        self.codec = codec
        self.hashFunction = hashFunction
        self.digestLength = digestLength
    }

    /// The four varints.
    public var bytes: [UInt8] {
        var out = Varint.encode(version)
        Varint.append(codec, to: &out)
        Varint.append(hashFunction, to: &out)
        Varint.append(digestLength, to: &out)
        return out
    }

    /// Parses the four varints, refusing hash functions the node does not compute and impossible combinations.
    public init(bytes: [UInt8]) throws(BitswapError) {
        var position = 0
        do {
            version = try Varint.read(bytes, at: &position)
            codec = try Varint.read(bytes, at: &position)
            hashFunction = try Varint.read(bytes, at: &position)
            digestLength = try Varint.read(bytes, at: &position)
        } catch {
            throw .invalidCID("prefix: \(error)")
        }
        guard position == bytes.count else { throw .invalidCID("prefix has \(bytes.count - position) trailing bytes") }
        guard version <= 1 else { throw .invalidCID("version \(version)") }
        guard let function = Multihash.Function(rawValue: hashFunction), function != .identity else {
            throw .invalidCID("hash function 0x\(String(hashFunction, radix: 16)) is not one the node computes")
        }
        guard digestLength >= 16, digestLength <= UInt64(function.digestLength) else {
            throw .invalidCID("digest length \(digestLength) for \(function.name)")
        }
        if version == 0 {
            guard codec == CID.Codec.dagProtobuf.rawValue, function == .sha2x256, digestLength == 32 else {
                throw .invalidCID("a CIDv0 prefix is dag-pb sha2-256/32")
            }
        }
    }

    /// The CID `data` has under this prefix (the prefix was checked when parsed or built from a CID).
    public func cid(of data: [UInt8]) -> CID {
        let function = Multihash.Function(rawValue: hashFunction) ?? .sha2x256
        let multihash = Multihash(hashing: data, with: function, length: Int(digestLength))
        if version == 0, let v0 = try? CID(v0: multihash) { return v0 }
        return CID(codec: codec, multihash: multihash)
    }
}

extension CID {
    /// Whether `data` hashes to this CID (its own hash function and digest length).
    public func isValidBlock(_ data: [UInt8]) -> Bool {
        guard let function = multihash.function, function != .identity else {
            return multihash.function == .identity && multihash.digest == data
        }
        return Multihash(hashing: data, with: function, length: multihash.digest.count) == multihash
    }
}
