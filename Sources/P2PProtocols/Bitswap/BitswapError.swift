import Codec

/// Why a Bitswap message, block or request was refused.
public enum BitswapError: Error, Equatable, Sendable, CustomStringConvertible {
    /// The message is larger than the bound.
    case messageTooLarge(size: Int, limit: Int)
    /// A length prefix announces more than the bound.
    case frameTooLarge(length: UInt64, limit: Int)
    /// The protobuf does not parse.
    case malformedProtobuf(String)
    /// A field has the wrong wire type.
    case wrongWireType(field: String)
    /// More entries of a kind than one message may carry.
    case tooMany(what: String, limit: Int)
    /// A block over the size bound.
    case blockTooLarge(size: Int, limit: Int)
    /// A CID or CID prefix that does not parse, or uses a hash we do not compute.
    case invalidCID(String)
    /// A block whose bytes do not hash to the CID it was sent for.
    case blockMismatch(CID)
    /// A block nobody asked this peer for.
    case unsolicitedBlock(CID)

    /// A readable description.
    public var description: String {
        switch self {
        case .messageTooLarge(let size, let limit): "bitswap: message of \(size) bytes exceeds \(limit)"
        case .frameTooLarge(let length, let limit): "bitswap: frame of \(length) bytes exceeds \(limit)"
        case .malformedProtobuf(let why): "bitswap: malformed protobuf: \(why)"
        case .wrongWireType(let field): "bitswap: field \(field) has the wrong wire type"
        case .tooMany(let what, let limit): "bitswap: more than \(limit) \(what) in one message"
        case .blockTooLarge(let size, let limit): "bitswap: block of \(size) bytes exceeds \(limit)"
        case .invalidCID(let why): "bitswap: invalid CID: \(why)"
        case .blockMismatch(let cid): "bitswap: block does not hash to \(cid)"
        case .unsolicitedBlock(let cid): "bitswap: block \(cid) was not asked for"
        }
    }
}
