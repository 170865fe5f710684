/// Why score parameters are unusable: which parameter, where, holds what, against which rule.
public enum GossipsubScoreParameterError: Error, Equatable, Sendable, CustomStringConvertible {
    /// `parameter` of `scope` is `value`, which breaks `rule` (every rule also requires a finite number).
    case invalid(GossipsubScoreParameter, scope: Scope, value: Double, rule: Rule)

    /// Where a parameter sits.
    public enum Scope: Sendable, Equatable, CustomStringConvertible {
        /// The global parameters and the thresholds.
        case global
        /// The parameters of one named topic.
        case topic(String)
        /// The parameters of topics not named.
        case defaultTopic

        /// The scope in words.
        public var description: String {
            switch self {
            case .global: "global"
            case .topic(let name): "topic \(name)"
            case .defaultTopic: "default topic"
            }
        }
    }

    /// A sign or range rule of the spec (or go-libp2p-pubsub's `validate`).
    public enum Rule: Sendable, Equatable, CustomStringConvertible {
        /// Greater than 0.
        case positive
        /// At least 0.
        case nonNegative
        /// Less than 0.
        case negative
        /// At most 0.
        case nonPositive
        /// Strictly between 0 and 1.
        case decayFactor
        /// At least the bound.
        case atLeast(Double)
        /// At most the bound.
        case atMost(Double)
        /// Less than the bound.
        case below(Double)

        /// Whether `value` keeps the rule.
        func admits(_ value: Double) -> Bool {
            guard value.isFinite else { return false }
            return switch self {
            case .positive: value > 0
            case .nonNegative: value >= 0
            case .negative: value < 0
            case .nonPositive: value <= 0
            case .decayFactor: value > 0 && value < 1
            case .atLeast(let bound): value >= bound
            case .atMost(let bound): value <= bound
            case .below(let bound): value < bound
            }
        }

        /// The rule in words.
        public var description: String {
            switch self {
            case .positive: "a finite number > 0"
            case .nonNegative: "a finite number >= 0"
            case .negative: "a finite number < 0"
            case .nonPositive: "a finite number <= 0"
            case .decayFactor: "a decay factor strictly between 0 and 1"
            case .atLeast(let bound): "a finite number >= \(bound)"
            case .atMost(let bound): "a finite number <= \(bound)"
            case .below(let bound): "a finite number < \(bound)"
            }
        }
    }

    /// The error in words.
    public var description: String {
        switch self {
        case .invalid(let parameter, let scope, let value, let rule):
            "score parameter \(parameter.rawValue) (\(scope)) is \(value); it must be \(rule)"
        }
    }
}

