import Codec
import Crypto
import Runtime
import TestSupport
import Testing

@testable import P2PProtocols

private func peer(_ random: inout SeededRandom) -> PeerID {
    PeerID(publicKey: LibP2PIdentity.ed25519(try! Ed25519PrivateKey(seed: random.bytes(32))).publicKey)
}

private func blocks(_ count: Int, size: Int, seed: UInt64) -> [(CID, [UInt8])] {
    var random = SeededRandom(seed: seed)
    return (0..<count).map { _ in
        let data = random.bytes(size)
        return (CID.raw(sha256Of: data), data)
    }
}

// MARK: Codec

@Test func bitswapMessagesRoundTripAndCIDv0BlocksCarryTheirPrefix() throws {
    let data = Array("a block".utf8)
    let v0 = try CID(v0: .sha256(data))
    let v1 = CID.raw(sha256Of: data)
    let message = BitswapMessage(
        wants: [
            .init(cid: v1, priority: 7, wantType: .have, sendDontHave: true),
            .init(cid: v0, priority: -3, cancel: true),
        ], full: true, blocks: [.init(cid: v0, data: data), .init(cid: v1, data: data)],
        presences: [.init(cid: v1, kind: .dontHave), .init(cid: v0, kind: .have)], pendingBytes: 42)
    let decoded = try BitswapMessage(decoding: message.encoded())
    #expect(decoded == message)
    #expect(decoded.blocks.map(\.cid) == [v0, v1])
    // The prefix of a CIDv0 block is 00 70 12 20, never empty.
    #expect(BitswapMessage.Block(cid: v0, data: data).prefix.bytes == [0x00, 0x70, 0x12, 0x20])
    #expect(BitswapMessage.Block(cid: v1, data: data).prefix.bytes == [0x01, 0x55, 0x12, 0x20])
    // A 1.0.0 sender's bare block (field 2) is read as the CIDv0 block of its bytes.
    var old = ProtobufWriter()
    old.bytes(2, data)
    #expect(try BitswapMessage(decoding: old.bytes).blocks.map(\.cid) == [v0])
    // py-libp2p's CIDv0 blocks come with an empty prefix: read as CIDv0 too.
    var empty = ProtobufWriter()
    var payload = ProtobufWriter()
    payload.bytes(1, [UInt8]())
    payload.bytes(2, data)
    empty.bytes(3, payload.bytes)
    #expect(try BitswapMessage(decoding: empty.bytes).blocks.map(\.cid) == [v0])
    // Framing.
    let framed = BitswapFraming.frame(message) + [0x01]
    let parsed = try #require(try BitswapFraming.parse(framed))
    #expect(parsed.message == message && parsed.consumed == framed.count - 1)
    #expect(try BitswapFraming.parse(framed.prefix(5)) == nil)
}

