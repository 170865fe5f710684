/// Everything that can be wrong with encoded input: one case per codec, each carrying what was wrong and where.
public enum CodecError: Error, Equatable, Sendable, CustomStringConvertible {
    case invalidHex(String)
    case invalidAddress(String)
    case invalidRLP(String)
    case invalidABI(String)
    case invalidTypedData(String)
    case invalidProtobuf(String)
    case invalidVarint(String)
    case invalidMultibase(String)
    case invalidMultihash(String)
    case invalidCID(String)
    case invalidMultiaddr(String)
    case invalidPeerID(String)
    /// A dag-pb node that breaks the strict encoding (field order, duplicates, a missing Hash, too many links).
    case invalidDagPB(String)
    /// UnixFS Data that does not decode, or a file DAG whose nodes contradict each other.
    case invalidUnixFS(String)
    /// A block larger than the limit it was read under.
    case blockTooLarge(size: Int, limit: Int)
    /// A CID whose hash function this module cannot compute, so its block cannot be verified.
    case unsupportedHash(code: UInt64)
    /// Bytes whose hash is not the one their CID names.
    case blockMismatch(cid: String)

    /// The codec and what was wrong with its input, as a user reads it.
    public var description: String {
        switch self {
        case .invalidHex(let why): "invalid hex: \(why)"
        case .invalidAddress(let why): "invalid address: \(why)"
        case .invalidRLP(let why): "invalid RLP: \(why)"
        case .invalidABI(let why): "invalid ABI data: \(why)"
        case .invalidTypedData(let why): "invalid EIP-712 typed data: \(why)"
        case .invalidProtobuf(let why): "invalid protobuf: \(why)"
        case .invalidVarint(let why): "invalid varint: \(why)"
        case .invalidMultibase(let why): "invalid multibase: \(why)"
        case .invalidMultihash(let why): "invalid multihash: \(why)"
        case .invalidCID(let why): "invalid CID: \(why)"
        case .invalidMultiaddr(let why): "invalid multiaddr: \(why)"
        case .invalidPeerID(let why): "invalid peer id: \(why)"
        case .invalidDagPB(let why): "invalid dag-pb node: \(why)"
        case .invalidUnixFS(let why): "invalid UnixFS data: \(why)"
        case .blockTooLarge(let size, let limit): "block of \(size) bytes exceeds the limit of \(limit) bytes"
        case .unsupportedHash(let code): "cannot verify a block hashed with multicodec 0x\(String(code, radix: 16))"
        case .blockMismatch(let cid): "the bytes do not hash to \(cid)"
        }
    }
}
