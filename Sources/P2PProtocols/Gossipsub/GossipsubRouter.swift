import Codec
import Crypto
import Runtime

/// The gossipsub router (v1.0, v1.1 and v1.2 of the libp2p spec) as a pure state machine: mesh, fanout,
/// IHAVE/IWANT gossip from the message cache, GRAFT/PRUNE with backoff and PX, flood publishing, the seen cache,
/// StrictSign, peer scoring and IDONTWANT.
///
/// The shell (the socket host, a test, the simulator) reports peers, RPCs, the application's requests and the
/// heartbeat as events, with the time; RPCs to send, messages to deliver or validate, and peers to drop or dial
/// come out as actions. Randomness is the seeded source given at init; it reads no clock and touches no socket.
///
/// API CONTRACT (stable; the simulator and the host are written against it): `init(local:config:random:verifier:)`,
/// `on(_:now:) -> [Action]` (and `onLastFirst(_:now:)`, its actions last first), `Event`, `Action`. New cases may
/// be added; none is removed or renamed.
public struct GossipsubRouter: Sendable {
    /// What the shell reports.
    public enum Event: Sendable {
        /// A peer's gossipsub stream pair is up, speaking `version`; `outbound` when we dialed it (D_out);
        /// `address` is its IP, for the IP-colocation score (P6), when known.
        case peerConnected(PeerID, version: GossipsubVersion, outbound: Bool, address: String?)
        /// The peer is gone.
        case peerDisconnected(PeerID)
        /// One RPC frame's bytes (the varint length prefix already removed), as read from the peer's stream.
        case received(from: PeerID, bytes: ArraySlice<UInt8>)
        /// An RPC already decoded, with its encoded size (the simulator skips the codec; the rules are the same).
        case receivedRPC(from: PeerID, rpc: GossipsubRPC, size: Int)
        /// The peer broke the framing (a length prefix over the bound, a truncated frame).
        case malformed(from: PeerID, reason: String)
        /// The application joins a topic.
        case subscribe(String)
        /// The application leaves a topic.
        case unsubscribe(String)
        /// The application publishes `data` on `topic` (signed with the router's key).
        case publish(topic: String, data: [UInt8])
        /// The application's answer to `.validate`.
        case validated(GossipsubMessageID, GossipsubValidationResult)
        /// The application sets a peer's application-specific score (P5).
        case setApplicationScore(PeerID, Double)
        /// The heartbeat interval has passed (the shell schedules it every `config.heartbeatInterval`).
        case heartbeat
        /// A connected peer's signed peer record (the envelope), offered with it in our PX; nil forgets it.
        case peerRecord(PeerID, signedRecord: [UInt8]?)
    }

    /// What the shell must do.
    public enum Action: Sendable {
        /// Send one RPC to the peer (the host encodes it with a varint length prefix; the simulator charges
        /// `rpc.encodedSize` bytes of bandwidth).
        case send(to: PeerID, rpc: GossipsubRPC)
        /// Hand a validated message to the application: once per message id, on a subscribed topic.
        case deliver(GossipsubMessage, id: GossipsubMessageID, from: PeerID)
        /// Ask the application to validate a message; the answer comes back as `.validated(id, result)`.
        case validate(GossipsubMessage, id: GossipsubMessageID, from: PeerID)
        /// Close the connection to the peer; `reason` is logged.
        case disconnect(PeerID, reason: String)
        /// Peer exchange: dial this peer (its signed peer record, when the PRUNE carried one).
        case connect(PeerID, signedRecord: [UInt8]?)
        /// A message the application published was signed and sent (its id).
        case published(GossipsubMessageID)
        /// A message the application asked to publish was not sent (too large, bad topic, signing failed).
        case publishFailed(topic: String, error: GossipsubError)
    }

