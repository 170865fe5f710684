import Codec
import Runtime

extension GossipsubRouter {
    // MARK: Receiving

    mutating func receive(bytes: ArraySlice<UInt8>, from peer: PeerID, now: Instant) {
        guard isConnected(peer) else {
            counters.rpcsFromUnknownPeers += 1
            return
        }
        let rpc: GossipsubRPC
        do {
            rpc = try GossipsubRPC(decoding: bytes, limits: limits)
        } catch {
            disconnect(peer, reason: "\(error)", now: now)
            return
        }
        receive(rpc, from: peer, size: bytes.count, now: now)
    }

    /// The RPC bound for an RPC carrying `rpc`'s messages: the default, or a larger one of a topic it carries.
    @inline(__always)
    func rpcLimit(for rpc: GossipsubRPC) -> Int {
        var limit = config.maxRPCSize
        if !config.topicMaxRPCSize.isEmpty {
            for message in rpc.messages {
                if let topicLimit = config.topicMaxRPCSize[message.topic], topicLimit > limit { limit = topicLimit }
            }
        }
        return limit
    }

    mutating func receive(_ rpc: GossipsubRPC, from peer: PeerID, size: Int, now: Instant) {
        guard let state = peers[peer] else {
            counters.rpcsFromUnknownPeers += 1
            return
        }
        let limit = rpcLimit(for: rpc)
        guard size <= limit else {
            disconnect(peer, reason: "\(GossipsubError.rpcTooLarge(size: size, limit: limit))", now: now)
            return
        }
        if let control = rpc.control {
            let entries =
                control.ihave.count + control.iwant.count + control.graft.count + control.prune.count
                + control.idontwant.count
            guard entries <= config.maxControlMessages else {
                let error = GossipsubError.tooMany(what: "control entries", limit: config.maxControlMessages)
                disconnect(peer, reason: "\(error)", now: now)
                return
            }
        }
        for change in rpc.subscriptions where !applySubscription(change, from: peer, now: now) { return }
        // Below the graylist threshold nothing but subscriptions is read (go-libp2p-pubsub's AcceptFrom).
        if isGraylisted(state, now) {
            counters.graylistedRPCs += 1
            return
        }
        let drops = counters.disconnects
        if !rpc.messages.isEmpty { receiveMessages(rpc.messages, from: peer, now: now) }
        if let control = rpc.control, stillConnected(peer, drops) { handleControl(control, from: peer, now: now) }
    }

    private mutating func receiveMessages(_ messages: [GossipsubMessage], from peer: PeerID, now: Instant) {
        var unknownTopics = 0
        let drops = counters.disconnects
        for message in messages {
            guard stillConnected(peer, drops) else { return }
            let topic = message.topic
            guard subscribed.contains(topic) else {
                if !topicPeers.contains(topic) {
                    counters.unknownTopicMessages += 1
                    unknownTopics += 1
                    violation(peer, "message on unknown topic \(topic.prefix(64))", now: now)
                } else {
                    counters.unsubscribedTopicMessages += 1
                }
                continue
            }
            receiveMessage(message, from: peer, now: now)
        }
        if unknownTopics > 0 { score?.addPenalty(peer, count: 1) }
    }

