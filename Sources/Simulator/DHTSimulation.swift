import Codec
import Crypto
import P2PProtocols
import Runtime

/// A seeded, single-threaded discrete-event simulation of `nodes` real `KademliaDHT` servers.
///
/// Nodes join one after another through a few earlier nodes (a real bootstrap lookup each), then refresh their
/// buckets once (the DHT's own random walks, `refreshInterval` after joining); then providers announce keys and other
/// nodes look them up. Requests cost a connection handshake (one round trip) the first time two nodes talk, then one
/// link latency each way; each request and answer is lost with probability `loss`; requests to an offline node
/// vanish. Everything random derives from `config.seed`, so a run replays exactly; its trace hash says so.
public final class DHTSimulation {
    /// Raw event kinds in the shared `EventQueue` (the gossip simulation's kinds are 0–7).
    enum Kind: UInt8 {
        /// A connection handshake between `node` and `peer` completed: both learn of it and identify each other.
        case connect = 16
        /// A request (slot) reaches `node`.
        case request = 17
        /// An answer (slot) reaches `node`, the requester.
        case response = 18
        /// A request (slot) of `node` failed (refused, or to an unknown peer).
        case failure = 19
        /// `node`'s request timers are due.
        case timers = 20
        /// `node` ticks.
        case tick = 21
        /// `node` starts (or restarts) and bootstraps.
        case join = 22
        /// `node` goes offline (churn).
        case leave = 23
        /// Workload operation `slot` starts.
        case operation = 24
        /// The held-records census before the lookups.
        case census = 25
    }

    /// One request in flight.
    struct Flight {
        var origin: Int32
        var target: Int32
        var generation: UInt32
        var request: KademliaRequestID
        var message: KademliaMessage?
        var expects: Bool
    }

    /// What the workload does.
    enum Operation {
        case provide(key: Int)
        case findProviders(key: Int)
        case findPeer
    }

    let config: DHTSimulationConfig
    let count: Int

    // Per node.
    var dhts: [KademliaDHT] = []
    var peerIDs: [PeerID] = []
    var keys: [KademliaKey] = []
    var addresses: [Multiaddr] = []
    var peerIndex = PeerIndex([])
    var online: [Bool]
    var generation: [UInt32]
    var wakeAt: [UInt64]
    var links: [[Int32]]
    var linkReady: [UInt64: UInt64] = [:]
    var isProvider: [Bool]

    // Queue, flights, time.
    var queue: EventQueue
    var flights: [Flight?] = []
    var freeFlights: [Int32] = []
    var now: UInt64 = 0
    var trace = TraceHash()
    let linkSalt: UInt64
    let latencyLow: UInt64
    let latencySpan: UInt64
    let tickNanoseconds: UInt64
    let endTime: UInt64

    // Randomness, one stream per purpose.
    var lossRandom: SeededRandom
    var workloadRandom: SeededRandom
    var bootstrapRandom: SeededRandom
    var dhtRandom: SeededRandom

    // The workload and what it measured.
    var providedKeys: [[UInt8]] = []
    var providerOf: [Int32] = []
    var operations: [Operation] = []
    var operationOrigin: [Int32] = []
    var operationTarget: [Int32] = []
    var startedAt: [UInt64] = []
    var results: [KademliaLookupResult?] = []
    var firstFoundAt: [UInt64] = []
    var requestsSent = 0
    var requestsLost = 0
    var answersLost = 0
    var vanished = 0
    var connections = 0
    var restarts = 0
    var heldFraction = 0.0
    var heldKeys = 0