    /// What the router has counted since it started (for logs, tests and the simulator).
    public struct Counters: Sendable, Equatable {
        /// Messages handed to the application.
        public var delivered = 0
        /// Own messages published.
        public var published = 0
        /// Messages forwarded, counted per receiving peer.
        public var forwarded = 0
        /// Messages that arrived again within the seen TTL.
        public var duplicates = 0
        /// Messages on topics neither we nor any peer subscribe to (dropped, counted against the sender).
        public var unknownTopicMessages = 0
        /// Messages on topics peers subscribe to but we do not (dropped).
        public var unsubscribedTopicMessages = 0
        /// Messages without a signature.
        public var missingSignatures = 0
        /// Messages with a bad signature, author or sequence number.
        public var invalidSignatures = 0
        /// Our own messages coming back.
        public var selfOrigin = 0
        /// Messages the application rejected.
        public var rejected = 0
        /// Messages the application ignored, or whose verdict timed out.
        public var ignored = 0
        /// Messages dropped because too many waited for validation.
        public var validationThrottled = 0
        /// RPCs dropped because their sender's score is below the graylist threshold.
        public var graylistedRPCs = 0
        /// RPCs from peers the router does not know (not connected, or already disconnected).
        public var rpcsFromUnknownPeers = 0
        /// Peers disconnected for breaking a bound.
        public var disconnects = 0
        /// Message ids sent in IDONTWANT.
        public var idontwantSent = 0
        /// Sends skipped because the peer said IDONTWANT.
        public var idontwantSuppressed = 0
        /// Message ids advertised in IHAVE.
        public var ihaveSent = 0
        /// Message ids asked for in IWANT.
        public var iwantSent = 0
        /// Messages sent in answer to IWANT.
        public var iwantServed = 0
        /// IWANT promises broken (the peer did not deliver in time).
        public var brokenPromises = 0

        /// All zero.
        public init() {}
    }

    /// The local peer.
    public let local: PeerID
    /// The configuration.
    public var config: GossipsubConfig { settings.config }

    /// A configuration and what a router derives from it (thresholds, decoding limits, score parameters), held
    /// once by reference.
    ///
    /// Routers built from one `Settings` share it: the thousands of routers of a simulation then read one copy,
    /// which stays in cache, where each would otherwise carry its own (about 1 KB per router, read on every event).
    public final class Settings: Sendable {
        /// The configuration.
        public let config: GossipsubConfig
        let thresholds: GossipsubThresholds
        let limits: GossipsubRPC.Limits
        let scoreParameters: GossipsubPeerScore.SharedParameters?

        /// The settings of `config`.
        public init(_ config: GossipsubConfig) {
            self.config = config
            scoreParameters = config.score.map { GossipsubPeerScore.SharedParameters($0) }
            if let parameters = config.score {
                thresholds = parameters.thresholds
            } else {
                // Without scoring every score is 0: nothing falls below a threshold, PX is accepted, and
                // opportunistic grafting never finds a better peer.
                var open = GossipsubThresholds()
                open.gossip = -.infinity
                open.publish = -.infinity
                open.graylist = -.infinity
                open.acceptPX = 0
                open.opportunisticGraft = 0
                thresholds = open
            }
            limits = GossipsubRPC.Limits(config: config)
        }
    }

    /// Checks one message signature: (author's key, signature, signed bytes) -> valid.
    ///
    /// The default is the real
    /// check; the simulator passes a memoizing one (the answer is a pure function of the inputs).
    public typealias SignatureVerifier = @Sendable (LibP2PPublicKey, [UInt8], [UInt8]) -> Bool

    /// What the router has counted.
    public internal(set) var counters = Counters()

    // MARK: State (internal: the router's extensions in other files share it)

    let settings: Settings
    var thresholds: GossipsubThresholds { settings.thresholds }
    var limits: GossipsubRPC.Limits { settings.limits }
    let identity: LibP2PIdentity
    let verifier: SignatureVerifier
    let localPeerIDBytes: [UInt8]
    /// The author key field of own messages: only when the peer id does not embed the key.
    let localKeyField: [UInt8]?
    var randomSource: SeededRandom
    var score: GossipsubPeerScore?
    var sequenceNumber: UInt64

