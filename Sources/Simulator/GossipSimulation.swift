import CSimulatorKernels
import Codec
import Crypto
import P2PProtocols
import Runtime

/// A router the simulator can run: the gossipsub router, or a stand-in speaking the same events and actions.
public protocol SimulatedRouter {
    /// A router for `local`.
    init(
        local: LibP2PIdentity, config: GossipsubConfig, random: SeededRandom,
        verifier: GossipsubRouter.SignatureVerifier?)
    /// A router for `local` whose configuration is `settings`, which the run's routers share.
    init(
        local: LibP2PIdentity, settings: GossipsubRouter.Settings, random: SeededRandom,
        verifier: GossipsubRouter.SignatureVerifier?)
    /// Handles one event at `now` and returns what to do, in order.
    mutating func on(_ event: GossipsubRouter.Event, now: Instant) -> [GossipsubRouter.Action]
    /// Handles one event as `on(_:now:)` does and returns its actions last first.
    mutating func onLastFirst(_ event: GossipsubRouter.Event, now: Instant) -> [GossipsubRouter.Action]
    /// Named counters, summed over the honest nodes into the report.
    var simulationCounters: [(String, Int)] { get }
}

extension SimulatedRouter {
    /// A router of `settings.config`; a router that shares nothing needs no more.
    public init(
        local: LibP2PIdentity, settings: GossipsubRouter.Settings, random: SeededRandom,
        verifier: GossipsubRouter.SignatureVerifier?
    ) {
        self.init(local: local, config: settings.config, random: random, verifier: verifier)
    }

    /// `on(_:now:)`'s actions, reversed.
    public mutating func onLastFirst(_ event: GossipsubRouter.Event, now: Instant) -> [GossipsubRouter.Action] {
        on(event, now: now).reversed()
    }

    /// Named counters summed over the honest nodes in the report; none by default.
    public var simulationCounters: [(String, Int)] { [] }
}

extension GossipsubRouter: SimulatedRouter {
    /// The router's own counters that explain duplicates and gossip traffic.
    public var simulationCounters: [(String, Int)] {
        [
            ("forwarded", counters.forwarded), ("duplicates", counters.duplicates),
            ("idontwant_sent", counters.idontwantSent), ("idontwant_suppressed", counters.idontwantSuppressed),
            ("ihave_sent", counters.ihaveSent), ("iwant_sent", counters.iwantSent),
            ("iwant_served", counters.iwantServed), ("broken_promises", counters.brokenPromises),
            ("rejected", counters.rejected), ("invalid_signatures", counters.invalidSignatures),
            ("graylisted_rpcs", counters.graylistedRPCs), ("disconnects", counters.disconnects),
        ]
    }
}

/// What a node is in the run.
enum NodeRole: UInt8 {
    case honest, silent, spammer, iwantFlooder, sybil, eclipser
}

/// A seeded, single-threaded discrete-event simulation of `nodes` routers on a simulated network.
///
/// One event queue ordered by (time, insertion); one simulated clock in nanoseconds; the routers' `.send` actions
/// become deliveries of `.receivedRPC` after the sender's uplink has serialized the bytes and the link's latency
/// has passed. Everything random (keys, topology, latencies, loss, churn, the routers' own draws) derives from
/// `config.seed`, so a run replays exactly; its trace hash says so.
public final class GossipSimulation<Router: SimulatedRouter> {
    let config: SimulationConfig
    let routerConfig: GossipsubConfig
    /// `routerConfig`, held once for every router of the run.
    let routerSettings: GossipsubRouter.Settings
    let count: Int

