/// The router's parameters, named as the gossipsub v1.0–v1.2 specs name them; defaults are go-libp2p-pubsub's.
public struct GossipsubConfig: Sendable {
    /// D: the mesh degree.
    public var d = 6
    /// D_lo: below it the heartbeat grafts.
    public var dLow = 5
    /// D_hi: above it the heartbeat prunes.
    public var dHigh = 12
    /// D_score: peers kept by score when pruning.
    public var dScore = 4
    /// D_out: outbound peers kept in the mesh.
    public var dOut = 2
    /// D_lazy: peers gossiped to per heartbeat.
    public var dLazy = 6
    /// The gossip factor: at least this fraction of eligible peers receive gossip.
    public var gossipFactor = 0.25
    /// The heartbeat interval, seconds.
    public var heartbeatInterval = 1.0
    /// The fanout TTL, seconds.
    public var fanoutTTL = 60.0
    /// Message-cache windows kept (history length).
    public var historyLength = 5
    /// Message-cache windows gossiped.
    public var historyGossip = 3
    /// The seen-cache TTL, seconds.
    public var seenTTL = 120.0
    /// The backoff after a PRUNE, seconds.
    public var pruneBackoff = 60.0
    /// The backoff after leaving a topic, seconds.
    public var unsubscribeBackoff = 10.0
    /// A GRAFT within this many seconds after the backoff began is penalized twice.
    public var graftFloodThreshold = 10.0
    /// Message ids per IHAVE, and per peer per heartbeat.
    public var maxIHaveLength = 5_000
    /// IHAVE messages accepted per peer per heartbeat.
    public var maxIHaveMessages = 10
    /// Seconds to wait for a message asked by IWANT before penalizing the promise.
    public var iwantFollowupTime = 3.0
    /// Heartbeats between opportunistic grafting rounds.
    public var opportunisticGraftTicks = 60
    /// Peers grafted per opportunistic round.
    public var opportunisticGraftPeers = 2
    /// Peers offered by PX in a PRUNE.
    public var prunePeers = 16
    /// Whether the router offers and accepts PX.
    public var doPX = true
    /// Whether own messages are flooded to every peer above the publish threshold.
    public var floodPublish = true
    /// v1.2: messages of at least this many bytes get an IDONTWANT to mesh peers before they are forwarded.
    public var idontwantMessageThreshold = 1_024
    /// v1.2: IDONTWANT ids kept per peer.
    public var maxIDontWantMessages = 1_000
    /// The default bound on one RPC, bytes.
    public var maxRPCSize = 1 << 20
    /// Larger RPC bounds for topics that need them.
    public var topicMaxRPCSize: [String: Int] = [:]
    /// The most topics a peer may subscribe to, and the most the router tracks.
    public var maxTopics = 1_024
    /// The most control entries (IHAVE + IWANT + GRAFT + PRUNE + IDONTWANT) in one RPC.
    public var maxControlMessages = 5_000
    /// v1.2: seconds a received IDONTWANT is honoured.
    public var idontwantTTL = 3.0
    /// Times one peer may ask for one message by IWANT.
    public var gossipRetransmission = 3
    /// Message ids a peer may ask for by IWANT per heartbeat; more is an IWANT flood.
    public var maxIWantMessageIDs = 10_000
    /// The most message ids in one RPC (decoding bound).
    public var maxMessageIDsPerRPC = 20_000
    /// The longest topic name, bytes.
    public var maxTopicLength = 512
    /// The longest message id, bytes.
    public var maxMessageIDLength = 256
    /// Topics whose messages the application validates (`.validate` / `.validated`); other topics' messages are
    /// delivered and forwarded once their signature checks.
    public var validatedTopics: Set<String> = []
    /// Messages waiting for the application's verdict; more are dropped unvalidated (not marked seen).
    public var maxPendingValidations = 1_024
    /// Seconds a message waits for its verdict before it is dropped as ignored.
    public var validationTimeout = 30.0
    /// Protocol violations (floods, bad signatures, GRAFTs in backoff, unknown topics) a peer may accumulate before
    /// it is disconnected; one is forgiven per heartbeat.
    public var maxViolations = 20
    /// Score parameters and thresholds; nil disables scoring.
    public var score: GossipsubScoreParameters? = GossipsubScoreParameters()
    /// The message-id function per topic (`defaultMessageID` for topics not named).
    public var messageID: [String: GossipsubMessageIDFunction] = [:]
    /// The message-id function of every other topic.
    public var defaultMessageID: GossipsubMessageIDFunction = .fromAndSeqno

    /// go-libp2p-pubsub's defaults.
    public init() {}
}

/// How a topic computes message ids.
public enum GossipsubMessageIDFunction: Sendable {
    /// The spec's default: `from` ‖ `seqno`.
    case fromAndSeqno
    /// SHA-256 of the data (content-addressed topics).
    case sha256OfData
    /// `seqno` ‖ `from`: the reverse of the spec's order, for a network that chose it (py-libp2p 0.8.1, like
    /// go-libp2p-pubsub, uses the spec's `from` ‖ `seqno`: its `get_peer_and_seqno_msg_id` and message cache).
    case seqnoAndFrom
}
