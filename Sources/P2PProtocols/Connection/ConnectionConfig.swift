import Crypto

/// The limits and timeouts one connection's upgrade state machine enforces (the host's `HostConfig` fills them).
public struct ConnectionConfig: Sendable, Equatable {
    /// Concurrent Yamux streams; a peer opening more is refused with resets, and past twice that it is flooding.
    public var maxStreams = 256
    /// How far one stream's receive window may grow while its reader keeps up.
    public var maxStreamWindow: UInt32 = 4 << 20
    /// The most all of the connection's receive windows may add up to: what a peer can make this side buffer.
    public var receiveBudget = 16 << 20
    /// Seconds a dialer may take to connect; with `handshakeTimeout` it makes one deadline from the start of the dial.
    public var dialTimeout = 10.0
    /// Seconds to finish the upgrade; also the bound on each stream's protocol negotiation.
    public var handshakeTimeout = 10.0
    /// A connection without streams and without traffic for this long is closed.
    public var idleTimeout = 120.0
    /// A connection with streams that moves no byte either way for this long is closed.
    public var stallTimeout = 300.0
    /// When set, the shell reports what the socket took (`.sent`), and stream writes are sealed only while the
    /// bytes handed out and not yet sent stay below this many (a host's output high-water mark); when nil,
    /// writes are sealed as far as the windows allow.
    public var outputHighWater: Int? = nil
    /// When set, the machine stops after the muxer is selected with `.admissionRequired(peer)` and waits for the
    /// shell's `.admit(refusal:)` (a host checks its per-peer connection limit there).
    public var holdsForAdmission = false

    /// The defaults a host uses.
    public init() {}
}

/// The key material of one connection, all chosen by the shell: the state machine draws no randomness itself.
public struct ConnectionKeys: Sendable {
    /// The Noise static key (a host uses one per process).
    public let staticKey: X25519PrivateKey
    /// The Noise ephemeral key: fresh for every connection.
    public let ephemeralKey: X25519PrivateKey
    /// The encoded `NoiseHandshakePayload` this side sends: its identity key and signature over `staticKey`.
    public let payload: [UInt8]

    /// Keys with a ready-made payload (a host signs its payload once).
    public init(staticKey: X25519PrivateKey, ephemeralKey: X25519PrivateKey, payload: [UInt8]) {
        self.staticKey = staticKey
        self.ephemeralKey = ephemeralKey
        self.payload = payload
    }

    /// Keys whose payload `identity` signs for `staticKey`.
    public init(identity: LibP2PIdentity, staticKey: X25519PrivateKey, ephemeralKey: X25519PrivateKey)
        throws(NoiseError)
    {
        let payload = try NoiseHandshakePayload(identity: identity, staticPublicKey: staticKey.publicKey).encoded
        self.init(staticKey: staticKey, ephemeralKey: ephemeralKey, payload: payload)
    }
}
