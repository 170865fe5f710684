import Codec
import Dispatch
import EventLoop
import Runtime
import Synchronization

/// Where the exchange reads and writes blocks (the content store, or memory in tests).
///
/// Calls may block on disk: the shell makes them off the host's loop.
public protocol BitswapBlockStore: Sendable {
    /// The size of the block when held, else nil.
    func size(of cid: CID) -> Int?
    /// The block's bytes, verified against `cid`, when held.
    func block(_ cid: CID) -> [UInt8]?
    /// Stores a block the exchange has verified (its CID computed from its bytes on arrival).
    func put(_ block: VerifiedBlock) throws
    /// Stores several verified blocks at once (a store with transactions writes them in one).
    func put(_ blocks: [VerifiedBlock]) throws
}

extension BitswapBlockStore {
    /// Stores the blocks one by one.
    public func put(_ blocks: [VerifiedBlock]) throws {
        for block in blocks { try put(block) }
    }
}

/// Bitswap 1.2 (also answering 1.1.0 and 1.0.0) on a `P2PHost`: the IO shell around `BitswapEngine`.
///
/// Every message goes out on one long-lived outbound stream per peer (go-style: kubo treats Bitswap streams as
/// one-way and reads answers only on streams the server opens). Every stream, inbound or our own outbound one, is
/// read for messages (py-libp2p answers on the stream the wantlist came on). A stream that sends what does not
/// decode costs the peer its connection, as does a bad block. Store lookups run off the loop.
public final class Bitswap: @unchecked Sendable {
    /// What a fetch produced.
    public struct FetchResult: Sendable {
        /// Blocks received and stored.
        public var blocks: Int
        /// Their bytes.
        public var bytes: Int
        /// Blocks already held when the walk reached them (a resumed fetch).
        public var alreadyHeld: Int
        /// Whether every block of the walk is now held.
        public var complete: Bool

        /// A result of these values.
        public init(blocks: Int, bytes: Int, alreadyHeld: Int, complete: Bool) {
            self.blocks = blocks
            self.bytes = bytes
            self.alreadyHeld = alreadyHeld
            self.complete = complete
        }
    }

    private final class Fetch: @unchecked Sendable {
        let expand: @Sendable (CID, [UInt8]) -> [CID]
        let progress: (@Sendable (CID, Int, PeerID) -> Void)?
        let onNeedProviders: (@Sendable () -> Void)?
        /// Guards the walk: blocks arrive on several tasks at once.
        let lock = Mutex<Void>(())
        var outstanding = Set<CID>()
        var result = FetchResult(blocks: 0, bytes: 0, alreadyHeld: 0, complete: false)
        var continuation: CheckedContinuation<FetchResult, Never>?
        var failure: String?

        init(
            expand: @escaping @Sendable (CID, [UInt8]) -> [CID], progress: (@Sendable (CID, Int, PeerID) -> Void)?,
            onNeedProviders: (@Sendable () -> Void)?
        ) {
            self.expand = expand
            self.progress = progress
            self.onNeedProviders = onNeedProviders
        }
    }

    /// A received block waiting to be stored, with the peer it came from and the sessions that wanted it.
    private struct Arrival {
        let block: VerifiedBlock
        let peer: PeerID
        let sessions: [BitswapSessionID]
    }

    private struct State {
        var engine: BitswapEngine
        /// Received blocks not stored yet, and whether a task is storing them.
        var arrivals: [Arrival] = []
        var storing = false
        /// Readers waiting for the arrivals to fall under `maxArrivals` before they read on.
        var arrivalWaiters: [CheckedContinuation<Void, Never>] = []
        var writers: [PeerID: Writer] = [:]
        var fetches: [BitswapSessionID: Fetch] = [:]
        var nextSession: UInt64 = 1
        var closed = false
    }

    /// One peer's outbound stream and the messages waiting for it, written in order by one task.
    private final class Writer: @unchecked Sendable {
        var queue: [BitswapMessage] = []
        var queuedBytes = 0
        var running = false
    }

    /// The host it runs on.
    public let host: P2PHost
    /// The store it serves from and fetches into.
    public let store: any BitswapBlockStore
    /// The engine's configuration.
    public let config: BitswapConfig
    private let logger: Logger
    private let state: Mutex<State>
    private let ticker = Mutex<TimerHandle?>(nil)
    /// Where received blocks are written to the store: a thread of its own, since a store's writes block on the disk
    /// and must not hold up the tasks of everything else.
    private let storeQueue = DispatchQueue(label: "bitswap-store")
    private let streams = Mutex<[PeerID: P2PStream]>([:])