@Test func bitswapHostileMessagesAreBoundedWithTypedErrors() throws {
    let limits = BitswapMessage.Limits(
        maxSize: 1 << 20, maxBlockSize: 1_000, maxWants: 4, maxBlocks: 2, maxPresences: 2)
    let cid = CID.raw(sha256Of: [1])
    #expect(throws: BitswapError.tooMany(what: "wantlist entries", limit: 4)) {
        try BitswapMessage(
            decoding: BitswapMessage(wants: Array(repeating: .init(cid: cid), count: 5)).encoded(), limits: limits)
    }
    #expect(throws: BitswapError.blockTooLarge(size: 1_001, limit: 1_000)) {
        try BitswapMessage(
            decoding: BitswapMessage(blocks: [.init(cid: cid, data: [UInt8](repeating: 0, count: 1_001))]).encoded(),
            limits: limits)
    }
    #expect(throws: BitswapError.tooMany(what: "blocks", limit: 2)) {
        try BitswapMessage(
            decoding: BitswapMessage(blocks: Array(repeating: .init(cid: cid, data: [1]), count: 3)).encoded(),
            limits: limits)
    }
    #expect(throws: BitswapError.tooMany(what: "block presences", limit: 2)) {
        try BitswapMessage(
            decoding: BitswapMessage(presences: Array(repeating: .init(cid: cid, kind: .have), count: 3)).encoded(),
            limits: limits)
    }
    #expect(throws: BitswapError.messageTooLarge(size: (1 << 20) + 1, limit: 1 << 20)) {
        try BitswapMessage(decoding: [UInt8](repeating: 0, count: (1 << 20) + 1), limits: limits)
    }
    #expect(throws: BitswapError.frameTooLarge(length: 1 << 30, limit: 1 << 20)) {
        try BitswapFraming.parse(Varint.encode(1 << 30), limits: limits)
    }
    // Prefixes naming the identity hash, an unknown hash, a v0 that is not dag-pb, a short digest.
    for prefix in [[1, 0x55, 0x00, 32], [1, 0x55, 0x99, 32], [0, 0x55, 0x12, 32], [1, 0x55, 0x12, 4]] as [[UInt8]] {
        var block = ProtobufWriter()
        block.bytes(1, prefix)
        block.bytes(2, [1])
        var message = ProtobufWriter()
        message.bytes(3, block.bytes)
        #expect(throws: BitswapError.self) { try BitswapMessage(decoding: message.bytes) }
    }
    // Garbage never crashes.
    var random = SeededRandom(seed: 5)
    let sample = BitswapMessage(
        wants: [.init(cid: cid, wantType: .have)], blocks: [.init(cid: cid, data: [1, 2, 3])],
        presences: [.init(cid: cid, kind: .dontHave)]
    ).encoded()
    for _ in 0..<5_000 {
        _ = try? BitswapMessage(decoding: random.mutate(sample))
        _ = try? BitswapFraming.parse(random.bytes(Int(random.next() % 40)))
    }
}

// MARK: Engine

/// Engines wired in memory: each message is delivered in FIFO order (no latency); stores answer lookups at once;
/// a liar's store returns wrong bytes; `slow` peers answer only every `slowEvery`-th step.
private struct Network {
    var engines: [PeerID: BitswapEngine] = [:]
    var stores: [PeerID: [CID: [UInt8]]] = [:]
    var liars: Set<PeerID> = []
    var now = Instant(seconds: 100)
    var queue: [(to: PeerID, from: PeerID, message: BitswapMessage)] = []
    var received: [PeerID: [(CID, PeerID)]] = [:]
    var punished: [(by: PeerID, peer: PeerID, BitswapError)] = []
    var needProviders: [PeerID: Int] = [:]
    var sentBlocks: [PeerID: Int] = [:]
    var silent: Set<PeerID> = []

    mutating func add(_ peer: PeerID, store: [CID: [UInt8]] = [:], config: BitswapConfig = .init()) {
        engines[peer] = BitswapEngine(config: config, now: now)
        stores[peer] = store
    }

    mutating func connect(_ a: PeerID, _ b: PeerID) {
        handle(a, .peerConnected(b))
        handle(b, .peerConnected(a))
    }

    mutating func handle(_ node: PeerID, _ event: BitswapEngine.Event) {
        guard var engine = engines[node] else { return }
        let actions = engine.on(event, now: now)
        engines[node] = engine
        for action in actions {
            switch action {
            case .send(let to, let message):
                sentBlocks[node, default: 0] += message.blocks.count
                if !silent.contains(node) { queue.append((to, node, message)) }
            case .lookup(let id, _, let wants):
                let store = stores[node] ?? [:]
                let answers: [BitswapBlockLookup] = wants.map { entry in
                    guard var data = store[entry.cid] else { return .missing }
                    if liars.contains(node) { data[0] ^= 0xFF }
                    return entry.wantType == .block ? .block(data) : .have(size: data.count)
                }
                handle(node, .lookedUp(id, answers))
            case .received(let block, let from, _):
                let (cid, data) = (block.cid, block.bytes)
                stores[node, default: [:]][cid] = data
                received[node, default: []].append((cid, from))
                handle(node, .blockAdded(cid))
            case .punish(let peer, let reason):
                punished.append((node, peer, reason))
            case .needProviders:
                needProviders[node, default: 0] += 1
            }
        }
    }

    /// Delivers messages until none is left (at most `limit`).
    mutating func run(limit: Int = 1_000_000) {
        var steps = 0
        while !queue.isEmpty && steps < limit {
            let (to, from, message) = queue.removeFirst()
            let encoded = try! BitswapMessage(decoding: message.encoded())
            handle(to, .message(from: from, encoded))
            steps += 1
        }
    }

