import Codec
import Crypto
import Foundation
import Runtime
import Synchronization
import TestSupport
import Testing

@testable import P2P

/// Blocks in memory; a liar returns every block with its first byte flipped.
private final class MemoryStore: BitswapBlockStore {
    let blocks = Mutex<[CID: [UInt8]]>([:])
    let liar: Bool
    init(_ content: [(CID, [UInt8])] = [], liar: Bool = false) {
        self.liar = liar
        blocks.withLock { for (cid, data) in content { $0[cid] = data } }
    }
    func size(of cid: CID) -> Int? { blocks.withLock { $0[cid]?.count } }
    func block(_ cid: CID) -> [UInt8]? {
        guard var data = blocks.withLock({ $0[cid] }) else { return nil }
        if liar { data[0] ^= 0xFF }
        return data
    }
    func put(_ block: VerifiedBlock) throws { blocks.withLock { $0[block.cid] = block.bytes } }
    var count: Int { blocks.withLock { $0.count } }
}

/// A two-level DAG: a root block naming `count` leaves of `size` random bytes (the root's bytes are "LINKS" and
/// the leaves' CIDs).
private func dag(count: Int, size: Int, seed: UInt64) -> (root: CID, blocks: [(CID, [UInt8])]) {
    var random = SeededRandom(seed: seed)
    let leaves = (0..<count).map { _ -> (CID, [UInt8]) in
        let data = random.bytes(size)
        return (CID.raw(sha256Of: data), data)
    }
    let rootData = Array("LINKS".utf8) + leaves.flatMap { $0.0.bytes }
    let root = CID.raw(sha256Of: rootData)
    return (root, [(root, rootData)] + leaves)
}

private let expand: @Sendable (CID, [UInt8]) -> [CID] = { _, data in
    guard data.starts(with: Array("LINKS".utf8)) else { return [] }
    let body = Array(data.dropFirst(5))
    return stride(from: 0, to: body.count, by: 36).compactMap {
        try? CID(bytes: Array(body[$0..<min($0 + 36, body.count)]))
    }
}

private func bitswapHost(_ store: MemoryStore) throws -> (P2PHost, Bitswap, Multiaddr) {
    let host = try P2PHost(identity: .ed25519(.generate()))
    let address = try host.listen(try Multiaddr("/ip4/127.0.0.1/tcp/0"))
    return (host, Bitswap(host: host, store: store), address)
}

