import Codec
import Runtime

extension BitswapEngine {
    mutating func want(
        _ id: BitswapSessionID, cids: [CID], peers newPeers: [PeerID], now: Instant, _ out: inout Outbox
    ) {
        if sessions[id] == nil {
            guard sessions.count < config.maxSessions else { return }
            sessions[id] = Session()
            sessionOrder.insert(id)
        }
        guard var session = sessions.removeValue(forKey: id) else { return }
        for peer in newPeers where penalized[peer] == nil { session.peers.insert(peer) }
        for cid in cids where session.wanted.count < config.maxWantsPerSession {
            guard session.wanted.insert(cid) else { continue }
            wantedBy[cid, default: []].append(id)
            session.pending.push(cid)
            session.queued.insert(cid)
        }
        session.stalled = false
        sessions[id] = session
        assign(id, now: now, &out)
    }

    mutating func close(_ id: BitswapSessionID, _ out: inout Outbox) {
        guard let session = sessions.removeValue(forKey: id) else { return }
        sessionOrder.remove(id)
        for cid in session.wanted.elements {
            // A block asked for before the cancel may still arrive: it is a late duplicate, not a bad block.
            if session.inFlight[cid] != nil { remember(cid) }
            wantedBy[cid]?.removeAll { $0 == id }
            if wantedBy[cid]?.isEmpty == true { wantedBy[cid] = nil }
            var asked = session.askedHave[cid] ?? []
            if let flight = session.inFlight[cid] {
                release(flight.peer)
                asked.insert(flight.peer)
            }
            if wantedBy[cid] == nil {
                for peer in session.peers.elements where asked.contains(peer) {
                    out.want(BitswapMessage.Entry(cid: cid, cancel: true), to: peer)
                }
            }
        }
    }

    /// Sends the session's pending wants to its best peers while they have room.
    mutating func assign(_ id: BitswapSessionID, now: Instant, _ out: inout Outbox) {
        guard var session = sessions.removeValue(forKey: id) else { return }
        defer { sessions[id] = session }
        var deferred: [CID] = []
        var unservable = false
        while let cid = session.pending.first {
            guard session.wanted.contains(cid), session.inFlight[cid] == nil else {
                session.pending.popFirst()
                session.queued.remove(cid)
                continue
            }
            let refused = session.dontHave[cid] ?? []
            let candidates = session.peers.elements.filter { peer in
                penalized[peer] == nil && peers[peer]?.connected == true && !refused.contains(peer)
            }
            if candidates.isEmpty {
                // Nobody connected can serve it now: it waits for a peer, a HAVE or a re-send.
                session.pending.popFirst()
                deferred.append(cid)
                unservable = true
                continue
            }
            let preferred = session.haves[cid].flatMap { peer in candidates.contains(peer) ? peer : nil }
            guard let peer = preferred.flatMap({ hasRoom($0) ? $0 : nil }) ?? best(of: candidates) else { break }
            session.pending.popFirst()
            session.queued.remove(cid)
            session.inFlight[cid] = InFlight(peer: peer, since: now, resent: now)
            self[peer: peer].outstanding += 1
            counters.wantsSent += 1
            out.want(BitswapMessage.Entry(cid: cid, priority: 1, wantType: .block, sendDontHave: true), to: peer)
        }
        for cid in deferred { session.pending.push(cid) }
        if unservable && !session.stalled {
            session.stalled = true
            out.actions.append(.needProviders(id))
        }
    }

    func hasRoom(_ peer: PeerID) -> Bool { (peers[peer]?.outstanding ?? 0) < config.maxOutstandingPerPeer }

    /// The candidate with room and the most bytes per second per block in flight; a peer not yet measured counts
    /// as fast, so that each peer is tried.
    func best(of candidates: [PeerID]) -> PeerID? {
        var chosen: PeerID?
        var score = -1.0
        for peer in candidates where hasRoom(peer) {
            let state = peers[peer] ?? PeerState()
            let value = (state.rate ?? 1e12) / Double(state.outstanding + 1)
            if value > score {
                score = value
                chosen = peer
            }
        }
        return chosen
    }