    // Per node, struct of arrays.
    var routers: [Router] = []
    var identities: [LibP2PIdentity] = []
    var peerIDs: [PeerID] = []
    var addresses: [String] = []
    var peerIndex = PeerIndex([])
    var online: [Bool]
    var role: [NodeRole]
    var uplinkFree: [UInt64]
    var uplinkWake: [Bool]
    var urgentQueue: [SendQueue]
    var bulkQueue: [SendQueue]
    var slotPeer: [Int32] = []
    /// When the RPC in each slot started on its sender's uplink.
    var slotStart: [UInt64] = []
    /// Each RPC slot's wire size (`RPCSize.rpc`), taken when it is stored and again when queued copies are dropped.
    var slotSize: [Int32] = []
    /// Per message number, the (sender, receiver) pairs whose receiver said IDONTWANT for it.
    var dontWant: [Set<Fingerprint.Key>]
    /// Messages below this number have had their IDONTWANTs forgotten.
    var dontWantForgotten = 0
    var idNumber: [GossipsubMessageID: Int32] = [:]
    var publishing: Int32 = -1
    var queuedSuppressed = 0
    var links: [[Int32]]
    var initialLinks: [[Int32]] = []
    var cutOff: [Bool]
    var leftAt: [UInt64]
    var joinedAt: [UInt64]

    // The queue and the RPCs in flight.
    var queue: EventQueue
    var slots: [GossipsubRPC?] = []
    var freeSlots: [Int32] = []
    var now: UInt64 = 0
    var trace = TraceHash()

    // Randomness, one stream per purpose.
    var lossRandom: SeededRandom
    var attackRandom: SeededRandom
    var routerRandom: SeededRandom
    let linkSalt: UInt64

    // The network's constants.
    let nanosecondsPerByte: Double
    let latencyLow: UInt64
    let latencySpan: UInt64
    let heartbeat: UInt64
    let endTime: UInt64
    let partitionStart: UInt64
    let partitionEnd: UInt64

    // Messages and metrics.
    var publisherOf: [Int32] = []
    var publishedAt: [UInt64]
    /// Per (message, node), at `message * count + node`: one record, so that a copy's arrival touches one place.
    var arrivals: [Arrival]
    var honestBytes: UInt64 = 0
    var rpcsSent = 0
    var rpcsLost = 0
    var invalidDelivered = 0
    var invalidRejected = 0
    var disconnects = 0
    var remaining: Int
    let stopsWhenDelivered: Bool
    var publishedCount = 0
    var eclipseTarget: Int32 = -1
    var knownIDs: [GossipsubMessageID] = []
    var knownIDSet: Set<GossipsubMessageID> = []
    var spamSequence: UInt64 = 0
    let memo = SignatureMemo()

    /// Payload byte 4: what the simulated application makes of a message.
    enum Validity: UInt8 {
        /// Forged content: the application rejects it.
        case invalid = 0
        /// An honest publication.
        case valid = 1
        /// Content the application would accept, under a forged signature: only the router's check stops it.
        case forgedSignature = 2
    }

