import Codec
import Runtime
import Testing

@testable import P2PProtocols

// Each test switches on one term of the score (every other weight stays 0) and checks it against the spec's formula
// computed here from the same parameters.

private let topic = "/test/1"
private let otherTopic = "/test/2"

/// A distinct peer id per index (identity multihash of a made-up key protobuf).
private func peer(_ index: Int) -> PeerID {
    PeerID(publicKeyProtobuf: [0x08, 0x01, 0x12, 0x04] + withUnsafeBytes(of: UInt32(index).bigEndian, Array.init))
}

private func message(_ index: Int) -> GossipsubMessageID {
    GossipsubMessageID(withUnsafeBytes(of: UInt64(index).bigEndian, Array.init))
}

private func at(_ seconds: Double) -> Instant { Instant(seconds: seconds) }

/// Parameters scoring `topic` with `configure`'s topic parameters, every global weight 0.
private func scoring(
    _ configure: (inout GossipsubTopicScoreParameters) -> Void,
    global: (inout GossipsubScoreParameters) -> Void = { _ in }
) -> GossipsubScoreParameters {
    var topicParameters = GossipsubTopicScoreParameters()
    configure(&topicParameters)
    var parameters = GossipsubScoreParameters()
    parameters.topics[topic] = topicParameters
    global(&parameters)
    return parameters
}

private func close(_ a: Double, _ b: Double, tolerance: Double = 1e-9) -> Bool {
    abs(a - b) <= tolerance * max(1, abs(a), abs(b))
}

// MARK: - P1

@Test func timeInMeshCountsWholeQuantaUpToTheCap() {
    let parameters = scoring { topic in
        topic.timeInMeshWeight = 0.5
        topic.timeInMeshQuantum = 2
        topic.timeInMeshCap = 10
    }
    let p = parameters.topics[topic]!
    var score = GossipsubPeerScore(parameters: parameters)
    score.addPeer(peer(1), address: nil, now: at(0))
    #expect(score.score(peer(1), now: at(5)) == 0)  // not in the mesh: no P1
    score.graft(peer(1), topic: topic, now: at(10))
    for elapsed in [0.0, 1.9, 2.0, 7.5, 19.99, 20.0, 21.0, 500.0] {
        let expected = min((elapsed / p.timeInMeshQuantum).rounded(.down), p.timeInMeshCap) * p.timeInMeshWeight
        #expect(score.score(peer(1), now: at(10 + elapsed)) == expected, "after \(elapsed) s")
    }
    #expect(score.score(peer(1), now: at(510)) == p.timeInMeshCap * p.timeInMeshWeight)
    // A second GRAFT while in the mesh does not restart the clock.
    score.graft(peer(1), topic: topic, now: at(100))
    #expect(score.score(peer(1), now: at(110)) == p.timeInMeshCap * p.timeInMeshWeight)
    score.prune(peer(1), topic: topic, now: at(120))
    #expect(score.score(peer(1), now: at(121)) == 0)
    // Unknown peers and unscored topics are ignored.
    score.graft(peer(2), topic: topic, now: at(0))
    score.graft(peer(1), topic: otherTopic, now: at(0))
    #expect(score.score(peer(2), now: at(200)) == 0)
    #expect(score.score(peer(1), now: at(200)) == 0)
}

// MARK: - P2

@Test func firstDeliveriesAreCappedAtIncrementAndDecay() {
    let parameters = scoring { topic in
        topic.firstMessageDeliveriesWeight = 2
        topic.firstMessageDeliveriesCap = 5
        topic.firstMessageDeliveriesDecay = 0.9
    }
    let p = parameters.topics[topic]!
    var score = GossipsubPeerScore(parameters: parameters)
    score.addPeer(peer(1), address: nil, now: at(0))
    score.addPeer(peer(2), address: nil, now: at(0))
    score.refresh(now: at(0))
    for index in 0..<3 {
        score.validateMessage(from: peer(1), id: message(index), topic: topic, now: at(0.1))
        score.deliverMessage(from: peer(1), id: message(index), topic: topic, now: at(0.1))
    }
    #expect(score.score(peer(1), now: at(0.2)) == 3 * p.firstMessageDeliveriesWeight)
    // A second verdict on one message changes nothing; a peer that was not first gains no P2.
    score.deliverMessage(from: peer(1), id: message(0), topic: topic, now: at(0.2))
    score.duplicateMessage(from: peer(2), id: message(0), topic: topic, now: at(0.2))
    #expect(score.score(peer(1), now: at(0.2)) == 3 * p.firstMessageDeliveriesWeight)
    #expect(score.score(peer(2), now: at(0.2)) == 0)
    for index in 3..<10 {
        score.deliverMessage(from: peer(1), id: message(index), topic: topic, now: at(0.3))
    }
    #expect(score.score(peer(1), now: at(0.4)) == p.firstMessageDeliveriesCap * p.firstMessageDeliveriesWeight)
    // Three intervals and a half: three decays.
    score.refresh(now: at(3.5))
    var counter = p.firstMessageDeliveriesCap
    for _ in 0..<3 { counter *= p.firstMessageDeliveriesDecay }
    #expect(close(score.score(peer(1), now: at(3.5)), counter * p.firstMessageDeliveriesWeight))
    // The half interval carries over: at 4 s the fourth decay is due.
    score.refresh(now: at(4))
    counter *= p.firstMessageDeliveriesDecay
    #expect(close(score.score(peer(1), now: at(4)), counter * p.firstMessageDeliveriesWeight))
    // After enough decays the counter drops below decayToZero and becomes exactly 0.
    var decays = 4
    while counter >= parameters.decayToZero {
        counter *= p.firstMessageDeliveriesDecay
        decays += 1
    }
    score.refresh(now: at(Double(decays) - 0.5))
    #expect(score.score(peer(1), now: at(Double(decays))) > 0)
    score.refresh(now: at(Double(decays)))
    #expect(score.score(peer(1), now: at(Double(decays))) == 0)
}

// MARK: - P3 and P3b

private func meshDeliveryParameters() -> GossipsubScoreParameters {
    scoring { topic in
        topic.meshMessageDeliveriesWeight = -1
        topic.meshMessageDeliveriesThreshold = 4
        topic.meshMessageDeliveriesCap = 6
        topic.meshMessageDeliveriesDecay = 0.5
        topic.meshMessageDeliveriesActivation = 10
        topic.meshMessageDeliveriesWindow = 0.05
        topic.meshFailurePenaltyWeight = -3
        topic.meshFailurePenaltyDecay = 0.5
    }
}

