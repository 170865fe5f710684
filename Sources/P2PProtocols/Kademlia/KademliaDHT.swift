import Codec
import Runtime

/// The Kademlia DHT of the libp2p spec (`/ipfs/kad/1.0.0`) as a pure state machine: routing table, iterative
/// lookups, provider and value records, and the server side of the six RPCs.
///
/// The shell (the socket host, a test, the simulator) reports connections, identify results, inbound requests,
/// answers to our requests, the application's requests and a periodic tick as events, with the time; requests to
/// send, answers to write, dials and results come out as actions. Randomness is the seeded source given at init;
/// it reads no clock and touches no socket.
///
/// API CONTRACT (the simulator and the host are written against it): `init(local:config:random:namespaces:now:)`,
/// `on(_:now:) -> [Action]`, `Event`, `Action`. New cases may be added; none is removed or renamed.
public struct KademliaDHT: Sendable {
    /// What the shell reports.
    public enum Event: Sendable {
        /// A connection to the peer is up; `address` is its remote address (for the /24 limit), when known.
        case peerConnected(PeerID, address: Multiaddr?)
        /// Identify finished: the peer's protocols and listen addresses. Only a peer listing `/ipfs/kad/1.0.0`
        /// enters the routing table; one that stops listing it leaves.
        case peerIdentified(PeerID, protocols: [String], addresses: [Multiaddr])
        /// The last connection to the peer closed (it stays in the table: tables are not connection lists).
        case peerDisconnected(PeerID)
        /// A peer opened a stream with one request (already decoded with `config.limits`; a request that does not
        /// decode costs the peer its stream and never reaches the DHT).
        case request(from: PeerID, stream: KademliaStreamID, message: KademliaMessage)
        /// The answer to our request; nil when the request expected none and was written.
        case response(KademliaRequestID, KademliaMessage?)
        /// Our request failed.
        case requestFailed(KademliaRequestID, KademliaFailure)
        /// The application looks for a peer's addresses.
        case findPeer(PeerID, lookup: UInt64)
        /// The application looks for up to `count` providers of `key` (a CID's multihash bytes).
        case findProviders(key: [UInt8], count: Int, lookup: UInt64)
        /// The application announces us as a provider of `key` (and republishes it every `republishInterval`).
        case provide(key: [UInt8], lookup: UInt64)
        /// The application looks for the best value under `key`.
        case getValue(key: [UInt8], lookup: UInt64)
        /// The application stores `value` under `key` on the k closest peers.
        case putValue(key: [UInt8], value: [UInt8], lookup: UInt64)
        /// The application joins the network through `peers`: they are dialed and a lookup of our own id runs.
        case bootstrap([KademliaPeerInfo], lookup: UInt64)
        /// Our listen addresses changed (sent in ADD_PROVIDER).
        case localAddresses([Multiaddr])
        /// Time passed (the shell ticks every second or so): timeouts, expiry, refresh, republish.
        case tick
        /// Time passed, request timers only (query timeouts, slow queries, lookup timeouts): a shell that wakes the
        /// DHT at `nextTimer()` sends this between ticks.
        case timers
    }

    /// What the shell must do.
    public enum Action: Sendable {
        /// Open a `/ipfs/kad/1.0.0` stream to the peer (dialing `addresses` if not connected), write the message,
        /// read one answer when `expectsResponse` (before closing the write side), and report `.response` or
        /// `.requestFailed` with the id.
        case request(
            KademliaRequestID, to: PeerID, addresses: [Multiaddr], message: KademliaMessage, expectsResponse: Bool)
        /// Write the answer on the inbound stream and close it; nil closes it without an answer.
        case respond(KademliaStreamID, KademliaMessage?)
        /// Reset the inbound stream: the request was refused.
        case reset(KademliaStreamID, KademliaDrop)
        /// Connect to the peer.
        case dial(PeerID, addresses: [Multiaddr])
        /// A peer answered one of a lookup's queries.
        case lookupProgress(KademliaLookupID, peer: PeerID, hop: Int, queried: Int)
        /// findPeer found the peer.
        case peerFound(KademliaLookupID, KademliaPeerInfo, hop: Int)
        /// findProviders found one more provider (each once).
        case providerFound(KademliaLookupID, KademliaPeerInfo, hop: Int)
        /// getValue's best value (just before `lookupFinished`).
        case valueFound(KademliaLookupID, KademliaRecord)
        /// A lookup ended.
        case lookupFinished(KademliaLookupResult)
        /// An answer from a peer was dropped (worth a log line).
        case dropped(KademliaDrop)
    }