    mutating func release(_ peer: PeerID) {
        if var state = peers[peer], state.outstanding > 0 {
            state.outstanding -= 1
            peers[peer] = state
        }
    }

    /// Blocks and presences from a peer.
    mutating func clientReceived(_ message: BitswapMessage, from peer: PeerID, now: Instant, _ out: inout Outbox) {
        var touched: [BitswapSessionID] = []
        for block in message.blocks {
            // The one hash of the block: its CID is computed from its bytes, and the block is kept as verified.
            guard let verified = block.verified else {
                penalize(peer, .invalidCID("a block the node cannot verify"), now: now, &out)
                return
            }
            let cid = verified.cid
            guard let ids = wantedBy.removeValue(forKey: cid) else {
                if recent.contains(cid) {
                    counters.duplicateBlocks += 1
                    continue
                }
                penalize(peer, .unsolicitedBlock(cid), now: now, &out)
                return
            }
            remember(cid)
            counters.blocksReceived += 1
            counters.bytesReceived += block.data.count
            measure(peer, bytes: block.data.count, now: now)
            for id in ids {
                guard var session = sessions.removeValue(forKey: id) else { continue }
                session.wanted.remove(cid)
                session.dontHave[cid] = nil
                session.haves[cid] = nil
                var cancel = session.askedHave.removeValue(forKey: cid) ?? []
                if let flight = session.inFlight.removeValue(forKey: cid) {
                    release(flight.peer)
                    cancel.insert(flight.peer)
                }
                cancel.remove(peer)
                for other in session.peers.elements where cancel.contains(other) {
                    out.want(BitswapMessage.Entry(cid: cid, cancel: true), to: other)
                }
                sessions[id] = session
                if !touched.contains(id) { touched.append(id) }
            }
            out.actions.append(.received(verified, from: peer, sessions: ids))
        }
        for presence in message.presences {
            guard let ids = wantedBy[presence.cid] else { continue }
            for id in ids {
                guard var session = sessions.removeValue(forKey: id) else { continue }
                switch presence.kind {
                case .have:
                    session.haves[presence.cid] = peer
                    session.dontHave[presence.cid]?.remove(peer)
                    session.askedHave[presence.cid]?.remove(peer)
                    session.peers.insert(peer)
                case .dontHave:
                    session.dontHave[presence.cid, default: []].insert(peer)
                    if session.haves[presence.cid] == peer { session.haves[presence.cid] = nil }
                    if let flight = session.inFlight[presence.cid], flight.peer == peer {
                        session.inFlight[presence.cid] = nil
                        release(peer)
                        counters.reassigned += 1
                        requeue(presence.cid, in: &session)
                        // The peer keeps the want as a want-have: it says HAVE once it has the block. Our own
                        // server does so; a peer that keeps it as a want-block may push the block, which is fine.
                        session.askedHave[presence.cid, default: []].insert(peer)
                    }
                }
                sessions[id] = session
                if !touched.contains(id) { touched.append(id) }
            }
        }
        for id in touched { assign(id, now: now, &out) }
    }

    /// Whether the peer delivered a block after `time`.
    func deliveredSince(_ peer: PeerID, _ time: Instant) -> Bool {
        guard let last = peers[peer]?.lastDelivery else { return false }
        return last > time
    }

    func requeue(_ cid: CID, in session: inout Session) {
        if session.queued.insert(cid).inserted { session.pending.push(cid) }
    }

    mutating func remember(_ cid: CID) {
        guard recent.insert(cid).inserted else { return }
        recentOrder.push(cid)
        while recentOrder.count > config.recentlyWantedMemory, let old = recentOrder.popFirst() { recent.remove(old) }
    }

    /// Folds one delivery into the peer's throughput: the bytes over the time since its previous delivery while
    /// it had wants in flight.
    mutating func measure(_ peer: PeerID, bytes: Int, now: Instant) {
        var state = self[peer: peer]
        if let last = state.lastDelivery {
            let seconds = max(now.seconds(since: last), 1e-4)
            let sample = Double(bytes) / seconds
            state.rate = state.rate.map { 0.8 * $0 + 0.2 * sample } ?? sample
        }
        state.lastDelivery = now
        self[peer: peer] = state
    }