@Test func meshDeliveryDeficitIsSquaredAfterActivation() {
    let parameters = meshDeliveryParameters()
    let p = parameters.topics[topic]!
    var score = GossipsubPeerScore(parameters: parameters)
    score.addPeer(peer(1), address: nil, now: at(0))
    score.addPeer(peer(2), address: nil, now: at(0))
    score.graft(peer(1), topic: topic, now: at(0))
    // Before the activation (and at it: the spec's test is "more than"), no penalty.
    #expect(score.score(peer(1), now: at(5)) == 0)
    #expect(score.score(peer(1), now: at(p.meshMessageDeliveriesActivation)) == 0)
    let full = p.meshMessageDeliveriesThreshold * p.meshMessageDeliveriesThreshold * p.meshMessageDeliveriesWeight
    #expect(score.score(peer(1), now: at(11)) == full)
    // Not in the mesh: deliveries count for P2 only, so peer 2 has no P3 either way.
    #expect(score.score(peer(2), now: at(11)) == 0)
    for index in 0..<3 {
        score.deliverMessage(from: peer(1), id: message(index), topic: topic, now: at(11))
    }
    let deficit = p.meshMessageDeliveriesThreshold - 3
    #expect(score.score(peer(1), now: at(11)) == deficit * deficit * p.meshMessageDeliveriesWeight)
    // At the threshold and beyond: no penalty; the counter stops at its cap.
    for index in 3..<20 {
        score.deliverMessage(from: peer(1), id: message(index), topic: topic, now: at(11))
    }
    #expect(score.score(peer(1), now: at(11)) == 0)
    // One decay from the cap: cap · decay against the threshold.
    score.refresh(now: at(11))
    score.refresh(now: at(12))
    let decayed = p.meshMessageDeliveriesCap * p.meshMessageDeliveriesDecay
    let decayedDeficit = max(0, p.meshMessageDeliveriesThreshold - decayed)
    #expect(score.score(peer(1), now: at(12)) == decayedDeficit * decayedDeficit * p.meshMessageDeliveriesWeight)
    #expect(decayedDeficit > 0)
}

@Test func nearFirstDeliveriesCountInsideTheWindowAndWhilePending() {
    let parameters = meshDeliveryParameters()
    let p = parameters.topics[topic]!
    var score = GossipsubPeerScore(parameters: parameters)
    for index in 1...4 {
        score.addPeer(peer(index), address: nil, now: at(0))
        score.graft(peer(index), topic: topic, now: at(0))
    }
    let t = 20.0
    // Message 0: peer 1 first; peer 2 forwards it while it is being validated; peer 3 just inside the window after
    // validation, peer 4 just outside it.
    score.validateMessage(from: peer(1), id: message(0), topic: topic, now: at(t))
    score.duplicateMessage(from: peer(2), id: message(0), topic: topic, now: at(t + 0.5))
    score.deliverMessage(from: peer(1), id: message(0), topic: topic, now: at(t + 1))
    score.duplicateMessage(from: peer(3), id: message(0), topic: topic, now: at(t + 1.04))
    // Repeats inside the window count once per peer and message.
    score.duplicateMessage(from: peer(1), id: message(0), topic: topic, now: at(t + 1.045))
    score.duplicateMessage(from: peer(2), id: message(0), topic: topic, now: at(t + 1.045))
    score.duplicateMessage(from: peer(3), id: message(0), topic: topic, now: at(t + 1.045))
    score.duplicateMessage(from: peer(4), id: message(0), topic: topic, now: at(t + 1.06))
    // Past the window nothing counts, a first copy or a repeat.
    score.duplicateMessage(from: peer(4), id: message(0), topic: topic, now: at(t + 1.5))
    score.duplicateMessage(from: peer(3), id: message(0), topic: topic, now: at(t + 1.5))
    let threshold = p.meshMessageDeliveriesThreshold
    let oneDelivery = (threshold - 1) * (threshold - 1) * p.meshMessageDeliveriesWeight
    let none = threshold * threshold * p.meshMessageDeliveriesWeight
    let now = at(t + 2)
    #expect(score.score(peer(1), now: now) == oneDelivery)
    #expect(score.score(peer(2), now: now) == oneDelivery)
    #expect(score.score(peer(3), now: now) == oneDelivery)
    #expect(score.score(peer(4), now: now) == none)
}

@Test func pruneInDeficitAddsTheStickyFailurePenalty() {
    let parameters = meshDeliveryParameters()
    let p = parameters.topics[topic]!
    var score = GossipsubPeerScore(parameters: parameters)
    score.addPeer(peer(1), address: nil, now: at(0))
    score.addPeer(peer(2), address: nil, now: at(0))
    score.refresh(now: at(0))
    // Peer 2 is pruned at its activation (the test is "more than"): no P3b.
    score.graft(peer(2), topic: topic, now: at(0))
    score.prune(peer(2), topic: topic, now: at(p.meshMessageDeliveriesActivation))
    #expect(score.score(peer(2), now: at(p.meshMessageDeliveriesActivation)) == 0)
    // Peer 1 delivers three messages, the counter decays twice, then it is pruned past its activation:
    // P3b = deficit², and P3 stops (it is no longer in the mesh).
    score.graft(peer(1), topic: topic, now: at(0))
    for second in 1...10 { score.refresh(now: at(Double(second))) }
    for index in 0..<3 {
        score.deliverMessage(from: peer(1), id: message(index), topic: topic, now: at(10.5))
    }
    score.refresh(now: at(11))
    score.refresh(now: at(12))
    let counter = 3 * p.meshMessageDeliveriesDecay * p.meshMessageDeliveriesDecay
    let deficit = p.meshMessageDeliveriesThreshold - counter
    score.prune(peer(1), topic: topic, now: at(12))
    #expect(score.score(peer(1), now: at(12)) == deficit * deficit * p.meshFailurePenaltyWeight)
    // Pruning again outside the mesh adds nothing; the penalty decays like the other counters.
    score.prune(peer(1), topic: topic, now: at(12.5))
    score.refresh(now: at(14))
    let decayed = deficit * deficit * p.meshFailurePenaltyDecay * p.meshFailurePenaltyDecay
    #expect(close(score.score(peer(1), now: at(14)), decayed * p.meshFailurePenaltyWeight))
}

@Test func disconnectingInDeficitCountsAsAPrune() {
    let parameters = meshDeliveryParameters()
    let p = parameters.topics[topic]!
    var score = GossipsubPeerScore(parameters: parameters)
    score.addPeer(peer(1), address: nil, now: at(0))
    score.graft(peer(1), topic: topic, now: at(0))
    score.removePeer(peer(1), now: at(30))
    let threshold = p.meshMessageDeliveriesThreshold
    #expect(score.score(peer(1), now: at(31)) == threshold * threshold * p.meshFailurePenaltyWeight)
    // Back again, it is not in the mesh until grafted.
    score.addPeer(peer(1), address: nil, now: at(40))
    #expect(score.score(peer(1), now: at(41)) == threshold * threshold * p.meshFailurePenaltyWeight)
}

// MARK: - P4

private func invalidParameters() -> GossipsubScoreParameters {
    scoring { topic in
        topic.invalidMessageDeliveriesWeight = -5
        topic.invalidMessageDeliveriesDecay = 0.5
    }
}