    /// What the DHT has counted since it started.
    public struct Counters: Sendable, Equatable {
        /// Requests answered.
        public var served = 0
        /// Requests refused (reset).
        public var refused = 0
        /// Requests sent.
        public var sent = 0
        /// Our requests that timed out.
        public var timeouts = 0
        /// Our requests that failed otherwise.
        public var failures = 0
        /// Answers dropped (wrong type, invalid record).
        public var droppedAnswers = 0
        /// Provider records accepted.
        public var providersStored = 0
        /// Value records accepted.
        public var recordsStored = 0
        /// Lookups started.
        public var lookupsStarted = 0
        /// Peers that entered the table.
        public var tableAdds = 0
        /// Peers evicted from the table.
        public var tableEvictions = 0
        /// All zero.
        public init() {}
    }

    /// The local peer.
    public let local: PeerID
    /// Its point.
    public let localKey: KademliaKey
    /// The configuration.
    public let config: KademliaConfig
    /// The record namespaces served.
    public let namespaces: KademliaNamespaces
    /// What the DHT has counted.
    public internal(set) var counters = Counters()
    /// The routing table.
    public internal(set) var table: KademliaRoutingTable
    /// Provider records held for others.
    public internal(set) var providerStore: KademliaProviderStore
    /// Value records held for others.
    public internal(set) var recordStore: KademliaRecordStore

    struct PendingRequest: Sendable {
        enum Purpose: Sendable {
            case query(KademliaLookupID)
            case store(KademliaLookupID)
            case ping
        }
        let peer: PeerID
        let purpose: Purpose
        let expected: KademliaMessage.MessageType
    }

    let localIDBytes: [UInt8]
    var randomSource: SeededRandom
    var localAddresses: [Multiaddr] = []
    var connected: [PeerID: Multiaddr?] = [:]
    var connectedAddresses: [PeerID: [Multiaddr]] = [:]
    var pending: [KademliaRequestID: PendingRequest] = [:]
    var deadlines = FIFOQueue<(id: KademliaRequestID, deadline: Instant)>()
    var slowDeadlines = FIFOQueue<(id: KademliaRequestID, deadline: Instant)>()
    /// Network size estimates from finished walks (Optimistic Provide).
    public internal(set) var networkSize = KademliaNetworkSize()
    var lookups: [KademliaLookupID: Lookup] = [:]
    var lookupOrder = IndexedSet<KademliaLookupID>()
    var provided: [[UInt8]: Instant] = [:]
    var providedOrder = IndexedSet<[UInt8]>()
    var addProviderWindows: [PeerID: (start: Instant, count: Int)] = [:]
    var nextRequest: UInt64 = 1
    var nextMaintenance: UInt64 = 1

    /// A DHT for `local` with `config`, drawing randomness from `random`, serving `namespaces`.
    public init(
        local: PeerID, config: KademliaConfig = .init(), random: SeededRandom,
        namespaces: KademliaNamespaces = .openLedger, localAddresses: [Multiaddr] = [], now: Instant
    ) {
        self.local = local
        localKey = KademliaKey(peer: local)
        localIDBytes = local.multihash.bytes
        self.config = config
        self.namespaces = namespaces
        randomSource = random
        self.localAddresses = localAddresses
        table = KademliaRoutingTable(
            local: localKey, bucketSize: config.k, replacementSize: config.replacementCacheSize,
            maxPerSubnet: config.maxPeersPerSubnet, pingAfter: config.pingAfter, now: now)
        providerStore = KademliaProviderStore(
            maxRecords: config.maxProviderRecords, maxPerKey: config.maxProvidersPerKey)
        recordStore = KademliaRecordStore(maxRecords: config.maxValueRecords)
    }

    /// Lookups running.
    public var runningLookups: Int { lookups.count }

    /// Requests waiting for an answer.
    public var pendingRequests: Int { pending.count }