/// A DAG of 200 blocks of 64 KiB moves over real sockets from two seeders, every block verified; a second fetch
/// of a DAG half held already takes only the missing half.
@Test(.timeLimit(.minutes(3))) func bitswapFetchesADAGFromTwoPeersAndResumes() async throws {
    let (root, content) = dag(count: 200, size: 64 * 1024, seed: 1)
    let seedA = MemoryStore(content)
    let seedB = MemoryStore(content)
    let mine = MemoryStore()
    let (hostA, swapA, addressA) = try bitswapHost(seedA)
    let (hostB, swapB, addressB) = try bitswapHost(seedB)
    let (host, swap, _) = try bitswapHost(mine)
    defer {
        for s in [swapA, swapB, swap] { s.close() }
        for h in [hostA, hostB, host] { h.close() }
    }
    _ = try await host.connect(addressA)
    _ = try await host.connect(addressB)
    let senders = Mutex<[PeerID: Int]>([:])
    let result = await swap.fetch([root], from: [hostA.peerID, hostB.peerID], expand: expand) { _, _, peer in
        senders.withLock { $0[peer, default: 0] += 1 }
    }
    #expect(result.complete)
    #expect(result.blocks == 201 && result.alreadyHeld == 0)
    for (cid, data) in content { #expect(mine.block(cid) == data) }
    let split = senders.withLock { $0 }
    #expect(split[hostA.peerID, default: 0] > 0 && split[hostB.peerID, default: 0] > 0, "\(split)")

    // Half held: only the other half is fetched.
    let (root2, content2) = dag(count: 100, size: 32 * 1024, seed: 2)
    for (cid, data) in content2 { try seedA.put(try VerifiedBlock(cid: cid, bytes: data)) }
    for (cid, data) in content2.prefix(51) { try mine.put(try VerifiedBlock(cid: cid, bytes: data)) }
    let resumed = await swap.fetch([root2], from: [hostA.peerID], expand: expand)
    #expect(resumed.complete)
    #expect(resumed.alreadyHeld == 51 && resumed.blocks == 50)
    for (cid, data) in content2 { #expect(mine.block(cid) == data) }
}

/// A peer that serves wrong bytes is disconnected and every block comes from the honest one.
@Test(.timeLimit(.minutes(3))) func bitswapRefusesALyingPeersBlocksAndCompletesFromAnHonestOne() async throws {
    let (root, content) = dag(count: 40, size: 16 * 1024, seed: 3)
    let (liarHost, liar, liarAddress) = try bitswapHost(MemoryStore(content, liar: true))
    let (honestHost, honest, honestAddress) = try bitswapHost(MemoryStore(content))
    let mine = MemoryStore()
    let (host, swap, _) = try bitswapHost(mine)
    defer {
        for s in [liar, honest, swap] { s.close() }
        for h in [liarHost, honestHost, host] { h.close() }
    }
    _ = try await host.connect(liarAddress)
    _ = try await host.connect(honestAddress)
    let result = await swap.fetch([root], from: [liarHost.peerID, honestHost.peerID], expand: expand)
    #expect(result.complete)
    for (cid, data) in content { #expect(mine.block(cid) == data) }
    #expect(swap.counters.penalties >= 1)
    let dropped = try await onOwnThread { poll { !host.connectedPeersBlocking().contains(liarHost.peerID) } }
    #expect(dropped, "the liar is still connected")
}

/// A stream of garbage costs the sender its connection.
@Test(.timeLimit(.minutes(3))) func bitswapGarbageCostsTheSendersConnection() async throws {
    let (server, swap, address) = try bitswapHost(MemoryStore())
    let attacker = try P2PHost(identity: .ed25519(.generate()))
    defer {
        swap.close()
        server.close()
        attacker.close()
    }
    _ = try await attacker.connect(address)
    let stream = try await attacker.newStream(to: server.peerID, protocols: [BitswapMessage.protocolIDs[0]])
    try await stream.write(Varint.encode(6) + [0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF])
    let dropped = try await onOwnThread { poll { !attacker.connectedPeersBlocking().contains(server.peerID) } }
    #expect(dropped)
}

/// A store that takes its first block (a DAG's root) and then holds every write until it is opened: a disk slower
/// than the network.
private final class GatedStore: BitswapBlockStore {
    let inner = MemoryStore()
    let open = DispatchSemaphore(value: 0)
    /// Writes taken so far; past the first, writes wait for `open`.
    let taken = Mutex(0)
    func size(of cid: CID) -> Int? { inner.size(of: cid) }
    func block(_ cid: CID) -> [UInt8]? { inner.block(cid) }
    func put(_ block: VerifiedBlock) throws {
        if taken.withLock({ $0 }) == 1 {
            open.wait()
            open.signal()
        }
        taken.withLock { $0 += 1 }
        try inner.put(block)
    }
}

/// While the store cannot keep up, received blocks wait for it only up to `maxArrivals` (plus one message per
/// stream): then the fetcher stops reading its streams (the senders are held back by the windows), and once the store catches up the fetch ends
/// whole.
@Test(.timeLimit(.minutes(2))) func aSlowStoreHoldsTheSendersBackInsteadOfBuffering() async throws {
    let (root, content) = dag(count: 120, size: 256 * 1024, seed: 7)
    let (seederHost, seeder, address) = try bitswapHost(MemoryStore(content))
    let store = GatedStore()
    let host = try P2PHost(identity: .ed25519(.generate()))
    let fetcher = Bitswap(host: host, store: store)
    defer {
        fetcher.close()
        host.close()
        seeder.close()
        seederHost.close()
    }
    let peer = try await host.connect(address)
    let fetch = Task { await fetcher.fetch([root], from: [peer], expand: expand) }
    // The root is stored, then the gate holds the leaves: wait for the readers to block on the full queue.
    var waiting = fetcher.waiting
    let deadline = ContinuousClock.now + .seconds(60)
    while waiting.readers == 0 && ContinuousClock.now < deadline {
        await Task.yield()
        waiting = fetcher.waiting
    }
    #expect(waiting.readers > 0)
    // Under the bound plus one message per stream (a message carries at most 2 MiB: eight of these blocks; the
    // fetcher reads its own outbound stream and the one the seeder opened).
    let perMessage = BitswapConfig().maxMessageBlockBytes / (256 * 1024)
    #expect(waiting.arrivals <= Bitswap.maxArrivals + 2 * perMessage)
    store.open.signal()
    let result = await fetch.value
    #expect(result.complete)
    #expect(store.inner.count == content.count)
    #expect(fetcher.waiting.arrivals == 0 && fetcher.waiting.readers == 0)
}