    /// A bad block: the peer leaves every session for `penaltySeconds`, its wants go to others, and the shell
    /// disconnects it.
    mutating func penalize(_ peer: PeerID, _ reason: BitswapError, now: Instant, _ out: inout Outbox) {
        counters.penalties += 1
        if penalized[peer] == nil {
            penalizedOrder.push(peer)
            while penalizedOrder.count > config.maxPenalized, let old = penalizedOrder.popFirst() {
                penalized[old] = nil
            }
        }
        penalized[peer] = now.advanced(bySeconds: config.penaltySeconds)
        out.actions.append(.punish(peer, reason))
        for id in sessionOrder.elements { sessions[id]?.peers.remove(peer) }
        reassignAll(from: peer, now: now, &out)
    }

    /// Every want in flight to `peer` goes back to its session's queue, and the sessions assign again.
    mutating func reassignAll(from peer: PeerID, now: Instant, _ out: inout Outbox) {
        var touched: [BitswapSessionID] = []
        for id in sessionOrder.elements {
            guard var session = sessions.removeValue(forKey: id) else { continue }
            let moved = session.wanted.elements.filter { session.inFlight[$0]?.peer == peer }
            for cid in moved {
                session.inFlight[cid] = nil
                release(peer)
                counters.reassigned += 1
                requeue(cid, in: &session)
            }
            sessions[id] = session
            if !moved.isEmpty { touched.append(id) }
        }
        for id in touched { assign(id, now: now, &out) }
    }

    /// Timeouts (a want-block unanswered for `wantTimeout` goes to another peer, the slow one marked as not
    /// having it for this session) and re-sends (wants in flight for `rebroadcastInterval` are sent again; wants
    /// nobody could take are offered to every peer of the session as want-have).
    mutating func tick(now: Instant, _ out: inout Outbox) {
        for (peer, until) in penalized where until <= now { penalized[peer] = nil }
        let rebroadcast = now.seconds(since: lastRebroadcast) >= config.rebroadcastInterval
        if rebroadcast { lastRebroadcast = now }
        for id in sessionOrder.elements {
            guard var session = sessions.removeValue(forKey: id) else { continue }
            for cid in session.wanted.elements {
                guard let flight = session.inFlight[cid] else { continue }
                if now.seconds(since: flight.since) >= config.wantTimeout {
                    session.inFlight[cid] = nil
                    release(flight.peer)
                    counters.reassigned += 1
                    session.dontHave[cid, default: []].insert(flight.peer)
                    out.want(BitswapMessage.Entry(cid: cid, cancel: true), to: flight.peer)
                    requeue(cid, in: &session)
                } else if rebroadcast && now.seconds(since: flight.resent) >= config.rebroadcastInterval
                    && !deliveredSince(flight.peer, flight.resent)
                {
                    // Sent again only to a peer gone quiet: one that delivers is busy, and a re-sent want would
                    // make it send the block twice.
                    session.inFlight[cid]?.resent = now
                    out.want(
                        BitswapMessage.Entry(cid: cid, priority: 1, wantType: .block, sendDontHave: true),
                        to: flight.peer)
                }
            }
            if rebroadcast && session.stalled {
                // Ask everyone again: refusals are forgotten, so a peer that has since fetched the block can serve it.
                var haves: [CID] = []
                for cid in session.wanted.elements where session.inFlight[cid] == nil {
                    session.dontHave[cid] = nil
                    haves.append(cid)
                    if haves.count == 512 { break }
                }
                for peer in session.peers.elements where peers[peer]?.connected == true {
                    for cid in haves {
                        out.want(
                            BitswapMessage.Entry(cid: cid, priority: 1, wantType: .have, sendDontHave: true), to: peer)
                    }
                }
                session.stalled = false
            }
            sessions[id] = session
            assign(id, now: now, &out)
        }
    }
}