    /// Received blocks waiting to be stored before the streams stop being read: 8 MiB of 256 KiB blocks.
    ///
    /// A store slower than the network then holds the senders back through the streams' windows instead of
    /// buffering. A reader checks before each message with blocks, so what waits stays under this plus one message
    /// per stream.
    public static let maxArrivals = 32

    /// The most a stream's reader reserves ahead for a message whose start has arrived.
    static let reservedMessageBytes = 2 * 1024 * 1024 + 64 * 1024

    /// Bytes queued for one peer at most; past it, messages to the peer are dropped with a log line.
    public static let maxQueuedBytesPerPeer = 32 * 1024 * 1024

    /// The exchange on `host` over `store`.
    public init(
        host: P2PHost, store: any BitswapBlockStore, config: BitswapConfig = .init(), logger: Logger = .discarding
    ) {
        self.host = host
        self.store = store
        self.config = config
        self.logger = logger
        state = Mutex(State(engine: BitswapEngine(config: config, now: host.loop.now())))
        for id in BitswapMessage.protocolIDs {
            host.handle(id) { [weak self] stream in await self?.readMessages(stream) }
        }
        host.observePeers { [weak self] event in
            switch event {
            case .connected(let peer, _, _): self?.handle(.peerConnected(peer))
            case .disconnected(let peer):
                _ = self?.streams.withLock { $0.removeValue(forKey: peer) }
                self?.handle(.peerDisconnected(peer))
            }
        }
        let timer = host.loop.scheduleRepeating(every: 1) { [weak self] now in self?.handle(.tick, now: now) }
        ticker.withLock { $0 = timer }
    }

    /// Received blocks waiting for the store, and readers waiting for them to fall under `maxArrivals`.
    var waiting: (arrivals: Int, readers: Int) { state.withLock { ($0.arrivals.count, $0.arrivalWaiters.count) } }

    /// What the engine has counted.
    public var counters: BitswapEngine.Counters { state.withLock { $0.engine.counters } }

    /// Stops the ticks; running fetches end incomplete.
    public func close() {
        if let timer = ticker.withLock({ $0 }) { host.loop.cancel(timer) }
        let (fetches, waiters) = state.withLock { state -> ([Fetch], [CheckedContinuation<Void, Never>]) in
            state.closed = true
            defer {
                state.fetches = [:]
                state.arrivalWaiters = []
            }
            return (Array(state.fetches.values), state.arrivalWaiters)
        }
        for waiter in waiters { waiter.resume() }
        for fetch in fetches { finish(fetch) }
        for stream in streams.withLock({ Array($0.values) }) { stream.reset() }
    }

    deinit { close() }

    /// Announces that a block entered the store (peers waiting for it get it).
    public func blockAdded(_ cid: CID) { handle(.blockAdded(cid)) }

    /// Fetches `roots` and every block `expand` names from each fetched or held block (the DAG's links).
    ///
    /// Blocks come from `peers` and any peer added later; blocks already held are not fetched again (a fetch
    /// resumes). Returns when every block is held, or when the task is cancelled.
    public func fetch(
        _ roots: [CID], from peers: [PeerID], expand: @escaping @Sendable (CID, [UInt8]) -> [CID],
        progress: (@Sendable (CID, Int, PeerID) -> Void)? = nil, onNeedProviders: (@Sendable () -> Void)? = nil
    ) async -> FetchResult {
        let fetch = Fetch(expand: expand, progress: progress, onNeedProviders: onNeedProviders)
        let id = state.withLock { state -> BitswapSessionID in
            defer { state.nextSession += 1 }
            return BitswapSessionID(state.nextSession)
        }
        return await withTaskCancellationHandler {
            await withCheckedContinuation { continuation in
                fetch.lock.withLock { _ in fetch.continuation = continuation }
                state.withLock { $0.fetches[id] = fetch }
                let missing = fetch.lock.withLock { _ in walkHeld(roots, fetch) }
                if missing.isEmpty {
                    self.complete(id)
                } else {
                    handle(.want(id, cids: missing, peers: peers))
                }
            }
        } onCancel: {
            self.handle(.closeSession(id))
            if let fetch = self.state.withLock({ $0.fetches.removeValue(forKey: id) }) { self.finish(fetch) }
        }
    }

    /// Adds providers to the fetches running (found later, by the DHT for one).
    public func addPeers(_ peers: [PeerID]) {
        let ids = state.withLock { Array($0.fetches.keys) }
        for id in ids { handle(.addPeers(id, peers)) }
    }