    /// Handles one event at `now` and returns what to do, in order.
    public mutating func on(_ event: Event, now: Instant) -> [Action] {
        var actions: [Action] = []
        switch event {
        case .peerConnected(let peer, let address):
            connected[peer] = address
        case .peerIdentified(let peer, let protocols, let addresses):
            identified(peer, protocols: protocols, addresses: addresses, now: now, &actions)
        case .peerDisconnected(let peer):
            connected[peer] = nil
            connectedAddresses[peer] = nil
        case .request(let peer, let stream, let message):
            serve(message, from: peer, stream: stream, now: now, &actions)
        case .response(let id, let message):
            answered(id, message, now: now, &actions)
        case .requestFailed(let id, let failure):
            failed(id, failure, now: now, &actions)
        case .findPeer(let peer, let number):
            startLookup(
                .application(number), kind: .findPeer(peer), key: peer.multihash.bytes, now: now, &actions)
        case .findProviders(let key, let count, let number):
            startLookup(.application(number), kind: .findProviders(count: max(count, 1)), key: key, now: now, &actions)
        case .provide(let key, let number):
            if provided[key] == nil && providedOrder.count < config.maxProvidedKeys { providedOrder.insert(key) }
            if providedOrder.contains(key) { provided[key] = now }
            startLookup(.application(number), kind: .provide, key: key, now: now, &actions)
        case .getValue(let key, let number):
            startLookup(.application(number), kind: .getValue, key: key, now: now, &actions)
        case .putValue(let key, let value, let number):
            putValue(key: key, value: value, lookup: .application(number), now: now, &actions)
        case .bootstrap(let peers, let number):
            for peer in peers where peer.id != local {
                actions.append(.dial(peer.id, addresses: Array(peer.addresses.prefix(config.maxAddressesPerPeer))))
            }
            startLookup(
                .application(number), kind: .closestPeers, key: localIDBytes, seeds: peers, now: now, &actions)
        case .localAddresses(let addresses):
            localAddresses = addresses
        case .tick:
            tick(now: now, &actions)
        case .timers:
            expireTimers(now: now, &actions)
        }
        return actions
    }

    // MARK: Peers

    mutating func identified(
        _ peer: PeerID, protocols: [String], addresses: [Multiaddr], now: Instant, _ actions: inout [Action]
    ) {
        guard peer != local else { return }
        // Every connected peer's listen addresses, table member or not: a FIND_NODE for a client we are connected
        // to names it, as go-libp2p does, so that edge devices can be found.
        if connected[peer] != nil {
            connectedAddresses[peer] = Array(addresses.prefix(config.maxAddressesPerPeer))
        }
        guard protocols.contains(KademliaMessage.protocolID) else {
            if table.contains(peer) {
                table.remove(peer)
                counters.tableEvictions += 1
            }
            return
        }
        let kept = Array(addresses.prefix(config.maxAddressesPerPeer))
        let connectionAddress = connected[peer].flatMap { $0 }.map { [$0] } ?? []
        let subnet = KademliaRoutingTable.subnet(of: connectionAddress + kept)
        switch table.add(peer, key: KademliaKey(peer: peer), addresses: kept, subnet: subnet, now: now) {
        case .added: counters.tableAdds += 1
        case .cached(let ping?):
            let addresses = table.entry(ping)?.addresses ?? []
            actions.append(
                send(KademliaMessage(type: .ping), to: ping, addresses: addresses, purpose: .ping, now: now))
        case .cached(nil), .updated, .subnetFull, .isLocal: break
        }
    }

    /// A request to `peer`, registered for its answer.
    mutating func send(
        _ message: KademliaMessage, to peer: PeerID, addresses: [Multiaddr], purpose: PendingRequest.Purpose,
        expectsResponse: Bool = true, now: Instant
    ) -> Action {
        let id = KademliaRequestID(nextRequest)
        nextRequest += 1
        pending[id] = PendingRequest(peer: peer, purpose: purpose, expected: message.type)
        deadlines.push((id, now.advanced(bySeconds: config.queryTimeout)))
        if case .query = purpose, let slow = config.slowQueryAfter {
            slowDeadlines.push((id, now.advanced(bySeconds: slow)))
        }
        counters.sent += 1
        return .request(id, to: peer, addresses: addresses, message: message, expectsResponse: expectsResponse)
    }

    mutating func answered(
        _ id: KademliaRequestID, _ message: KademliaMessage?, now: Instant, _ actions: inout [Action]
    ) {
        guard let request = pending.removeValue(forKey: id) else { return }
        if let message, message.type != request.expected {
            counters.droppedAnswers += 1
            actions.append(
                .dropped(
                    KademliaDrop(
                        peer: request.peer, reason: .malformedProtobuf("answer of type \(message.type.rawValue)"))))
            failed(request, .unexpectedResponse, now: now, &actions)
            return
        }
        table.markSeen(request.peer, now: now)
        switch request.purpose {
        case .ping: break
        case .query(let lookup):
            queryAnswered(lookup, peer: request.peer, message: message, now: now, &actions)
        case .store(let lookup):
            storeAnswered(lookup, success: true, now: now, &actions)
        }
    }