    private mutating func receiveMessage(_ message: GossipsubMessage, from peer: PeerID, now: Instant) {
        let topic = message.topic
        // StrictSign: a signature, an author that is a peer id, and an 8-byte sequence number.
        guard message.signature != nil else {
            counters.missingSignatures += 1
            score?.rejectMessage(from: peer, id: nil, topic: topic, reason: .missingSignature, now: now)
            violation(peer, "unsigned message", now: now)
            return
        }
        guard let seqno = message.seqno, seqno.count == 8, let fromBytes = message.from else {
            invalidAuthor(message, from: peer, now: now)
            return
        }
        let id = messageID(of: message)
        if fromBytes == localPeerIDBytes {
            counters.selfOrigin += 1
            score?.rejectMessage(from: peer, id: id, topic: topic, reason: .selfOrigin, now: now)
            return
        }
        if isSeen(id, now: now) {
            counters.duplicates += 1
            score?.duplicateMessage(from: peer, id: id, topic: topic, now: now)
            return
        }
        guard let author = try? PeerID(multihashBytes: fromBytes) else {
            invalidAuthor(message, from: peer, now: now)
            return
        }
        // Verified before it is marked seen: a forged copy must not hide the real message.
        guard verifySignature(message, author: author) else {
            counters.invalidSignatures += 1
            score?.rejectMessage(from: peer, id: nil, topic: topic, reason: .invalidSignature, now: now)
            violation(peer, "invalid message signature", now: now)
            return
        }
        let needsValidation = !config.validatedTopics.isEmpty && config.validatedTopics.contains(topic)
        if needsValidation && pending.count >= config.maxPendingValidations {
            counters.validationThrottled += 1
            return
        }
        markSeen(id, now: now)
        score?.validateMessage(from: peer, id: id, topic: topic, now: now)
        promises[id] = nil
        if message.data.count >= config.idontwantMessageThreshold {
            sendIDontWant(id, topic: topic, except: peer, now: now)
        }
        if needsValidation {
            let deadline = now.advanced(bySeconds: config.validationTimeout)
            pending[id] = PendingValidation(message: message, from: peer, author: author, deadline: deadline)
            pendingOrder.push(Expiry(id: id, until: deadline))
            outbox.actions.append(.validate(message, id: id, from: peer))
        } else {
            accept(message, id: id, from: peer, author: author, now: now)
        }
    }

    private mutating func invalidAuthor(_ message: GossipsubMessage, from peer: PeerID, now: Instant) {
        counters.invalidSignatures += 1
        score?.rejectMessage(from: peer, id: nil, topic: message.topic, reason: .invalidSignature, now: now)
        violation(peer, "message without a valid author or sequence number", now: now)
    }

    /// v1.2: tells the v1.2 mesh peers (but the sender) not to send a large message we now have.
    private mutating func sendIDontWant(_ id: GossipsubMessageID, topic: String, except sender: PeerID, now: Instant) {
        guard let members = mesh[topic] else { return }
        let key = dontWant.isEmpty ? Fingerprint.Key(0) : DontWantTable.key(id)
        var fresh = GossipsubRPC.Control()
        fresh.idontwant = [[id]]
        for peer in members where peer != sender {
            // Mesh members are connected peers; their versions matter only while some peer is older than v1.2.
            if peersBelowV12 > 0 {
                guard let version = peers[peer]?.version, version >= .v12 else { continue }
            }
            guard !doesNotWant(peer, key, now: now) else { continue }
            outbox.idontwant(id, to: peer, fresh: fresh)
            counters.idontwantSent += 1
        }
    }

    private mutating func accept(
        _ message: GossipsubMessage, id: GossipsubMessageID, from peer: PeerID, author: PeerID, now: Instant
    ) {
        score?.deliverMessage(from: peer, id: id, topic: message.topic, now: now)
        cache.put(message, id: id)
        counters.delivered += 1
        outbox.actions.append(.deliver(message, id: id, from: peer))
        forward(message, id: id, from: peer, author: author, now: now)
    }

    /// Sends a message on to the mesh (but not to its sender, its author, or peers that said IDONTWANT).
    private mutating func forward(
        _ message: GossipsubMessage, id: GossipsubMessageID, from source: PeerID, author: PeerID, now: Instant
    ) {
        guard let members = mesh[message.topic] else { return }
        let size = ProtobufSize.field(message.encodedSize)
        let key = dontWant.isEmpty ? Fingerprint.Key(0) : DontWantTable.key(id)
        let alone = [message]
        for peer in members where peer != source && peer != author {
            if doesNotWant(peer, key, now: now) {
                counters.idontwantSuppressed += 1
                continue
            }
            outbox.message(alone, size: size, to: peer)
            counters.forwarded += 1
        }
    }

    mutating func finishValidation(_ id: GossipsubMessageID, _ result: GossipsubValidationResult, now: Instant) {
        guard let entry = pending.removeValue(forKey: id) else { return }
        let topic = entry.message.topic
        // The application left the topic while the message waited: nothing to deliver it to.
        let result = subscribed.contains(topic) ? result : .ignore
        switch result {
        case .accept:
            accept(entry.message, id: id, from: entry.from, author: entry.author, now: now)
        case .reject:
            counters.rejected += 1
            score?.rejectMessage(from: entry.from, id: id, topic: topic, reason: .validationFailed, now: now)
            violation(entry.from, "message rejected by validation", now: now)
        case .ignore:
            counters.ignored += 1
            score?.rejectMessage(from: entry.from, id: id, topic: topic, reason: .ignored, now: now)
        }
    }

