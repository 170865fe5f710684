import Codec
import Runtime

/// The Bitswap 1.2 exchange as a pure state machine: the server side (each peer's wantlist, answers from the
/// store) and the client side (sessions that split their wants across peers, verify every block against its CID,
/// time out, re-send, and penalize peers that send bad blocks).
///
/// The shell reports connections, decoded messages, the store's answers, the application's wants and a periodic
/// tick as events, with the time; messages to send, store lookups, verified blocks and penalties come out as
/// actions. It reads no clock, store or socket. Output order depends only on the events.
///
/// Server: a want-block of a held block is answered with the block, a want-have with HAVE, a block not held with
/// DONT_HAVE when asked for; a want of a block not held waits for `.blockAdded`. Client: each wanted block is
/// asked as a want-block (send-dont-have) of the session peer with the best observed throughput per block in
/// flight, at most `maxOutstandingPerPeer` per peer; a DONT_HAVE moves the block to another peer (the refusing
/// one keeps the want as a want-have and says HAVE when the block reaches it), as do a timeout and a disconnect;
/// a block is accepted only when its bytes hash to a CID some session wants.
public struct BitswapEngine: Sendable {
    /// What the shell reports.
    public enum Event: Sendable {
        /// A connection to the peer is up.
        case peerConnected(PeerID)
        /// The last connection to the peer closed.
        case peerDisconnected(PeerID)
        /// A message from the peer (decoded with `config.limits`; one that does not decode costs the peer its
        /// connection and never reaches the engine).
        case message(from: PeerID, BitswapMessage)
        /// The store's answers to a `.lookup`, in its order.
        case lookedUp(BitswapLookupID, [BitswapBlockLookup])
        /// A block entered the store (added locally or fetched): peers waiting for it get it.
        case blockAdded(CID)
        /// The application wants `cids` in `session`, from `peers` (and any peer the session already has).
        case want(BitswapSessionID, cids: [CID], peers: [PeerID])
        /// More peers for a session (providers found later).
        case addPeers(BitswapSessionID, [PeerID])
        /// The application is done with the session: its remaining wants are cancelled.
        case closeSession(BitswapSessionID)
        /// Time passed (every second or so): timeouts and re-sends.
        case tick
    }

    /// What the shell must do.
    public enum Action: Sendable {
        /// Send the message to the peer.
        case send(PeerID, BitswapMessage)
        /// Look these wants of the peer up in the store and report `.lookedUp` with one answer per entry (a
        /// block's bytes for a want-block, its size for a want-have).
        case lookup(BitswapLookupID, peer: PeerID, wants: [BitswapMessage.Entry])
        /// A verified block for these sessions (its CID computed from its bytes): store it.
        case received(VerifiedBlock, from: PeerID, sessions: [BitswapSessionID])
        /// The peer sent what no honest peer sends: disconnect it.
        case punish(PeerID, BitswapError)
        /// A session has wants no peer of it can serve: look for more providers.
        case needProviders(BitswapSessionID)
    }

    /// What the engine has counted.
    public struct Counters: Sendable, Equatable {
        /// Blocks sent to peers.
        public var blocksSent = 0
        /// Bytes of blocks sent.
        public var bytesSent = 0
        /// Blocks received that a session wanted.
        public var blocksReceived = 0
        /// Bytes of those blocks.
        public var bytesReceived = 0
        /// Blocks received twice (wanted once, arrived again).
        public var duplicateBlocks = 0
        /// Want-blocks sent.
        public var wantsSent = 0
        /// Wants moved to another peer (DONT_HAVE, timeout, disconnect, penalty).
        public var reassigned = 0
        /// Peers penalized.
        public var penalties = 0
        /// All zero.
        public init() {}
    }

    struct PeerState: Sendable {
        /// Their wants, in arrival order.
        var theirWants: [CID: BitswapMessage.Entry] = [:]
        var theirOrder = IndexedSet<CID>()
        /// Our want-blocks in flight to them.
        var outstanding = 0
        /// Bytes per second they delivered (EWMA); nil before the first block.
        var rate: Double?
        var lastDelivery: Instant?
        var connected = false
    }

    struct InFlight: Sendable {
        let peer: PeerID
        let since: Instant
        var resent: Instant
    }

