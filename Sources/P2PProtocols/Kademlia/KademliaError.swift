/// What was wrong with a Kademlia message read from a peer, or with a request a peer made.
public enum KademliaError: Error, Equatable, Sendable, CustomStringConvertible {
    /// The message is larger than the bound.
    case messageTooLarge(size: Int, limit: Int)
    /// A frame's length prefix announces more bytes than the bound.
    case frameTooLarge(length: UInt64, limit: Int)
    /// The protobuf wire format is broken (truncated, bad varint, bad wire type).
    case malformedProtobuf(String)
    /// A known field carries the wrong wire type.
    case wrongWireType(field: String)
    /// The message type is not one of the six the spec defines.
    case unknownMessageType(UInt64)
    /// A repeated part holds more entries than the bound allows.
    case tooMany(what: String, limit: Int)
    /// A field is longer than the bound allows.
    case fieldTooLong(field: String, length: Int, limit: Int)
    /// A required field is missing or empty.
    case missingField(String)
    /// A record key is outside the namespaces this node serves (`/openledger/…`).
    case foreignNamespace
    /// A record's value was refused by its namespace's validator.
    case invalidRecord(String)
    /// The peer sent more ADD_PROVIDER requests than the rate limit allows.
    case rateLimited
    /// An ADD_PROVIDER names another peer than its sender, or no address.
    case invalidProvider(String)
    /// This node runs in client mode and answers no requests.
    case clientMode

    /// What was wrong, prefixed with `kademlia:`.
    public var description: String {
        switch self {
        case .messageTooLarge(let size, let limit):
            "kademlia: message of \(size) bytes exceeds the bound of \(limit) bytes"
        case .frameTooLarge(let length, let limit):
            "kademlia: frame length \(length) exceeds the bound of \(limit) bytes"
        case .malformedProtobuf(let why): "kademlia: malformed protobuf: \(why)"
        case .wrongWireType(let field): "kademlia: field \(field) has the wrong wire type"
        case .unknownMessageType(let value): "kademlia: unknown message type \(value)"
        case .tooMany(let what, let limit): "kademlia: more than \(limit) \(what) in one message"
        case .fieldTooLong(let field, let length, let limit):
            "kademlia: field \(field) of \(length) bytes exceeds the bound of \(limit) bytes"
        case .missingField(let field): "kademlia: required field \(field) is missing"
        case .foreignNamespace: "kademlia: record key outside the /openledger/ namespaces"
        case .invalidRecord(let why): "kademlia: record refused: \(why)"
        case .rateLimited: "kademlia: ADD_PROVIDER rate limit exceeded"
        case .invalidProvider(let why): "kademlia: provider refused: \(why)"
        case .clientMode: "kademlia: client mode, requests are not served"
        }
    }
}

/// Why a request to a peer produced no usable answer (the shell reports it, or the DHT's own timer fires).
public enum KademliaFailure: Error, Equatable, Sendable {
    /// No answer within the query timeout.
    case timeout
    /// The peer could not be dialed, or refused the protocol.
    case unreachable
    /// The stream was reset or closed before an answer came.
    case reset
    /// The answer did not decode.
    case malformed(KademliaError)
    /// The answer was of another message type than the request.
    case unexpectedResponse
}
