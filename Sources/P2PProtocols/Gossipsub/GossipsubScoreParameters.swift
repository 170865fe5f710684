/// Peer-score parameters of gossipsub v1.1 (the spec's names; go-libp2p-pubsub's `PeerScoreParams`).
public struct GossipsubScoreParameters: Sendable {
    /// Per-topic parameters; topics not named have no topic score.
    public var topics: [String: GossipsubTopicScoreParameters] = [:]
    /// Parameters of topics not in `topics`; nil gives them none.
    public var defaultTopic: GossipsubTopicScoreParameters? = nil
    /// The cap on the summed topic score (0: no cap).
    public var topicScoreCap = 0.0
    /// P5's weight.
    public var appSpecificWeight = 1.0
    /// P6's weight (negative).
    public var ipColocationFactorWeight = 0.0
    /// P6: peers per IP above which the surplus is squared.
    public var ipColocationFactorThreshold = 1
    /// P7's weight (negative).
    public var behaviourPenaltyWeight = 0.0
    /// P7: penalties above this count are squared.
    public var behaviourPenaltyThreshold = 0.0
    /// P7's decay per decay interval.
    public var behaviourPenaltyDecay = 0.99
    /// The decay interval, seconds.
    public var decayInterval = 1.0
    /// Counters below this become zero.
    public var decayToZero = 0.01
    /// Seconds a disconnected peer's score is remembered.
    public var retainScore = 3_600.0
    /// Disconnected peers remembered at most; past it the longest-gone are forgotten first.
    public var maxRetainedPeers = 8_192
    /// Seconds a message's delivery record is kept (go-libp2p-pubsub keeps it for the seen-cache TTL, 2 minutes).
    public var deliveryRecordTTL = 120.0
    /// Delivery records kept at most; past it the oldest are dropped first.
    public var maxDeliveryRecords = 65_536
    /// Topics scored by `defaultTopic` at most; topics past it go unscored.
    public var maxDefaultScoredTopics = 1_024
    /// The thresholds that gate gossip, publishing, RPC handling, PX and opportunistic grafting.
    public var thresholds = GossipsubThresholds()

    /// Parameters with every weight zero but the thresholds' defaults.
    public init() {}
}

/// Per-topic score parameters (P1–P4).
public struct GossipsubTopicScoreParameters: Sendable {
    /// The topic's weight in the total.
    public var topicWeight = 1.0
    /// P1: time in mesh.
    public var timeInMeshWeight = 0.0
    /// P1's quantum, seconds.
    public var timeInMeshQuantum = 1.0
    /// P1's cap.
    public var timeInMeshCap = 0.0
    /// P2: first message deliveries.
    public var firstMessageDeliveriesWeight = 0.0
    /// P2's decay.
    public var firstMessageDeliveriesDecay = 0.5
    /// P2's cap.
    public var firstMessageDeliveriesCap = 0.0
    /// P3: mesh message deliveries (negative weight).
    public var meshMessageDeliveriesWeight = 0.0
    /// P3's decay.
    public var meshMessageDeliveriesDecay = 0.5
    /// P3's cap.
    public var meshMessageDeliveriesCap = 0.0
    /// P3's threshold: fewer deliveries are penalized (squared deficit).
    public var meshMessageDeliveriesThreshold = 0.0
    /// P3's window, seconds: near-first deliveries count.
    public var meshMessageDeliveriesWindow = 0.01
    /// P3's activation, seconds in mesh before it applies.
    public var meshMessageDeliveriesActivation = 1.0
    /// P3b: mesh failure penalty (negative weight).
    public var meshFailurePenaltyWeight = 0.0
    /// P3b's decay.
    public var meshFailurePenaltyDecay = 0.5
    /// P4: invalid messages (negative weight).
    public var invalidMessageDeliveriesWeight = 0.0
    /// P4's decay.
    public var invalidMessageDeliveriesDecay = 0.5

    /// Parameters with every weight zero.
    public init() {}
}

/// The score thresholds of gossipsub v1.1.
public struct GossipsubThresholds: Sendable {
    /// Below it, no gossip to or from the peer (≤ 0).
    public var gossip = -10.0
    /// Below it, own messages are not flood-published to the peer (≤ gossip).
    public var publish = -50.0
    /// Below it, the peer's RPCs are ignored (≤ publish).
    public var graylist = -80.0
    /// PX is accepted only from peers above it (≥ 0).
    public var acceptPX = 10.0
    /// The mesh's median score below which opportunistic grafting runs (≥ 0).
    public var opportunisticGraft = 20.0

    /// go-libp2p-pubsub-like defaults.
    public init() {}
}