    /// Sets the network, the identities and the topology up; `run()` runs it.
    public init(config: SimulationConfig) throws(SimulatorError) {
        try config.validate()
        self.config = config
        routerConfig = config.effectiveRouter
        routerSettings = GossipsubRouter.Settings(routerConfig)
        count = config.nodes
        var root = SeededRandom(seed: config.seed)
        var keyRandom = root.split(label: 1)
        var topologyRandom = root.split(label: 2)
        lossRandom = root.split(label: 3)
        var churnRandom = root.split(label: 4)
        attackRandom = root.split(label: 5)
        routerRandom = root.split(label: 6)
        var phaseRandom = root.split(label: 7)
        var saltRandom = root.split(label: 8)
        linkSalt = saltRandom.next()

        let n = config.nodes
        online = Array(repeating: true, count: n)
        role = Array(repeating: .honest, count: n)
        uplinkFree = Array(repeating: 0, count: n)
        uplinkWake = Array(repeating: false, count: n)
        urgentQueue = Array(repeating: SendQueue(), count: n)
        bulkQueue = Array(repeating: SendQueue(), count: n)
        links = Array(repeating: [], count: n)
        cutOff = Array(repeating: false, count: n)
        leftAt = Array(repeating: .max, count: n)
        joinedAt = Array(repeating: 0, count: n)
        publishedAt = Array(repeating: .max, count: config.messages)
        arrivals = Array(repeating: Arrival(), count: config.messages * n)
        dontWant = Array(repeating: [], count: config.messages)
        queue = EventQueue(capacity: n * 8)
        nanosecondsPerByte = 8e9 / (config.bandwidthMbps * 1e6)
        latencyLow = UInt64(config.latencyMilliseconds.lowerBound * 1e6)
        latencySpan = UInt64((config.latencyMilliseconds.upperBound - config.latencyMilliseconds.lowerBound) * 1e6) + 1
        heartbeat = UInt64(routerConfig.heartbeatInterval * 1e9)
        let lastPublish = config.warmup + Double(config.messages - 1) * config.publishInterval
        endTime = UInt64((lastPublish + config.drain) * 1e9)
        partitionStart = config.partition.map { UInt64($0.start * 1e9) } ?? .max
        partitionEnd = config.partition.map { UInt64($0.end * 1e9) } ?? .max
        stopsWhenDelivered = config.churn == 0 && config.attack == nil
        remaining = config.messages * (n - 1)

        // Identities: Ed25519 keys from seeded seeds, so peer ids replay too.
        identities.reserveCapacity(n)
        peerIDs.reserveCapacity(n)
        for node in 0..<n {
            let identity = LibP2PIdentity.ed25519(try! Ed25519PrivateKey(seed: keyRandom.bytes(32)))
            identities.append(identity)
            peerIDs.append(identity.peerID)
            addresses.append("10.\(node >> 16 & 255).\(node >> 8 & 255).\(node & 255)")
        }

        peerIndex = PeerIndex(peerIDs)

        // Roles: publishers are the first shuffled honest nodes, attackers the next ones.
        var order = Array(0..<n)
        order.shuffle(using: &topologyRandom)
        publisherOf = (0..<config.messages).map { Int32(order[$0 % config.publishers]) }
        var next = config.publishers
        var attackers: [Int32] = []
        if let attack = config.attack {
            let attackerCount = Int(Double(n) * attack.fraction)
            let attackerRole: NodeRole =
                switch attack.kind {
                case .silent: .silent
                case .spam: .spammer
                case .iwantFlood: .iwantFlooder
                case .sybil: .sybil
                case .eclipse: .eclipser
                }
            if attack.kind == .eclipse {
                eclipseTarget = Int32(order[next])
                next += 1
            }
            for node in order[next..<(next + attackerCount)] {
                role[node] = attackerRole
                attackers.append(Int32(node))
            }
            next += attackerCount
        }
        if let partition = config.partition {
            for node in 0..<n where topologyRandom.unit() < partition.fraction { cutOff[node] = true }
        }

        buildTopology(random: &topologyRandom, attackers: attackers)
        initialLinks = links

        // Churn: honest non-publishers leave once within the publication window and come back 1–10 s later.
        if config.churn > 0 {
            let candidates = order[next...].filter { role[$0] == .honest && Int32($0) != eclipseTarget }
            let churners = Int(Double(n) * config.churn)
            for node in candidates.prefix(churners) {
                let leave =
                    config.warmup + churnRandom.unit() * max(config.publishInterval, lastPublish - config.warmup)
                let back = leave + 1 + churnRandom.unit() * 9
                queue.push(time: UInt64(leave * 1e9), kind: .leave, node: Int32(node))
                queue.push(time: UInt64(back * 1e9), kind: .join, node: Int32(node))
            }
        }
        // Routers, subscriptions, connections, heartbeats (each node at its own phase), publications.
        routers.reserveCapacity(n)
        for node in 0..<n { routers.append(makeRouter(node)) }
        for node in 0..<n {
            let actions = routers[node].onLastFirst(.subscribe(config.topic), now: Instant(nanoseconds: 0))
            perform(Int32(node), actions)
        }
        for node in 0..<n {
            for peer in links[node] where Int(peer) > node {
                announce(dialer: Int32(node), listener: peer)
            }
        }
        for node in 0..<n {
            let phase = UInt64(phaseRandom.unit() * Double(heartbeat))
            queue.push(time: phase + 1, kind: .heartbeat, node: Int32(node))
            if role[node] == .spammer || role[node] == .iwantFlooder {
                queue.push(time: UInt64(config.warmup * 1e9) + phase / 10, kind: .attack, node: Int32(node))
            }
        }
        for message in 0..<config.messages {
            let time = UInt64((config.warmup + Double(message) * config.publishInterval) * 1e9)
            queue.push(time: time, kind: .publish, node: publisherOf[message], slot: Int32(message))
        }
    }

