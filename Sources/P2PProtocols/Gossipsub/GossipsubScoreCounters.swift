import Codec
import Runtime

/// One peer's counters in one scored topic (P1–P4).
struct GossipsubTopicCounters: Sendable {
    /// The topic's index in the keeper's topic table.
    var topic: Int
    /// Whether the peer is in our mesh of the topic.
    var inMesh = false
    /// When it was grafted (valid while `inMesh`).
    var graftTime = Instant(nanoseconds: 0)
    /// P2's counter.
    var firstMessageDeliveries = 0.0
    /// P3's counter.
    var meshMessageDeliveries = 0.0
    /// P3b's counter.
    var meshFailurePenalty = 0.0
    /// P4's counter.
    var invalidMessageDeliveries = 0.0

    init(topic: Int) { self.topic = topic }

    /// Seconds in the mesh at `now` (0 outside it, and for a `now` before the graft).
    func meshTime(now: Instant) -> Double { inMesh ? max(0, now.seconds(since: graftTime)) : 0 }

    /// P3's deficit at `now`: the threshold minus the deliveries once the peer has been in the mesh longer than the
    /// activation, and 0 before or at the threshold.
    func meshDeliveryDeficit(_ parameters: GossipsubTopicScoreParameters, now: Instant) -> Double {
        guard inMesh, meshTime(now: now) > parameters.meshMessageDeliveriesActivation,
            meshMessageDeliveries < parameters.meshMessageDeliveriesThreshold
        else { return 0 }
        return parameters.meshMessageDeliveriesThreshold - meshMessageDeliveries
    }

    /// The topic's score before its weight: w₁P₁ + w₂P₂ + w₃P₃ + w₃bP₃b + w₄P₄ (a zero weight skips its term, so an
    /// unbounded counter never turns into NaN).
    func score(_ parameters: GossipsubTopicScoreParameters, now: Instant) -> Double {
        var score = 0.0
        if parameters.timeInMeshWeight != 0, inMesh {
            let p1 = min((meshTime(now: now) / parameters.timeInMeshQuantum).rounded(.down), parameters.timeInMeshCap)
            score += p1 * parameters.timeInMeshWeight
        }
        if parameters.firstMessageDeliveriesWeight != 0 {
            score += firstMessageDeliveries * parameters.firstMessageDeliveriesWeight
        }
        if parameters.meshMessageDeliveriesWeight != 0 {
            let deficit = meshDeliveryDeficit(parameters, now: now)
            score += deficit * deficit * parameters.meshMessageDeliveriesWeight
        }
        if parameters.meshFailurePenaltyWeight != 0 {
            score += meshFailurePenalty * parameters.meshFailurePenaltyWeight
        }
        if parameters.invalidMessageDeliveriesWeight != 0 {
            score += invalidMessageDeliveries * invalidMessageDeliveries * parameters.invalidMessageDeliveriesWeight
        }
        return score
    }

    /// Multiplies the decaying counters by `factors` (one decay interval's factors raised to the intervals elapsed);
    /// a counter below `decayToZero` becomes 0.
    mutating func decay(_ factors: GossipsubTopicDecayFactors, decayToZero: Double) {
        func decayed(_ value: Double, _ factor: Double) -> Double {
            let value = value * factor
            return value < decayToZero ? 0 : value
        }
        firstMessageDeliveries = decayed(firstMessageDeliveries, factors.firstMessageDeliveries)
        meshMessageDeliveries = decayed(meshMessageDeliveries, factors.meshMessageDeliveries)
        meshFailurePenalty = decayed(meshFailurePenalty, factors.meshFailurePenalty)
        invalidMessageDeliveries = decayed(invalidMessageDeliveries, factors.invalidMessageDeliveries)
    }
}

/// A topic's decay factors over some whole number of decay intervals.
struct GossipsubTopicDecayFactors: Sendable {
    var firstMessageDeliveries: Double
    var meshMessageDeliveries: Double
    var meshFailurePenalty: Double
    var invalidMessageDeliveries: Double

    /// The factors of `parameters` over `intervals` decay intervals (factorⁿ: n decays in one step give what n
    /// single decays give, zeroing included, since a counter below the zero threshold only shrinks further).
    init(_ parameters: GossipsubTopicScoreParameters, intervals: Int) {
        func power(_ factor: Double) -> Double { intervals == 1 ? factor : GossipsubScoreMath.power(factor, intervals) }
        firstMessageDeliveries = power(parameters.firstMessageDeliveriesDecay)
        meshMessageDeliveries = power(parameters.meshMessageDeliveriesDecay)
        meshFailurePenalty = power(parameters.meshFailurePenaltyDecay)
        invalidMessageDeliveries = power(parameters.invalidMessageDeliveriesDecay)
    }
}

/// Everything the keeper knows of one peer.
struct GossipsubPeerCounters: Sendable {
    /// The peer.
    var peer: PeerID
    /// Bumped each time the slot is freed, so a stale `PeerRef` in a delivery record no longer matches.
    var generation: UInt32 = 0
    /// Whether the peer is connected (else its counters are retained until `expire`).
    var connected = true
    /// When a disconnected peer's counters are forgotten.
    var expire = Instant(nanoseconds: 0)
    /// The peer's IP slot for P6 while connected from a counted address.
    var ipSlot: Int? = nil
    /// P5's value.
    var applicationScore = 0.0
    /// P7's counter.
    var behaviourPenalty = 0.0
    /// Counters per scored topic the peer has had anything to do with.
    var topics: [GossipsubTopicCounters] = []
    /// Whether a counter that only lowers the score may be set.
    ///
    /// The counters: P3b or P4 in a topic, P5 below 0, P7 above 0. Set when one is touched, cleared by a decay that
    /// finds them all back at 0; while it is false the score is at least the keeper's `cleanFloor` (`scoreIsBelow`).
    var penalized = false

    /// Whether any of the counters `penalized` stands for is set (what a decay clears it by).
    var hasPenalties: Bool {
        behaviourPenalty != 0 || applicationScore < 0
            || topics.contains { $0.meshFailurePenalty != 0 || $0.invalidMessageDeliveries != 0 }
    }

    init(peer: PeerID) { self.peer = peer }

    /// The index in `topics` of `topic`'s counters, added when missing.
    mutating func topicIndex(_ topic: Int) -> Int {
        if let index = topics.firstIndex(where: { $0.topic == topic }) { return index }
        topics.append(GossipsubTopicCounters(topic: topic))
        return topics.count - 1
    }
}