    var peers: [PeerID: PeerState] = [:]
    /// Connected peers that speak v1.1 or v1.0 (no IDONTWANT): while there are none, nobody's version is looked up.
    var peersBelowV12 = 0
    /// The topics each connected peer subscribes to (peers with none are absent).
    var peerTopics: [PeerID: IndexedSet<String>] = [:]
    /// The signed peer records connected peers offered, for PX (at most 4 KiB each; the shell gives them).
    var peerRecords: [PeerID: [UInt8]] = [:]
    /// v1.2: what peers said they do not want (only peers that said so).
    var dontWant: [PeerID: DontWantTable] = [:]
    var peerOrder = IndexedSet<PeerID>()
    var topicPeers = TopicTable<IndexedSet<PeerID>>()
    var subscribed = IndexedSet<String>()
    var mesh = TopicTable<IndexedSet<PeerID>>()
    var fanout = TopicTable<IndexedSet<PeerID>>()
    var fanoutTopics = IndexedSet<String>()
    var lastPublished = TopicTable<Instant>()
    var backoff = TopicTable<[PeerID: Instant]>()
    var cache: GossipsubMessageCache
    var seen: [GossipsubMessageID: Instant] = [:]
    var seenOrder = FIFOQueue<Expiry>()
    var promises: [GossipsubMessageID: [PeerID: Instant]] = [:]
    var promiseOrder = FIFOQueue<Promise>()
    var pending: [GossipsubMessageID: PendingValidation] = [:]
    var pendingOrder = FIFOQueue<Expiry>()
    var heartbeatTicks: UInt64 = 0
    var outbox = Outbox()

    /// A router for `local`, signing its messages with `local`'s key, drawing randomness from `random`.
    public init(
        local: LibP2PIdentity, config: GossipsubConfig, random: SeededRandom, verifier: SignatureVerifier? = nil
    ) {
        self.init(local: local, settings: Settings(config), random: random, verifier: verifier)
    }

    /// A router with shared `settings` (`Settings`); otherwise as `init(local:config:random:verifier:)`.
    public init(
        local: LibP2PIdentity, settings: Settings, random: SeededRandom, verifier: SignatureVerifier? = nil
    ) {
        self.local = local.peerID
        self.settings = settings
        let config = settings.config
        identity = local
        self.verifier = verifier ?? { key, signature, bytes in key.isValidSignature(signature, for: bytes) }
        score = settings.scoreParameters.map { GossipsubPeerScore(shared: $0) }
        localPeerIDBytes = local.peerID.multihash.bytes
        localKeyField = local.peerID.publicKey == nil ? local.publicKey.protobuf : nil
        var source = random
        sequenceNumber = source.next()
        randomSource = source
        cache = GossipsubMessageCache(historyLength: config.historyLength, historyGossip: config.historyGossip)
        outbox.budget = max(config.maxRPCSize - 1_024, 1)
    }

    /// Handles one event at `now` and returns what to do, in order.
    public mutating func on(_ event: Event, now: Instant) -> [Action] {
        handle(event, now: now)
        return outbox.drain(connected: peers)
    }

    /// Handles one event as `on(_:now:)` does and returns the same actions last first: a shell that takes them with
    /// `popLast()` carries them out in order and moves each one out, copying none (the simulator's way).
    public mutating func onLastFirst(_ event: Event, now: Instant) -> [Action] {
        handle(event, now: now)
        return outbox.drainLastFirst(connected: peers)
    }

    private mutating func handle(_ event: Event, now: Instant) {
        switch event {
        case .peerConnected(let peer, let version, let outbound, let address):
            addPeer(peer, version: version, outbound: outbound, address: address, now: now)
        case .peerDisconnected(let peer):
            removePeer(peer, now: now)
        case .received(let peer, let bytes):
            receive(bytes: bytes, from: peer, now: now)
        case .receivedRPC(let peer, let rpc, let size):
            receive(rpc, from: peer, size: size, now: now)
        case .malformed(let peer, let reason):
            if isConnected(peer) { disconnect(peer, reason: "malformed frame: \(reason)", now: now) }
        case .subscribe(let topic):
            join(topic, now: now)
        case .unsubscribe(let topic):
            leave(topic, now: now)
        case .publish(let topic, let data):
            publish(topic: topic, data: data, now: now)
        case .validated(let id, let result):
            finishValidation(id, result, now: now)
        case .setApplicationScore(let peer, let value):
            score?.setApplicationScore(peer, value)
        case .heartbeat:
            heartbeat(now: now)
        case .peerRecord(let peer, let record):
            if isConnected(peer) { peerRecords[peer] = record.flatMap { $0.count <= 4_096 ? $0 : nil } }
        }
    }