    // MARK: Seen cache

    @inline(__always)
    func isSeen(_ id: GossipsubMessageID, now: Instant) -> Bool {
        guard let until = seen[id] else { return false }
        return now < until
    }

    mutating func markSeen(_ id: GossipsubMessageID, now: Instant) {
        let until = now.advanced(bySeconds: config.seenTTL)
        seen[id] = until
        seenOrder.push(Expiry(id: id, until: until))
    }

    /// Forgets seen ids whose TTL has passed.
    mutating func expireSeen(now: Instant) {
        while let oldest = seenOrder.first, oldest.until <= now {
            seenOrder.popFirst()
            if seen[oldest.id] == oldest.until { seen[oldest.id] = nil }
        }
    }

    // MARK: StrictSign

    /// Whether the message's signature is its author's: the key is the peer id's own, or the `key` field when it
    /// matches the peer id.
    func verifySignature(_ message: GossipsubMessage, author: PeerID) -> Bool {
        guard let signature = message.signature else { return false }
        let key: LibP2PPublicKey
        if let keyBytes = message.key {
            guard let decoded = try? LibP2PPublicKey(protobuf: keyBytes), PeerID(publicKey: decoded) == author
            else { return false }
            key = decoded
        } else {
            guard let embedded = author.publicKey else { return false }
            key = embedded
        }
        return verifier(key, signature, message.signingBytes)
    }

    // MARK: Publishing

    mutating func publish(topic: String, data: [UInt8], now: Instant) {
        guard topic.utf8.count <= config.maxTopicLength else {
            let error = GossipsubError.fieldTooLong(
                field: "Message.topic", length: topic.utf8.count, limit: config.maxTopicLength)
            outbox.actions.append(.publishFailed(topic: topic, error: error))
            return
        }
        sequenceNumber &+= 1
        var seqno = [UInt8](repeating: 0, count: 8)
        for index in 0..<8 { seqno[index] = UInt8(truncatingIfNeeded: sequenceNumber >> UInt64(56 - 8 * index)) }
        var message = GossipsubMessage(from: localPeerIDBytes, data: data, seqno: seqno, topic: topic)
        message.key = localKeyField
        do {
            message.signature = try identity.sign(message.signingBytes)
        } catch {
            outbox.actions.append(.publishFailed(topic: topic, error: .signingFailed("\(error)")))
            return
        }
        let size = ProtobufSize.field(message.encodedSize)
        let limit = max(config.maxRPCSize, config.topicMaxRPCSize[topic] ?? 0)
        guard size <= limit else {
            outbox.actions.append(.publishFailed(topic: topic, error: .rpcTooLarge(size: size, limit: limit)))
            return
        }
        let id = messageID(of: message)
        markSeen(id, now: now)
        cache.put(message, id: id)
        counters.published += 1
        outbox.actions.append(.published(id))
        let alone = [message]
        for peer in publishTargets(topic, now: now) where peer != local {
            outbox.message(alone, size: size, to: peer)
        }
    }

    /// Who gets an own message: with flood publishing every subscriber above the publish threshold, else the
    /// mesh, or the fanout of a topic we do not subscribe to.
    private mutating func publishTargets(_ topic: String, now: Instant) -> [PeerID] {
        if config.floodPublish {
            return (topicPeers[topic]?.elements ?? []).filter { peerScore($0, now) >= thresholds.publish }
        }
        if let members = mesh[topic] { return members.elements }
        lastPublished[topic] = now
        if let peers = fanout[topic], !peers.isEmpty { return peers.elements }
        let chosen = candidates(topic, count: config.d) { router, peer in
            router.peerScore(peer, now) >= router.thresholds.publish
        }
        guard !chosen.isEmpty else { return [] }
        var set = IndexedSet<PeerID>()
        for peer in chosen { set.insert(peer) }
        fanout[topic] = set
        fanoutTopics.insert(topic)
        return chosen
    }
}
