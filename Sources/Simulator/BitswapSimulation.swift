import Codec
import Crypto
import P2PProtocols
import Runtime

/// The settings of a content-exchange run: `nodes` peers on a seeded random graph, one seeder holding a blob of
/// `blobBytes` (a root and leaves of `blockBytes`), every other peer fetching it through Bitswap from its
/// neighbours, each peer's uplink a bottleneck of `uplinkBytesPerSecond`.
public struct BitswapSimulationConfig: Sendable, Equatable {
    /// Peers, the seeder included.
    public var nodes = 1_000
    /// The run's seed (topology, latencies, start times).
    public var seed: UInt64 = 1
    /// The blob's bytes.
    public var blobBytes = 64 * 1024 * 1024
    /// One leaf's bytes (kubo's chunk).
    public var blockBytes = 262_144
    /// Neighbours each peer dials (the graph's links are both ways).
    public var degree = 8
    /// One-way link latency range, milliseconds.
    public var latencyMilliseconds: ClosedRange<Double> = 20...150
    /// Each peer's upload bandwidth, bytes per second (100 Mbit/s).
    public var uplinkBytesPerSecond = 12_500_000.0
    /// Peers start fetching at a uniformly random time in 0...startSpreadSeconds.
    public var startSpreadSeconds = 1.0
    /// The run stops here, complete or not (simulated seconds).
    public var maxSeconds = 3_600.0

    /// The defaults.
    public init() {}

    /// Refuses settings the simulator cannot run.
    public func validate() throws(SimulatorError) {
        guard (2...100_000).contains(nodes) else {
            throw .invalidParameter(name: "nodes", value: "\(nodes)", expected: "2...100000")
        }
        guard degree >= 1 && degree < nodes else {
            throw .invalidParameter(name: "degree", value: "\(degree)", expected: "1...nodes-1")
        }
        guard blockBytes >= 1_024 && blockBytes <= 2 * 1024 * 1024 else {
            throw .invalidParameter(name: "blockBytes", value: "\(blockBytes)", expected: "1024...2097152")
        }
        guard blobBytes >= 1 && blobBytes / blockBytes <= 1 << 20 else {
            throw .invalidParameter(name: "blobBytes", value: "\(blobBytes)", expected: "1...1048576 blocks")
        }
        guard latencyMilliseconds.lowerBound >= 0 else {
            throw .invalidParameter(name: "latency", value: "\(latencyMilliseconds)", expected: ">= 0 ms")
        }
        guard uplinkBytesPerSecond > 0 else {
            throw .invalidParameter(name: "uplink", value: "\(uplinkBytesPerSecond)", expected: "> 0 bytes/s")
        }
        guard startSpreadSeconds >= 0, maxSeconds > 0 else {
            throw .invalidParameter(name: "seconds", value: "\(maxSeconds)", expected: "> 0")
        }
    }
}

/// What a content-exchange run measured.
public struct BitswapSimulationReport: Sendable, Equatable, Codable {
    /// Peers in all.
    public var nodes: Int
    /// Blocks of the blob (root included).
    public var blocks: Int
    /// Peers that hold every block at the end (the seeder included).
    public var completed: Int
    /// Seconds from a peer's start to its last block: percentiles over the peers that completed.
    public var completionSecondsP50: Double
    /// 90th percentile.
    public var completionSecondsP90: Double
    /// The slowest.
    public var completionSecondsMax: Double
    /// The time one copy takes on one uplink (the floor for the seeder's first copy).
    public var oneCopySeconds: Double
    /// Copies of the blob the seeder uploaded.
    public var seederCopies: Double
    /// Bytes uploaded by all peers over the bytes the fetchers needed (1.0 is no waste).
    public var uploadOverhead: Double
    /// Blocks received twice.
    public var duplicateBlocks: Int
    /// Peers penalized (none in an honest run).
    public var penalties: Int
    /// Messages delivered.
    public var messages: Int
    /// Simulated seconds until the last peer completed (or the run stopped).
    public var simulatedSeconds: Double
    /// The trace hash: equal runs from equal seeds.
    public var traceHash: String
    /// Events processed.
    public var events: UInt64
}