@Test func invalidMessagesAreSquaredAndSharedByPendingForwarders() {
    let parameters = invalidParameters()
    let weight = parameters.topics[topic]!.invalidMessageDeliveriesWeight
    var score = GossipsubPeerScore(parameters: parameters)
    for index in 1...4 { score.addPeer(peer(index), address: nil, now: at(0)) }
    // Peer 1 sends message 0; peer 2 forwards it while pending; the application rejects it.
    score.validateMessage(from: peer(1), id: message(0), topic: topic, now: at(1))
    score.duplicateMessage(from: peer(2), id: message(0), topic: topic, now: at(1.1))
    score.rejectMessage(from: peer(1), id: message(0), topic: topic, reason: .validationFailed, now: at(1.2))
    #expect(score.score(peer(1), now: at(2)) == 1 * weight)
    #expect(score.score(peer(2), now: at(2)) == 1 * weight)
    // Later copies of the invalid message count against their senders each time; a second verdict does nothing.
    score.duplicateMessage(from: peer(3), id: message(0), topic: topic, now: at(1.5))
    score.duplicateMessage(from: peer(3), id: message(0), topic: topic, now: at(1.6))
    score.rejectMessage(from: peer(4), id: message(0), topic: topic, reason: .validationFailed, now: at(1.7))
    #expect(score.score(peer(3), now: at(2)) == 2 * 2 * weight)
    #expect(score.score(peer(4), now: at(2)) == 0)
    // Signature failures count against the sender alone, without a record; a second makes it 2².
    score.rejectMessage(from: peer(1), id: nil, topic: topic, reason: .missingSignature, now: at(2))
    #expect(score.score(peer(1), now: at(2)) == 2 * 2 * weight)
    score.rejectMessage(from: peer(1), id: message(9), topic: topic, reason: .invalidSignature, now: at(2))
    #expect(score.score(peer(1), now: at(2)) == 3 * 3 * weight)
    // Unscored topics cost nothing.
    score.rejectMessage(from: peer(4), id: nil, topic: otherTopic, reason: .invalidSignature, now: at(2))
    #expect(score.score(peer(4), now: at(2)) == 0)
}

