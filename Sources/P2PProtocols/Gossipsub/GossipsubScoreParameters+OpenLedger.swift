extension GossipsubScoreParameters {
    /// The decay factor that takes a counter from 1 to `decayToZero` in `seconds`, applied once per `decayInterval`
    /// (go-libp2p-pubsub's `ScoreParameterDecayWithBase`): `decayToZero^(decayInterval / seconds)`.
    public static func decayFactor(toZeroAfter seconds: Double, decayInterval: Double = 1, decayToZero: Double = 0.01)
        -> Double
    {
        GossipsubScoreMath.power(decayToZero, decayInterval / seconds)
    }

    /// The value a counter settles at when it gains `perInterval` every decay interval and decays by `decay`:
    /// the fixed point of `x = (x + perInterval) · decay`, that is `perInterval · decay / (1 − decay)`.
    public static func settledCounter(perInterval: Double, decay: Double) -> Double {
        perInterval * decay / (1 - decay)
    }

    /// The topic of signed heads on chain `chainID`: `/openledger/<chainId>/blocks/1`.
    public static func openLedgerBlocksTopic(chainID: UInt64) -> String { "/openledger/\(chainID)/blocks/1" }

    /// The topic of announcements on chain `chainID`: `/openledger/<chainId>/announce/1`.
    public static func openLedgerAnnounceTopic(chainID: UInt64) -> String { "/openledger/\(chainID)/announce/1" }

    /// The most a well-behaved peer's topics add up to (the topic score cap); every other weight and threshold of
    /// the network's parameters is set against it.
    public static let openLedgerTopicScoreCap = 40.0

    /// The network's score parameters on chain `chainID`: its two topics scored, every other topic unscored, and
    /// the thresholds set against `openLedgerTopicScoreCap` (docs/gossipsub-scoring.md gives the reasons).
    ///
    /// `headInterval` is the seconds between signed heads (the devnet's 2); `decayInterval` should be the
    /// heartbeat's. `meshDeliveries` turns on P3 and P3b for the blocks topic: off by default, because heads enter
    /// the network at one point (the sequencer), so a mesh peer downstream of us is never first or near-first, and
    /// IDONTWANT stops it from sending what we already have: honest peers fall into deficit and meshes churn
    /// (docs/gossipsub-scoring.md, measured in the simulator).
    public static func openLedger(
        chainID: UInt64, headInterval: Double = 2, decayInterval: Double = 1, meshDeliveries: Bool = false
    ) -> GossipsubScoreParameters {
        let cap = openLedgerTopicScoreCap
        var parameters = GossipsubScoreParameters()
        parameters.topics = [
            openLedgerBlocksTopic(chainID: chainID): .openLedgerBlocks(
                headInterval: headInterval, decayInterval: decayInterval, meshDeliveries: meshDeliveries),
            openLedgerAnnounceTopic(chainID: chainID): .openLedgerAnnounce(decayInterval: decayInterval),
        ]
        parameters.topicScoreCap = cap
        parameters.appSpecificWeight = 1
        // A fourth peer behind one address costs each of them the whole topic cap; ten put them past graylisting.
        parameters.ipColocationFactorThreshold = 3
        parameters.ipColocationFactorWeight = -cap
        parameters.thresholds.gossip = -10 * cap
        parameters.thresholds.publish = -20 * cap
        parameters.thresholds.graylist = -40 * cap
        parameters.thresholds.acceptPX = 0.75 * cap
        parameters.thresholds.opportunisticGraft = 5
        // Six penalties are free (a few broken IWANT promises happen to honest peers); twice that reaches the
        // gossip threshold; they fade over ten minutes.
        parameters.behaviourPenaltyThreshold = 6
        parameters.behaviourPenaltyWeight = parameters.thresholds.gossip / (6 * 6)
        parameters.behaviourPenaltyDecay = decayFactor(toZeroAfter: 600, decayInterval: decayInterval)
        parameters.decayInterval = decayInterval
        parameters.decayToZero = 0.01
        parameters.retainScore = 3_600
        return parameters
    }
}

