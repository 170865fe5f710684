import Codec

/// What can go wrong in the host, its connections and streams.
public enum P2PError: Error, Equatable, Sendable, CustomStringConvertible {
    /// A socket call failed.
    case io(String)
    /// The multiaddr is not one the host can use.
    case invalidAddress(String)
    /// The TCP connect failed.
    case dialFailed(String)
    /// The dialed peer proved another peer id.
    case peerIDMismatch(expected: PeerID, actual: PeerID)
    /// The connection or stream ended (closed by either side, or never open).
    case connectionClosed(String)
    /// The peer reset the stream (or the stream ended early).
    case streamReset
    /// The peer supports none of these protocols.
    case protocolNotSupported([String])
    /// A connection, stream or size limit refused the request.
    case limit(String)
    /// A deadline passed.
    case timeout(String)
    /// The peer broke the protocol.
    case protocolViolation(String)

    /// The error in words (what a host logs).
    public var description: String {
        switch self {
        case .io(let why): "io: \(why)"
        case .invalidAddress(let why): "invalid address: \(why)"
        case .dialFailed(let why): "dial failed: \(why)"
        case .peerIDMismatch(let expected, let actual): "peer id mismatch: expected \(expected), peer is \(actual)"
        case .connectionClosed(let why): "connection closed: \(why)"
        case .streamReset: "stream reset by the peer"
        case .protocolNotSupported(let names): "peer supports none of \(names.joined(separator: ", "))"
        case .limit(let why): "limit reached: \(why)"
        case .timeout(let why): "timed out: \(why)"
        case .protocolViolation(let why): "protocol violation: \(why)"
        }
    }
}

extension P2PError {
    /// How a connection that ended for `reason` fails its streams and dial waiters (same words).
    init(_ reason: ConnectionCloseReason) {
        switch reason {
        case .requested(let why), .transportFailed(let why): self = .connectionClosed(why)
        case .idle: self = .connectionClosed(reason.description)
        case .timeout(let which): self = .timeout(which.description)
        case .peerClosed: self = .connectionClosed("the peer closed the connection")
        case .peerIDMismatch(let expected, let actual): self = .peerIDMismatch(expected: expected, actual: actual)
        case .protocolNotSupported(let names): self = .protocolNotSupported(names)
        case .refused(let why): self = .limit(why)
        }
    }

    /// How a connection ended by a protocol violation fails its streams and dial waiters.
    init(_ violation: ConnectionViolation) {
        switch violation {
        case .multistream(let error): self = .protocolViolation("\(error)")
        case .noise(let error): self = .protocolViolation("\(error)")
        case .yamux(let error): self = .protocolViolation("\(error)")
        }
    }

    /// How a stream that ended early fails its pending read and write.
    init(_ failure: StreamFailure) {
        switch failure {
        case .resetByPeer: self = .streamReset
        case .protocolNotSupported: self = .protocolNotSupported([])
        case .negotiation(let error): self = .protocolViolation("\(error)")
        case .negotiationTimeout: self = .timeout("protocol negotiation")
        case .closedDuringNegotiation: self = .connectionClosed("stream closed during negotiation")
        case .negotiationExceededWindow: self = .protocolViolation("negotiation exceeded the window")
        case .session(let error): self = .connectionClosed("\(error)")
        case .notOpen: self = .connectionClosed("not open")
        }
    }

    /// How a stream that could not be opened fails `newStream`: unsupported protocols and the session's limit
    /// say so, anything else is a reset.
    init(openFailure failure: StreamFailure) {
        switch failure {
        case .protocolNotSupported: self = .protocolNotSupported([])
        case .session: self = .limit(failure.description)
        default: self = .streamReset
        }
    }
}