/// The score parameters by name, for `GossipsubScoreParameterError`.
public enum GossipsubScoreParameter: String, Sendable, Equatable {
    /// `GossipsubScoreParameters.topicScoreCap`.
    case topicScoreCap
    /// `GossipsubScoreParameters.appSpecificWeight`.
    case appSpecificWeight
    /// `GossipsubScoreParameters.ipColocationFactorWeight`.
    case ipColocationFactorWeight
    /// `GossipsubScoreParameters.ipColocationFactorThreshold`.
    case ipColocationFactorThreshold
    /// `GossipsubScoreParameters.behaviourPenaltyWeight`.
    case behaviourPenaltyWeight
    /// `GossipsubScoreParameters.behaviourPenaltyThreshold`.
    case behaviourPenaltyThreshold
    /// `GossipsubScoreParameters.behaviourPenaltyDecay`.
    case behaviourPenaltyDecay
    /// `GossipsubScoreParameters.decayInterval`.
    case decayInterval
    /// `GossipsubScoreParameters.decayToZero`.
    case decayToZero
    /// `GossipsubScoreParameters.retainScore`.
    case retainScore
    /// `GossipsubScoreParameters.maxRetainedPeers`.
    case maxRetainedPeers
    /// `GossipsubScoreParameters.deliveryRecordTTL`.
    case deliveryRecordTTL
    /// `GossipsubScoreParameters.maxDeliveryRecords`.
    case maxDeliveryRecords
    /// `GossipsubScoreParameters.maxDefaultScoredTopics`.
    case maxDefaultScoredTopics
    /// `GossipsubThresholds.gossip`.
    case gossipThreshold
    /// `GossipsubThresholds.publish`.
    case publishThreshold
    /// `GossipsubThresholds.graylist`.
    case graylistThreshold
    /// `GossipsubThresholds.acceptPX`.
    case acceptPXThreshold
    /// `GossipsubThresholds.opportunisticGraft`.
    case opportunisticGraftThreshold
    /// `GossipsubTopicScoreParameters.topicWeight`.
    case topicWeight
    /// `GossipsubTopicScoreParameters.timeInMeshWeight`.
    case timeInMeshWeight
    /// `GossipsubTopicScoreParameters.timeInMeshQuantum`.
    case timeInMeshQuantum
    /// `GossipsubTopicScoreParameters.timeInMeshCap`.
    case timeInMeshCap
    /// `GossipsubTopicScoreParameters.firstMessageDeliveriesWeight`.
    case firstMessageDeliveriesWeight
    /// `GossipsubTopicScoreParameters.firstMessageDeliveriesDecay`.
    case firstMessageDeliveriesDecay
    /// `GossipsubTopicScoreParameters.firstMessageDeliveriesCap`.
    case firstMessageDeliveriesCap
    /// `GossipsubTopicScoreParameters.meshMessageDeliveriesWeight`.
    case meshMessageDeliveriesWeight
    /// `GossipsubTopicScoreParameters.meshMessageDeliveriesDecay`.
    case meshMessageDeliveriesDecay
    /// `GossipsubTopicScoreParameters.meshMessageDeliveriesCap`.
    case meshMessageDeliveriesCap
    /// `GossipsubTopicScoreParameters.meshMessageDeliveriesThreshold`.
    case meshMessageDeliveriesThreshold
    /// `GossipsubTopicScoreParameters.meshMessageDeliveriesWindow`.
    case meshMessageDeliveriesWindow
    /// `GossipsubTopicScoreParameters.meshMessageDeliveriesActivation`.
    case meshMessageDeliveriesActivation
    /// `GossipsubTopicScoreParameters.meshFailurePenaltyWeight`.
    case meshFailurePenaltyWeight
    /// `GossipsubTopicScoreParameters.meshFailurePenaltyDecay`.
    case meshFailurePenaltyDecay
    /// `GossipsubTopicScoreParameters.invalidMessageDeliveriesWeight`.
    case invalidMessageDeliveriesWeight
    /// `GossipsubTopicScoreParameters.invalidMessageDeliveriesDecay`.
    case invalidMessageDeliveriesDecay
}

/// Throws when `value` breaks `rule`.
private func require(
    _ value: Double, _ rule: GossipsubScoreParameterError.Rule, _ parameter: GossipsubScoreParameter,
    _ scope: GossipsubScoreParameterError.Scope
) throws(GossipsubScoreParameterError) {
    guard rule.admits(value) else { throw .invalid(parameter, scope: scope, value: value, rule: rule) }
}

extension GossipsubScoreParameters {
    /// Checks the spec's sign and range rules (those of go-libp2p-pubsub's `validate`, with the spec's strict
    /// thresholds); the first broken rule is thrown, globals first, then topics by name, then the default topic.
    ///
    /// A weight of 0 turns its term off, but the decay factors must be real ones even then: an uncapped counter
    /// that never decays would grow without bound.
    public func validate() throws(GossipsubScoreParameterError) {
        let global = GossipsubScoreParameterError.Scope.global
        try require(topicScoreCap, .nonNegative, .topicScoreCap, global)
        try require(appSpecificWeight, .nonNegative, .appSpecificWeight, global)
        try require(ipColocationFactorWeight, .nonPositive, .ipColocationFactorWeight, global)
        if ipColocationFactorWeight != 0 {
            try require(Double(ipColocationFactorThreshold), .atLeast(1), .ipColocationFactorThreshold, global)
        }
        try require(behaviourPenaltyWeight, .nonPositive, .behaviourPenaltyWeight, global)
        try require(behaviourPenaltyThreshold, .nonNegative, .behaviourPenaltyThreshold, global)
        try require(behaviourPenaltyDecay, .decayFactor, .behaviourPenaltyDecay, global)
        try require(decayInterval, .positive, .decayInterval, global)
        try require(decayToZero, .decayFactor, .decayToZero, global)
        try require(retainScore, .nonNegative, .retainScore, global)
        try require(Double(maxRetainedPeers), .nonNegative, .maxRetainedPeers, global)
        try require(deliveryRecordTTL, .positive, .deliveryRecordTTL, global)
        try require(Double(maxDeliveryRecords), .atLeast(1), .maxDeliveryRecords, global)
        try require(Double(maxDefaultScoredTopics), .nonNegative, .maxDefaultScoredTopics, global)
        try thresholds.validate()
        for name in topics.keys.sorted() { try topics[name]!.validate(scope: .topic(name)) }
        try defaultTopic?.validate(scope: .defaultTopic)
    }
}

