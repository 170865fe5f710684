import Codec
import Runtime

extension BitswapEngine {
    /// A message from a peer: its wantlist (server side), then its blocks and presences (client side).
    mutating func received(_ message: BitswapMessage, from peer: PeerID, now: Instant, _ out: inout Outbox) {
        var state = self[peer: peer]
        if message.full {
            for cid in state.theirOrder.elements { waitingFor[cid]?.remove(peer) }
            state.theirWants = [:]
            state.theirOrder = IndexedSet()
        }
        var asked: [BitswapMessage.Entry] = []
        var overflow = false
        for entry in message.wants {
            if entry.cancel {
                if state.theirWants.removeValue(forKey: entry.cid) != nil { state.theirOrder.remove(entry.cid) }
                waitingFor[entry.cid]?.remove(peer)
                continue
            }
            if state.theirWants[entry.cid] == nil {
                guard state.theirOrder.count < config.maxWantsPerPeer else {
                    overflow = true
                    continue
                }
                state.theirOrder.insert(entry.cid)
            }
            state.theirWants[entry.cid] = entry
            asked.append(entry)
        }
        self[peer: peer] = state
        if overflow {
            out.actions.append(.punish(peer, .tooMany(what: "wants held for one peer", limit: config.maxWantsPerPeer)))
        }
        if !asked.isEmpty { lookup(peer, asked, &out) }
        if !message.blocks.isEmpty || !message.presences.isEmpty {
            clientReceived(message, from: peer, now: now, &out)
        }
    }

    mutating func lookup(_ peer: PeerID, _ wants: [BitswapMessage.Entry], _ out: inout Outbox) {
        let id = BitswapLookupID(nextLookup)
        nextLookup += 1
        lookups[id] = (peer, wants)
        out.actions.append(.lookup(id, peer: peer, wants: wants))
    }

    /// The store's answers, turned into blocks, HAVEs and DONT_HAVEs.
    ///
    /// Blocks answer want-blocks, HAVE want-haves, DONT_HAVE a missing block when asked for. A want of a missing
    /// block stays in the peer's list until cancelled (as a want-have once DONT_HAVE was sent) and is answered when
    /// `.blockAdded` says the block arrived; answered wants leave the list.
    mutating func answer(_ id: BitswapLookupID, _ answers: [BitswapBlockLookup], _ out: inout Outbox) {
        guard let (peer, wants) = lookups.removeValue(forKey: id), var state = peers[peer] else { return }
        var blocks: [BitswapMessage.Block] = []
        var blockBytes = 0
        var presences: [BitswapMessage.Presence] = []
        func flush(_ out: inout Outbox) {
            guard !blocks.isEmpty || !presences.isEmpty else { return }
            out.actions.append(.send(peer, BitswapMessage(blocks: blocks, presences: presences)))
            blocks = []
            presences = []
            blockBytes = 0
        }
        for (entry, found) in zip(wants, answers) {
            // Withdrawn (or replaced by a later want of another type) since the question was asked.
            guard let current = state.theirWants[entry.cid], current.wantType == entry.wantType else { continue }
            var answered = true
            switch (entry.wantType, found) {
            case (.block, .block(let data)):
                if blockBytes + data.count > config.maxMessageBlockBytes { flush(&out) }
                blocks.append(BitswapMessage.Block(cid: entry.cid, data: data))
                blockBytes += data.count
                counters.blocksSent += 1
                counters.bytesSent += data.count
            case (.have, .have), (.have, .block):
                presences.append(BitswapMessage.Presence(cid: entry.cid, kind: .have))
            case (_, .missing) where entry.sendDontHave:
                // Answered now, and kept as a want-have: when the block arrives the peer hears HAVE and asks for it
                // if it still wants it (a block pushed then would often cross a block from another peer).
                presences.append(BitswapMessage.Presence(cid: entry.cid, kind: .dontHave))
                answered = false
                state.theirWants[entry.cid] = BitswapMessage.Entry(
                    cid: entry.cid, priority: entry.priority, wantType: .have, sendDontHave: false)
                waitingFor[entry.cid, default: IndexedSet()].insert(peer)
            case (.block, .have):
                // Held but not loaded: ask again for the bytes.
                answered = false
                lookup(peer, [entry], &out)
            case (_, .missing):
                answered = false
                waitingFor[entry.cid, default: IndexedSet()].insert(peer)
            }
            if answered {
                state.theirWants[entry.cid] = nil
                state.theirOrder.remove(entry.cid)
            }
        }
        peers[peer] = state
        flush(&out)
    }

    mutating func disconnected(_ peer: PeerID, now: Instant, _ out: inout Outbox) {
        guard var state = peers[peer] else { return }
        for cid in state.theirOrder.elements { waitingFor[cid]?.remove(peer) }
        state.theirWants = [:]
        state.theirOrder = IndexedSet()
        state.connected = false
        peers[peer] = state
        reassignAll(from: peer, now: now, &out)
        if peers[peer]?.outstanding == 0
            && !sessionOrder.elements.contains(where: { sessions[$0]?.peers.contains(peer) == true })
        {
            peers[peer] = nil
            peerOrder.remove(peer)
        }
    }
}