    mutating func advance(_ seconds: Double) {
        now = now.advanced(bySeconds: seconds)
        for peer in engines.keys.sorted(by: { $0.description < $1.description }) { handle(peer, .tick) }
    }
}

@Test func bitswapFetchesEveryBlockFromOneSeederAndVerifiesIt() {
    var random = SeededRandom(seed: 1)
    let seeder = peer(&random)
    let fetcher = peer(&random)
    let content = blocks(200, size: 1_000, seed: 2)
    var network = Network()
    network.add(seeder, store: Dictionary(uniqueKeysWithValues: content))
    network.add(fetcher)
    network.connect(seeder, fetcher)
    network.handle(fetcher, .want(BitswapSessionID(1), cids: content.map(\.0), peers: [seeder]))
    network.run()
    #expect(network.received[fetcher]?.count == 200)
    #expect(Set(network.received[fetcher]?.map(\.0) ?? []) == Set(content.map(\.0)))
    for (cid, data) in content { #expect(network.stores[fetcher]?[cid] == data) }
    #expect(network.engines[fetcher]?.remaining(BitswapSessionID(1)) == 0)
    #expect(network.engines[seeder]?.counters.blocksSent == 200)
    #expect(network.engines[seeder]?.wants(of: fetcher).isEmpty == true)
    #expect(network.punished.isEmpty)
}

@Test func bitswapSplitsWantsAcrossPeersAndMovesRefusedOnesToWhoeverHasThem() {
    var random = SeededRandom(seed: 3)
    let seeders = (0..<4).map { _ in peer(&random) }
    let fetcher = peer(&random)
    let content = blocks(400, size: 500, seed: 4)
    var network = Network()
    // Seeders 0–2 hold everything; seeder 3 holds only the first half and says DONT_HAVE to the rest.
    for (index, seeder) in seeders.enumerated() {
        let held = index == 3 ? Array(content.prefix(200)) : content
        network.add(seeder, store: Dictionary(uniqueKeysWithValues: held))
    }
    network.add(fetcher)
    for seeder in seeders { network.connect(seeder, fetcher) }
    network.handle(fetcher, .want(BitswapSessionID(1), cids: content.map(\.0), peers: seeders))
    network.run()
    #expect(network.received[fetcher]?.count == 400)
    let bySender = Dictionary(grouping: network.received[fetcher] ?? [], by: \.1).mapValues(\.count)
    // Every seeder served a share.
    for seeder in seeders { #expect((bySender[seeder] ?? 0) > 20, "\(bySender)") }
    // Seeder 3 served only blocks it holds.
    let held = Set(content.prefix(200).map(\.0))
    #expect((network.received[fetcher] ?? []).filter { $0.1 == seeders[3] }.allSatisfy { held.contains($0.0) })
    #expect((network.engines[fetcher]?.counters.reassigned ?? 0) > 0)
    #expect(network.punished.isEmpty)
}

@Test func bitswapPenalizesAPeerThatSendsWrongBytesAndCompletesFromAnHonestOne() {
    var random = SeededRandom(seed: 5)
    let liar = peer(&random)
    let honest = peer(&random)
    let fetcher = peer(&random)
    let content = blocks(50, size: 300, seed: 6)
    var network = Network()
    network.add(liar, store: Dictionary(uniqueKeysWithValues: content))
    network.liars.insert(liar)
    network.add(honest, store: Dictionary(uniqueKeysWithValues: content))
    network.add(fetcher)
    network.connect(liar, fetcher)
    network.connect(honest, fetcher)
    network.handle(fetcher, .want(BitswapSessionID(1), cids: content.map(\.0), peers: [liar, honest]))
    network.run()
    #expect(network.punished.contains { $0.by == fetcher && $0.peer == liar })
    #expect(!network.punished.contains { $0.peer == honest })
    #expect(network.received[fetcher]?.count == 50)
    #expect((network.received[fetcher] ?? []).allSatisfy { $0.1 == honest })
    for (cid, data) in content { #expect(network.stores[fetcher]?[cid] == data) }
    #expect(network.engines[fetcher]?.counters.penalties == 1)
}

@Test func bitswapTimesOutSilentPeersResendsAndAsksForProviders() {
    var random = SeededRandom(seed: 7)
    let silent = peer(&random)
    let late = peer(&random)
    let fetcher = peer(&random)
    let content = blocks(10, size: 100, seed: 8)
    var network = Network()
    network.add(silent, store: Dictionary(uniqueKeysWithValues: content))
    network.silent.insert(silent)
    network.add(fetcher)
    network.connect(silent, fetcher)
    network.handle(fetcher, .want(BitswapSessionID(1), cids: content.map(\.0), peers: [silent]))
    network.run()
    #expect(network.received[fetcher] == nil)
    // Past the want timeout, the silent peer counts as not having the blocks: the session asks for providers.
    for _ in 0..<16 { network.advance(1) }
    network.run()
    #expect((network.needProviders[fetcher] ?? 0) >= 1)
    #expect((network.engines[fetcher]?.counters.reassigned ?? 0) == 10)
    // A provider found later serves everything.
    network.add(late, store: Dictionary(uniqueKeysWithValues: content))
    network.connect(late, fetcher)
    network.handle(fetcher, .addPeers(BitswapSessionID(1), [late]))
    network.run()
    #expect(network.received[fetcher]?.count == 10)
}

@Test func bitswapServerAnswersHavesDontHavesWaitsForMissingBlocksAndHonoursCancelAndFull() {
    var random = SeededRandom(seed: 9)
    let client = peer(&random)
    let content = blocks(4, size: 64, seed: 10)
    var engine = BitswapEngine(now: Instant(seconds: 1))
    let now = Instant(seconds: 1)
    _ = engine.on(.peerConnected(client), now: now)
    let wants = BitswapMessage(wants: [
        .init(cid: content[0].0, wantType: .have, sendDontHave: true),
        .init(cid: content[1].0, wantType: .block, sendDontHave: true),
        .init(cid: content[2].0, wantType: .block, sendDontHave: false),
        .init(cid: content[3].0, wantType: .block),
    ])
    let actions = engine.on(.message(from: client, wants), now: now)
    guard case .lookup(let id, let who, let asked)? = actions.first else {
        Issue.record("no lookup: \(actions)")
        return
    }
    #expect(who == client && asked.count == 4)
    // The client withdraws the fourth want before the store answers.
    _ = engine.on(.message(from: client, BitswapMessage(wants: [.init(cid: content[3].0, cancel: true)])), now: now)
    let answered = engine.on(
        .lookedUp(id, [.have(size: 64), .missing, .missing, .block(content[3].1)]), now: now)
    guard case .send(let to, let reply)? = answered.first, answered.count == 1 else {
        Issue.record("\(answered)")
        return
    }
    #expect(to == client)
    #expect(reply.blocks.isEmpty)
    #expect(reply.presences == [.init(cid: content[0].0, kind: .have), .init(cid: content[1].0, kind: .dontHave)])
    // The wants of missing blocks wait, answered or not; the block arriving in the store answers them.
    #expect(Set(engine.wants(of: client)) == [content[1].0, content[2].0])
    let added = engine.on(.blockAdded(content[2].0), now: now)
    guard case .lookup(let second, _, let again)? = added.first else {
        Issue.record("\(added)")
        return
    }
    #expect(again.map(\.cid) == [content[2].0])
    let sent = engine.on(.lookedUp(second, [.block(content[2].1)]), now: now)
    guard case .send(_, let delivery)? = sent.first else {
        Issue.record("\(sent)")
        return
    }
    #expect(delivery.blocks.map(\.cid) == [content[2].0] && delivery.blocks[0].data == content[2].1)
    #expect(engine.wants(of: client) == [content[1].0])
    _ = engine.on(.message(from: client, BitswapMessage(wants: [.init(cid: content[1].0, cancel: true)])), now: now)
    #expect(engine.wants(of: client).isEmpty)
    #expect(engine.on(.blockAdded(content[1].0), now: now).isEmpty)
    // A full wantlist replaces the one held.
    _ = engine.on(.message(from: client, BitswapMessage(wants: [.init(cid: content[0].0)])), now: now)
    _ = engine.on(.message(from: client, BitswapMessage(wants: [.init(cid: content[1].0)], full: true)), now: now)
    #expect(engine.wants(of: client) == [content[1].0])
    // A peer that floods its wantlist past the bound is punished.
    var config = BitswapConfig()
    config.maxWantsPerPeer = 3
    var small = BitswapEngine(config: config, now: now)
    let flood = BitswapMessage(wants: blocks(5, size: 8, seed: 11).map { .init(cid: $0.0) })
    let punished = small.on(.message(from: client, flood), now: now)
    #expect(punished.contains { if case .punish(client, .tooMany) = $0 { true } else { false } })
    #expect(small.wants(of: client).count == 3)
}

@Test func bitswapRunsReplayFromTheirEvents() {
    func trace() -> [String] {
        var random = SeededRandom(seed: 12)
        let seeders = (0..<3).map { _ in peer(&random) }
        let fetcher = peer(&random)
        let content = blocks(120, size: 200, seed: 13)
        var network = Network()
        for seeder in seeders { network.add(seeder, store: Dictionary(uniqueKeysWithValues: content.prefix(100))) }
        network.add(fetcher)
        for seeder in seeders { network.connect(seeder, fetcher) }
        network.handle(fetcher, .want(BitswapSessionID(1), cids: content.map(\.0), peers: seeders))
        network.run()
        network.advance(6)
        network.run()
        return (network.received[fetcher] ?? []).map { "\($0.0)<\($0.1)" }
    }
    let first = trace()
    #expect(first.count == 100)
    #expect(trace() == first)
}

/// The framing written in one sized array is byte for byte the length prefix and the protobuf `encoded()` gives,
/// and a message decoded where it lies in a buffer of several equals the one decoded from its own copy, for
/// seeded messages of every part; a block whose length runs past its embedded message is refused.
@Test(arguments: [1 as UInt64, 2, 3, 4, 5])
func bitswapFramesInOneArrayAndDecodesInPlace(seed: UInt64) throws {
    var random = SeededRandom(seed: seed)
    var messages: [BitswapMessage] = []
    for _ in 0..<4 {
        var message = BitswapMessage()
        for (cid, _) in blocks(Int(random.next() % 4), size: 8, seed: random.next()) {
            message.wants.append(
                BitswapMessage.Entry(
                    cid: cid, priority: Int32(random.next() % 100), cancel: random.next() % 2 == 0,
                    wantType: random.next() % 2 == 0 ? .have : .block, sendDontHave: random.next() % 2 == 0))
        }
        message.full = random.next() % 2 == 0
        for (cid, data) in blocks(Int(random.next() % 3), size: Int(random.next() % 300_000), seed: random.next()) {
            message.blocks.append(BitswapMessage.Block(cid: cid, data: data))
        }
        for (cid, _) in blocks(Int(random.next() % 3), size: 4, seed: random.next()) {
            message.presences.append(
                BitswapMessage.Presence(cid: cid, kind: random.next() % 2 == 0 ? .have : .dontHave))
        }
        message.pendingBytes = Int32(random.next() % 1_000)
        messages.append(message)
    }
    var stream: [UInt8] = []
    for message in messages {
        let body = message.encoded()
        let framed = BitswapFraming.frame(message)
        #expect(framed == Varint.encode(UInt64(body.count)) + body)
        stream += framed
    }
    var offset = 0
    for message in messages {
        let parsed = try #require(try BitswapFraming.parse(stream, from: offset))
        #expect(parsed.message == message)
        #expect(try BitswapFraming.parse(Array(stream[offset..<(offset + parsed.consumed)]))?.message == message)
        offset += parsed.consumed
    }
    #expect(offset == stream.count)
    #expect(try BitswapFraming.parse(stream, from: offset) == nil)
    // Cut short: nothing is decoded until the whole message is there.
    #expect(try BitswapFraming.parse(Array(stream.prefix(stream.count - 1)), from: offset - 1) == nil)

    // An embedded block whose data length runs past the block message: refused, not read past.
    var inner = ProtobufWriter()
    inner.bytes(1, CIDPrefix.v0.bytes)
    var lying = inner.bytes + [2 << 3 | 2, 0x7F] + [UInt8](repeating: 1, count: 10)
    var outer = ProtobufWriter()
    outer.bytes(3, lying)
    lying = outer.bytes + [UInt8](repeating: 9, count: 200)
    #expect(throws: BitswapError.self) {
        _ = try BitswapMessage(decoding: lying, range: 0..<outer.bytes.count)
    }
}