    /// Expands held blocks depth-first from `cids`; returns those not held, recording them as outstanding (under
    /// the fetch's lock).
    private func walkHeld(_ cids: [CID], _ fetch: Fetch) -> [CID] {
        var missing: [CID] = []
        var stack = cids.reversed() as [CID]
        var seen = Set<CID>()
        while let cid = stack.popLast() {
            guard seen.insert(cid).inserted else { continue }
            if let data = store.block(cid) {
                fetch.result.alreadyHeld += 1
                stack += fetch.expand(cid, data).reversed()
            } else {
                if fetch.outstanding.insert(cid).inserted { missing.append(cid) }
            }
        }
        return missing
    }

    private func complete(_ id: BitswapSessionID) {
        handle(.closeSession(id))
        guard let fetch = state.withLock({ $0.fetches.removeValue(forKey: id) }) else { return }
        fetch.lock.withLock { _ in fetch.result.complete = true }
        finish(fetch)
    }

    private func finish(_ fetch: Fetch) {
        let (continuation, result) = fetch.lock.withLock {
            _ -> (CheckedContinuation<FetchResult, Never>?, FetchResult) in
            defer { fetch.continuation = nil }
            return (fetch.continuation, fetch.result)
        }
        continuation?.resume(returning: result)
    }

    // MARK: Events and actions

    private func handle(_ event: BitswapEngine.Event, now: Instant? = nil) {
        let time = now ?? host.loop.now()
        let actions = state.withLock { state -> [BitswapEngine.Action] in
            state.closed ? [] : state.engine.on(event, now: time)
        }
        for action in actions { perform(action) }
    }

    private func perform(_ action: BitswapEngine.Action) {
        switch action {
        case .send(let peer, let message):
            send(message, to: peer)
        case .lookup(let id, _, let wants):
            let store = store
            Task.detached { [weak self] in
                let answers: [BitswapBlockLookup] = wants.map { entry in
                    switch entry.wantType {
                    case .block: store.block(entry.cid).map { .block($0) } ?? .missing
                    case .have: store.size(of: entry.cid).map { .have(size: $0) } ?? .missing
                    }
                }
                self?.handle(.lookedUp(id, answers))
            }
        case .received(let block, let peer, let sessions):
            let start = state.withLock { state -> Bool in
                state.arrivals.append(Arrival(block: block, peer: peer, sessions: sessions))
                defer { state.storing = true }
                return !state.storing
            }
            if start { storeQueue.async { [weak self] in self?.storeArrivals() } }
        case .punish(let peer, let reason):
            logger.warning("bitswap: closing a hostile peer's connection", ["peer": "\(peer)", "reason": "\(reason)"])
            let host = host
            Task { await host.disconnect(peer, reason: "\(reason)") }
        case .needProviders(let id):
            let fetch = state.withLock { $0.fetches[id] }
            fetch?.onNeedProviders?()
        }
    }

    /// Stores received blocks until none wait, on `storeQueue`: whatever arrived meanwhile goes into the store
    /// together (at most 32 at a time, in one transaction of a store that has them), then each is announced and
    /// walked; readers waiting for room are let go once fewer than `maxArrivals` wait.
    private func storeArrivals() {
        while true {
            let (batch, waiters) = state.withLock { state -> ([Arrival], [CheckedContinuation<Void, Never>]) in
                var waiters: [CheckedContinuation<Void, Never>] = []
                if state.arrivals.count < Self.maxArrivals {
                    swap(&waiters, &state.arrivalWaiters)
                }
                guard !state.arrivals.isEmpty else {
                    state.storing = false
                    return ([], waiters)
                }
                let count = min(32, state.arrivals.count)
                defer { state.arrivals.removeFirst(count) }
                return (Array(state.arrivals.prefix(count)), waiters)
            }
            for waiter in waiters { waiter.resume() }
            guard !batch.isEmpty else { return }
            var stored = batch
            do {
                try store.put(batch.map(\.block))
            } catch {
                // One bad write must not lose the others: each is tried alone.
                stored = batch.filter { arrival in
                    do {
                        try store.put(arrival.block)
                        return true
                    } catch {
                        logger.error(
                            "bitswap: storing a block failed", ["cid": "\(arrival.block.cid)", "reason": "\(error)"])
                        return false
                    }
                }
            }
            for arrival in stored { self.stored(arrival.block, from: arrival.peer, sessions: arrival.sessions) }
        }
    }

