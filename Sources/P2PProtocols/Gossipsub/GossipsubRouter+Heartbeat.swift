import Codec
import Runtime

extension GossipsubRouter {
    /// The heartbeat, in go-libp2p-pubsub's order: expiries and penalties, mesh maintenance per subscribed topic
    /// (with gossip), fanout maintenance (with gossip), then the message-cache shift.
    mutating func heartbeat(now: Instant) {
        heartbeatTicks &+= 1
        score?.refresh(now: now)
        if heartbeatTicks % 15 == 0 { clearBackoff(now: now) }
        applyBrokenPromises(now: now)
        expirePendingValidations(now: now)
        expireSeen(now: now)

        var scores = HeartbeatScores()
        for topic in subscribed.elements { maintainMesh(topic, now: now, scores: &scores) }
        maintainFanout(now: now, scores: &scores)
        cache.shift()
    }

    private mutating func clearBackoff(now: Instant) {
        // Slack of two heartbeats past the expiry (libp2p/specs#289).
        let slack = 2 * config.heartbeatInterval
        for topic in Array(backoff.keys) {
            backoff[topic] = backoff[topic]?.filter { now < $0.value.advanced(bySeconds: slack) }
            if backoff[topic]?.isEmpty == true { backoff[topic] = nil }
        }
    }

    private mutating func applyBrokenPromises(now: Instant) {
        var broken: [PeerID: Int] = [:]
        var order: [PeerID] = []
        while let oldest = promiseOrder.first, oldest.until <= now {
            promiseOrder.popFirst()
            guard promises[oldest.id]?[oldest.peer] == oldest.until else { continue }
            promises[oldest.id]?[oldest.peer] = nil
            if promises[oldest.id]?.isEmpty == true { promises[oldest.id] = nil }
            if broken[oldest.peer] == nil { order.append(oldest.peer) }
            broken[oldest.peer, default: 0] += 1
        }
        for peer in order {
            let count = broken[peer] ?? 0
            counters.brokenPromises += count
            score?.addPenalty(peer, count: count)
        }
    }

    private mutating func expirePendingValidations(now: Instant) {
        while let oldest = pendingOrder.first, oldest.until <= now {
            pendingOrder.popFirst()
            guard let entry = pending[oldest.id], entry.deadline == oldest.until else { continue }
            finishValidation(oldest.id, .ignore, now: now)
        }
    }

    /// The scores one heartbeat has computed: each peer is scored once per heartbeat, when first asked.
    struct HeartbeatScores {
        /// By the score slot of a connected peer (NaN: not yet asked).
        var bySlot: [Double] = []
        /// Peers without a slot in the router's state.
        var others: [PeerID: Double] = [:]
    }

    private mutating func cachedScore(_ peer: PeerID, _ now: Instant, _ scores: inout HeartbeatScores) -> Double {
        guard score != nil else { return 0 }
        guard let slot = peers[peer]?.scoreSlot, slot >= 0 else {
            if let value = scores.others[peer] { return value }
            let value = peerScore(peer, now)
            scores.others[peer] = value
            return value
        }
        return cachedScore(slot: Int(slot), now, &scores)
    }

    /// The score of the connected peer at score slot `index`, computed at the first ask of the heartbeat.
    private mutating func cachedScore(slot index: Int, _ now: Instant, _ scores: inout HeartbeatScores) -> Double {
        if index < scores.bySlot.count, !scores.bySlot[index].isNaN { return scores.bySlot[index] }
        let value = score?.scoreInPlace(slot: index, now: now) ?? 0
        if index >= scores.bySlot.count {
            scores.bySlot += repeatElement(.nan, count: max(index + 1, 16) - scores.bySlot.count)
        }
        scores.bySlot[index] = value
        return value
    }

