/// What was wrong with a gossipsub RPC read from a peer, or with a message the application asked to publish.
public enum GossipsubError: Error, Equatable, Sendable, CustomStringConvertible {
    /// The RPC is larger than the bound.
    case rpcTooLarge(size: Int, limit: Int)
    /// The protobuf wire format is broken (truncated, bad varint, bad wire type).
    case malformedProtobuf(String)
    /// A known field carries the wrong wire type.
    case wrongWireType(field: String)
    /// A required field is missing.
    case missingField(String)
    /// A string field is not valid UTF-8.
    case invalidUTF8(field: String)
    /// A repeated part holds more entries than the bound allows.
    case tooMany(what: String, limit: Int)
    /// A field is longer than the bound allows.
    case fieldTooLong(field: String, length: Int, limit: Int)

    /// Signing an own message failed.
    case signingFailed(String)

    /// What was wrong, prefixed with `gossipsub:`.
    public var description: String {
        switch self {
        case .rpcTooLarge(let size, let limit): "gossipsub: RPC of \(size) bytes exceeds the bound of \(limit) bytes"
        case .malformedProtobuf(let why): "gossipsub: malformed protobuf: \(why)"
        case .wrongWireType(let field): "gossipsub: field \(field) has the wrong wire type"
        case .missingField(let field): "gossipsub: required field \(field) is missing"
        case .invalidUTF8(let field): "gossipsub: field \(field) is not valid UTF-8"
        case .tooMany(let what, let limit): "gossipsub: more than \(limit) \(what) in one RPC"
        case .signingFailed(let why): "gossipsub: signing failed: \(why)"
        case .fieldTooLong(let field, let length, let limit):
            "gossipsub: field \(field) of \(length) bytes exceeds the bound of \(limit) bytes"
        }
    }
}