    /// Sets the nodes, identities and schedule up; `run()` runs it.
    public init(config: DHTSimulationConfig) throws(SimulatorError) {
        try config.validate()
        self.config = config
        count = config.nodes
        var root = SeededRandom(seed: config.seed)
        var keyRandom = root.split(label: 1)
        lossRandom = root.split(label: 2)
        workloadRandom = root.split(label: 3)
        bootstrapRandom = root.split(label: 4)
        dhtRandom = root.split(label: 5)
        var churnRandom = root.split(label: 6)
        var saltRandom = root.split(label: 7)
        linkSalt = saltRandom.next()
        latencyLow = UInt64(config.latencyMilliseconds.lowerBound * 1e6)
        latencySpan = UInt64((config.latencyMilliseconds.upperBound - config.latencyMilliseconds.lowerBound) * 1e6) + 1
        tickNanoseconds = UInt64(config.tickInterval * 1e9)

        let n = config.nodes
        online = Array(repeating: false, count: n)
        generation = Array(repeating: 0, count: n)
        wakeAt = Array(repeating: .max, count: n)
        links = Array(repeating: [], count: n)
        isProvider = Array(repeating: false, count: n)
        queue = EventQueue(capacity: n * 4)

        peerIDs.reserveCapacity(n)
        for node in 0..<n {
            // A seed from the seeded source always makes a valid Ed25519 key; the address is well-formed.
            let identity = LibP2PIdentity.ed25519(try! Ed25519PrivateKey(seed: keyRandom.bytes(32)))
            peerIDs.append(identity.peerID)
            keys.append(KademliaKey(peer: identity.peerID))
            addresses.append(try! Multiaddr("/ip4/10.\(node >> 16 & 255).\(node >> 8 & 255).\(node & 255)/tcp/4001"))
        }
        peerIndex = PeerIndex(peerIDs)

        // The schedule: joins, one refresh round, provides (with churn leaving), then lookups.
        let joinEnd = Double(n - 1) * config.joinInterval
        let workStart = joinEnd + config.dht.refreshInterval + 60
        let provideWindow = 10.0
        let lookupStart = workStart + 40
        let lookupWindow = config.effectiveLookupWindow
        endTime = Self.seconds(lookupStart + lookupWindow + config.dht.lookupTimeout + 5)
        dhts.reserveCapacity(n)
        for node in 0..<n { dhts.append(makeDHT(node, at: 0)) }
        for node in 0..<n {
            queue.push(
                time: seconds(Double(node) * config.joinInterval), rawKind: Kind.join.rawValue, node: Int32(node))
        }

        var order = Array(0..<n)
        order.shuffle(using: &workloadRandom)
        let providerCount = config.effectiveProviders
        for index in 0..<providerCount {
            let node = order[index]
            isProvider[node] = true
            providerOf.append(Int32(node))
            providedKeys.append([0x12, 0x20] + workloadRandom.bytes(32))
            schedule(.provide(key: index), at: workStart + provideWindow * Double(index) / Double(providerCount))
        }
        queue.push(time: seconds(lookupStart - 0.001), rawKind: Kind.census.rawValue, node: -1)
        for index in 0..<config.lookups {
            let operation: Operation =
                index % 5 == 4 ? .findPeer : .findProviders(key: Int(workloadRandom.next() % UInt64(providerCount)))
            schedule(operation, at: lookupStart + lookupWindow * Double(index) / Double(config.lookups))
        }

        // Churn: a fraction of the other nodes leaves while the keys are provided, and restarts empty at a uniform
        // time over twice the lookup window (so about half are back, without records, before the lookups end).
        let others = order[providerCount...]
        let churned = Int(Double(others.count) * config.churn)
        for node in others.prefix(churned) {
            let leave = workStart + churnRandom.unitDouble() * 20
            let back = lookupStart + churnRandom.unitDouble() * 2 * lookupWindow
            queue.push(time: seconds(leave), rawKind: Kind.leave.rawValue, node: Int32(node))
            queue.push(time: seconds(back), rawKind: Kind.join.rawValue, node: Int32(node))
        }
    }

    private static func seconds(_ value: Double) -> UInt64 { UInt64(value * 1e9) }

    private func seconds(_ value: Double) -> UInt64 { Self.seconds(value) }

    private func makeDHT(_ node: Int, at time: UInt64) -> KademliaDHT {
        KademliaDHT(
            local: peerIDs[node], config: config.dht,
            random: dhtRandom.split(label: UInt64(node) << 16 | UInt64(generation[node])),
            localAddresses: [addresses[node]], now: Instant(nanoseconds: time))
    }