/// A seeded discrete-event run of many real `BitswapEngine`s exchanging one blob (no bytes of 256 KiB are moved:
/// each block is a short unique byte string whose nominal size sets its transfer time on the uplinks).
public struct BitswapSimulation {
    private struct Event {
        var time: UInt64
        var sequence: UInt64
        var kind: UInt8  // 0 deliver, 1 tick, 2 uplink done, 3 start
        var node: Int32
        var peer: Int32
        var slot: Int32
    }

    private let config: BitswapSimulationConfig
    private var engines: [BitswapEngine] = []
    private var held: [[Bool]] = []
    private var heldCount: [Int] = []
    private var started: [Double] = []
    private var finished: [Double?] = []
    private var ids: [PeerID] = []
    private var index: [PeerID: Int32] = [:]
    private var neighbours: [[Int32]] = []
    private var cids: [CID] = []
    private var blockData: [[UInt8]] = []
    private var blockOf: [CID: Int] = [:]
    private var heap: [Event] = []
    private var sequence: UInt64 = 0
    private var slots: [BitswapMessage?] = []
    private var freeSlots: [Int32] = []
    private var uplinkQueue: [[Int32]] = []
    private var uplinkHead: [Int] = []
    private var uplinkBusy: [Bool] = []
    private var pendingTo: [Int32: Int32] = [:]
    private var trace = TraceHash()
    private var messages = 0
    private var uploaded: [Int] = []
    private var now: UInt64 = 0

    /// A run of `config` (validated).
    public init(_ config: BitswapSimulationConfig) throws(SimulatorError) {
        try config.validate()
        self.config = config
    }

    /// Runs to completion (or `maxSeconds`) and reports.
    public mutating func run() -> BitswapSimulationReport {
        setUp()
        let limit = UInt64(config.maxSeconds * 1e9)
        while let event = pop() {
            guard event.time <= limit else { break }
            now = event.time
            trace.add(time: event.time, kind: event.kind, node: event.node, peer: event.peer, size: event.slot)
            let instant = Instant(nanoseconds: event.time)
            switch event.kind {
            case 0:
                guard let message = slots[Int(event.slot)] else { continue }
                slots[Int(event.slot)] = nil
                freeSlots.append(event.slot)
                messages += 1
                handle(event.node, .message(from: ids[Int(event.peer)], message), instant)
            case 1:
                handle(event.node, .tick, instant)
                if finished.contains(where: { $0 == nil }) {
                    push(event.time + 1_000_000_000, kind: 1, node: event.node)
                }
            case 2:
                uplinkBusy[Int(event.node)] = false
                startUplink(event.node)
            default:
                started[Int(event.node)] = Double(event.time) / 1e9
                let peers = neighbours[Int(event.node)].map { ids[Int($0)] }
                handle(event.node, .want(BitswapSessionID(1), cids: [cids[0]], peers: peers), instant)
            }
            if !finished.contains(where: { $0 == nil }) { break }
        }
        return report()
    }

    // MARK: Setup