    func makeRouter(_ node: Int) -> Router {
        Router(
            local: identities[node], settings: routerSettings, random: routerRandom.split(label: UInt64(node)),
            verifier: memo.verifier)
    }

    /// Each node dials `degree` distinct random peers; components are then joined, so the graph is connected.
    ///
    /// Sybils dial `2·degree` extra honest peers; an eclipse target's links all go to attackers.
    private func buildTopology(random: inout SeededRandom, attackers: [Int32]) {
        let n = count
        let degree = config.degree
        func link(_ a: Int, _ b: Int) {
            guard a != b, !links[a].contains(Int32(b)) else { return }
            links[a].append(Int32(b))
            links[b].append(Int32(a))
        }
        for node in 0..<n {
            var dialed = 0
            var attempts = 0
            while dialed < degree && attempts < degree * 8 {
                attempts += 1
                let peer = Int(random.next() % UInt64(n))
                guard peer != node, !links[node].contains(Int32(peer)) else { continue }
                link(node, peer)
                dialed += 1
            }
        }
        for sybil in attackers where role[Int(sybil)] == .sybil {
            for _ in 0..<(2 * degree) {
                let peer = Int(random.next() % UInt64(n))
                if role[peer] == .honest { link(Int(sybil), peer) }
            }
        }
        if eclipseTarget >= 0 {
            let target = Int(eclipseTarget)
            for peer in links[target] { links[Int(peer)].removeAll { $0 == eclipseTarget } }
            links[target] = []
            var pool = attackers
            pool.shuffle(using: &random)
            for attacker in pool.prefix(max(degree, 2 * degree)) { link(target, Int(attacker)) }
        }
        // Join the components (union-find), leaving the eclipse target with attackers only.
        var parent = Array(0..<n)
        func find(_ x: Int) -> Int {
            var x = x
            while parent[x] != x {
                parent[x] = parent[parent[x]]
                x = parent[x]
            }
            return x
        }
        for node in 0..<n { for peer in links[node] { parent[find(node)] = find(Int(peer)) } }
        let main = find(Int(random.next() % UInt64(n)))
        for node in 0..<n where find(node) != find(main) && node != Int(eclipseTarget) {
            var peer = Int(random.next() % UInt64(n))
            while find(peer) != find(main) || peer == Int(eclipseTarget) { peer = Int(random.next() % UInt64(n)) }
            link(node, peer)
            parent[find(node)] = find(main)
        }
    }

    /// The one-way latency of the link between `a` and `b`: a fixed function of the pair and the seed.
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

    // MARK: Running

    /// Runs to the end (everything delivered, or the drain's end) and returns what was measured.
    public func run() -> SimulationReport {
        while let (event, kind) = queue.pop() {
            if let next = queue.next { prefetch(next) }
            guard event.time <= endTime else { break }
            now = event.time
            trace.add(time: now, kind: kind.rawValue, node: event.node, peer: event.peer, size: event.size)
            handle(event, kind)
            if stopsWhenDelivered && remaining == 0 && publishedCount == config.messages { break }
        }
        return report()
    }

    /// Asks the cache for what the handling of `event` reads first: its router, its links, and its RPC's slot.
    ///
    /// At 10,000 nodes the state of one node is rarely still in cache when its next event comes, and the heap's
    /// earliest event is known while the current one is handled. A hint only: what is read and done is the same.
    @inline(__always)
    private func prefetch(_ event: ScheduledEvent) {
        let node = Int(event.node)
        // An array is one reference to its storage, whose elements follow a 32-byte header; the addresses are read
        // without retaining the storage (nothing here can release it).
        let router = Self.elements(of: routers) + node * MemoryLayout<Router>.stride
        var offset = 0
        while offset < MemoryLayout<Router>.size {
            CSimulatorKernels_prefetch(router + offset)
            offset += 64
        }
        if EventQueue.rawKind(of: event) == EventKind.deliver.rawValue {
            let slot = Self.elements(of: slots) + Int(event.slot) * MemoryLayout<GossipsubRPC?>.stride
            CSimulatorKernels_prefetch(slot)
            CSimulatorKernels_prefetch(slot + MemoryLayout<GossipsubRPC?>.size - 1)
        }
        let linkStorage = (Self.elements(of: links) + node * 8).load(as: UnsafeRawPointer.self)
        CSimulatorKernels_prefetch(linkStorage + 32)
    }