    private func schedule(_ operation: Operation, at time: Double) {
        let index = operations.count
        operations.append(operation)
        operationOrigin.append(-1)
        operationTarget.append(-1)
        startedAt.append(.max)
        results.append(nil)
        firstFoundAt.append(.max)
        queue.push(time: seconds(time), rawKind: Kind.operation.rawValue, node: -1, slot: Int32(index))
    }

    /// The one-way latency between `a` and `b`: a fixed function of the pair and the seed.
    @inline(__always)
    func latency(_ a: Int32, _ b: Int32) -> UInt64 {
        let low = UInt64(UInt32(bitPattern: min(a, b)))
        let high = UInt64(UInt32(bitPattern: max(a, b)))
        var z = (low << 32 | high) ^ linkSalt
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        z ^= z >> 31
        return latencyLow + z % latencySpan
    }

    @inline(__always)
    private func pair(_ a: Int32, _ b: Int32) -> UInt64 {
        UInt64(UInt32(bitPattern: min(a, b))) << 32 | UInt64(UInt32(bitPattern: max(a, b)))
    }

    // MARK: Running

    /// Runs to the end of the workload and returns what was measured.
    public func run() -> DHTSimulationReport {
        while let event = queue.popRaw() {
            guard event.time <= endTime else { break }
            now = event.time
            let raw = EventQueue.rawKind(of: event)
            trace.add(time: now, kind: raw, node: event.node, peer: event.peer, size: event.slot)
            guard let kind = Kind(rawValue: raw) else { continue }
            handle(event, kind)
        }
        return report()
    }

    @inline(__always)
    var instant: Instant { Instant(nanoseconds: now) }

    private func handle(_ event: ScheduledEvent, _ kind: Kind) {
        let node = event.node
        switch kind {
        case .connect:
            let key = pair(node, event.peer)
            guard online[Int(node)], online[Int(event.peer)], linkReady[key] != nil else {
                linkReady[key] = nil
                return
            }
            links[Int(node)].append(event.peer)
            links[Int(event.peer)].append(node)
            connections += 1
            for (x, y) in [(node, event.peer), (event.peer, node)] {
                deliver(.peerConnected(peerIDs[Int(y)], address: addresses[Int(y)]), to: x)
                deliver(
                    .peerIdentified(
                        peerIDs[Int(y)], protocols: [KademliaMessage.protocolID], addresses: [addresses[Int(y)]]),
                    to: x)
            }
        case .request:
            guard let flight = flights[Int(event.slot)] else { return }
            let target = flight.target
            guard online[Int(target)], linkReady[pair(flight.origin, target)] != nil, let message = flight.message
            else {
                vanished += 1
                release(event.slot)
                return
            }
            if !flight.expects {
                // Fire-and-forget (ADD_PROVIDER): the requester counts it stored when it has arrived.
                if online[Int(flight.origin)] && generation[Int(flight.origin)] == flight.generation {
                    deliver(.response(flight.request, nil), to: flight.origin)
                }
            }
            deliver(
                .request(
                    from: peerIDs[Int(flight.origin)], stream: KademliaStreamID(UInt64(event.slot)), message: message),
                to: target)
            if !flight.expects, flights[Int(event.slot)] != nil { release(event.slot) }
        case .response, .failure:
            guard let flight = flights[Int(event.slot)] else { return }
            release(event.slot)
            guard online[Int(node)], generation[Int(node)] == flight.generation else { return }
            if kind == .response, let message = flight.message {
                deliver(.response(flight.request, message), to: node)
            } else {
                deliver(.requestFailed(flight.request, kind == .response ? .reset : .unreachable), to: node)
            }
        case .timers:
            guard online[Int(node)], event.time == wakeAt[Int(node)] else { return }
            wakeAt[Int(node)] = .max
            deliver(.timers, to: node)
        case .tick:
            queue.push(time: now + tickNanoseconds, rawKind: Kind.tick.rawValue, node: node)
            guard online[Int(node)] else { return }
            deliver(.tick, to: node)
        case .join:
            join(node)
        case .leave:
            leave(node)
        case .operation:
            start(Int(event.slot))
        case .census:
            census()
        }
    }

