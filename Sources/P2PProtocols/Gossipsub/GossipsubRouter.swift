import Codec
import Crypto
import Runtime

/// The gossipsub router (v1.0, v1.1 and v1.2 of the libp2p spec) as a pure state machine: mesh, fanout,
/// IHAVE/IWANT gossip from the message cache, GRAFT/PRUNE with backoff and PX, flood publishing, the seen cache,
/// StrictSign, peer scoring and IDONTWANT.
///
/// The shell (the socket host, a test, the simulator) reports peers, RPCs, the application's requests and the
/// heartbeat as events, with the time; RPCs to send, messages to deliver or validate, and peers to drop or dial
/// come out as actions. Randomness is the seeded source given at init; it reads no clock and touches no socket.
///
/// API CONTRACT (stable; the simulator and the host are written against it): `init(local:config:random:verifier:)`,
/// `on(_:now:) -> [Action]`, `Event`, `Action`. New cases may be added; none is removed or renamed.
public struct GossipsubRouter: Sendable {
    /// What the shell reports.
    public enum Event: Sendable {
        /// A peer's gossipsub stream pair is up, speaking `version`; `outbound` when we dialed it (D_out);
        /// `address` is its IP, for the IP-colocation score (P6), when known.
        case peerConnected(PeerID, version: GossipsubVersion, outbound: Bool, address: String?)
        /// The peer is gone.
        case peerDisconnected(PeerID)
        /// One RPC frame's bytes (the varint length prefix already removed), as read from the peer's stream.
        case received(from: PeerID, bytes: ArraySlice<UInt8>)
        /// An RPC already decoded, with its encoded size (the simulator skips the codec; the rules are the same).
        case receivedRPC(from: PeerID, rpc: GossipsubRPC, size: Int)
        /// The peer broke the framing (a length prefix over the bound, a truncated frame).
        case malformed(from: PeerID, reason: String)
        /// The application joins a topic.
        case subscribe(String)
        /// The application leaves a topic.
        case unsubscribe(String)
        /// The application publishes `data` on `topic` (signed with the router's key).
        case publish(topic: String, data: [UInt8])
        /// The application's answer to `.validate`.
        case validated(GossipsubMessageID, GossipsubValidationResult)
        /// The application sets a peer's application-specific score (P5).
        case setApplicationScore(PeerID, Double)
        /// The heartbeat interval has passed (the shell schedules it every `config.heartbeatInterval`).
        case heartbeat
    }

    /// What the shell must do.
    public enum Action: Sendable {
        /// Send one RPC to the peer (the host encodes it with a varint length prefix; the simulator charges
        /// `rpc.encodedSize` bytes of bandwidth).
        case send(to: PeerID, rpc: GossipsubRPC)
        /// Hand a validated message to the application: once per message id, on a subscribed topic.
        case deliver(GossipsubMessage, id: GossipsubMessageID, from: PeerID)
        /// Ask the application to validate a message; the answer comes back as `.validated(id, result)`.
        case validate(GossipsubMessage, id: GossipsubMessageID, from: PeerID)
        /// Close the connection to the peer; `reason` is logged.
        case disconnect(PeerID, reason: String)
        /// Peer exchange: dial this peer (its signed peer record, when the PRUNE carried one).
        case connect(PeerID, signedRecord: [UInt8]?)
        /// A message the application published was signed and sent (its id).
        case published(GossipsubMessageID)
    }

    /// The local peer.
    public let local: PeerID
    /// The configuration.
    public let config: GossipsubConfig

    /// Checks one message signature: (author's key, signature, signed bytes) -> valid.
    ///
    /// The default is the real
    /// check; the simulator passes a memoizing one (the answer is a pure function of the inputs).
    public typealias SignatureVerifier = @Sendable (LibP2PPublicKey, [UInt8], [UInt8]) -> Bool

    /// A router for `local`, signing its messages with `local`'s key, drawing randomness from `random`.
    public init(
        local: LibP2PIdentity, config: GossipsubConfig, random: SeededRandom, verifier: SignatureVerifier? = nil
    ) {
        self.local = local.peerID
        self.config = config
    }

    /// Handles one event at `now` and returns what to do, in order.
    public mutating func on(_ event: Event, now: Instant) -> [Action] {
        []
    }
}