    /// The address of an array's first element.
    @inline(__always)
    private static func elements<Element>(of array: [Element]) -> UnsafeRawPointer {
        unsafeBitCast(array, to: UnsafeRawPointer.self) + 32
    }

    @inline(__always)
    var instant: Instant { Instant(nanoseconds: now) }

    private func handle(_ event: ScheduledEvent, _ kind: EventKind) {
        let node = event.node
        switch kind {
        case .deliver:
            let rpc = slots[Int(event.slot)].take()!
            freeSlots.append(event.slot)
            guard online[Int(node)], links[Int(node)].contains(event.peer) else { return }
            countCopies(node, rpc, from: event.peer, started: slotStart[Int(event.slot)])
            if config.cancelQueuedOnIDontWant, let idontwant = rpc.control?.idontwant, !idontwant.isEmpty {
                noteDontWant(node, event.peer, idontwant)
            }
            let actions = routers[Int(node)].onLastFirst(
                .receivedRPC(from: peerIDs[Int(event.peer)], rpc: rpc, size: Int(event.size)), now: instant)
            perform(node, actions)
        case .heartbeat:
            queue.push(time: now + heartbeat, kind: .heartbeat, node: node)
            guard online[Int(node)] else { return }
            perform(node, routers[Int(node)].onLastFirst(.heartbeat, now: instant))
            if role[Int(node)] == .sybil { graftStorm(node) }
        case .publish:
            let message = Int(event.slot)
            publishedCount += 1
            guard online[Int(node)] else { return }
            publishedAt[message] = now
            forgetDontWants()
            let data = payload(message: UInt32(message), validity: .valid)
            publishing = Int32(message)
            perform(node, routers[Int(node)].onLastFirst(.publish(topic: config.topic, data: data), now: instant))
            publishing = -1
        case .connect:
            guard online[Int(node)], online[Int(event.peer)], !links[Int(node)].contains(event.peer) else { return }
            links[Int(node)].append(event.peer)
            links[Int(event.peer)].append(node)
            announce(dialer: node, listener: event.peer)
        case .leave:
            leave(node)
        case .join:
            join(node)
        case .uplink:
            uplinkWake[Int(node)] = false
            startNext(node)
        case .attack:
            queue.push(time: now + 100_000_000, kind: .attack, node: node)
            guard online[Int(node)] else { return }
            if role[Int(node)] == .spammer { spam(node) } else { iwantFlood(node) }
        }
    }

    /// Tells both routers of a new connection.
    private func announce(dialer: Int32, listener: Int32) {
        let start = instant
        perform(
            dialer,
            routers[Int(dialer)].onLastFirst(
                .peerConnected(
                    peerIDs[Int(listener)], version: .v12, outbound: true, address: addresses[Int(listener)]),
                now: start))
        perform(
            listener,
            routers[Int(listener)].onLastFirst(
                .peerConnected(peerIDs[Int(dialer)], version: .v12, outbound: false, address: addresses[Int(dialer)]),
                now: start))
    }

    /// Carries out a router's actions, given last first (`onLastFirst`); validations are answered at once by the
    /// simulated application, and the actions of those answers are carried out in turn, in order.
    func perform(_ node: Int32, _ actions: consuming [GossipsubRouter.Action]) {
        guard !actions.isEmpty else { return }
        // Actions are moved out from the end, not copied: an action holds an RPC's arrays and peer ids, and a copy
        // would retain each of them and then release them again. Each answer's actions are a batch of their own,
        // carried out after everything before it.
        var later: [[GossipsubRouter.Action]] = []
        while let action = actions.popLast() { carryOut(node, action, answers: &later) }
        var index = 0
        while index < later.count {
            var batch: [GossipsubRouter.Action] = []
            swap(&batch, &later[index])
            while let action = batch.popLast() { carryOut(node, action, answers: &later) }
            index += 1
        }
    }

