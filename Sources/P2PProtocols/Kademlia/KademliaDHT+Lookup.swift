import Codec
import Runtime

/// One iterative lookup: candidates sorted by distance to the target, α queries in flight among the k nearest
/// that have not failed, done when those k have all answered.
struct Lookup: Sendable {
    struct Candidate: Sendable {
        /// `slow`: in flight past `slowQueryAfter`; it holds neither an α slot nor a place among the k.
        enum State: Sendable { case waiting, inFlight, slow, answered, failed }
        let peer: PeerID
        let distance: KademliaKey
        var addresses: [Multiaddr]
        let hop: Int
        var state: State
    }

    let id: KademliaLookupID
    let kind: KademliaLookupKind
    let key: [UInt8]
    let target: KademliaKey
    let started: Instant
    let deadline: Instant
    var candidates: [Candidate] = []
    var known: Set<PeerID> = []
    var inFlight = 0
    var queried = 0
    var failed = 0
    var storing = false
    var storePending = 0
    var stored = 0
    var providers: Set<PeerID> = []
    var foundHop: Int?
    var best: KademliaRecord?
    var record: KademliaRecord?
    /// Optimistic Provide: the normalized distances under which a peer gets an early store, and under which the k
    /// nearest known end the walk; nil when the provide runs the classic way.
    var optimistic: (individual: Double, set: Double, returnAfter: Int)?
    /// Peers already sent an ADD_PROVIDER / PUT_VALUE.
    var storedTo: Set<PeerID> = []

    /// The message every query of this lookup sends.
    var query: KademliaMessage {
        switch kind {
        case .findProviders: KademliaMessage(type: .getProviders, key: key)
        case .getValue: KademliaMessage(type: .getValue, key: key)
        case .closestPeers, .findPeer, .provide, .putValue: KademliaMessage(type: .findNode, key: key)
        }
    }

    /// Adds a candidate in distance order unless known; the farthest is forgotten past `limit`.
    mutating func offer(_ peer: PeerID, addresses: [Multiaddr], hop: Int, limit: Int) {
        guard known.insert(peer).inserted else { return }
        let distance = KademliaKey(peer: peer).distance(to: target)
        var low = 0
        var high = candidates.count
        while low < high {
            let middle = (low + high) / 2
            if candidates[middle].distance < distance { low = middle + 1 } else { high = middle }
        }
        guard low < limit else { return }
        candidates.insert(
            Candidate(peer: peer, distance: distance, addresses: addresses, hop: hop, state: .waiting), at: low)
        if candidates.count > limit {
            let dropped = candidates.removeLast()
            if dropped.state == .inFlight { inFlight -= 1 }
        }
    }

    func index(of peer: PeerID) -> Int? { candidates.firstIndex { $0.peer == peer } }

    /// The nearest `k` candidates that have not failed, whatever their state.
    func closestLive(_ k: Int) -> [Candidate] {
        var out: [Candidate] = []
        for candidate in candidates where candidate.state != .failed {
            out.append(candidate)
            if out.count == k { break }
        }
        return out
    }

    /// The nearest `k` candidates that answered.
    func closestAnswered(_ k: Int) -> [Candidate] {
        var out: [Candidate] = []
        for candidate in candidates where candidate.state == .answered {
            out.append(candidate)
            if out.count == k { break }
        }
        return out
    }
}