    // MARK: Inspection (for the shell, tests and the simulator)

    /// The peers in our mesh of `topic`, in the router's order.
    public func meshPeers(_ topic: String) -> [PeerID] { mesh[topic]?.elements ?? [] }

    /// The fanout peers of `topic` (a topic we publish to without subscribing).
    public func fanoutPeers(_ topic: String) -> [PeerID] { fanout[topic]?.elements ?? [] }

    /// The connected peers subscribed to `topic`.
    public func subscribers(_ topic: String) -> [PeerID] { topicPeers[topic]?.elements ?? [] }

    /// The topics the application subscribed to.
    public var subscriptions: [String] { subscribed.elements }

    /// The connected gossipsub peers.
    public var connectedPeers: [PeerID] { peerOrder.elements }

    /// The peer's score at `now` (0 when scoring is off).
    public func score(of peer: PeerID, now: Instant) -> Double { score?.score(peer, now: now) ?? 0 }

    /// When our backoff for `peer` on `topic` ends, if there is one.
    public func backoffExpiry(_ peer: PeerID, topic: String) -> Instant? { backoff[topic]?[peer] }

    /// Whether a message id is in the seen cache at `now`.
    public func hasSeen(_ id: GossipsubMessageID, now: Instant) -> Bool { isSeen(id, now: now) }

    /// The message id of `message` under this router's per-topic id functions.
    @inline(__always)
    public func messageID(of message: GossipsubMessage) -> GossipsubMessageID {
        let function =
            config.messageID.isEmpty
            ? config.defaultMessageID : config.messageID[message.topic] ?? config.defaultMessageID
        return switch function {
        case .fromAndSeqno: message.fromAndSeqnoID
        case .sha256OfData: GossipsubMessageID(SHA256.hash(message.data))
        case .seqnoAndFrom: GossipsubMessageID((message.seqno ?? []) + (message.from ?? []))
        }
    }

    // MARK: Peers

    private mutating func addPeer(
        _ peer: PeerID, version: GossipsubVersion, outbound: Bool, address: String?, now: Instant
    ) {
        guard peer != local, !isConnected(peer) else { return }
        peers[peer] = PeerState(version: version, outbound: outbound)
        if version < .v12 { peersBelowV12 += 1 }
        peerOrder.insert(peer)
        score?.addPeer(peer, address: address, now: now)
        if let slot = score?.slot(of: peer) { peers[peer]?.scoreSlot = Int32(slot) }
        if !subscribed.isEmpty {
            for topic in subscribed { outbox.subscription(.init(subscribe: true, topic: topic), to: peer) }
        }
    }

    /// Forgets a peer that left or that we dropped; its score is retained by the score keeper.
    mutating func removePeer(_ peer: PeerID, now: Instant) {
        guard let state = peers.removeValue(forKey: peer) else { return }
        if state.version < .v12 { peersBelowV12 -= 1 }
        peerOrder.remove(peer)
        dontWant[peer] = nil
        peerRecords[peer] = nil
        for topic in peerTopics.removeValue(forKey: peer) ?? IndexedSet() {
            topicPeers[topic]?.remove(peer)
            if topicPeers[topic]?.isEmpty == true { topicPeers[topic] = nil }
            mesh[topic]?.remove(peer)
            fanout[topic]?.remove(peer)
        }
        score?.removePeer(peer, now: now)
    }

    /// Drops a peer that broke a bound: a penalty its retained score remembers, then the disconnect.
    mutating func disconnect(_ peer: PeerID, reason: String, now: Instant) {
        guard isConnected(peer) else { return }
        score?.addPenalty(peer, count: 1)
        removePeer(peer, now: now)
        counters.disconnects += 1
        outbox.closing.append(.disconnect(peer, reason: reason))
    }

    /// Counts a protocol violation; past `maxViolations` (net of one forgiven per heartbeat) the peer is dropped.
    mutating func violation(_ peer: PeerID, _ reason: String, now: Instant) {
        guard isConnected(peer) else { return }
        peers[peer]?.forgive(tick: heartbeatTicks)
        peers[peer]?.violations += 1
        let count = peers[peer]?.violations ?? 0
        if count > config.maxViolations {
            disconnect(peer, reason: "too many protocol violations (\(count)); last: \(reason)", now: now)
        }
    }