    @inline(__always)
    private func carryOut(
        _ node: Int32, _ action: consuming GossipsubRouter.Action, answers: inout [[GossipsubRouter.Action]]
    ) {
        switch consume action {
        case .send(let peer, let rpc):
            if let destination = peerIndex.find(peer, in: peerIDs) { send(from: node, to: destination, rpc) }
        case .deliver(let message, let id, _):
            learn(node, id)
            deliver(node, message)
        case .validate(let message, let id, _):
            learn(node, id)
            let verdict = validate(node, message)
            let answer = routers[Int(node)].onLastFirst(.validated(id, verdict), now: instant)
            if !answer.isEmpty { answers.append(answer) }
        case .disconnect(let peer, _):
            if let other = peerIndex.find(peer, in: peerIDs) {
                disconnects += 1
                cut(node, other)
            }
        case .connect(let peer, _):
            if let other = peerIndex.find(peer, in: peerIDs), other != node, !links[Int(node)].contains(other) {
                queue.push(time: now + 2 * latency(node, other), kind: .connect, node: node, peer: other)
            }
        case .published(let id):
            if publishing >= 0 { idNumber[id] = publishing }
        case .publishFailed:
            break
        }
    }

    /// Sends `rpc` from `node` to `destination`, through a byzantine sender's filter.
    private func send(from node: Int32, to destination: Int32, _ rpc: consuming GossipsubRPC) {
        switch role[Int(node)] {
        case .honest, .spammer, .iwantFlooder:
            transmit(from: node, to: destination, rpc)
        case .silent, .sybil:
            if let censored = Self.censored(rpc, keepPX: true) { transmit(from: node, to: destination, censored) }
        case .eclipser:
            if destination != eclipseTarget {
                transmit(from: node, to: destination, rpc)
            } else if let censored = Self.censored(rpc, keepPX: false) {
                transmit(from: node, to: destination, censored)
            }
        }
    }

    /// `rpc` without messages and IHAVE (and without PX peers unless `keepPX`); nil when nothing is left.
    static func censored(_ rpc: GossipsubRPC, keepPX: Bool) -> GossipsubRPC? {
        var rpc = rpc
        rpc.messages = []
        if var control = rpc.control {
            control.ihave = []
            if !keepPX { for index in control.prune.indices { control.prune[index].peers = [] } }
            rpc.control = control.isEmpty ? nil : control
        }
        return rpc.subscriptions.isEmpty && rpc.control == nil ? nil : rpc
    }

    /// Closes the connection between `a` and `b`; both routers hear of it.
    private func cut(_ a: Int32, _ b: Int32) {
        guard let position = links[Int(a)].firstIndex(of: b) else { return }
        links[Int(a)].remove(at: position)
        links[Int(b)].removeAll { $0 == a }
        for (side, other) in [(a, b), (b, a)] where online[Int(side)] {
            perform(side, routers[Int(side)].onLastFirst(.peerDisconnected(peerIDs[Int(other)]), now: instant))
        }
    }

    private func leave(_ node: Int32) {
        guard online[Int(node)] else { return }
        for peer in links[Int(node)] { cut(node, peer) }
        dropQueued(node)
        online[Int(node)] = false
        leftAt[Int(node)] = now
    }

    /// A restart: a new router (fresh mesh, caches and score), subscribed, dialing its first peers again.
    private func join(_ node: Int32) {
        guard !online[Int(node)] else { return }
        online[Int(node)] = true
        joinedAt[Int(node)] = now
        uplinkFree[Int(node)] = now
        routers[Int(node)] = makeRouter(Int(node))
        perform(node, routers[Int(node)].onLastFirst(.subscribe(config.topic), now: instant))
        for peer in initialLinks[Int(node)] where online[Int(peer)] {
            queue.push(time: now + 2 * latency(node, peer), kind: .connect, node: node, peer: peer)
        }
    }

    // MARK: The simulated application