extension KademliaDHT {
    mutating func startLookup(
        _ id: KademliaLookupID, kind: KademliaLookupKind, key: [UInt8], seeds: [KademliaPeerInfo] = [],
        record: KademliaRecord? = nil, now: Instant, _ actions: inout [Action]
    ) {
        let target = KademliaKey(hashing: key)
        var lookup = Lookup(
            id: id, kind: kind, key: key, target: target, started: now,
            deadline: now.advanced(bySeconds: config.lookupTimeout))
        lookup.record = record
        if kind == .provide, config.optimisticProvide, let size = networkSize.estimate {
            lookup.optimistic = KademliaNetworkSize.thresholds(
                networkSize: size, k: config.k, individualCertainty: config.optimisticProvideCertainty,
                setCertainty: config.optimisticProvideSetCertainty, returnRatio: config.optimisticProvideReturnRatio)
            if config.mode == .server {
                providerStore.add(
                    key: key, info: localProviderInfo, expires: now.advanced(bySeconds: config.providerTTL))
            }
        }
        guard lookups[id] == nil, lookups.count < config.maxConcurrentLookups else {
            // A duplicate id or too many lookups: this one ends at once, the running ones are untouched.
            actions.append(.lookupFinished(result(lookup, outcome: .noPeers, now: now)))
            return
        }
        counters.lookupsStarted += 1
        lookup.known.insert(local)
        for entry in table.closest(to: target, count: config.k) {
            lookup.offer(entry.peer, addresses: entry.addresses, hop: 1, limit: config.maxLookupCandidates)
        }
        for seed in seeds where seed.id != local {
            lookup.offer(
                seed.id, addresses: Array(seed.addresses.prefix(config.maxAddressesPerPeer)), hop: 1,
                limit: config.maxLookupCandidates)
        }
        table.markRefreshed(table.bucketIndex(target), now: now)
        lookups[id] = lookup
        lookupOrder.insert(id)
        switch kind {
        case .findPeer(let peer):
            if let entry = table.entry(peer) {
                lookups[id]?.foundHop = 0
                actions.append(.peerFound(id, info(entry), hop: 0))
                finish(id, outcome: .completed, now: now, &actions)
                return
            }
        case .findProviders(let count):
            for provider in providerStore.providers(of: key, now: now) where lookups[id]?.providers.count ?? 0 < count {
                lookups[id]?.providers.insert(provider.id)
                lookups[id]?.foundHop = 0
                actions.append(.providerFound(id, provider, hop: 0))
            }
            if lookups[id]?.providers.count ?? 0 >= count {
                finish(id, outcome: .completed, now: now, &actions)
                return
            }
        case .getValue:
            if let stored = recordStore.record(key, now: now) {
                lookups[id]?.best = stored
                lookups[id]?.foundHop = 0
            }
        case .closestPeers, .provide, .putValue: break
        }
        advance(id, now: now, &actions)
    }

    mutating func putValue(
        key: [UInt8], value: [UInt8], lookup id: KademliaLookupID, now: Instant, _ actions: inout [Action]
    ) {
        let record = KademliaRecord(key: key, value: value)
        do throws(KademliaError) {
            guard value.count <= config.limits.maxValueLength else {
                throw .fieldTooLong(
                    field: "Record.value", length: value.count, limit: config.limits.maxValueLength)
            }
            try namespaces.validate(key: key, value: value)
        } catch {
            actions.append(.dropped(KademliaDrop(peer: local, reason: error)))
            let lookup = Lookup(
                id: id, kind: .putValue, key: key, target: KademliaKey(hashing: key), started: now,
                deadline: now)
            actions.append(.lookupFinished(result(lookup, outcome: .noPeers, now: now)))
            return
        }
        if config.mode == .server {
            recordStore.put(record, expires: now.advanced(bySeconds: config.recordTTL), now: now)
        }
        startLookup(id, kind: .putValue, key: key, record: record, now: now, &actions)
    }

    /// Sends queries while fewer than α are in flight, and ends the walk once the k nearest live candidates have
    /// answered.
    mutating func advance(_ id: KademliaLookupID, now: Instant, _ actions: inout [Action]) {
        // Taken out of the dictionary while changed, so that changing it does not copy its candidates.
        guard var lookup = lookups.removeValue(forKey: id) else { return }
        guard !lookup.storing else {
            lookups[id] = lookup
            return
        }
        var live = 0
        var allAnswered = true
        let message = lookup.query
        for index in lookup.candidates.indices {
            let candidate = lookup.candidates[index]
            if candidate.state == .failed || candidate.state == .slow { continue }
            live += 1
            if candidate.state == .waiting && lookup.inFlight < config.alpha {
                lookup.candidates[index].state = .inFlight
                lookup.inFlight += 1
                lookup.queried += 1
                actions.append(
                    send(message, to: candidate.peer, addresses: candidate.addresses, purpose: .query(id), now: now))
            }
            if lookup.candidates[index].state != .answered { allAnswered = false }
            if live == config.k { break }
        }
        lookups[id] = lookup
        if allAnswered { walkDone(id, now: now, &actions) }
    }