    /// Whether the peer is connected (without copying its state out of the table).
    @inline(__always)
    func isConnected(_ peer: PeerID) -> Bool { peers.index(forKey: peer) != nil }

    /// Whether the peer is still connected, checked only when a disconnect happened since `drops` was read.
    @inline(__always)
    func stillConnected(_ peer: PeerID, _ drops: Int) -> Bool { counters.disconnects == drops || isConnected(peer) }

    /// Whether the peer said IDONTWANT for the id of `key` (`DontWantTable.key`), and that still holds at `now`.
    @inline(__always)
    func doesNotWant(_ peer: PeerID, _ key: Fingerprint.Key, now: Instant) -> Bool {
        guard !dontWant.isEmpty, let until = dontWant[peer]?.until(key) else { return false }
        return now < until
    }

    @inline(__always)
    func peerScore(_ peer: PeerID, _ now: Instant) -> Double { score?.score(peer, now: now) ?? 0 }

    /// A connected peer's score by the slot its state keeps (what `peerScore` gives, without the look-up).
    mutating func peerScore(_ state: PeerState, _ now: Instant) -> Double {
        // In place through the optional (`scoreInPlace`): a plain call there would copy the whole keeper first.
        guard state.scoreSlot >= 0 else { return 0 }
        return score?.scoreInPlace(slot: Int(state.scoreSlot), now: now) ?? 0
    }

    /// Whether a connected peer's score is below the graylist threshold (`peerScore(_ state:_:)` compared, with the
    /// keeper's bound sparing the read of the peer's topic counters when it settles the answer).
    @inline(__always)
    mutating func isGraylisted(_ state: PeerState, _ now: Instant) -> Bool {
        let threshold = thresholds.graylist
        guard state.scoreSlot >= 0 else { return 0 < threshold }
        return score?.scoreIsBelow(threshold, slot: Int(state.scoreSlot), connected: true, now: now) ?? (0 < threshold)
    }

    // MARK: Subscriptions

    private mutating func join(_ topic: String, now: Instant) {
        guard subscribed.insert(topic) else { return }
        for peer in peerOrder { outbox.subscription(.init(subscribe: true, topic: topic), to: peer) }
        var members = IndexedSet<PeerID>()
        if let fanoutPeers = fanout.removeValue(forKey: topic) {
            fanoutTopics.remove(topic)
            lastPublished[topic] = nil
            for peer in fanoutPeers where peerScore(peer, now) >= 0 && !isBackingOff(peer, topic, now) {
                members.insert(peer)
            }
        }
        if members.count < config.d {
            let more = candidates(topic, count: config.d - members.count) { router, peer in
                !members.contains(peer) && !router.isBackingOff(peer, topic, now) && router.peerScore(peer, now) >= 0
            }
            for peer in more { members.insert(peer) }
        }
        mesh[topic] = members
        for peer in members {
            score?.graft(peer, topic: topic, now: now)
            outbox.graft(topic, to: peer)
        }
    }

    private mutating func leave(_ topic: String, now: Instant) {
        guard subscribed.remove(topic) else { return }
        for peer in peerOrder { outbox.subscription(.init(subscribe: false, topic: topic), to: peer) }
        guard let members = mesh.removeValue(forKey: topic) else { return }
        for peer in members {
            score?.prune(peer, topic: topic, now: now)
            outbox.prune(makePrune(for: peer, topic: topic, px: config.doPX, unsubscribing: true, now: now), to: peer)
            addBackoff(peer, topic, seconds: config.unsubscribeBackoff, now: now)
        }
    }