    /// Whether a peer's score is below `threshold` this heartbeat.
    ///
    /// By its cached score when it has one, else by the keeper's bound when that settles it (reading none of the
    /// peer's counters, and caching nothing), else by its score, computed and cached. The answer is
    /// `cachedScore(_:_:_:) < threshold`: a peer whose score the bound settled has a score no graft or prune of
    /// another peer changes, and a peer pruned this heartbeat was scored (and cached) before its prune, by the check
    /// that pruned it or the ranking.
    private mutating func cachedScoreIsBelow(
        _ peer: PeerID, _ threshold: Double, _ now: Instant, _ scores: inout HeartbeatScores
    ) -> Bool {
        guard score != nil else { return 0 < threshold }
        guard let slot = peers[peer]?.scoreSlot, slot >= 0 else { return cachedScore(peer, now, &scores) < threshold }
        let index = Int(slot)
        let cached = index < scores.bySlot.count && !scores.bySlot[index].isNaN
        if !cached, score?.scoreIsSurelyNotBelow(threshold, slot: index, connected: true) == true { return false }
        return cachedScore(slot: index, now, &scores) < threshold
    }

    private mutating func maintainMesh(_ topic: String, now: Instant, scores: inout HeartbeatScores) {
        guard var members = mesh.removeValue(forKey: topic) else { return }
        var grafted: [PeerID] = []
        var pruned: [(peer: PeerID, px: Bool)] = []

        // Negative scores leave the mesh, without PX.
        for peer in members.elements where cachedScoreIsBelow(peer, 0, now, &scores) {
            members.remove(peer)
            pruned.append((peer, false))
        }

        // Too few: graft up to D.
        if members.count < config.dLow {
            let more = candidates(topic, count: config.d - members.count) { router, peer in
                !members.contains(peer) && !router.isBackingOff(peer, topic, now) && router.peerScore(peer, now) >= 0
            }
            for peer in more {
                members.insert(peer)
                grafted.append(peer)
            }
        }

        // Too many: keep the D_score best, the rest of D at random, with at least D_out outbound peers.
        if members.count > config.dHigh {
            var ranked = members.elements
            randomSource.shuffle(&ranked)
            let rankedScores = Dictionary(uniqueKeysWithValues: ranked.map { ($0, cachedScore($0, now, &scores)) })
            ranked.sort { rankedScores[$0]! > rankedScores[$1]! }
            let keepByScore = min(max(config.dScore, 0), ranked.count)
            var rest = Array(ranked[keepByScore...])
            randomSource.shuffle(&rest)
            ranked.replaceSubrange(keepByScore..., with: rest)
            let keep = min(config.d, ranked.count)
            bubbleOutbound(&ranked, keep: keep)
            for peer in ranked[keep...] {
                members.remove(peer)
                pruned.append((peer, true))
            }
        }

        // Enough peers but too few outbound ones: graft outbound peers.
        if members.count >= config.dLow {
            let outbound = members.elements.reduce(0) { $0 + (peers[$1]?.outbound == true ? 1 : 0) }
            if outbound < config.dOut {
                let more = candidates(topic, count: config.dOut - outbound) { router, peer in
                    !members.contains(peer) && !router.isBackingOff(peer, topic, now)
                        && router.peers[peer]?.outbound == true && router.peerScore(peer, now) >= 0
                }
                for peer in more {
                    members.insert(peer)
                    grafted.append(peer)
                }
            }
        }

        // Opportunistic grafting: a mesh whose median score is low takes a few better peers.
        if config.opportunisticGraftTicks > 0, heartbeatTicks % UInt64(config.opportunisticGraftTicks) == 0,
            members.count > 1
        {
            let sorted = members.elements.map { cachedScore($0, now, &scores) }.sorted()
            let median = sorted[sorted.count / 2]
            if median < thresholds.opportunisticGraft {
                let more = candidates(topic, count: config.opportunisticGraftPeers) { router, peer in
                    !members.contains(peer) && !router.isBackingOff(peer, topic, now)
                        && router.peerScore(peer, now) > median
                }
                for peer in more {
                    members.insert(peer)
                    grafted.append(peer)
                }
            }
        }

        mesh[topic] = members
        for peer in grafted {
            score?.graft(peer, topic: topic, now: now)
            outbox.graft(topic, to: peer)
        }
        for (peer, px) in pruned {
            score?.prune(peer, topic: topic, now: now)
            addBackoff(peer, topic, seconds: config.pruneBackoff, now: now)
            outbox.prune(
                makePrune(for: peer, topic: topic, px: px && config.doPX, unsubscribing: false, now: now), to: peer)
        }
        emitGossip(topic, excluding: members, now: now, scores: &scores)
    }