    mutating func queryAnswered(
        _ id: KademliaLookupID, peer: PeerID, message: KademliaMessage?, now: Instant, _ actions: inout [Action]
    ) {
        guard var lookup = lookups.removeValue(forKey: id) else { return }
        guard let index = lookup.index(of: peer),
            lookup.candidates[index].state == .inFlight || lookup.candidates[index].state == .slow
        else {
            lookups[id] = lookup
            return
        }
        if lookup.candidates[index].state == .inFlight { lookup.inFlight -= 1 }
        lookup.candidates[index].state = .answered
        let hop = lookup.candidates[index].hop
        actions.append(.lookupProgress(id, peer: peer, hop: hop, queried: lookup.queried))
        guard let message else {
            lookups[id] = consume lookup
            advance(id, now: now, &actions)
            return
        }
        for closer in message.closerPeers.prefix(config.k * 2) where closer.id != local {
            lookup.offer(
                closer.id, addresses: Array(closer.addresses.prefix(config.maxAddressesPerPeer)), hop: hop + 1,
                limit: config.maxLookupCandidates)
        }
        var done = false
        switch lookup.kind {
        case .findPeer(let target):
            if let found = message.closerPeers.first(where: { $0.id == target }), !found.addresses.isEmpty {
                lookup.foundHop = hop
                actions.append(.peerFound(id, found, hop: hop))
                done = true
            }
        case .findProviders(let count):
            for provider in message.providerPeers where lookup.providers.count < count {
                guard !provider.addresses.isEmpty, lookup.providers.insert(provider.id).inserted else { continue }
                if lookup.foundHop == nil { lookup.foundHop = hop }
                actions.append(
                    .providerFound(
                        id, KademliaPeerInfo(id: provider.id, addresses: provider.addresses, connection: .notConnected),
                        hop: hop))
            }
            done = lookup.providers.count >= count
        case .getValue:
            if let record = message.record { consider(record, from: peer, hop: hop, in: &lookup, &actions) }
        case .provide:
            if lookup.optimistic != nil, !lookup.storing {
                done = optimisticStores(&lookup, now: now, &actions)
            }
        case .closestPeers, .putValue: break
        }
        let isProvide = lookup.kind == .provide
        lookups[id] = consume lookup
        if done, isProvide {
            walkDone(id, now: now, &actions)
        } else if done {
            finish(id, outcome: .completed, now: now, &actions)
        } else {
            advance(id, now: now, &actions)
        }
    }

    /// A GET_VALUE answer's record: kept when valid and better than the best so far.
    private mutating func consider(
        _ record: KademliaRecord, from peer: PeerID, hop: Int, in lookup: inout Lookup, _ actions: inout [Action]
    ) {
        do throws(KademliaError) {
            guard record.key == lookup.key else { throw .invalidRecord("record key differs") }
            let validator = try namespaces.validator(for: record.key)
            try validator.validate(key: record.key, value: record.value)
            if let best = lookup.best {
                guard validator.select(key: record.key, values: [best.value, record.value]) == 1 else { return }
            }
            lookup.best = record
            lookup.foundHop = hop
        } catch {
            counters.droppedAnswers += 1
            actions.append(.dropped(KademliaDrop(peer: peer, reason: error)))
        }
    }

    mutating func queryFailed(_ id: KademliaLookupID, peer: PeerID, now: Instant, _ actions: inout [Action]) {
        guard var lookup = lookups.removeValue(forKey: id) else { return }
        guard let index = lookup.index(of: peer),
            lookup.candidates[index].state == .inFlight || lookup.candidates[index].state == .slow
        else {
            lookups[id] = lookup
            return
        }
        if lookup.candidates[index].state == .inFlight { lookup.inFlight -= 1 }
        lookup.candidates[index].state = .failed
        lookup.failed += 1
        lookups[id] = consume lookup
        advance(id, now: now, &actions)
    }

    /// A query in flight for `slowQueryAfter`: it frees its α slot and its place among the k (the walk moves on), and
    /// its answer still counts if it comes.
    mutating func querySlow(_ id: KademliaLookupID, peer: PeerID, now: Instant, _ actions: inout [Action]) {
        guard var lookup = lookups.removeValue(forKey: id) else { return }
        guard let index = lookup.index(of: peer), lookup.candidates[index].state == .inFlight else {
            lookups[id] = lookup
            return
        }
        lookup.candidates[index].state = .slow
        lookup.inFlight -= 1
        lookups[id] = consume lookup
        advance(id, now: now, &actions)
    }

    /// Optimistic Provide during the walk: an ADD_PROVIDER to every live candidate within the individual threshold
    /// not yet sent one.
    ///
    /// Returns whether the walk may end: the k nearest live candidates are all within the set
    /// threshold.
    mutating func optimisticStores(_ lookup: inout Lookup, now: Instant, _ actions: inout [Action]) -> Bool {
        guard let thresholds = lookup.optimistic else { return false }
        let message = KademliaMessage(type: .addProvider, key: lookup.key, providerPeers: [localProviderInfo])
        var live = 0
        var farthest = 0.0
        for candidate in lookup.candidates where candidate.state != .failed {
            live += 1
            let distance = KademliaNetworkSize.normalized(candidate.distance)
            farthest = distance
            if distance <= thresholds.individual, lookup.storedTo.insert(candidate.peer).inserted {
                lookup.storePending += 1
                actions.append(
                    send(
                        message, to: candidate.peer, addresses: candidate.addresses, purpose: .store(lookup.id),
                        expectsResponse: false, now: now))
            }
            if live == config.k { break }
        }
        return live == config.k && farthest <= thresholds.set
    }