    /// Records a peer's subscription change; false when the peer was dropped for it.
    mutating func applySubscription(_ change: GossipsubRPC.Subscription, from peer: PeerID, now: Instant) -> Bool {
        guard isConnected(peer) else { return false }
        let topic = change.topic
        if change.subscribe {
            let topics = peerTopics[peer]
            guard topics?.contains(topic) != true else { return true }
            guard (topics?.count ?? 0) < config.maxTopics else {
                disconnect(peer, reason: "subscribed to more than \(config.maxTopics) topics", now: now)
                return false
            }
            // The router's own table is bounded too: a topic nobody else knows is not tracked once it is full.
            guard topicPeers.contains(topic) || subscribed.contains(topic) || topicPeers.count < config.maxTopics
            else { return true }
            peerTopics[peer, default: IndexedSet()].insert(topic)
            topicPeers[topic, default: IndexedSet()].insert(peer)
        } else {
            guard peerTopics[peer]?.remove(topic) == true else { return true }
            if peerTopics[peer]?.isEmpty == true { peerTopics[peer] = nil }
            topicPeers[topic]?.remove(peer)
            if topicPeers[topic]?.isEmpty == true { topicPeers[topic] = nil }
            if mesh[topic]?.remove(peer) == true { score?.prune(peer, topic: topic, now: now) }
            fanout[topic]?.remove(peer)
        }
        return true
    }

    // MARK: Backoff and peer selection

    @inline(__always)
    func isBackingOff(_ peer: PeerID, _ topic: String, _ now: Instant) -> Bool {
        guard let expiry = backoff[topic]?[peer] else { return false }
        return now < expiry
    }

    mutating func addBackoff(_ peer: PeerID, _ topic: String, seconds: Double, now: Instant) {
        let expiry = now.advanced(bySeconds: seconds)
        if let current = backoff[topic]?[peer], current >= expiry { return }
        backoff[topic, default: [:]][peer] = expiry
    }

    /// Up to `count` peers of `topic` passing `filter`, chosen at random (all of them when `count` is nil).
    mutating func candidates(
        _ topic: String, count: Int?, where filter: (GossipsubRouter, PeerID) -> Bool
    ) -> [PeerID] {
        guard let members = topicPeers[topic] else { return [] }
        var chosen = members.elements.filter { filter(self, $0) }
        if let count, count < chosen.count {
            randomSource.choose(count, from: &chosen)
            chosen.removeLast(chosen.count - count)
        } else {
            randomSource.shuffle(&chosen)
        }
        return chosen
    }

    /// A PRUNE for `peer`: v1.0 peers get the bare topic; newer ones the backoff and, when `px`, peers to try.
    mutating func makePrune(for peer: PeerID, topic: String, px: Bool, unsubscribing: Bool, now: Instant)
        -> GossipsubRPC.Prune
    {
        guard let version = peers[peer]?.version, version >= .v11 else { return GossipsubRPC.Prune(topic: topic) }
        let seconds = unsubscribing ? config.unsubscribeBackoff : config.pruneBackoff
        var exchange: [GossipsubRPC.PeerInfo] = []
        if px && config.prunePeers > 0 {
            let offered = candidates(topic, count: config.prunePeers) { router, other in
                other != peer && router.peerScore(other, now) >= 0
            }
            exchange = offered.map {
                GossipsubRPC.PeerInfo(peerID: $0.multihash.bytes, signedRecord: peerRecords[$0])
            }
        }
        return GossipsubRPC.Prune(topic: topic, peers: exchange, backoff: UInt64(max(0, seconds.rounded(.up))))
    }
}

// MARK: - Per-peer and bookkeeping records

extension GossipsubRouter {
    /// What the router keeps per connected peer: plain values, so that reading one field copies no references (its
    /// topics and signed record are tables of their own).
    ///
    /// 32 bytes: the per-heartbeat counters are kept in 32 bits (saturating; each limit they are held to is far
    /// below), and the heartbeat numbers in their low 32 bits (136 years of heartbeats of a second before they wrap).
    struct PeerState: Sendable {
        let version: GossipsubVersion
        let outbound: Bool
        /// The heartbeat the per-heartbeat counters below belong to (low 32 bits).
        private var counterTick: UInt32 = 0
        /// IHAVE RPCs received this heartbeat.
        @Counter32 var ihaveRPCs: Int
        /// Ids we asked the peer for by IWANT this heartbeat.
        @Counter32 var asked: Int
        /// Ids the peer asked us for by IWANT this heartbeat.
        @Counter32 var requested: Int
        /// Violations counted, less one forgiven per heartbeat since.
        @Counter32 var violations: Int
        /// The heartbeat the last violation was counted at (low 32 bits).
        private var violationTick: UInt32 = 0
        /// The peer's slot in the score keeper while it is connected (-1 without scoring).
        var scoreSlot: Int32 = -1