    /// Moves outbound peers into the first `keep` places until there are D_out of them (go-libp2p-pubsub's rotation).
    private func bubbleOutbound(_ ranked: inout [PeerID], keep: Int) {
        let isOutbound = { (peer: PeerID) in peers[peer]?.outbound == true }
        var outbound = ranked[..<keep].reduce(0) { $0 + (isOutbound($1) ? 1 : 0) }
        guard outbound < config.dOut else { return }
        func rotate(_ index: Int) {
            let peer = ranked.remove(at: index)
            ranked.insert(peer, at: 0)
        }
        if outbound > 0 {
            var have = outbound
            var index = 1
            while index < keep && have > 0 {
                if isOutbound(ranked[index]) {
                    rotate(index)
                    have -= 1
                }
                index += 1
            }
        }
        var need = config.dOut - outbound
        var index = keep
        while index < ranked.count && need > 0 {
            if isOutbound(ranked[index]) {
                rotate(index)
                need -= 1
                outbound += 1
            }
            index += 1
        }
    }

    private mutating func maintainFanout(now: Instant, scores: inout HeartbeatScores) {
        for topic in Array(lastPublished.keys) {
            guard let last = lastPublished[topic], last.advanced(bySeconds: config.fanoutTTL) < now else { continue }
            lastPublished[topic] = nil
            fanout[topic] = nil
            fanoutTopics.remove(topic)
        }
        for topic in fanoutTopics.elements {
            guard var members = fanout.removeValue(forKey: topic) else { continue }
            for peer in members.elements {
                let subscribedPeer = topicPeers[topic]?.contains(peer) == true
                if !subscribedPeer || cachedScoreIsBelow(peer, thresholds.publish, now, &scores) {
                    members.remove(peer)
                }
            }
            if members.count < config.d {
                let more = candidates(topic, count: config.d - members.count) { router, peer in
                    !members.contains(peer) && router.peerScore(peer, now) >= router.thresholds.publish
                }
                for peer in more { members.insert(peer) }
            }
            fanout[topic] = members
            emitGossip(topic, excluding: members, now: now, scores: &scores)
        }
    }

    /// IHAVE of the gossip windows' ids to max(D_lazy, gossipFactor × eligible) peers outside the mesh or fanout.
    private mutating func emitGossip(
        _ topic: String, excluding members: IndexedSet<PeerID>, now: Instant, scores: inout HeartbeatScores
    ) {
        guard cache.hasGossip(topic: topic), let subscribers = topicPeers[topic] else { return }
        var eligible: [PeerID] = []
        eligible.reserveCapacity(subscribers.count)
        for peer in subscribers.elements
        where !members.contains(peer) && !cachedScoreIsBelow(peer, thresholds.gossip, now, &scores) {
            eligible.append(peer)
        }
        guard !eligible.isEmpty else { return }
        var ids = cache.gossipIDs(topic: topic)
        guard !ids.isEmpty else { return }
        let target = min(max(config.dLazy, Int(config.gossipFactor * Double(eligible.count))), eligible.count)
        randomSource.choose(target, from: &eligible)
        randomSource.shuffle(&ids)
        // Untruncated, every peer is sent the same IHAVE: one list of it, which their RPCs share.
        let whole = ids.count > config.maxIHaveLength ? [] : [GossipsubRPC.IHave(topic: topic, messageIDs: ids)]
        for peer in eligible.prefix(target) {
            guard whole.isEmpty else {
                counters.ihaveSent += ids.count
                outbox.ihave(whole, to: peer)
                continue
            }
            // A different subset per peer spreads coverage when the list is truncated.
            randomSource.choose(config.maxIHaveLength, from: &ids)
            let advertised = Array(ids.prefix(config.maxIHaveLength))
            counters.ihaveSent += advertised.count
            outbox.ihave([GossipsubRPC.IHave(topic: topic, messageIDs: advertised)], to: peer)
        }
    }
}