    private mutating func setUp() {
        var random = SeededRandom(seed: config.seed)
        let leaves = max(1, (config.blobBytes + config.blockBytes - 1) / config.blockBytes)
        // Block 0 is the root; its bytes name the leaves (as a dag-pb node would), which is how a fetcher learns them.
        var leafCIDs: [CID] = []
        for leaf in 0..<leaves {
            var bytes = Array("leaf".utf8)
            for shift in stride(from: 0, to: 64, by: 8) {
                bytes.append(UInt8(truncatingIfNeeded: UInt64(leaf) >> shift))
            }
            bytes += random.bytes(8)
            leafCIDs.append(CID.raw(sha256Of: bytes))
            blockData.append(bytes)
        }
        let root = Array("root".utf8) + leafCIDs.flatMap(\.bytes)
        cids = [CID.raw(sha256Of: root)] + leafCIDs
        blockData.insert(root, at: 0)
        for (position, cid) in cids.enumerated() { blockOf[cid] = position }

        var engineConfig = BitswapConfig()
        engineConfig.maxMessageBlockBytes = 1  // one block per message: its nominal size sets its uplink time
        engineConfig.maxWantsPerSession = cids.count
        for node in 0..<config.nodes {
            let id = PeerID(
                publicKey: LibP2PIdentity.ed25519(try! Ed25519PrivateKey(seed: random.bytes(32))).publicKey)
            ids.append(id)
            index[id] = Int32(node)
            engines.append(BitswapEngine(config: engineConfig, now: Instant(nanoseconds: 0)))
        }
        held = Array(repeating: Array(repeating: false, count: cids.count), count: config.nodes)
        heldCount = Array(repeating: 0, count: config.nodes)
        held[0] = Array(repeating: true, count: cids.count)
        heldCount[0] = cids.count
        started = Array(repeating: 0, count: config.nodes)
        finished = Array(repeating: nil, count: config.nodes)
        finished[0] = 0
        uploaded = Array(repeating: 0, count: config.nodes)
        uplinkQueue = Array(repeating: [], count: config.nodes)
        uplinkHead = Array(repeating: 0, count: config.nodes)
        uplinkBusy = Array(repeating: false, count: config.nodes)

        // A random graph: each peer links to `degree` others chosen uniformly (links are both ways).
        var links = Array(repeating: Set<Int32>(), count: config.nodes)
        for node in 0..<config.nodes {
            var tries = 0
            while links[node].count < config.degree && tries < config.degree * 20 {
                tries += 1
                let other = Int(random.next() % UInt64(config.nodes))
                guard other != node else { continue }
                links[node].insert(Int32(other))
                links[other].insert(Int32(node))
            }
        }
        neighbours = links.map { $0.sorted() }
        for node in 0..<config.nodes {
            for peer in neighbours[node] {
                _ = engines[node].on(.peerConnected(ids[Int(peer)]), now: Instant(nanoseconds: 0))
            }
            push(UInt64(1_000_000_000), kind: 1, node: Int32(node))
            if node > 0 {
                let start = UInt64(Double(random.nextUnitFloat()) * config.startSpreadSeconds * 1e9)
                push(start, kind: 3, node: Int32(node))
            }
        }
    }

    // MARK: Engines

    private mutating func handle(_ node: Int32, _ event: BitswapEngine.Event, _ instant: Instant) {
        var queue: [(Int32, BitswapEngine.Event)] = [(node, event)]
        var position = 0
        while position < queue.count {
            let (target, next) = queue[position]
            position += 1
            let actions = engines[Int(target)].on(next, now: instant)
            for action in actions {
                switch action {
                case .send(let peer, let message):
                    guard let destination = index[peer] else { continue }
                    send(message, from: target, to: destination)
                case .lookup(let id, _, let wants):
                    let answers: [BitswapBlockLookup] = wants.map { entry in
                        guard let block = blockOf[entry.cid], held[Int(target)][block] else { return .missing }
                        return entry.wantType == .block
                            ? .block(blockData[block]) : .have(size: config.blockBytes)
                    }
                    queue.append((target, .lookedUp(id, answers)))
                case .received(let block, _, _):
                    let cid = block.cid
                    guard let block = blockOf[cid], !held[Int(target)][block] else { continue }
                    held[Int(target)][block] = true
                    heldCount[Int(target)] += 1
                    if block == 0 {
                        // The root names the leaves: the walk goes on with them.
                        let leaves = Array(cids.dropFirst())
                        queue.append((target, .want(BitswapSessionID(1), cids: leaves, peers: [])))
                    }
                    queue.append((target, .blockAdded(cid)))
                    if heldCount[Int(target)] == cids.count && finished[Int(target)] == nil {
                        finished[Int(target)] = Double(now) / 1e9
                        queue.append((target, .closeSession(BitswapSessionID(1))))
                    }
                case .punish, .needProviders:
                    break
                }
            }
        }
    }

    /// The message's nominal size on the wire: each block at its nominal size, each entry or presence 40 bytes.
    private func nominalSize(_ message: BitswapMessage) -> Int {
        var size = 16 + 40 * (message.wants.count + message.presences.count)
        for block in message.blocks { size += blockOf[block.cid] == 0 ? block.data.count : config.blockBytes }
        return size
    }

    private mutating func send(_ message: BitswapMessage, from node: Int32, to destination: Int32) {
        let slot: Int32
        if let free = freeSlots.popLast() {
            slot = free
            slots[Int(free)] = message
        } else {
            slot = Int32(slots.count)
            slots.append(message)
        }
        pendingTo[slot] = destination
        uplinkQueue[Int(node)].append(slot)
        if !uplinkBusy[Int(node)] { startUplink(node) }
    }