        init(version: GossipsubVersion, outbound: Bool) {
            self.version = version
            self.outbound = outbound
        }

        /// Resets the per-heartbeat counters when a heartbeat has passed since they were last touched.
        mutating func roll(tick: UInt64) {
            let tick = UInt32(truncatingIfNeeded: tick)
            guard counterTick != tick else { return }
            counterTick = tick
            ihaveRPCs = 0
            asked = 0
            requested = 0
        }

        /// Forgives one violation per heartbeat passed since the last one was counted.
        mutating func forgive(tick: UInt64) {
            let tick = UInt32(truncatingIfNeeded: tick)
            let passed = Int(tick &- violationTick)
            violations = passed >= violations ? 0 : violations - passed
            violationTick = tick
        }
    }

    /// A count kept in 32 bits, read and written as an `Int`: a write past the range stores its end.
    @propertyWrapper
    struct Counter32: Sendable {
        private var stored: Int32 = 0

        init() {}

        var wrappedValue: Int {
            get { Int(stored) }
            set { stored = Int32(clamping: newValue) }
        }
    }

    /// v1.2: the ids one peer said it does not want, until when, at most `limit` of them (the oldest go first).
    ///
    /// Kept as 64-bit hashes, not ids: a collision could only withhold a message from the peer that filled the
    /// table, and a hostile peer can do that with the real id anyway; it bounds the memory to a few words per id.
    /// An entry lasts `idontwantTTL` (3 s), so an honest peer's table holds a few entries: up to `scanLimit` of them
    /// are searched by comparison in their first-in first-out list, and a hash index is built only past that (a
    /// peer that sends many).
    struct DontWantTable: Sendable {
        struct Entry: Sendable {
            let key: Fingerprint.Key
            let until: Instant
        }

        /// Oldest first; `until` never decreases along it (each is the time of its IDONTWANT plus one TTL).
        private(set) var order = FIFOQueue<Entry>()
        /// Every entry of `order` by key, while it holds more than `scanLimit` of them.
        private var index: [Fingerprint.Key: Instant]?

        static var scanLimit: Int { 16 }

        static func key(_ id: GossipsubMessageID) -> Fingerprint.Key { Fingerprint.Key(id.fingerprint) }

        /// Entries held, expired ones included until the next `add`.
        var count: Int { order.count }

        /// Until when the peer does not want the id of `key`, if it said so.
        @inline(__always)
        func until(_ key: Fingerprint.Key) -> Instant? {
            if let index { return index[key] }
            return order.first { $0.key == key }?.until
        }

        mutating func add(_ id: GossipsubMessageID, until: Instant, now: Instant, limit: Int) {
            while let oldest = order.first, oldest.until <= now { dropOldest() }
            let key = Self.key(id)
            guard limit > 0, self.until(key) == nil else { return }
            while order.count >= limit { dropOldest() }
            order.push(Entry(key: key, until: until))
            if index != nil {
                index?[key] = until
            } else if order.count > Self.scanLimit {
                var built: [Fingerprint.Key: Instant] = [:]
                built.reserveCapacity(order.count * 2)
                for entry in order.elements { built[entry.key] = entry.until }
                index = built
            }
        }

        private mutating func dropOldest() {
            guard let oldest = order.popFirst() else { return }
            guard index != nil else { return }
            index?[oldest.key] = nil
            if order.count <= Self.scanLimit / 2 { index = nil }
        }
    }

    /// An id and when it expires.
    struct Expiry: Sendable {
        let id: GossipsubMessageID
        let until: Instant
    }

    /// An IWANT promise: `peer` should deliver `id` by `until`.
    struct Promise: Sendable {
        let id: GossipsubMessageID
        let peer: PeerID
        let until: Instant
    }

    /// A message waiting for the application's verdict.
    struct PendingValidation: Sendable {
        let message: GossipsubMessage
        let from: PeerID
        let author: PeerID
        let deadline: Instant
    }
}