@Test func ignoredAndSelfOriginMessagesCostNothing() {
    let parameters = invalidParameters()
    var score = GossipsubPeerScore(parameters: parameters)
    for index in 1...3 { score.addPeer(peer(index), address: nil, now: at(0)) }
    score.validateMessage(from: peer(1), id: message(0), topic: topic, now: at(1))
    score.duplicateMessage(from: peer(2), id: message(0), topic: topic, now: at(1.1))
    score.rejectMessage(from: peer(1), id: message(0), topic: topic, reason: .ignored, now: at(1.2))
    score.duplicateMessage(from: peer(3), id: message(0), topic: topic, now: at(1.3))
    // An ignored verdict is final: a later rejection of the same message changes nothing.
    score.rejectMessage(from: peer(1), id: message(0), topic: topic, reason: .validationFailed, now: at(1.4))
    score.rejectMessage(from: peer(2), id: message(1), topic: topic, reason: .selfOrigin, now: at(1.5))
    score.rejectMessage(from: peer(3), id: nil, topic: topic, reason: .ignored, now: at(1.5))
    for index in 1...3 { #expect(score.score(peer(index), now: at(2)) == 0) }
    // The control: the same rejection as validationFailed would have cost something.
    score.rejectMessage(from: peer(2), id: message(2), topic: topic, reason: .validationFailed, now: at(2))
    #expect(score.score(peer(2), now: at(2)) < 0)
}

// MARK: - Topic weight and cap

@Test func topicWeightsMixAndOnlyThePositiveSumIsCapped() {
    var parameters = GossipsubScoreParameters()
    var first = GossipsubTopicScoreParameters()
    first.topicWeight = 0.5
    first.firstMessageDeliveriesWeight = 4
    first.firstMessageDeliveriesCap = 100
    var second = first
    second.topicWeight = 2
    second.invalidMessageDeliveriesWeight = -1
    parameters.topics = [topic: first, otherTopic: second]
    parameters.topicScoreCap = 30
    var score = GossipsubPeerScore(parameters: parameters)
    score.addPeer(peer(1), address: nil, now: at(0))
    for index in 0..<4 {
        score.deliverMessage(from: peer(1), id: message(index), topic: topic, now: at(1))
    }
    score.deliverMessage(from: peer(1), id: message(10), topic: otherTopic, now: at(1))
    let uncapped = 4 * first.firstMessageDeliveriesWeight * first.topicWeight + 1 * 4 * second.topicWeight
    #expect(uncapped < parameters.topicScoreCap)
    #expect(score.score(peer(1), now: at(1)) == uncapped)
    for index in 11..<20 {
        score.deliverMessage(from: peer(1), id: message(index), topic: otherTopic, now: at(1))
    }
    #expect(score.score(peer(1), now: at(1)) == parameters.topicScoreCap)
    // Enough invalid messages take the sum below zero, where the cap does not apply.
    for _ in 0..<10 {
        score.rejectMessage(from: peer(1), id: nil, topic: otherTopic, reason: .invalidSignature, now: at(1))
    }
    let sum =
        4 * first.firstMessageDeliveriesWeight * first.topicWeight
        + (10 * second.firstMessageDeliveriesWeight + 10 * 10 * second.invalidMessageDeliveriesWeight)
        * second.topicWeight
    #expect(sum < 0)
    #expect(score.score(peer(1), now: at(1)) == sum)
}

@Test func theDefaultTopicScoresUnnamedTopicsUpToItsBound() {
    var parameters = GossipsubScoreParameters()
    var defaults = GossipsubTopicScoreParameters()
    defaults.invalidMessageDeliveriesWeight = -1
    parameters.defaultTopic = defaults
    parameters.maxDefaultScoredTopics = 2
    var score = GossipsubPeerScore(parameters: parameters)
    score.addPeer(peer(1), address: nil, now: at(0))
    for name in ["/a", "/b", "/c", "/d"] {
        score.rejectMessage(from: peer(1), id: nil, topic: name, reason: .invalidSignature, now: at(0))
    }
    // Each scored topic has its own counter (1² each); topics past the bound go unscored.
    #expect(score.score(peer(1), now: at(0)) == 2 * defaults.invalidMessageDeliveriesWeight)
}

// MARK: - P5, P6, P7

@Test func applicationScoreIsWeighted() {
    let parameters = scoring({ _ in }, global: { $0.appSpecificWeight = 3 })
    var score = GossipsubPeerScore(parameters: parameters)
    score.addPeer(peer(1), address: nil, now: at(0))
    score.setApplicationScore(peer(1), -7)
    #expect(score.score(peer(1), now: at(0)) == -7 * parameters.appSpecificWeight)
    score.setApplicationScore(peer(1), .nan)
    score.setApplicationScore(peer(1), .infinity)
    #expect(score.score(peer(1), now: at(0)) == -7 * parameters.appSpecificWeight)
    // Unknown peers are not created by it.
    score.setApplicationScore(peer(2), 5)
    #expect(!score.knows(peer(2)))
}

@Test func ipColocationSquaresTheSurplusOfConnectedPeers() {
    let parameters = scoring(
        { _ in },
        global: {
            $0.ipColocationFactorWeight = -2
            $0.ipColocationFactorThreshold = 2
        })
    var score = GossipsubPeerScore(parameters: parameters)
    func expected(_ peersAtIP: Int) -> Double {
        let surplus = Double(max(0, peersAtIP - parameters.ipColocationFactorThreshold))
        return surplus * surplus * parameters.ipColocationFactorWeight
    }
    for index in 1...5 { score.addPeer(peer(index), address: "10.0.0.1", now: at(0)) }
    score.addPeer(peer(6), address: "10.0.0.2", now: at(0))
    score.addPeer(peer(7), address: nil, now: at(0))
    for index in 8...12 { score.addPeer(peer(index), address: "127.0.0.1", now: at(0)) }
    for index in 1...5 { #expect(score.score(peer(index), now: at(0)) == expected(5)) }
    #expect(expected(5) < 0)
    #expect(score.score(peer(6), now: at(0)) == 0)
    #expect(score.score(peer(7), now: at(0)) == 0)
    for index in 8...12 { #expect(score.score(peer(index), now: at(0)) == 0, "loopback is not counted") }
    // Disconnected peers stop counting; a peer that moves takes its count along.
    score.removePeer(peer(5), now: at(1))
    #expect(score.score(peer(1), now: at(1)) == expected(4))
    #expect(score.score(peer(5), now: at(1)) == 0)
    score.addPeer(peer(4), address: "10.0.0.2", now: at(1))
    #expect(score.score(peer(1), now: at(1)) == expected(3))
    #expect(score.score(peer(4), now: at(1)) == expected(2))
    // A slot freed and taken by a new address starts from zero.
    for index in 1...3 { score.removePeer(peer(index), now: at(2)) }
    for index in 20...22 { score.addPeer(peer(index), address: "10.9.9.9", now: at(2)) }
    #expect(score.score(peer(20), now: at(2)) == expected(3))
}

@Test func behaviourPenaltyAboveTheThresholdIsSquaredAndDecays() {
    let parameters = scoring(
        { _ in },
        global: {
            $0.behaviourPenaltyWeight = -1.5
            $0.behaviourPenaltyThreshold = 2
            $0.behaviourPenaltyDecay = 0.8
        })
    var score = GossipsubPeerScore(parameters: parameters)
    score.addPeer(peer(1), address: nil, now: at(0))
    score.refresh(now: at(0))
    score.addPenalty(peer(1), count: 2)
    #expect(score.score(peer(1), now: at(0)) == 0)  // at the threshold: free
    score.addPenalty(peer(1), count: 3)
    score.addPenalty(peer(1), count: -10)  // ignored
    score.addPenalty(peer(2), count: 10)  // unknown peer: ignored
    func expected(_ counter: Double) -> Double {
        let excess = max(0, counter - parameters.behaviourPenaltyThreshold)
        return excess * excess * parameters.behaviourPenaltyWeight
    }
    #expect(score.score(peer(1), now: at(0)) == expected(5))
    score.refresh(now: at(2))
    #expect(close(score.score(peer(1), now: at(2)), expected(5 * 0.8 * 0.8)))
    #expect(!score.knows(peer(2)))
}

// MARK: - Retention

@Test func retainedScoresSurviveReconnectAndExpire() {
    var parameters = invalidParameters()
    parameters.retainScore = 100
    let weight = parameters.topics[topic]!.invalidMessageDeliveriesWeight
    var score = GossipsubPeerScore(parameters: parameters)
    score.addPeer(peer(1), address: nil, now: at(0))
    score.refresh(now: at(0))
    score.rejectMessage(from: peer(1), id: nil, topic: topic, reason: .invalidSignature, now: at(0))
    score.removePeer(peer(1), now: at(0))
    // Retained and not decayed while away.
    score.refresh(now: at(10))
    #expect(score.knows(peer(1)))
    #expect(score.score(peer(1), now: at(10)) == weight)
    // Reconnecting restores it, and it decays again.
    score.addPeer(peer(1), address: nil, now: at(10))
    #expect(score.score(peer(1), now: at(10)) == weight)
    score.refresh(now: at(11))
    let decay = parameters.topics[topic]!.invalidMessageDeliveriesDecay
    #expect(score.score(peer(1), now: at(11)) == decay * decay * weight)
    // Gone again: forgotten once retainScore has passed (the score reads 0 from then, before any refresh too).
    score.removePeer(peer(1), now: at(20))
    #expect(score.score(peer(1), now: at(120)) == decay * decay * weight)
    #expect(score.score(peer(1), now: at(120.5)) == 0)
    score.refresh(now: at(121))
    #expect(!score.knows(peer(1)))
    // A new connection starts clean.
    score.addPeer(peer(1), address: nil, now: at(122))
    #expect(score.score(peer(1), now: at(122)) == 0)
    // So does one that comes after the retention ran out but before a refresh forgot the counters.
    score.rejectMessage(from: peer(1), id: nil, topic: topic, reason: .invalidSignature, now: at(122))
    score.removePeer(peer(1), now: at(123))
    score.addPeer(peer(1), address: nil, now: at(224))
    #expect(score.score(peer(1), now: at(224)) == 0)
    #expect(score.peerCount == 1)
}

@Test func messageAndPeerKeysCompareWholeIds() {
    let long = GossipsubMessageID(Array(repeating: 7, count: 30) + [1, 2, 3, 4, 5, 6, 7, 8])
    let sameTail = GossipsubMessageID([9] + long.bytes.dropFirst())
    let short = GossipsubMessageID([1, 2, 3])
    #expect(long == GossipsubMessageID(long.bytes))
    let again = GossipsubMessageID(long.bytes)
    #expect(long.hashValue == again.hashValue)
    #expect(long.fingerprint == GossipsubMessageID(long.bytes).fingerprint)
    #expect(long != sameTail)
    #expect(long.fingerprint != sameTail.fingerprint)
    #expect(short != GossipsubMessageID([0, 1, 2, 3]))
    #expect(GossipsubMessageID([0]) != GossipsubMessageID([0, 0]))
    #expect(GossipsubMessageID([]) == GossipsubMessageID([]))
    #expect(peer(1) == peer(1))
    #expect(peer(1).hashValue == peer(1).hashValue)
    #expect(peer(1) != peer(2))
}

@Test func aRecordTracksABoundedNumberOfPeers() {
    let parameters = meshDeliveryParameters()
    var score = GossipsubPeerScore(parameters: parameters)
    let crowd = GossipsubScoreDeliveries.maxPeersPerRecord + 10
    for index in 0..<crowd {
        score.addPeer(peer(index), address: nil, now: at(0))
        score.graft(peer(index), topic: topic, now: at(0))
    }
    score.validateMessage(from: peer(0), id: message(0), topic: topic, now: at(20))
    for index in 1..<crowd { score.duplicateMessage(from: peer(index), id: message(0), topic: topic, now: at(20)) }
    score.deliverMessage(from: peer(0), id: message(0), topic: topic, now: at(20))
    // The first deliverer and the first 64 forwarders are credited; the rest were not tracked.
    let threshold = parameters.topics[topic]!.meshMessageDeliveriesThreshold
    let weight = parameters.topics[topic]!.meshMessageDeliveriesWeight
    let credited = (threshold - 1) * (threshold - 1) * weight
    let uncredited = threshold * threshold * weight
    let scores = (0..<crowd).map { score.score(peer($0), now: at(21)) }
    #expect(scores.filter { $0 == credited }.count == 1 + GossipsubScoreDeliveries.maxPeersPerRecord)
    #expect(scores.filter { $0 == uncredited }.count == crowd - 1 - GossipsubScoreDeliveries.maxPeersPerRecord)
}

@Test func retentionIsBoundedAndZeroRetainForgetsAtOnce() {
    var parameters = invalidParameters()
    parameters.maxRetainedPeers = 3
    var score = GossipsubPeerScore(parameters: parameters)
    for index in 0..<10 {
        score.addPeer(peer(index), address: nil, now: at(0))
        score.removePeer(peer(index), now: at(Double(index)))
    }
    #expect(score.peerCount == 3)
    #expect((7..<10).allSatisfy { score.knows(peer($0)) })
    // Many reconnects of one peer leave the queue bounded too.
    for round in 0..<10_000 {
        score.addPeer(peer(100), address: nil, now: at(20))
        score.removePeer(peer(100), now: at(20 + Double(round) * 1e-3))
    }
    #expect(score.peerCount == 3)
    #expect(score.retainedQueueCount <= 2 * 64 + 1)
    parameters.retainScore = 0
    var forgetful = GossipsubPeerScore(parameters: parameters)
    forgetful.addPeer(peer(1), address: nil, now: at(0))
    forgetful.rejectMessage(from: peer(1), id: nil, topic: topic, reason: .invalidSignature, now: at(0))
    forgetful.removePeer(peer(1), now: at(1))
    #expect(!forgetful.knows(peer(1)))
}

@Test func aReusedSlotDoesNotInheritPendingDeliveries() {
    var parameters = invalidParameters()
    parameters.retainScore = 0
    var score = GossipsubPeerScore(parameters: parameters)
    score.addPeer(peer(1), address: nil, now: at(0))
    score.addPeer(peer(2), address: nil, now: at(0))
    score.validateMessage(from: peer(1), id: message(0), topic: topic, now: at(1))
    score.duplicateMessage(from: peer(2), id: message(0), topic: topic, now: at(1))
    // Peer 2 leaves and forgotten; peer 3 takes its slot before the verdict.
    score.removePeer(peer(2), now: at(2))
    score.addPeer(peer(3), address: nil, now: at(2))
    score.rejectMessage(from: peer(1), id: message(0), topic: topic, reason: .validationFailed, now: at(3))
    #expect(score.score(peer(1), now: at(3)) < 0)
    #expect(score.score(peer(3), now: at(3)) == 0)
}

// MARK: - Delivery records

@Test func deliveryRecordsAreBoundedAndExpire() {
    var parameters = meshDeliveryParameters()
    parameters.maxDeliveryRecords = 50
    parameters.deliveryRecordTTL = 120
    var score = GossipsubPeerScore(parameters: parameters)
    score.addPeer(peer(1), address: nil, now: at(0))
    for index in 0..<200 {
        score.validateMessage(from: peer(1), id: message(index), topic: topic, now: at(Double(index) / 100))
    }
    #expect(score.deliveryRecordCount == parameters.maxDeliveryRecords)
    score.refresh(now: at(100))
    #expect(score.deliveryRecordCount == parameters.maxDeliveryRecords)
    score.refresh(now: at(2 + parameters.deliveryRecordTTL + 0.01))
    #expect(score.deliveryRecordCount == 0)
    // Messages of unscored topics leave no record.
    score.validateMessage(from: peer(1), id: message(1_000), topic: otherTopic, now: at(200))
    score.duplicateMessage(from: peer(1), id: message(1_000), topic: otherTopic, now: at(200))
    #expect(score.deliveryRecordCount == 0)
    score.validateMessage(from: peer(1), id: message(1_000), topic: topic, now: at(200))
    #expect(score.deliveryRecordCount == 1)
}

@Test func unvalidatedParametersDoNotTrap() {
    var parameters = GossipsubScoreParameters()
    parameters.decayInterval = .nan
    parameters.retainScore = .infinity
    parameters.deliveryRecordTTL = -.infinity
    parameters.ipColocationFactorWeight = -1
    parameters.ipColocationFactorThreshold = .min
    parameters.behaviourPenaltyWeight = -1
    parameters.maxDeliveryRecords = -5
    parameters.maxRetainedPeers = -5
    var topicParameters = GossipsubTopicScoreParameters()
    topicParameters.timeInMeshWeight = 1
    topicParameters.timeInMeshQuantum = 0
    topicParameters.invalidMessageDeliveriesWeight = -1
    topicParameters.invalidMessageDeliveriesDecay = 10
    parameters.topics[topic] = topicParameters
    #expect(throws: GossipsubScoreParameterError.self) { try parameters.validate() }
    var score = GossipsubPeerScore(parameters: parameters)
    score.addPeer(peer(1), address: "10.0.0.1", now: at(0))
    score.graft(peer(1), topic: topic, now: at(0))
    score.addPenalty(peer(1), count: .max)
    score.addPenalty(peer(1), count: .max)
    score.validateMessage(from: peer(1), id: message(0), topic: topic, now: at(0))
    score.rejectMessage(from: peer(1), id: message(0), topic: topic, reason: .validationFailed, now: at(0))
    for second in 0..<2_000 { score.refresh(now: at(Double(second))) }
    // Only that it answers: the numbers of a broken configuration mean nothing.
    _ = score.score(peer(1), now: at(2_000))
    score.removePeer(peer(1), now: at(2_001))
    score.refresh(now: Instant(nanoseconds: .max))
    #expect(score.peerCount <= 1)
}

// MARK: - Parameters

@Test func defaultAndNetworkParametersValidate() throws {
    try GossipsubScoreParameters().validate()
    let network = GossipsubScoreParameters.openLedger(chainID: 1_337, meshDeliveries: true)
    try network.validate()
    let blocks = try #require(network.topics[GossipsubScoreParameters.openLedgerBlocksTopic(chainID: 1_337)])
    let announce = try #require(network.topics["/openledger/1337/announce/1"])
    #expect(network.topics.count == 2)
    // The properties the doc promises: one invalid head cancels the whole cap, four pass the gossip threshold.
    let cap = network.topicScoreCap
    #expect(close(blocks.invalidMessageDeliveriesWeight * blocks.topicWeight, -cap))
    #expect(4 * 4 * blocks.invalidMessageDeliveriesWeight * blocks.topicWeight < network.thresholds.gossip)
    #expect(close(announce.invalidMessageDeliveriesWeight * announce.topicWeight, -cap))
    // A mesh peer that delivers nothing loses the whole cap (more than P1 can ever give).
    let fullDeficit = blocks.meshMessageDeliveriesThreshold * blocks.meshMessageDeliveriesThreshold
    #expect(close(fullDeficit * blocks.meshMessageDeliveriesWeight, -cap))
    #expect(blocks.timeInMeshCap * blocks.timeInMeshWeight < cap)
    // A peer first with every head settles at the P2 cap.
    let decay = blocks.firstMessageDeliveriesDecay
    var counter = 0.0
    for _ in 0..<10_000 { counter = (counter + network.decayInterval / 2) * decay }
    #expect(close(counter, blocks.firstMessageDeliveriesCap, tolerance: 1e-6))
    #expect(announce.meshMessageDeliveriesWeight == 0)
    // By default the blocks topic has no P3 or P3b (heads have one origin) and still validates.
    let plain = GossipsubScoreParameters.openLedger(chainID: 1_337)
    try plain.validate()
    let plainBlocks = try #require(plain.topics[GossipsubScoreParameters.openLedgerBlocksTopic(chainID: 1_337)])
    #expect(plainBlocks.meshMessageDeliveriesWeight == 0 && plainBlocks.meshFailurePenaltyWeight == 0)
    #expect(plainBlocks.invalidMessageDeliveriesWeight == blocks.invalidMessageDeliveriesWeight)
    // Twice the free behaviour penalties reach the gossip threshold.
    let excess = network.behaviourPenaltyThreshold
    #expect(close(excess * excess * network.behaviourPenaltyWeight, network.thresholds.gossip))
}

@Test func decayFactorReachesDecayToZeroAfterItsTime() {
    for (seconds, interval) in [(60.0, 1.0), (300.0, 1.0), (3_600.0, 0.7), (10.0, 2.0)] {
        let factor = GossipsubScoreParameters.decayFactor(toZeroAfter: seconds, decayInterval: interval)
        var value = 1.0
        let steps = Int((seconds / interval).rounded())
        for _ in 0..<steps { value *= factor }
        let exact = GossipsubScoreMath.power(0.01, Double(steps) * interval / seconds)
        #expect(close(value, exact, tolerance: 1e-9), "\(seconds) s in \(interval) s steps")
    }
    #expect(close(GossipsubScoreMath.exp(1), 2.718_281_828_459_045, tolerance: 1e-15))
    #expect(close(GossipsubScoreMath.log(10), 2.302_585_092_994_046, tolerance: 1e-15))
    #expect(close(GossipsubScoreMath.power(0.01, 0.5), 0.1, tolerance: 1e-14))
    #expect(GossipsubScoreMath.power(2, -3) == 0.125)
    #expect(GossipsubScoreMath.log(-1).isNaN)
    #expect(GossipsubScoreMath.exp(-1_000) == 0)
    #expect(GossipsubScoreMath.exp(1_000) == .infinity)
}

/// One broken parameter: how to break a valid set, and what `validate()` must name.
struct BrokenScoreParameter: Sendable, CustomTestStringConvertible {
    let name: String
    let parameter: GossipsubScoreParameter
    let scope: GossipsubScoreParameterError.Scope
    let breakIt: @Sendable (inout GossipsubScoreParameters) -> Void

    init(
        _ name: String, _ parameter: GossipsubScoreParameter, _ scope: GossipsubScoreParameterError.Scope = .global,
        _ breakIt: @escaping @Sendable (inout GossipsubScoreParameters) -> Void
    ) {
        self.name = name
        self.parameter = parameter
        self.scope = scope
        self.breakIt = breakIt
    }

    var testDescription: String { name }

    static let all: [BrokenScoreParameter] = [
        .init("topic score cap", .topicScoreCap) { $0.topicScoreCap = -1 },
        .init("app weight", .appSpecificWeight) { $0.appSpecificWeight = .nan },
        .init("positive P6 weight", .ipColocationFactorWeight) { $0.ipColocationFactorWeight = 1 },
        .init("P6 threshold", .ipColocationFactorThreshold) {
            $0.ipColocationFactorWeight = -1
            $0.ipColocationFactorThreshold = 0
        },
        .init("positive P7 weight", .behaviourPenaltyWeight) { $0.behaviourPenaltyWeight = 0.1 },
        .init("P7 threshold", .behaviourPenaltyThreshold) { $0.behaviourPenaltyThreshold = -1 },
        .init("P7 decay", .behaviourPenaltyDecay) { $0.behaviourPenaltyDecay = 1 },
        .init("decay interval", .decayInterval) { $0.decayInterval = 0 },
        .init("decay to zero", .decayToZero) { $0.decayToZero = 0 },
        .init("retain", .retainScore) { $0.retainScore = -.infinity },
        .init("retained peers", .maxRetainedPeers) { $0.maxRetainedPeers = -1 },
        .init("record TTL", .deliveryRecordTTL) { $0.deliveryRecordTTL = 0 },
        .init("records", .maxDeliveryRecords) { $0.maxDeliveryRecords = 0 },
        .init("default topics", .maxDefaultScoredTopics) { $0.maxDefaultScoredTopics = -1 },
        .init("gossip threshold", .gossipThreshold) { $0.thresholds.gossip = 0 },
        .init("publish above gossip", .publishThreshold) { $0.thresholds.publish = -5 },
        .init("graylist at publish", .graylistThreshold) { $0.thresholds.graylist = -50 },
        .init("accept PX", .acceptPXThreshold) { $0.thresholds.acceptPX = -1 },
        .init("opportunistic graft", .opportunisticGraftThreshold) { $0.thresholds.opportunisticGraft = -1 },
        .init("topic weight", .topicWeight, .topic("/t")) { $0.topics["/t"]!.topicWeight = -1 },
        .init("negative P1", .timeInMeshWeight, .topic("/t")) { $0.topics["/t"]!.timeInMeshWeight = -1 },
        .init("P1 quantum", .timeInMeshQuantum, .topic("/t")) { $0.topics["/t"]!.timeInMeshQuantum = 0 },
        .init("P1 cap", .timeInMeshCap, .topic("/t")) { $0.topics["/t"]!.timeInMeshWeight = 1 },
        .init("negative P2", .firstMessageDeliveriesWeight, .topic("/t")) {
            $0.topics["/t"]!.firstMessageDeliveriesWeight = -1
        },
        .init("P2 cap", .firstMessageDeliveriesCap, .topic("/t")) {
            $0.topics["/t"]!.firstMessageDeliveriesWeight = 1
        },
        .init("P2 decay", .firstMessageDeliveriesDecay, .topic("/t")) {
            $0.topics["/t"]!.firstMessageDeliveriesDecay = 1.5
        },
        .init("positive P3", .meshMessageDeliveriesWeight, .topic("/t")) {
            $0.topics["/t"]!.meshMessageDeliveriesWeight = 1
        },
        .init("P3 decay", .meshMessageDeliveriesDecay, .topic("/t")) {
            $0.topics["/t"]!.meshMessageDeliveriesDecay = -0.5
        },
        .init("P3 threshold", .meshMessageDeliveriesThreshold, .topic("/t")) {
            $0.topics["/t"]!.meshMessageDeliveriesWeight = -1
        },
        .init("P3 cap below threshold", .meshMessageDeliveriesCap, .topic("/t")) {
            $0.topics["/t"]!.meshMessageDeliveriesWeight = -1
            $0.topics["/t"]!.meshMessageDeliveriesThreshold = 5
            $0.topics["/t"]!.meshMessageDeliveriesCap = 4
        },
        .init("P3 window", .meshMessageDeliveriesWindow, .topic("/t")) {
            $0.topics["/t"]!.meshMessageDeliveriesWindow = -0.1
        },
        .init("P3 activation", .meshMessageDeliveriesActivation, .topic("/t")) {
            $0.topics["/t"]!.meshMessageDeliveriesActivation = .nan
        },
        .init("positive P3b", .meshFailurePenaltyWeight, .topic("/t")) {
            $0.topics["/t"]!.meshFailurePenaltyWeight = 1
        },
        .init("P3b decay", .meshFailurePenaltyDecay, .topic("/t")) { $0.topics["/t"]!.meshFailurePenaltyDecay = 0 },
        .init("positive P4", .invalidMessageDeliveriesWeight, .topic("/t")) {
            $0.topics["/t"]!.invalidMessageDeliveriesWeight = 1
        },
        .init("P4 decay", .invalidMessageDeliveriesDecay, .topic("/t")) {
            $0.topics["/t"]!.invalidMessageDeliveriesDecay = 1
        },
        .init("default topic", .topicWeight, .defaultTopic) {
            var defaults = GossipsubTopicScoreParameters()
            defaults.topicWeight = -2
            $0.defaultTopic = defaults
        },
    ]
}

@Test(arguments: BrokenScoreParameter.all)
func validationNamesTheBrokenParameter(_ broken: BrokenScoreParameter) {
    var parameters = GossipsubScoreParameters()
    parameters.topics["/t"] = GossipsubTopicScoreParameters()
    #expect(throws: Never.self) { try parameters.validate() }
    broken.breakIt(&parameters)
    #expect(throws: GossipsubScoreParameterError.self) { try parameters.validate() }
    do {
        try parameters.validate()
    } catch {
        guard case .invalid(let parameter, let scope, _, _) = error else { return }
        #expect(parameter == broken.parameter)
        #expect(scope == broken.scope)
        #expect(error.description.contains(broken.parameter.rawValue))
    }
}

// MARK: - The whole score

@Test func theTermsAddUp() {
    var parameters = GossipsubScoreParameters.openLedger(chainID: 7, meshDeliveries: true)
    parameters.ipColocationFactorThreshold = 1
    let blocksTopic = GossipsubScoreParameters.openLedgerBlocksTopic(chainID: 7)
    let blocks = parameters.topics[blocksTopic]!
    var score = GossipsubPeerScore(parameters: parameters)
    score.addPeer(peer(1), address: "192.0.2.1", now: at(0))
    score.addPeer(peer(2), address: "192.0.2.1", now: at(0))
    score.refresh(now: at(0))
    score.graft(peer(1), topic: blocksTopic, now: at(0))
    score.deliverMessage(from: peer(1), id: message(0), topic: blocksTopic, now: at(0.5))
    score.rejectMessage(from: peer(1), id: nil, topic: blocksTopic, reason: .invalidSignature, now: at(0.5))
    score.setApplicationScore(peer(1), 2)
    score.addPenalty(peer(1), count: 8)
    let now = at(30)
    let p1 = min((30 / blocks.timeInMeshQuantum).rounded(.down), blocks.timeInMeshCap) * blocks.timeInMeshWeight
    let p2 = 1 * blocks.firstMessageDeliveriesWeight
    let p4 = 1 * 1 * blocks.invalidMessageDeliveriesWeight
    let topics = (p1 + p2 + p4) * blocks.topicWeight  // P3 not active before 60 s
    let excess = 8 - parameters.behaviourPenaltyThreshold
    let expected =
        min(topics, parameters.topicScoreCap) + 2 * parameters.appSpecificWeight
        + 1 * parameters.ipColocationFactorWeight + excess * excess * parameters.behaviourPenaltyWeight
    #expect(close(score.score(peer(1), now: now), expected))
    #expect(score.score(peer(3), now: now) == 0)
}

@Test func theBlocksPresetToleratesTwentyHeadsOfSilenceThenCostsTheCap() {
    let parameters = GossipsubScoreParameters.openLedger(chainID: 9, meshDeliveries: true)
    let blocksTopic = GossipsubScoreParameters.openLedgerBlocksTopic(chainID: 9)
    let blocks = parameters.topics[blocksTopic]!
    var score = GossipsubPeerScore(parameters: parameters)
    // Peer 1 is in the mesh; peer 2 is not but is first with as many heads, so the difference of their scores is
    // P1 + P3 of peer 1.
    score.addPeer(peer(1), address: nil, now: at(0))
    score.addPeer(peer(2), address: nil, now: at(0))
    score.refresh(now: at(0))
    score.graft(peer(1), topic: blocksTopic, now: at(0))
    func meshDeliveryTerm(_ t: Double) -> Double {
        let p1 = min((t / blocks.timeInMeshQuantum).rounded(.down), blocks.timeInMeshCap) * blocks.timeInMeshWeight
        return (score.score(peer(1), now: at(t)) - score.score(peer(2), now: at(t))) / blocks.topicWeight - p1
    }
    var terms: [Int: Double] = [:]
    for second in 1...200 {
        score.refresh(now: at(Double(second)))
        if second <= 100 && second % 2 == 0 {
            score.deliverMessage(from: peer(1), id: message(2 * second), topic: blocksTopic, now: at(Double(second)))
            score.deliverMessage(
                from: peer(2), id: message(2 * second + 1), topic: blocksTopic, now: at(Double(second)))
        }
        terms[second] = meshDeliveryTerm(Double(second))
    }
    let cap = parameters.topicScoreCap
    #expect(terms[100].map { close($0, 0) } == true)  // steady deliveries: no deficit
    #expect(terms[140].map { close($0, 0) } == true)  // twenty heads of silence are free
    #expect(terms[160]! < -1)  // thirty are not
    #expect(terms[160]! > -cap)
    #expect(terms[175].map { close($0, -cap, tolerance: 1e-6) } == true)  // the counter is zero: the whole cap
    // Pruned now, the deficit sticks as P3b, worth the cap too.
    score.prune(peer(1), topic: blocksTopic, now: at(200))
    let sticky = (score.score(peer(1), now: at(200)) - score.score(peer(2), now: at(200))) / blocks.topicWeight
    #expect(close(sticky, -cap, tolerance: 1e-6))
}

// MARK: - The graylist bound

/// Every term on: P1, P2, P3 (active after 2 s), P3b, P4, P5, P6 (threshold 2), P7 (threshold 1).
private func everyTerm() -> GossipsubScoreParameters {
    scoring(
        { topic in
            topic.topicWeight = 0.7
            topic.timeInMeshWeight = 0.1
            topic.timeInMeshQuantum = 1
            topic.timeInMeshCap = 30
            topic.firstMessageDeliveriesWeight = 1
            topic.firstMessageDeliveriesCap = 20
            topic.firstMessageDeliveriesDecay = 0.9
            topic.meshMessageDeliveriesWeight = -0.5
            topic.meshMessageDeliveriesThreshold = 4
            topic.meshMessageDeliveriesCap = 10
            topic.meshMessageDeliveriesActivation = 2
            topic.meshMessageDeliveriesWindow = 0.5
            topic.meshMessageDeliveriesDecay = 0.8
            topic.meshFailurePenaltyWeight = -0.5
            topic.meshFailurePenaltyDecay = 0.6
            topic.invalidMessageDeliveriesWeight = -3
            topic.invalidMessageDeliveriesDecay = 0.5
        },
        global: {
            $0.topicScoreCap = 15
            $0.appSpecificWeight = 1
            $0.ipColocationFactorWeight = -2
            $0.ipColocationFactorThreshold = 2
            $0.behaviourPenaltyWeight = -1
            $0.behaviourPenaltyThreshold = 1
            $0.behaviourPenaltyDecay = 0.7
        })
}

/// The bound against the score, with P3 weighted (a negative floor, settled with a margin) and without (a clean
/// score is then at least 0 exactly, which settles thresholds of 0 and below).
@Test(arguments: [true, false])
func graylistBoundAgreesWithTheScoreThroughRandomHistories(meshDeliveries: Bool) throws {
    let thresholds = [-1e9, -80, -20, -5.6, -5.6 - 1e-12, -2, -0.5, -0.0, 0, 0.5, 3, 1e9]
    var parameters = everyTerm()
    if !meshDeliveries { parameters.topics[topic]!.meshMessageDeliveriesWeight = 0 }
    let topics = Array(parameters.topics.values)
    #expect(GossipsubPeerScore.cleanScoresAreNonNegative(parameters, topics) == !meshDeliveries)
    var below = 0
    var above = 0
    for seed in UInt64(1)...6 {
        var random = SeededRandom(seed: seed)
        var score = GossipsubPeerScore(parameters: parameters)
        let peers = (0..<80).map(peer)  // past the 64 slots kept as bits
        var connected = Set<Int>()
        var time = 0.0
        var nextMessage = 0
        for _ in 0..<3_000 {
            time += Double(random.next() % 400) / 1_000
            let now = at(time)
            let index = Int(random.next() % UInt64(peers.count))
            let who = peers[index]
            switch random.next() % 12 {
            case 0:
                // Four addresses for 80 peers: some crowd past the P6 threshold, some do not.
                score.addPeer(who, address: "10.0.0.\(random.next() % 4 + (index < 40 ? 0 : 100))", now: now)
                connected.insert(index)
            case 1:
                score.removePeer(who, now: now)
                connected.remove(index)
            case 2: score.graft(who, topic: topic, now: now)
            case 3: score.prune(who, topic: topic, now: now)
            case 4, 5:
                let id = message(nextMessage)
                nextMessage += 1
                score.validateMessage(from: who, id: id, topic: topic, now: now)
                if random.next() % 5 == 0 {
                    score.rejectMessage(from: who, id: id, topic: topic, reason: .validationFailed, now: now)
                } else {
                    score.deliverMessage(from: who, id: id, topic: topic, now: now)
                }
            case 6: score.duplicateMessage(from: who, id: message(max(0, nextMessage - 1)), topic: topic, now: now)
            case 7: score.addPenalty(who, count: Int(random.next() % 3))
            case 8: score.setApplicationScore(who, Double(Int(random.next() % 7)) - 3)
            case 9: score.rejectMessage(from: who, id: nil, topic: topic, reason: .invalidSignature, now: now)
            default: score.refresh(now: now)
            }
            for probe in [index, Int(random.next() % UInt64(peers.count))] {
                let exact = score.score(peers[probe], now: now)
                for threshold in thresholds {
                    let bound = score.scoreIsBelow(threshold, peer: peers[probe], now: now)
                    #expect(bound == (exact < threshold), "seed \(seed) peer \(probe) t \(threshold): score \(exact)")
                    if exact < threshold { below += 1 } else { above += 1 }
                }
            }
        }
        #expect(!connected.isEmpty)
    }
    #expect(below > 1_000 && above > 1_000)
}

@Test func graylistBoundStandsAsideWhenWeightsHaveTheWrongSign() {
    var parameters = everyTerm()
    #expect(GossipsubPeerScore.cleanFloor(parameters, Array(parameters.topics.values)) == 0.7 * 16 * -0.5)
    // The network's preset weighs no P3 deficit on its topics: clean scores are at least 0 exactly.
    let network = GossipsubScoreParameters.openLedger(chainID: 1_337)
    #expect(GossipsubPeerScore.cleanScoresAreNonNegative(network, Array(network.topics.values)))
    let withDeliveries = GossipsubScoreParameters.openLedger(chainID: 1_337, meshDeliveries: true)
    #expect(!GossipsubPeerScore.cleanScoresAreNonNegative(withDeliveries, Array(withDeliveries.topics.values)))
    parameters.topics[topic]!.firstMessageDeliveriesWeight = -1
    #expect(GossipsubPeerScore.cleanFloor(parameters, Array(parameters.topics.values)) == -.infinity)
    #expect(!GossipsubPeerScore.cleanScoresAreNonNegative(parameters, Array(parameters.topics.values)))
    parameters = everyTerm()
    parameters.behaviourPenaltyThreshold = -1
    #expect(GossipsubPeerScore.cleanFloor(parameters, Array(parameters.topics.values)) == -.infinity)
    parameters = everyTerm()
    parameters.topics[topic]!.meshMessageDeliveriesCap = -1
    #expect(GossipsubPeerScore.cleanFloor(parameters, Array(parameters.topics.values)) == -.infinity)
}
