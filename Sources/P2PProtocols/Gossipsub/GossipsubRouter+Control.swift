import Codec
import Runtime

extension GossipsubRouter {
    /// IHAVE, IWANT, GRAFT, PRUNE and IDONTWANT of one RPC, in go-libp2p-pubsub's order.
    mutating func handleControl(_ control: GossipsubRPC.Control, from peer: PeerID, now: Instant) {
        let drops = counters.disconnects
        if !control.ihave.isEmpty { handleIHave(control.ihave, from: peer, now: now) }
        if !control.iwant.isEmpty, stillConnected(peer, drops) { handleIWant(control.iwant, from: peer, now: now) }
        if !control.graft.isEmpty, stillConnected(peer, drops) { handleGraft(control.graft, from: peer, now: now) }
        if !control.prune.isEmpty, stillConnected(peer, drops) { handlePrune(control.prune, from: peer, now: now) }
        if !control.idontwant.isEmpty, stillConnected(peer, drops) {
            handleIDontWant(control.idontwant, from: peer, now: now)
        }
    }

    // MARK: IHAVE

    private mutating func handleIHave(_ entries: [GossipsubRPC.IHave], from peer: PeerID, now: Instant) {
        // One look-up: the state is counted in place through its index, and scored by the slot it keeps.
        guard let index = peers.index(forKey: peer), peerScore(peers.values[index], now) >= thresholds.gossip else {
            return
        }
        peers.values[index].roll(tick: heartbeatTicks)
        peers.values[index].ihaveRPCs += 1
        let state = peers.values[index]
        guard state.ihaveRPCs <= config.maxIHaveMessages else {
            score?.addPenalty(peer, count: 1)
            violation(peer, "IHAVE flood (\(state.ihaveRPCs) IHAVE RPCs in one heartbeat)", now: now)
            return
        }
        guard state.asked < config.maxIHaveLength else { return }
        var wanted: [GossipsubMessageID] = []
        // Repeated ids are dropped by a scan while few are wanted, by a set past that.
        var chosen = Set<GossipsubMessageID>()
        var oversized = false
        for entry in entries where mesh.contains(entry.topic) {
            if entry.messageIDs.count > config.maxIHaveLength { oversized = true }
            for id in entry.messageIDs.prefix(config.maxIHaveLength) where !isSeen(id, now: now) && pending[id] == nil {
                if wanted.count < 16 {
                    guard !wanted.contains(id) else { continue }
                } else {
                    if chosen.isEmpty { chosen = Set(wanted) }
                    guard chosen.insert(id).inserted else { continue }
                }
                wanted.append(id)
            }
        }
        if oversized {
            score?.addPenalty(peer, count: 1)
            violation(peer, "IHAVE of more than \(config.maxIHaveLength) ids", now: now)
        }
        guard !wanted.isEmpty else { return }
        // A violation above may have closed the connection, and a removal moves the table's entries.
        guard let slot = oversized ? peers.index(forKey: peer) : index else { return }
        let ask = min(wanted.count, config.maxIHaveLength - state.asked)
        randomSource.choose(ask, from: &wanted)
        wanted.removeLast(wanted.count - ask)
        peers.values[slot].asked += ask
        // One promise per IWANT, on an id chosen at random (go-libp2p-pubsub's gossip tracer).
        let promised = wanted[randomSource.below(wanted.count)]
        if promises[promised]?[peer] == nil {
            let until = now.advanced(bySeconds: config.iwantFollowupTime)
            promises[promised, default: [:]][peer] = until
            promiseOrder.push(Promise(id: promised, peer: peer, until: until))
        }
        counters.iwantSent += wanted.count
        outbox.iwant(wanted, to: peer)
    }

    // MARK: IWANT

    private mutating func handleIWant(_ lists: [[GossipsubMessageID]], from peer: PeerID, now: Instant) {
        guard peerScore(peer, now) >= thresholds.gossip, var state = peers[peer] else { return }
        state.roll(tick: heartbeatTicks)
        let total = lists.reduce(0) { $0 + $1.count }
        let budget = max(0, config.maxIWantMessageIDs - state.requested)
        state.requested += total
        peers[peer] = state
        var remaining = min(total, budget)
        var sent = Set<GossipsubMessageID>()
        outer: for ids in lists {
            for id in ids {
                guard remaining > 0 else { break outer }
                remaining -= 1
                guard !doesNotWant(peer, DontWantTable.key(id), now: now), sent.insert(id).inserted,
                    let message = cache.messageForRequest(id, from: peer, limit: config.gossipRetransmission)
                else { continue }
                outbox.message([message], size: ProtobufSize.field(message.encodedSize), to: peer)
                counters.iwantServed += 1
            }
        }
        if total > budget {
            score?.addPenalty(peer, count: 1)
            violation(peer, "IWANT flood (\(state.requested) ids in one heartbeat)", now: now)
        }
    }

