import Codec
import Runtime

extension KademliaDHT {
    /// Answers one inbound request (server mode), or refuses it with a reset.
    mutating func serve(
        _ message: KademliaMessage, from peer: PeerID, stream: KademliaStreamID, now: Instant,
        _ actions: inout [Action]
    ) {
        do throws(KademliaError) {
            guard config.mode == .server else { throw .clientMode }
            table.markSeen(peer, now: now)
            let answer = try answer(message, from: peer, now: now)
            counters.served += 1
            actions.append(.respond(stream, answer))
        } catch {
            counters.refused += 1
            actions.append(.reset(stream, KademliaDrop(peer: peer, reason: error)))
        }
    }

    private mutating func answer(
        _ message: KademliaMessage, from peer: PeerID, now: Instant
    ) throws(KademliaError) -> KademliaMessage? {
        switch message.type {
        case .ping:
            return KademliaMessage(type: .ping)
        case .findNode:
            guard !message.key.isEmpty else { throw .missingField("Message.key") }
            var closer = closerPeers(message.key, excluding: peer)
            if message.key == localIDBytes { closer.insert(localProviderInfo, at: 0) }
            // The target itself when we are connected to it, even as a client outside every table (go does so).
            if let target = try? PeerID(multihashBytes: message.key), target != peer,
                !closer.contains(where: { $0.id == target }), let addresses = connectedAddresses[target],
                !addresses.isEmpty
            {
                closer.insert(KademliaPeerInfo(id: target, addresses: addresses, connection: .connected), at: 0)
            }
            return KademliaMessage(type: .findNode, key: message.key, closerPeers: Array(closer.prefix(config.k)))
        case .getProviders:
            guard !message.key.isEmpty else { throw .missingField("Message.key") }
            return KademliaMessage(
                type: .getProviders, key: message.key, closerPeers: closerPeers(message.key, excluding: peer),
                providerPeers: Array(providerStore.providers(of: message.key, now: now).prefix(config.k)))
        case .addProvider:
            try addProvider(message, from: peer, now: now)
            return nil
        case .getValue:
            _ = try namespaces.validator(for: message.key)
            return KademliaMessage(
                type: .getValue, key: message.key, record: recordStore.record(message.key, now: now),
                closerPeers: closerPeers(message.key, excluding: peer))
        case .putValue:
            try putValue(message, now: now)
            return message
        }
    }

    private func closerPeers(_ key: [UInt8], excluding peer: PeerID) -> [KademliaPeerInfo] {
        table.closest(to: KademliaKey(hashing: key), count: config.k, excluding: peer).map(info)
    }

    /// ADD_PROVIDER: rate-limited per peer; only the sender itself, with at least one address, is stored.
    private mutating func addProvider(_ message: KademliaMessage, from peer: PeerID, now: Instant) throws(KademliaError)
    {
        guard !message.key.isEmpty else { throw .missingField("Message.key") }
        var window = addProviderWindows[peer] ?? (now, 0)
        if now.seconds(since: window.start) >= config.addProviderWindow { window = (now, 0) }
        window.count += 1
        addProviderWindows[peer] = window
        guard window.count <= config.addProviderLimit else { throw .rateLimited }
        guard let provider = message.providerPeers.first(where: { $0.id == peer }) else {
            throw .invalidProvider("no provider entry names the sender")
        }
        guard !provider.addresses.isEmpty else { throw .invalidProvider("the provider has no address") }
        let info = KademliaPeerInfo(id: peer, addresses: Array(provider.addresses.prefix(config.maxAddressesPerPeer)))
        guard providerStore.add(key: message.key, info: info, expires: now.advanced(bySeconds: config.providerTTL))
        else { throw .tooMany(what: "providers of one key", limit: config.maxProvidersPerKey) }
        counters.providersStored += 1
    }

    /// PUT_VALUE: a record in a served namespace, valid, and not worse than the one held.
    private mutating func putValue(_ message: KademliaMessage, now: Instant) throws(KademliaError) {
        guard let record = message.record else { throw .missingField("Message.record") }
        guard record.key == message.key else { throw .invalidRecord("record key differs from the message key") }
        guard record.value.count <= config.limits.maxValueLength else {
            throw .fieldTooLong(field: "Record.value", length: record.value.count, limit: config.limits.maxValueLength)
        }
        let validator = try namespaces.validator(for: record.key)
        try validator.validate(key: record.key, value: record.value)
        if let held = recordStore.record(record.key, now: now), held.value != record.value,
            validator.select(key: record.key, values: [held.value, record.value]) == 0
        {
            throw .invalidRecord("the record held is better")
        }
        let stored = KademliaRecord(key: record.key, value: record.value)
        guard recordStore.put(stored, expires: now.advanced(bySeconds: config.recordTTL), now: now) else {
            throw .tooMany(what: "records held", limit: config.maxValueRecords)
        }
        counters.recordsStored += 1
    }
}