    private mutating func startUplink(_ node: Int32) {
        let n = Int(node)
        guard uplinkHead[n] < uplinkQueue[n].count else {
            uplinkQueue[n].removeAll(keepingCapacity: true)
            uplinkHead[n] = 0
            return
        }
        let slot = uplinkQueue[n][uplinkHead[n]]
        uplinkHead[n] += 1
        guard let message = slots[Int(slot)], let destination = pendingTo.removeValue(forKey: slot) else { return }
        let size = nominalSize(message)
        uploaded[n] += message.blocks.reduce(0) { $0 + (blockOf[$1.cid] == 0 ? $1.data.count : config.blockBytes) }
        let transmit = UInt64(Double(size) / config.uplinkBytesPerSecond * 1e9)
        uplinkBusy[n] = true
        push(now + transmit, kind: 2, node: node)
        push(now + transmit + latency(node, destination), kind: 0, node: destination, peer: node, slot: slot)
    }

    private func latency(_ a: Int32, _ b: Int32) -> UInt64 {
        var mix = UInt64(UInt32(bitPattern: min(a, b))) << 32 | UInt64(UInt32(bitPattern: max(a, b)))
        mix ^= config.seed &* 0x9E37_79B9_7F4A_7C15
        mix = (mix ^ (mix >> 30)) &* 0xBF58_476D_1CE4_E5B9
        mix = (mix ^ (mix >> 27)) &* 0x94D0_49BB_1331_11EB
        mix ^= mix >> 31
        let unit = Double(mix >> 11) / Double(1 << 53)
        let range = config.latencyMilliseconds
        return UInt64((range.lowerBound + unit * (range.upperBound - range.lowerBound)) * 1e6)
    }

    // MARK: Queue

    private mutating func push(_ time: UInt64, kind: UInt8, node: Int32, peer: Int32 = -1, slot: Int32 = 0) {
        sequence += 1
        heap.append(Event(time: time, sequence: sequence, kind: kind, node: node, peer: peer, slot: slot))
        var child = heap.count - 1
        while child > 0 {
            let parent = (child - 1) / 2
            guard Self.before(heap[child], heap[parent]) else { break }
            heap.swapAt(child, parent)
            child = parent
        }
    }

    private mutating func pop() -> Event? {
        guard !heap.isEmpty else { return nil }
        heap.swapAt(0, heap.count - 1)
        let top = heap.removeLast()
        var parent = 0
        while true {
            let left = 2 * parent + 1
            guard left < heap.count else { break }
            var child = left
            if left + 1 < heap.count && Self.before(heap[left + 1], heap[left]) { child = left + 1 }
            guard Self.before(heap[child], heap[parent]) else { break }
            heap.swapAt(child, parent)
            parent = child
        }
        return top
    }

    private static func before(_ a: Event, _ b: Event) -> Bool {
        a.time != b.time ? a.time < b.time : a.sequence < b.sequence
    }

    // MARK: Report

    private func report() -> BitswapSimulationReport {
        let times = (1..<config.nodes).compactMap { node in finished[node].map { $0 - started[node] } }.sorted()
        func percentile(_ p: Double) -> Double {
            guard !times.isEmpty else { return 0 }
            return times[min(times.count - 1, Int((Double(times.count) * p).rounded(.up)) - 1)]
        }
        let blobBytes = Double(config.blockBytes * (cids.count - 1) + blockData[0].count)
        let needed = blobBytes * Double(config.nodes - 1)
        let duplicates = engines.reduce(0) { $0 + $1.counters.duplicateBlocks }
        let penalties = engines.reduce(0) { $0 + $1.counters.penalties }
        let completed = finished.filter { $0 != nil }.count
        let end = finished.compactMap { $0 }.max() ?? 0
        return BitswapSimulationReport(
            nodes: config.nodes, blocks: cids.count, completed: completed, completionSecondsP50: percentile(0.5),
            completionSecondsP90: percentile(0.9), completionSecondsMax: times.last ?? 0,
            oneCopySeconds: blobBytes / config.uplinkBytesPerSecond, seederCopies: Double(uploaded[0]) / blobBytes,
            uploadOverhead: Double(uploaded.reduce(0, +)) / needed, duplicateBlocks: duplicates, penalties: penalties,
            messages: messages, simulatedSeconds: completed == config.nodes ? end : Double(now) / 1e9,
            traceHash: trace.hex, events: trace.events)
    }
}