    /// Hands `event` to `node`'s DHT, carries out what it asks, and wakes it for its next request timer.
    private func deliver(_ event: KademliaDHT.Event, to node: Int32) {
        let actions = dhts[Int(node)].on(event, now: instant)
        for action in actions { perform(action, at: node) }
        if let next = dhts[Int(node)].nextTimer() {
            let time = max(next.nanoseconds, now)
            if time < wakeAt[Int(node)] || wakeAt[Int(node)] < now {
                wakeAt[Int(node)] = time
                queue.push(time: time, rawKind: Kind.timers.rawValue, node: node)
            }
        }
    }

    private func perform(_ action: KademliaDHT.Action, at node: Int32) {
        switch action {
        case .request(let id, let peer, _, let message, let expects):
            requestsSent += 1
            let slot = allocate(
                Flight(
                    origin: node, target: -1, generation: generation[Int(node)], request: id, message: message,
                    expects: expects))
            guard let target = peerIndex.find(peer, in: peerIDs), target != node else {
                queue.push(time: now, rawKind: Kind.failure.rawValue, node: node, slot: slot)
                return
            }
            flights[Int(slot)]?.target = target
            let ready = connect(node, target)
            if lossRandom.unitDouble() < config.loss {
                requestsLost += 1
                release(slot)
                return
            }
            guard let ready else {
                // Dialing an offline node: the request vanishes; only the DHT's timeout ends it.
                vanished += 1
                release(slot)
                return
            }
            queue.push(
                time: max(now, ready) + latency(node, target), rawKind: Kind.request.rawValue, node: target,
                peer: node, slot: slot)
        case .respond(let stream, let message):
            let slot = Int32(truncatingIfNeeded: stream.value)
            guard let flight = flights[Int(slot)], flight.expects else { return }
            flights[Int(slot)]?.message = message
            if lossRandom.unitDouble() < config.loss {
                answersLost += 1
                release(slot)
                return
            }
            // An answer of nil closes the stream without one: the requester sees a reset.
            queue.push(
                time: now + latency(node, flight.origin), rawKind: Kind.response.rawValue, node: flight.origin,
                peer: node, slot: slot)
        case .reset(let stream, _):
            let slot = Int32(truncatingIfNeeded: stream.value)
            guard let flight = flights[Int(slot)], flight.expects else { return }
            flights[Int(slot)]?.message = nil
            queue.push(
                time: now + latency(node, flight.origin), rawKind: Kind.response.rawValue, node: flight.origin,
                peer: node, slot: slot)
        case .dial(let peer, _):
            if let target = peerIndex.find(peer, in: peerIDs), target != node { _ = connect(node, target) }
        case .providerFound(let lookup, _, _), .peerFound(let lookup, _, _):
            if case .application(let number) = lookup, number > 0, firstFoundAt[Int(number - 1)] == .max {
                firstFoundAt[Int(number - 1)] = now
            }
        case .lookupFinished(let result):
            if case .application(let number) = result.id, number > 0 { results[Int(number - 1)] = result }
        case .lookupProgress, .valueFound, .dropped:
            break
        }
    }

    /// The time the connection between `a` and `b` is (or will be) usable.
    ///
    /// A handshake of one round trip starts now when there is none; nil when `b` is offline (the dial goes
    /// unanswered).
    private func connect(_ a: Int32, _ b: Int32) -> UInt64? {
        let key = pair(a, b)
        if let ready = linkReady[key] { return ready }
        guard online[Int(b)] else { return nil }
        let ready = now + 2 * latency(a, b)
        linkReady[key] = ready
        queue.push(time: ready, rawKind: Kind.connect.rawValue, node: a, peer: b)
        return ready
    }

    private func allocate(_ flight: Flight) -> Int32 {
        if let slot = freeFlights.popLast() {
            flights[Int(slot)] = flight
            return slot
        }
        flights.append(flight)
        return Int32(flights.count - 1)
    }

    private func release(_ slot: Int32) {
        guard flights[Int(slot)] != nil else { return }
        flights[Int(slot)] = nil
        freeFlights.append(slot)
    }

    // MARK: Membership