    struct Session: Sendable {
        var peers = IndexedSet<PeerID>()
        /// Wanted blocks not yet received.
        var wanted = IndexedSet<CID>()
        /// Wanted blocks not in flight, in order.
        var pending = FIFOQueue<CID>()
        var queued = Set<CID>()
        var inFlight: [CID: InFlight] = [:]
        var dontHave: [CID: Set<PeerID>] = [:]
        var haves: [CID: PeerID] = [:]
        /// Peers asked with want-have (after their DONT_HAVE): they say HAVE when the block reaches them, and are
        /// sent a cancel once it is received.
        var askedHave: [CID: Set<PeerID>] = [:]
        var stalled = false
    }

    /// The configuration.
    public let config: BitswapConfig
    /// What the engine has counted.
    public internal(set) var counters = Counters()

    var peers: [PeerID: PeerState] = [:]
    var peerOrder = IndexedSet<PeerID>()
    var sessions: [BitswapSessionID: Session] = [:]
    var sessionOrder = IndexedSet<BitswapSessionID>()
    var wantedBy: [CID: [BitswapSessionID]] = [:]
    var waitingFor: [CID: IndexedSet<PeerID>] = [:]
    var lookups: [BitswapLookupID: (peer: PeerID, wants: [BitswapMessage.Entry])] = [:]
    var nextLookup: UInt64 = 1
    var recent = Set<CID>()
    var recentOrder = FIFOQueue<CID>()
    var penalized: [PeerID: Instant] = [:]
    var penalizedOrder = FIFOQueue<PeerID>()
    var lastRebroadcast: Instant

    /// An engine with `config`, starting at `now`.
    public init(config: BitswapConfig = .init(), now: Instant) {
        self.config = config
        lastRebroadcast = now
    }

    /// Sessions running.
    public var sessionCount: Int { sessions.count }

    /// The wants a peer has with us (for inspection).
    public func wants(of peer: PeerID) -> [CID] { peers[peer]?.theirOrder.elements ?? [] }

    /// Blocks a session still wants.
    public func remaining(_ session: BitswapSessionID) -> Int { sessions[session]?.wanted.count ?? 0 }

    /// Handles one event at `now` and returns what to do, in order.
    public mutating func on(_ event: Event, now: Instant) -> [Action] {
        var out = Outbox()
        switch event {
        case .peerConnected(let peer):
            self[peer: peer].connected = true
            for id in sessionOrder.elements where sessions[id]?.peers.contains(peer) == true {
                assign(id, now: now, &out)
            }
        case .peerDisconnected(let peer):
            disconnected(peer, now: now, &out)
        case .message(let peer, let message):
            received(message, from: peer, now: now, &out)
        case .lookedUp(let id, let answers):
            answer(id, answers, &out)
        case .blockAdded(let cid):
            if let waiting = waitingFor.removeValue(forKey: cid) {
                for peer in waiting.elements {
                    guard let entry = peers[peer]?.theirWants[cid] else { continue }
                    lookup(peer, [entry], &out)
                }
            }
        case .want(let id, let cids, let newPeers):
            want(id, cids: cids, peers: newPeers, now: now, &out)
        case .addPeers(let id, let newPeers):
            guard sessions[id] != nil else { break }
            for peer in newPeers where penalized[peer] == nil { sessions[id]?.peers.insert(peer) }
            sessions[id]?.stalled = false
            assign(id, now: now, &out)
        case .closeSession(let id):
            close(id, &out)
        case .tick:
            tick(now: now, &out)
        }
        out.flushWants()
        return out.actions
    }

    /// Actions, with the wants to each peer gathered into one message per peer.
    struct Outbox {
        var actions: [Action] = []
        var wants: [PeerID: [BitswapMessage.Entry]] = [:]
        var wantOrder: [PeerID] = []

        mutating func want(_ entry: BitswapMessage.Entry, to peer: PeerID) {
            if wants[peer] == nil { wantOrder.append(peer) }
            wants[peer, default: []].append(entry)
        }

        mutating func flushWants() {
            for peer in wantOrder {
                guard let entries = wants[peer], !entries.isEmpty else { continue }
                for start in stride(from: 0, to: entries.count, by: 512) {
                    actions.append(
                        .send(peer, BitswapMessage(wants: Array(entries[start..<min(start + 512, entries.count)]))))
                }
            }
            wants = [:]
            wantOrder = []
        }
    }

    /// The peer's state, created on first use.
    subscript(peer peer: PeerID) -> PeerState {
        get { peers[peer] ?? PeerState() }
        set {
            if peers[peer] == nil { peerOrder.insert(peer) }
            peers[peer] = newValue
        }
    }
}