    /// The walk is over: provide and putValue now store on the k closest; the others end.
    mutating func walkDone(_ id: KademliaLookupID, now: Instant, _ actions: inout [Action]) {
        guard var lookup = lookups[id] else { return }
        if lookup.kind == .closestPeers {
            let closest = lookup.closestAnswered(config.k)
            if closest.count == config.k { networkSize.record(closest.map(\.distance)) }
        }
        if lookup.optimistic != nil { return optimisticWalkDone(id, now: now, &actions) }
        let closest = lookup.closestAnswered(config.k)
        let message: KademliaMessage
        switch lookup.kind {
        case .provide:
            let me = localProviderInfo
            if config.mode == .server {
                providerStore.add(key: lookup.key, info: me, expires: now.advanced(bySeconds: config.providerTTL))
            }
            message = KademliaMessage(type: .addProvider, key: lookup.key, providerPeers: [me])
        case .putValue:
            guard let record = lookup.record else { return finish(id, outcome: .completed, now: now, &actions) }
            message = KademliaMessage(type: .putValue, key: lookup.key, record: record)
        case .closestPeers, .findPeer, .findProviders, .getValue:
            return finish(id, outcome: lookup.candidates.isEmpty ? .noPeers : .completed, now: now, &actions)
        }
        guard !closest.isEmpty else { return finish(id, outcome: .noPeers, now: now, &actions) }
        lookup.storing = true
        lookup.storePending = closest.count
        lookups[id] = lookup
        let expectsResponse = message.type != .addProvider
        for candidate in closest {
            actions.append(
                send(
                    message, to: candidate.peer, addresses: candidate.addresses, purpose: .store(id),
                    expectsResponse: expectsResponse, now: now))
        }
    }

    /// An optimistic provide's walk is over: the k nearest live candidates (answered or not) not yet sent a store get
    /// one; it finishes when enough stores succeeded (or none is left).
    private mutating func optimisticWalkDone(_ id: KademliaLookupID, now: Instant, _ actions: inout [Action]) {
        guard var lookup = lookups.removeValue(forKey: id) else { return }
        let message = KademliaMessage(type: .addProvider, key: lookup.key, providerPeers: [localProviderInfo])
        lookup.storing = true
        for candidate in lookup.closestLive(config.k) where lookup.storedTo.insert(candidate.peer).inserted {
            lookup.storePending += 1
            actions.append(
                send(
                    message, to: candidate.peer, addresses: candidate.addresses, purpose: .store(id),
                    expectsResponse: false, now: now))
        }
        let outcome: KademliaLookupResult.Outcome? =
            lookup.storePending == 0 ? (lookup.storedTo.isEmpty ? .noPeers : .completed) : nil
        lookups[id] = consume lookup
        if let outcome { finish(id, outcome: outcome, now: now, &actions) }
    }

    mutating func storeAnswered(_ id: KademliaLookupID, success: Bool, now: Instant, _ actions: inout [Action]) {
        guard let running = lookups[id], running.storing || running.optimistic != nil,
            var lookup = lookups.removeValue(forKey: id)
        else { return }
        lookup.storePending -= 1
        if success { lookup.stored += 1 }
        let enough = lookup.optimistic.map { lookup.stored >= $0.returnAfter } ?? false
        let ends = (lookup.storing && lookup.storePending == 0) || enough
        lookups[id] = consume lookup
        if ends { finish(id, outcome: .completed, now: now, &actions) }
    }

    /// Ends a lookup: getValue's value, then the result.
    mutating func finish(
        _ id: KademliaLookupID, outcome: KademliaLookupResult.Outcome, now: Instant, _ actions: inout [Action]
    ) {
        guard let lookup = lookups.removeValue(forKey: id) else { return }
        lookupOrder.remove(id)
        if case .getValue = lookup.kind, let best = lookup.best { actions.append(.valueFound(id, best)) }
        actions.append(.lookupFinished(result(lookup, outcome: outcome, now: now)))
    }

    func result(_ lookup: Lookup, outcome: KademliaLookupResult.Outcome, now: Instant) -> KademliaLookupResult {
        let closest = lookup.closestAnswered(config.k)
        let found: Bool
        switch lookup.kind {
        case .findPeer: found = lookup.foundHop != nil
        case .findProviders: found = !lookup.providers.isEmpty
        case .getValue: found = lookup.best != nil
        case .provide, .putValue: found = lookup.stored > 0
        case .closestPeers: found = !closest.isEmpty
        }
        return KademliaLookupResult(
            id: lookup.id, kind: lookup.kind, key: lookup.key, outcome: outcome, closest: closest.map(\.peer),
            hops: lookup.foundHop ?? closest.first?.hop ?? 0, queried: lookup.queried, failed: lookup.failed,
            found: found, stored: lookup.stored, duration: now.seconds(since: lookup.started))
    }
}