    /// Starts `node` (a restart after churn begins empty) and bootstraps it through a few random online nodes.
    private func join(_ node: Int32) {
        let index = Int(node)
        if generation[index] > 0 || online[index] { restarts += 1 }
        if online[index] { leave(node) }
        generation[index] &+= 1
        dhts[index] = makeDHT(index, at: now)
        online[index] = true
        if generation[index] == 1 {
            queue.push(
                time: now + UInt64(bootstrapRandom.unitDouble() * Double(tickNanoseconds)),
                rawKind: Kind.tick.rawValue, node: node)
        }
        var seeds: [KademliaPeerInfo] = []
        let pool = generation[index] == 1 ? index : count
        guard pool > 0 else { return }
        var attempts = 0
        while seeds.count < min(config.bootstrapPeers, pool - (generation[index] == 1 ? 0 : 1)) && attempts < 1_000 {
            attempts += 1
            let peer = Int(bootstrapRandom.next() % UInt64(pool))
            guard peer != index, online[peer], !seeds.contains(where: { $0.id == peerIDs[peer] }) else { continue }
            seeds.append(KademliaPeerInfo(id: peerIDs[peer], addresses: [addresses[peer]]))
        }
        guard !seeds.isEmpty else { return }
        deliver(.bootstrap(seeds, lookup: 0), to: node)
    }

    /// Takes `node` offline: its connections close (its peers learn of it), its state is gone.
    private func leave(_ node: Int32) {
        let index = Int(node)
        guard online[index] else { return }
        online[index] = false
        wakeAt[index] = .max
        let peers = links[index]
        links[index] = []
        for peer in peers {
            linkReady[pair(node, peer)] = nil
            links[Int(peer)].removeAll { $0 == node }
            if online[Int(peer)] { deliver(.peerDisconnected(peerIDs[index]), to: peer) }
        }
    }

    // MARK: Workload

    private func randomOnline(excluding: Int32) -> Int32? {
        for _ in 0..<10_000 {
            let node = Int32(truncatingIfNeeded: workloadRandom.next() % UInt64(count))
            if node != excluding && online[Int(node)] { return node }
        }
        return nil
    }

    private func start(_ index: Int) {
        let number = UInt64(index + 1)
        switch operations[index] {
        case .provide(let key):
            let node = providerOf[key]
            guard online[Int(node)] else { return }
            operationOrigin[index] = node
            startedAt[index] = now
            deliver(.provide(key: providedKeys[key], lookup: number), to: node)
        case .findProviders(let key):
            guard let node = randomOnline(excluding: providerOf[key]) else { return }
            operationOrigin[index] = node
            startedAt[index] = now
            deliver(.findProviders(key: providedKeys[key], count: 1, lookup: number), to: node)
        case .findPeer:
            guard let node = randomOnline(excluding: -1), let target = randomOnline(excluding: node) else { return }
            operationOrigin[index] = node
            operationTarget[index] = target
            startedAt[index] = now
            deliver(.findPeer(peerIDs[Int(target)], lookup: number), to: node)
        }
    }

    /// For each provided key, the fraction of the k online nodes closest to it that hold its provider record.
    private func census() {
        let k = config.dht.k
        var total = 0.0
        for (key, bytes) in providedKeys.enumerated() {
            let target = KademliaKey(hashing: bytes)
            var closest: [(distance: KademliaKey, node: Int)] = []
            for node in 0..<count where online[node] && node != Int(providerOf[key]) {
                let distance = keys[node].distance(to: target)
                if closest.count == k, let last = closest.last, !(distance < last.distance) { continue }
                let position = closest.firstIndex { distance < $0.distance } ?? closest.count
                closest.insert((distance, node), at: position)
                if closest.count > k { closest.removeLast() }
            }
            let holders = closest.filter { entry in
                dhts[entry.node].providerStore.providers(of: bytes, now: instant).contains {
                    $0.id == peerIDs[Int(providerOf[key])]
                }
            }
            total += closest.isEmpty ? 0 : Double(holders.count) / Double(closest.count)
        }
        heldKeys = providedKeys.count
        heldFraction = providedKeys.isEmpty ? 0 : total / Double(providedKeys.count)
    }
}

extension SeededRandom {
    /// A uniform double in [0, 1) from 53 random bits.
    fileprivate mutating func unitDouble() -> Double { Double(next() >> 11) / 9_007_199_254_740_992.0 }
}