    /// A stored block: announced, and walked for the fetches that wanted it.
    private func stored(_ block: VerifiedBlock, from peer: PeerID, sessions: [BitswapSessionID]) {
        let cid = block.cid
        let data = block.bytes
        handle(.blockAdded(cid))
        for id in sessions {
            guard let fetch = state.withLock({ $0.fetches[id] }) else { continue }
            fetch.progress?(cid, data.count, peer)
            let (children, done) = fetch.lock.withLock { _ -> ([CID], Bool) in
                fetch.result.blocks += 1
                fetch.result.bytes += data.count
                let children = walkHeld(fetch.expand(cid, data), fetch)
                fetch.outstanding.remove(cid)
                return (children, fetch.outstanding.isEmpty)
            }
            if !children.isEmpty { handle(.want(id, cids: children, peers: [])) }
            if done { complete(id) }
        }
    }

    // MARK: Streams

    private func send(_ message: BitswapMessage, to peer: PeerID) {
        let size = message.blocks.reduce(0) { $0 + $1.data.count } + 64 * message.wants.count
        let start = state.withLock { state -> Writer? in
            let writer = state.writers[peer] ?? Writer()
            state.writers[peer] = writer
            guard writer.queuedBytes + size <= Self.maxQueuedBytesPerPeer else { return nil }
            writer.queue.append(message)
            writer.queuedBytes += size
            if writer.running { return nil }
            writer.running = true
            return writer
        }
        if let start { Task { [weak self] in await self?.drain(start, to: peer) } }
    }

    /// Writes the peer's queued messages in order on its outbound stream (opened on first use, and again after
    /// it fails).
    private func drain(_ writer: Writer, to peer: PeerID) async {
        while true {
            let next = state.withLock { _ -> BitswapMessage? in
                guard !writer.queue.isEmpty else {
                    writer.running = false
                    return nil
                }
                let message = writer.queue.removeFirst()
                writer.queuedBytes -= message.blocks.reduce(0) { $0 + $1.data.count } + 64 * message.wants.count
                return message
            }
            guard let message = next else { return }
            guard let stream = await outbound(to: peer) else { continue }
            do {
                try await stream.write(BitswapFraming.frame(message))
            } catch {
                streams.withLock { if $0[peer] === stream { $0[peer] = nil } }
                logger.debug("bitswap: write failed", ["peer": "\(peer)", "reason": "\(error)"])
            }
        }
    }

    private func outbound(to peer: PeerID) async -> P2PStream? {
        if let stream = streams.withLock({ $0[peer] }) { return stream }
        guard let stream = try? await host.newStream(to: peer, protocols: BitswapMessage.protocolIDs) else {
            return nil
        }
        streams.withLock { $0[peer] = stream }
        Task { [weak self] in await self?.readMessages(stream) }
        return stream
    }

    /// Returns once fewer than `maxArrivals` received blocks wait for the store (at once when the exchange is
    /// closed).
    private func waitForStoreRoom() async {
        await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
            let wait = state.withLock { state -> Bool in
                guard !state.closed, state.arrivals.count >= Self.maxArrivals else { return false }
                state.arrivalWaiters.append(continuation)
                return true
            }
            if !wait { continuation.resume() }
        }
    }

    /// Reads framed messages from a stream until it ends; one that does not decode costs the peer its connection.
    ///
    /// Before each message that carries blocks, and before each read, it waits for room in the store's queue.
    private func readMessages(_ stream: P2PStream) async {
        let peer = stream.remotePeer
        // Messages are decoded where they lie in `buffer` (from `offset`); only a message cut by a read's end is kept,
        // in a buffer sized for it once its length is known.
        var buffer: [UInt8] = []
        var offset = 0
        while true {
            do throws(BitswapError) {
                while let parsed = try BitswapFraming.parse(buffer, from: offset, limits: config.limits) {
                    offset += parsed.consumed
                    if !parsed.message.blocks.isEmpty { await waitForStoreRoom() }
                    handle(.message(from: peer, parsed.message))
                }
                if offset == buffer.count {
                    buffer = []
                    offset = 0
                } else if let (body, prefix) = try BitswapFraming.length(buffer, from: offset, limits: config.limits),
                    offset > 0 || buffer.capacity < min(prefix + body, Self.reservedMessageBytes)
                {
                    // Sized ahead up to the largest message an honest peer sends (2 MiB of blocks), so a length
                    // prefix alone cannot make this side reserve more; a buffer already that large just grows.
                    let reserve = min(prefix + body, Self.reservedMessageBytes)
                    var rest: [UInt8] = []
                    rest.reserveCapacity(reserve)
                    rest += buffer[offset...]
                    buffer = rest
                    offset = 0
                }
            } catch {
                stream.reset()
                perform(.punish(peer, error))
                return
            }
            await waitForStoreRoom()
            guard let chunk = try? await stream.read(maxBytes: 256 * 1024), !chunk.isEmpty else { return }
            if buffer.isEmpty { buffer = chunk } else { buffer += chunk }
        }
    }
}