extension GossipsubTopicScoreParameters {
    /// The blocks topic's parameters for a signed head every `headInterval` seconds (weight 1): time in mesh,
    /// first deliveries and invalid heads; with `meshDeliveries`, also mesh deliveries with a low threshold and the
    /// sticky mesh failure penalty (off by default: see `openLedger(chainID:headInterval:decayInterval:meshDeliveries:)`).
    public static func openLedgerBlocks(
        headInterval: Double = 2, decayInterval: Double = 1, meshDeliveries: Bool = false
    )
        -> Self
    {
        let cap = GossipsubScoreParameters.openLedgerTopicScoreCap
        let headsPerInterval = decayInterval / headInterval
        var topic = GossipsubTopicScoreParameters()
        topic.topicWeight = 1
        topic.setTimeInMesh(quantum: headInterval, scoreAfter: 600, points: 10)
        // P2: a peer first with every head for five minutes earns 40 (past the cap with P1: the cap binds).
        topic.firstMessageDeliveriesDecay = GossipsubScoreParameters.decayFactor(
            toZeroAfter: 300, decayInterval: decayInterval)
        topic.firstMessageDeliveriesCap = GossipsubScoreParameters.settledCounter(
            perInterval: headsPerInterval, decay: topic.firstMessageDeliveriesDecay)
        topic.firstMessageDeliveriesWeight = cap / topic.firstMessageDeliveriesCap
        // P3: a mesh peer should be credited (first or near-first) with one head in twenty. The counter forgets in
        // thirty heads; the threshold is what one credit decays to in twenty, so a peer is clear for twenty heads
        // after its last credit, then loses quadratically more, the whole cap once the counter reaches zero. The
        // cap of 2 lets a steady peer's history buy only a few more heads of silence. Active after thirty heads.
        let allowedSilence = 20 * headInterval
        topic.meshMessageDeliveriesDecay = GossipsubScoreParameters.decayFactor(
            toZeroAfter: 1.5 * allowedSilence, decayInterval: decayInterval)
        topic.meshMessageDeliveriesThreshold = GossipsubScoreMath.power(
            topic.meshMessageDeliveriesDecay, allowedSilence / decayInterval)
        topic.meshMessageDeliveriesCap = 2
        topic.meshMessageDeliveriesWeight =
            -cap / (topic.meshMessageDeliveriesThreshold * topic.meshMessageDeliveriesThreshold)
        topic.meshMessageDeliveriesWindow = 0.05
        topic.meshMessageDeliveriesActivation = 1.5 * allowedSilence
        // P3b: a prune in deficit costs the cap again, fading over five minutes (past the minute of backoff).
        topic.meshFailurePenaltyWeight = topic.meshMessageDeliveriesWeight
        topic.meshFailurePenaltyDecay = GossipsubScoreParameters.decayFactor(
            toZeroAfter: 300, decayInterval: decayInterval)
        topic.setInvalidMessages(decayInterval: decayInterval)
        if !meshDeliveries {
            topic.meshMessageDeliveriesWeight = 0
            topic.meshFailurePenaltyWeight = 0
        }
        return topic
    }

    /// The announce topic's parameters (weight 0.5): announcements are sparse and irregular, so mesh delivery rates
    /// (P3, P3b) are off; time in mesh, first deliveries and invalid announcements count.
    public static func openLedgerAnnounce(decayInterval: Double = 1) -> Self {
        var topic = GossipsubTopicScoreParameters()
        topic.topicWeight = 0.5
        topic.setTimeInMesh(quantum: 2, scoreAfter: 600, points: 10)
        // P2: twenty first deliveries earn 20 (10 after the topic weight), remembered for an hour.
        topic.firstMessageDeliveriesDecay = GossipsubScoreParameters.decayFactor(
            toZeroAfter: 3_600, decayInterval: decayInterval)
        topic.firstMessageDeliveriesCap = 20
        topic.firstMessageDeliveriesWeight = 1
        topic.setInvalidMessages(decayInterval: decayInterval)
        return topic
    }

    /// P1: one point per `quantum` seconds in the mesh, reaching `points` after `scoreAfter` seconds.
    private mutating func setTimeInMesh(quantum: Double, scoreAfter seconds: Double, points: Double) {
        timeInMeshQuantum = quantum
        timeInMeshCap = (seconds / quantum).rounded(.down)
        timeInMeshWeight = points / timeInMeshCap
    }

    /// P4: one invalid message costs the whole topic cap after the topic weight (squared: four cost 16 caps, past
    /// the gossip threshold), fading over an hour.
    private mutating func setInvalidMessages(decayInterval: Double) {
        invalidMessageDeliveriesWeight = -GossipsubScoreParameters.openLedgerTopicScoreCap / topicWeight
        invalidMessageDeliveriesDecay = GossipsubScoreParameters.decayFactor(
            toZeroAfter: 3_600, decayInterval: decayInterval)
    }
}
