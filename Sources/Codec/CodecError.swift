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
        }
    }
}