    // MARK: GRAFT

    private mutating func handleGraft(_ topics: [String], from peer: PeerID, now: Instant) {
        var doPX = config.doPX
        var refused: [String] = []
        let peerScore = peerScore(peer, now)
        for topic in topics {
            guard subscribed.contains(topic), mesh.contains(topic) else {
                // Unknown topic: ignored, and no PX that would leak our peers.
                doPX = false
                continue
            }
            guard let state = peers[peer] else { return }
            if mesh[topic]!.contains(peer) { continue }
            if peerTopics[peer]?.contains(topic) != true {
                // A GRAFT implies the subscription (some peers send it first).
                guard applySubscription(.init(subscribe: true, topic: topic), from: peer, now: now) else { return }
                guard peerTopics[peer]?.contains(topic) == true else { continue }
            }
            if let expiry = backoff[topic]?[peer], now < expiry {
                // GRAFT during our backoff: a penalty, a second one when it comes within the flood threshold.
                var penalty = 1
                let floodCutoff = expiry.advanced(bySeconds: config.graftFloodThreshold - config.pruneBackoff)
                if now < floodCutoff { penalty += 1 }
                score?.addPenalty(peer, count: penalty)
                doPX = false
                addBackoff(peer, topic, seconds: config.pruneBackoff, now: now)
                refused.append(topic)
                violation(peer, "GRAFT during backoff on \(topic.prefix(64))", now: now)
                if !isConnected(peer) { return }
                continue
            }
            if peerScore < 0 {
                refused.append(topic)
                doPX = false
                addBackoff(peer, topic, seconds: config.pruneBackoff, now: now)
                continue
            }
            if mesh[topic]!.count >= config.dHigh && !state.outbound {
                refused.append(topic)
                addBackoff(peer, topic, seconds: config.pruneBackoff, now: now)
                continue
            }
            mesh[topic]!.insert(peer)
            score?.graft(peer, topic: topic, now: now)
        }
        for topic in refused {
            outbox.prune(makePrune(for: peer, topic: topic, px: doPX, unsubscribing: false, now: now), to: peer)
        }
    }

    // MARK: PRUNE

    private mutating func handlePrune(_ prunes: [GossipsubRPC.Prune], from peer: PeerID, now: Instant) {
        guard let state = peers[peer] else { return }
        let peerScore = peerScore(peer, now)
        for prune in prunes {
            let topic = prune.topic
            guard mesh.contains(topic) else { continue }
            if mesh[topic]!.remove(peer) { score?.prune(peer, topic: topic, now: now) }
            // Obey the peer's backoff (bounded to a day), or apply ours.
            if let seconds = prune.backoff, seconds > 0 {
                addBackoff(peer, topic, seconds: Double(min(seconds, 86_400)), now: now)
            } else {
                addBackoff(peer, topic, seconds: config.pruneBackoff, now: now)
            }
            guard !prune.peers.isEmpty, config.doPX, state.version >= .v11, peerScore >= thresholds.acceptPX
            else { continue }
            connectExchanged(prune.peers)
        }
    }

    /// PX: dials up to `prunePeers` of the offered peers that we are not connected to.
    private mutating func connectExchanged(_ offered: [GossipsubRPC.PeerInfo]) {
        var offered = offered
        if offered.count > config.prunePeers {
            randomSource.choose(config.prunePeers, from: &offered)
            offered.removeLast(offered.count - config.prunePeers)
        }
        for info in offered {
            guard let bytes = info.peerID, let candidate = try? PeerID(multihashBytes: bytes), candidate != local,
                !isConnected(candidate)
            else { continue }
            outbox.actions.append(.connect(candidate, signedRecord: info.signedRecord))
        }
    }

    // MARK: IDONTWANT

    private mutating func handleIDontWant(_ lists: [[GossipsubMessageID]], from peer: PeerID, now: Instant) {
        guard isConnected(peer) else { return }
        let until = now.advanced(bySeconds: config.idontwantTTL)
        for ids in lists {
            for id in ids {
                // In place: a copy of the state would copy its IDONTWANT table.
                dontWant[peer, default: DontWantTable()].add(
                    id, until: until, now: now, limit: config.maxIDontWantMessages)
            }
        }
    }
}