    /// A publication's payload: the message number (4 bytes, big-endian), its validity, then zeros.
    func payload(message: UInt32, validity: Validity) -> [UInt8] {
        var data = [UInt8](repeating: 0, count: config.messageBytes)
        data[0] = UInt8(truncatingIfNeeded: message >> 24)
        data[1] = UInt8(truncatingIfNeeded: message >> 16)
        data[2] = UInt8(truncatingIfNeeded: message >> 8)
        data[3] = UInt8(truncatingIfNeeded: message)
        data[4] = validity.rawValue
        return data
    }

    @inline(__always)
    static func number(_ data: [UInt8]) -> Int? {
        guard data.count >= 5 else { return nil }
        return Int(data[0]) << 24 | Int(data[1]) << 16 | Int(data[2]) << 8 | Int(data[3])
    }

    /// Honest applications accept what reads as valid content and reject the rest; attackers accept everything.
    private func validate(_ node: Int32, _ message: GossipsubMessage) -> GossipsubValidationResult {
        guard role[Int(node)] == .honest else { return .accept }
        let validity = message.data.count >= 5 ? Validity(rawValue: message.data[4]) : nil
        switch validity {
        case .valid, .forgedSignature: return .accept
        case .invalid, nil:
            invalidRejected += 1
            return .reject
        }
    }

    private func deliver(_ node: Int32, _ message: GossipsubMessage) {
        guard role[Int(node)] == .honest else { return }
        guard let number = Self.number(message.data), number < config.messages,
            message.data[4] == Validity.valid.rawValue
        else {
            invalidDelivered += 1
            return
        }
        let index = number * count + Int(node)
        guard arrivals[index].deliveredAt == .max else { return }
        arrivals[index].deliveredAt = now
        if node != publisherOf[number] { remaining -= 1 }
    }

    /// Counts the copies `node` receives from `peer`; a later copy whose sender started it (`started`) before the
    /// receiver's IDONTWANT, sent when its first copy arrived, could reach that sender over their link is one no
    /// IDONTWANT can stop, however fast it is sent.
    @inline(__always)
    private func countCopies(_ node: Int32, _ rpc: GossipsubRPC, from peer: Int32, started: UInt64) {
        for message in rpc.messages {
            guard let number = Self.number(message.data), number < config.messages else { continue }
            let index = number * count + Int(node)
            if arrivals[index].copies == 0 {
                arrivals[index].firstCopyAt = now
            } else if started < arrivals[index].firstCopyAt + latency(node, peer), arrivals[index].unsuppressible < .max
            {
                arrivals[index].unsuppressible += 1
            }
            if arrivals[index].copies < .max { arrivals[index].copies += 1 }
        }
    }

}

/// What one node received of one message.
struct Arrival {
    /// When the application got it (`.max` before).
    var deliveredAt = UInt64.max
    /// When its first copy arrived (`.max` before).
    var firstCopyAt = UInt64.max
    /// Copies received.
    var copies: UInt16 = 0
    /// Later copies that left their sender before an IDONTWANT sent at the first arrival could have reached it.
    var unsuppressible: UInt16 = 0
}

extension SeededRandom {
    /// A uniform double in [0, 1) with 53 random bits.
    @inline(__always)
    mutating func unit() -> Double { Double(next() >> 11) * 0x1p-53 }
}

/// The simulator's entry point with the real gossipsub router.
public enum GossipSimulator {
    /// Runs one simulation of the gossipsub router with `config`.
    public static func run(_ config: SimulationConfig) throws(SimulatorError) -> SimulationReport {
        try GossipSimulation<GossipsubRouter>(config: config).run()
    }

    /// Runs one simulation with `config` and never frees its state.
    ///
    /// For a process that exits once it has the report (`sim gossip`, the last setting of `bench gossip`), so that
    /// it does not spend the time of freeing every router's tables one by one (a second or more at 10,000 nodes), as
    /// a compiler skips freeing its structures before it exits. A process that goes on calls `run(_:)`.
    public static func runLeavingStateForExit(_ config: SimulationConfig) throws(SimulatorError) -> SimulationReport {
        let simulation = try GossipSimulation<GossipsubRouter>(config: config)
        _ = Unmanaged.passRetained(simulation)
        return try simulation.run()
    }
}