    mutating func failed(_ id: KademliaRequestID, _ failure: KademliaFailure, now: Instant, _ actions: inout [Action]) {
        guard let request = pending.removeValue(forKey: id) else { return }
        failed(request, failure, now: now, &actions)
    }

    private mutating func failed(
        _ request: PendingRequest, _ failure: KademliaFailure, now: Instant, _ actions: inout [Action]
    ) {
        if failure == .timeout { counters.timeouts += 1 } else { counters.failures += 1 }
        if case .ping = request.purpose {
            if table.contains(request.peer) {
                table.remove(request.peer)
                counters.tableEvictions += 1
            }
        } else if table.recordFailure(request.peer, limit: config.maxFailures) {
            counters.tableEvictions += 1
        }
        switch request.purpose {
        case .ping: break
        case .query(let lookup): queryFailed(lookup, peer: request.peer, now: now, &actions)
        case .store(let lookup): storeAnswered(lookup, success: false, now: now, &actions)
        }
    }

    // MARK: Time

    mutating func tick(now: Instant, _ actions: inout [Action]) {
        expireTimers(now: now, &actions)
        providerStore.expire(now: now)
        recordStore.expire(now: now)
        if !addProviderWindows.isEmpty {
            addProviderWindows = addProviderWindows.filter {
                now.seconds(since: $0.value.start) < config.addProviderWindow
            }
        }
        refreshBuckets(now: now, &actions)
        for key in providedOrder.elements {
            guard let last = provided[key], now.seconds(since: last) >= config.republishInterval else { continue }
            provided[key] = now
            startLookup(nextMaintenanceID(), kind: .provide, key: key, now: now, &actions)
        }
    }

    /// Query timeouts, slow queries and lookup timeouts due by `now`.
    mutating func expireTimers(now: Instant, _ actions: inout [Action]) {
        while let first = deadlines.first, first.deadline <= now {
            deadlines.popFirst()
            if pending[first.id] != nil { failed(first.id, .timeout, now: now, &actions) }
        }
        while let first = slowDeadlines.first, first.deadline <= now {
            slowDeadlines.popFirst()
            if let request = pending[first.id], case .query(let lookup) = request.purpose {
                querySlow(lookup, peer: request.peer, now: now, &actions)
            }
        }
        let expired = lookupOrder.elements.filter { lookups[$0].map { $0.deadline <= now } ?? false }
        for id in expired { finish(id, outcome: .timedOut, now: now, &actions) }
    }

    /// The next instant a request timer (query timeout or slow query) is due, nil when none is: a shell may send
    /// `.timers` then instead of waiting for the next tick.
    ///
    /// Lookup timeouts are left to the tick.
    public mutating func nextTimer() -> Instant? {
        while let first = deadlines.first, pending[first.id] == nil { deadlines.popFirst() }
        while let first = slowDeadlines.first, pending[first.id] == nil { slowDeadlines.popFirst() }
        switch (deadlines.first?.deadline, slowDeadlines.first?.deadline) {
        case (let a?, let b?): return min(a, b)
        case (let a?, nil): return a
        case (nil, let b?): return b
        case (nil, nil): return nil
        }
    }

    /// A random walk into every bucket (up to the deepest one in use) not looked into for `refreshInterval`.
    mutating func refreshBuckets(now: Instant, _ actions: inout [Action]) {
        guard let deepest = table.deepestBucket else { return }
        for index in 0...min(deepest, KademliaRefreshKeys.maxCommonPrefixLength)
        where now.seconds(since: table.lastRefreshed(index)) >= config.refreshInterval {
            let key = KademliaRefreshKeys.key(
                commonPrefixLength: index, with: localKey, randomBits: randomSource.next())
            table.markRefreshed(index, now: now)
            startLookup(nextMaintenanceID(), kind: .closestPeers, key: key, now: now, &actions)
        }
    }

    mutating func nextMaintenanceID() -> KademliaLookupID {
        defer { nextMaintenance += 1 }
        return .maintenance(nextMaintenance)
    }

    /// Our own provider record: our addresses, each ending in `/p2p/<our id>` (py-libp2p requires it).
    var localProviderInfo: KademliaPeerInfo {
        KademliaPeerInfo(
            id: local,
            addresses: localAddresses.prefix(config.maxAddressesPerPeer).map {
                $0.peerID == nil ? $0.appending(peer: local) : $0
            })
    }

    /// What we tell others about a table entry.
    func info(_ entry: KademliaRoutingTable.Entry) -> KademliaPeerInfo {
        KademliaPeerInfo(
            id: entry.peer, addresses: entry.addresses,
            connection: connected[entry.peer] != nil ? .connected : .notConnected)
    }
}
