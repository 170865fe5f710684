import Codec

/// How the peer broke the protocol, with the typed error of the layer that noticed.
///
/// The connection ends.
public enum ConnectionViolation: Equatable, Sendable, CustomStringConvertible {
    /// A multistream-select message was malformed or out of place (security or muxer negotiation).
    case multistream(MultistreamSelect.NegotiationError)
    /// A Noise message or frame did not decrypt or parse, or the identity payload did not verify.
    case noise(NoiseError)
    /// A Yamux frame broke the session's rules (bad header, window, flood, …).
    case yamux(YamuxSession.SessionError)

    /// The text a host logs, as `P2PError.protocolViolation` words it.
    public var description: String {
        switch self {
        case .multistream(let error): "protocol violation: \(error)"
        case .noise(let error): "protocol violation: \(error)"
        case .yamux(let error): "protocol violation: \(error)"
        }
    }
}

/// Which deadline passed.
public enum ConnectionTimeout: Equatable, Sendable, CustomStringConvertible {
    /// The dialer's socket did not connect in time.
    case connect
    /// The upgrade (security, handshake, muxer) did not finish in time.
    case handshake
    /// A connection with streams moved no byte for this many seconds.
    case stall(seconds: Int)

    /// What timed out, in words.
    public var description: String {
        switch self {
        case .connect: "connect"
        case .handshake: "handshake"
        case .stall(let seconds): "no progress for \(seconds) s"
        }
    }
}

/// Why a connection ended, other than a protocol violation.
public enum ConnectionCloseReason: Equatable, Sendable, CustomStringConvertible {
    /// The shell asked to close (the host shuts down, a disconnect).
    case requested(String)
    /// No streams and no traffic for this many seconds.
    case idle(seconds: Int)
    /// A deadline passed.
    case timeout(ConnectionTimeout)
    /// The peer closed the socket.
    case peerClosed
    /// The socket failed (the shell says how).
    case transportFailed(String)
    /// The dialed peer proved another peer id than the one dialed.
    case peerIDMismatch(expected: PeerID, actual: PeerID)
    /// The peer supports none of the security or muxer protocols offered.
    case protocolNotSupported([String])
    /// The shell refused the connection at admission (a per-peer limit).
    case refused(String)

    /// The text a host logs, as its `P2PError` words it.
    public var description: String {
        switch self {
        case .requested(let why): why
        case .idle(let seconds): "idle for \(seconds) s"
        case .timeout(let which): "timed out: \(which)"
        case .peerClosed: "connection closed: the peer closed the connection"
        case .transportFailed(let why): why
        case .peerIDMismatch(let expected, let actual): "peer id mismatch: expected \(expected), peer is \(actual)"
        case .protocolNotSupported(let names): "peer supports none of \(names.joined(separator: ", "))"
        case .refused(let why): "limit reached: \(why)"
        }
    }
}

/// Why one stream ended early; the connection goes on.
public enum StreamFailure: Equatable, Sendable, CustomStringConvertible {
    /// The peer reset the stream.
    case resetByPeer
    /// The peer supports none of the protocols proposed on the stream (or the listener none the peer asked).
    case protocolNotSupported
    /// The stream's multistream-select negotiation was malformed.
    case negotiation(MultistreamSelect.NegotiationError)
    /// The stream did not agree on a protocol within the handshake timeout.
    case negotiationTimeout
    /// The peer half-closed the stream before a protocol was agreed.
    case closedDuringNegotiation
    /// Negotiation messages did not fit the stream's window.
    case negotiationExceededWindow
    /// The Yamux session refused (stream limit, going away).
    case session(YamuxSession.SessionError)
    /// The connection is not open (yet, or any more).
    case notOpen

    /// The reason in words.
    public var description: String {
        switch self {
        case .resetByPeer: "stream reset by the peer"
        case .protocolNotSupported: "protocol not supported"
        case .negotiation(let error): "protocol violation: \(error)"
        case .negotiationTimeout: "timed out: protocol negotiation"
        case .closedDuringNegotiation: "stream closed during negotiation"
        case .negotiationExceededWindow: "negotiation exceeded the window"
        case .session(let error): "cannot open a stream: \(error)"
        case .notOpen: "connection not open"
        }
    }
}