extension GossipsubThresholds {
    /// Checks the spec's rules: gossip < 0, publish ≤ gossip, graylist < publish, acceptPX ≥ 0 and
    /// opportunisticGraft ≥ 0.
    public func validate() throws(GossipsubScoreParameterError) {
        try require(gossip, .negative, .gossipThreshold, .global)
        try require(publish, .atMost(gossip), .publishThreshold, .global)
        try require(graylist, .below(publish), .graylistThreshold, .global)
        try require(acceptPX, .nonNegative, .acceptPXThreshold, .global)
        try require(opportunisticGraft, .nonNegative, .opportunisticGraftThreshold, .global)
    }
}

extension GossipsubTopicScoreParameters {
    /// Checks the spec's sign rules (P1 and P2 weights ≥ 0; P3, P3b and P4 weights ≤ 0), real decay factors, and
    /// for each term that is on, a positive cap (and for P3 a positive threshold the cap can reach).
    public func validate(scope: GossipsubScoreParameterError.Scope) throws(GossipsubScoreParameterError) {
        try require(topicWeight, .nonNegative, .topicWeight, scope)
        try require(timeInMeshWeight, .nonNegative, .timeInMeshWeight, scope)
        try require(timeInMeshQuantum, .positive, .timeInMeshQuantum, scope)
        try require(timeInMeshCap, timeInMeshWeight != 0 ? .positive : .nonNegative, .timeInMeshCap, scope)
        try require(firstMessageDeliveriesWeight, .nonNegative, .firstMessageDeliveriesWeight, scope)
        try require(firstMessageDeliveriesDecay, .decayFactor, .firstMessageDeliveriesDecay, scope)
        let firstCapRule: GossipsubScoreParameterError.Rule =
            firstMessageDeliveriesWeight != 0 ? .positive : .nonNegative
        try require(firstMessageDeliveriesCap, firstCapRule, .firstMessageDeliveriesCap, scope)
        try require(meshMessageDeliveriesWeight, .nonPositive, .meshMessageDeliveriesWeight, scope)
        try require(meshMessageDeliveriesDecay, .decayFactor, .meshMessageDeliveriesDecay, scope)
        let meshOn = meshMessageDeliveriesWeight != 0
        try require(
            meshMessageDeliveriesThreshold, meshOn ? .positive : .nonNegative, .meshMessageDeliveriesThreshold, scope)
        try require(
            meshMessageDeliveriesCap, meshOn ? .atLeast(meshMessageDeliveriesThreshold) : .nonNegative,
            .meshMessageDeliveriesCap, scope)
        try require(meshMessageDeliveriesWindow, .nonNegative, .meshMessageDeliveriesWindow, scope)
        try require(meshMessageDeliveriesActivation, .nonNegative, .meshMessageDeliveriesActivation, scope)
        try require(meshFailurePenaltyWeight, .nonPositive, .meshFailurePenaltyWeight, scope)
        try require(meshFailurePenaltyDecay, .decayFactor, .meshFailurePenaltyDecay, scope)
        try require(invalidMessageDeliveriesWeight, .nonPositive, .invalidMessageDeliveriesWeight, scope)
        try require(invalidMessageDeliveriesDecay, .decayFactor, .invalidMessageDeliveriesDecay, scope)
    }
}
