import Codec
import Runtime

/// The peer score of gossipsub v1.1 (P1–P7 with decay), kept by the router and fed by it.
///
/// API CONTRACT (the router is written against it; bodies are filled by the scoring work): every method below.
///
/// The score of a peer is the spec's
/// `TopicCap(Σ tᵢ·(w₁P₁ + w₂P₂ + w₃P₃ + w₃bP₃b + w₄P₄)) + w₅P₅ + w₆P₆ + w₇P₇`, computed on demand from a small
/// per-peer record: a dictionary look-up and a few multiplications per topic the peer has touched. The counters
/// decay in `refresh(now:)`, once per whole decay interval elapsed. Time comes in as `now`; nothing here reads a
/// clock or draws randomness. See docs/gossipsub-scoring.md.
public struct GossipsubPeerScore: Sendable {
    /// Why a message was rejected; each counts against the peer that sent it (P4) except `ignored` and
    /// `selfOrigin`.
    public enum RejectReason: Sendable, Equatable {
        /// No signature under StrictSign.
        case missingSignature
        /// A bad signature, a key that does not match `from`, or a malformed author.
        case invalidSignature
        /// The application rejected it.
        case validationFailed
        /// The application ignored it (no penalty).
        case ignored
        /// Our own message came back (no penalty).
        case selfOrigin
    }

    /// The parameters.
    public var parameters: GossipsubScoreParameters { shared.parameters }

    /// Parameters held once by reference, for score keepers that share them (`GossipsubRouter.Settings`).
    final class SharedParameters: Sendable {
        let parameters: GossipsubScoreParameters
        init(_ parameters: GossipsubScoreParameters) { self.parameters = parameters }
    }

    private let shared: SharedParameters

    /// A peer's slot and its generation, packed: what delivery records hold instead of peer ids.
    typealias PeerRef = UInt64

    private var slotOfPeer: [PeerID: Int] = [:]
    private var peers: [GossipsubPeerCounters] = []
    private var freeSlots: [Int] = []

    /// Scored topics: the named ones first (sorted), then those `defaultTopic` scores, as they come.
    private var topicOfName: [String: Int] = [:]
    private var topicParameters: [GossipsubTopicScoreParameters] = []
    /// Each scored topic's decay factors for one interval (the usual refresh).
    private var topicDecayFactors: [GossipsubTopicDecayFactors] = []
    /// The topic the last call named, and its index (a one-entry cache in front of `topicOfName`).
    private var lastTopic: (name: String, index: Int)?

    /// Connected peers per IP (P6), by IP slot.
    private var slotOfIP: [String: Int] = [:]
    private var addressOfIP: [String] = []
    private var peersAtIP: [Int] = []
    /// IP slots with more connected peers than the P6 threshold (0 when P6 is off).
    private var crowdedIPs = 0
    /// The `penalized` flags of slots 0–63, one bit each, kept with the keeper: the graylist check of a peer in
    /// them reads no counters at all.
    private var penalizedSlots: UInt64 = 0
    /// The lowest score a connected peer whose counters are not `penalized` can have while no IP is crowded: the
    /// sum over scored topics of the worst P3 (P1 and P2 only add); -∞ when the parameters' signs do not allow the
    /// bound (`cleanFloor(_:_:)`).
    private var cleanFloor = 0.0
    /// Whether every term of such a peer's score is a product of factors that are not negative (no scored topic
    /// weighs a P3 deficit), so that its score is at least 0 exactly, with no rounding to allow for
    /// (`cleanScoresAreNonNegative(_:_:)`).
    private var cleanNonNegative = true
    private var freeIPSlots: [Int] = []

    /// Disconnected peers in the order they left, with the instant their counters expire.
    private var retainedQueue = GossipsubScoreQueue<(peer: PeerRef, expire: Instant)>()
    private var retainedCount = 0

    private var deliveries: GossipsubScoreDeliveries
    /// The instant the last decay was due (nil before the first refresh).
    private var lastDecay: Instant?

    /// A score keeper with `parameters`.
    public init(parameters: GossipsubScoreParameters) { self.init(shared: SharedParameters(parameters)) }

    /// A score keeper with `shared` parameters.
    init(shared: SharedParameters) {
        self.shared = shared
        let parameters = shared.parameters
        deliveries = GossipsubScoreDeliveries(
            ttl: parameters.deliveryRecordTTL, capacity: parameters.maxDeliveryRecords)
        for name in parameters.topics.keys.sorted() {
            addTopic(name, parameters.topics[name]!)
        }
    }

    // MARK: - Peers and meshes

    /// A peer connected, from IP `address` when known.
    public mutating func addPeer(_ peer: PeerID, address: String?, now: Instant) {
        // Counters whose retention ran out before a refresh could forget them are not restored.
        if let known = knownSlot(peer), !peers[known].connected, peers[known].expire < now {
            retainedCount -= 1
            forget(known)
        }
        let slot: Int
        if let known = knownSlot(peer) {
            slot = known
            if !peers[slot].connected {
                peers[slot].connected = true
                retainedCount -= 1
            }
            releaseIP(slot)
        } else if let free = freeSlots.popLast() {
            slot = free
            let generation = peers[slot].generation
            peers[slot] = GossipsubPeerCounters(peer: peer)
            peers[slot].generation = generation
            slotOfPeer[peer] = slot
        } else {
            slot = peers.count
            peers.append(GossipsubPeerCounters(peer: peer))
            slotOfPeer[peer] = slot
        }
        if let address, Self.countsForColocation(address) { peers[slot].ipSlot = holdIP(address) }
    }

    /// A peer disconnected (its counters are retained for `retainScore`).
    ///
    /// Leaving counts as a prune from every mesh it was in (P3b for a delivery deficit); the counters stop decaying
    /// until it comes back, so neither a bad score nor a good one is shed by reconnecting.
    public mutating func removePeer(_ peer: PeerID, now: Instant) {
        guard let slot = knownSlot(peer), peers[slot].connected else { return }
        for index in peers[slot].topics.indices { leaveMesh(slot, index, now: now) }
        releaseIP(slot)
        guard parameters.retainScore > 0 else { return forget(slot) }
        peers[slot].connected = false
        peers[slot].expire = now.advanced(bySeconds: parameters.retainScore)
        retainedQueue.append((ref(slot), peers[slot].expire))
        retainedCount += 1
        trimRetained()
    }

    /// The peer joined our mesh of `topic`.
    public mutating func graft(_ peer: PeerID, topic: String, now: Instant) {
        guard let slot = connectedSlot(peer), let topic = scoredTopic(topic) else { return }
        let index = peers[slot].topicIndex(topic)
        guard !peers[slot].topics[index].inMesh else { return }
        peers[slot].topics[index].inMesh = true
        peers[slot].topics[index].graftTime = now
    }

    /// The peer left our mesh of `topic`.
    public mutating func prune(_ peer: PeerID, topic: String, now: Instant) {
        guard let slot = connectedSlot(peer), let topicSlot = scoredTopic(topic),
            let index = peers[slot].topics.firstIndex(where: { $0.topic == topicSlot })
        else { return }
        leaveMesh(slot, index, now: now)
    }

    // MARK: - Messages

    /// A message passed signature checks and goes to validation (starts its delivery record).
    ///
    /// Messages of unscored topics leave no record: nothing about them can change a score.
    public mutating func validateMessage(from peer: PeerID, id: GossipsubMessageID, topic: String, now: Instant) {
        guard scoredTopic(topic) != nil else { return }
        deliveries.begin(id, now: now)
    }

    /// A message was validated and delivered; `peer` delivered it first.
    ///
    /// `peer` gains a first delivery (P2) and, in the mesh, a mesh delivery (P3); the mesh peers that forwarded it
    /// while it was being validated gain a mesh delivery each. A second verdict on one message changes nothing.
    public mutating func deliverMessage(from peer: PeerID, id: GossipsubMessageID, topic: String, now: Instant) {
        guard let topic = scoredTopic(topic) else { return }
        let first = knownSlot(peer)
        let firstRef = first.map(ref) ?? .max
        guard let pending = deliveries.markValid(id, first: firstRef, now: now) else { return }
        if let first {
            let index = peers[first].topicIndex(topic)
            peers[first].topics[index].firstMessageDeliveries = min(
                peers[first].topics[index].firstMessageDeliveries + 1,
                topicParameters[topic].firstMessageDeliveriesCap)
            if peers[first].topics[index].inMesh { addMeshDelivery(first, index) }
        }
        for other in pending where other != firstRef {
            guard let slot = slot(of: other) else { continue }
            let index = peers[slot].topicIndex(topic)
            if peers[slot].topics[index].inMesh { addMeshDelivery(slot, index) }
        }
    }

    /// A message was rejected for `reason`.
    ///
    /// Signature failures count against `peer` alone (such a message has no trustworthy id); a failed validation
    /// counts against `peer` and every peer that forwarded the message while it was pending, and later duplicates
    /// count too; `ignored` settles the record without penalty; `selfOrigin` does nothing.
    public mutating func rejectMessage(
        from peer: PeerID, id: GossipsubMessageID?, topic: String, reason: RejectReason, now: Instant
    ) {
        guard let topic = scoredTopic(topic) else { return }
        switch reason {
        case .selfOrigin:
            return
        case .missingSignature, .invalidSignature:
            if let slot = knownSlot(peer) { addInvalidDelivery(slot, topic: topic) }
        case .ignored:
            if let id { _ = deliveries.markRejected(id, status: .ignored, now: now) }
        case .validationFailed:
            guard let id else {
                if let slot = knownSlot(peer) { addInvalidDelivery(slot, topic: topic) }
                return
            }
            guard let pending = deliveries.markRejected(id, status: .invalid, now: now) else { return }
            if let slot = knownSlot(peer) { addInvalidDelivery(slot, topic: topic) }
            for other in pending {
                if let slot = slot(of: other) { addInvalidDelivery(slot, topic: topic) }
            }
        }
    }

    /// A message already seen arrived again from `peer`.
    ///
    /// While the message is pending the peer is remembered for the verdict; once valid a mesh peer gains a mesh
    /// delivery if it came within the window of validation (once per peer and message); an invalid message counts
    /// against it each time; an ignored one changes nothing.
    public mutating func duplicateMessage(from peer: PeerID, id: GossipsubMessageID, topic: String, now: Instant) {
        guard let slot = knownSlot(peer), let topic = scoredTopic(topic) else { return }
        let window = topicParameters[topic].meshMessageDeliveriesWindow
        switch deliveries.duplicate(id, peer: ref(slot), now: now, window: window) {
        case .nothing, .pending:
            return
        case .invalid:
            addInvalidDelivery(slot, topic: topic)
        case .valid:
            // Within the window of validation (`duplicate` answers nothing past it).
            let index = peers[slot].topicIndex(topic)
            guard peers[slot].topics[index].inMesh else { return }
            addMeshDelivery(slot, index)
        }
    }

    // MARK: - Penalties and the application

    /// Adds `count` behaviour penalties (P7): broken promises, GRAFT during backoff, floods.
    public mutating func addPenalty(_ peer: PeerID, count: Int) {
        guard count > 0, let slot = knownSlot(peer) else { return }
        peers[slot].behaviourPenalty += Double(count)
        setPenalized(slot, true)
    }

    /// Sets the application-specific score (P5).
    ///
    /// Only for a peer the keeper knows (connected or retained); a value that is not finite is ignored.
    public mutating func setApplicationScore(_ peer: PeerID, _ value: Double) {
        guard value.isFinite, let slot = knownSlot(peer) else { return }
        peers[slot].applicationScore = value
        if value < 0 { setPenalized(slot, true) }
    }

    // MARK: - Time

    /// Decays the counters when a decay interval has passed and forgets expired peers (called each heartbeat).
    ///
    /// Applies as many decays as whole intervals elapsed since the last one was due; the first call only starts the
    /// count. Disconnected peers do not decay.
    public mutating func refresh(now: Instant) {
        forgetExpired(now: now)
        deliveries.expire(now: now)
        guard let last = lastDecay else {
            lastDecay = now
            return
        }
        // Unvalidated parameters must not trap: a decay interval that is not a positive finite number means 1 s.
        let seconds = parameters.decayInterval.isFinite && parameters.decayInterval > 0 ? parameters.decayInterval : 1
        let interval = UInt64(min(max(1, seconds * 1e9), 1e18))
        guard now.nanoseconds > last.nanoseconds else { return }
        let elapsed = (now.nanoseconds - last.nanoseconds) / interval
        guard elapsed > 0 else { return }
        lastDecay = Instant(nanoseconds: last.nanoseconds + elapsed * interval)
        decay(intervals: Int(min(elapsed, 1 << 20)))
    }

    // MARK: - The score

    /// The peer's score at `now`.
    @inline(__always)
    public func score(_ peer: PeerID, now: Instant) -> Double {
        guard let slot = knownSlot(peer) else { return 0 }
        return score(slot: slot, now: now)
    }

    /// `score(slot:now:)`, for a keeper held in an optional (`keeper?.scoreInPlace(…)`).
    ///
    /// Through an optional, a call that is not `mutating` first copies the whole keeper (its parameters inline, a
    /// retain of every table), while a `mutating` one reads it where it is. It changes nothing.
    @inline(__always)
    mutating func scoreInPlace(slot: Int, now: Instant) -> Double { score(slot: slot, now: now) }

    /// Whether the score of the peer at `slot` is below `threshold` at `now`: `score(slot:now:) < threshold`.
    ///
    /// It reads none of the peer's counters when the bound settles it: a connected peer with nothing `penalized`, no
    /// crowded IP, and a `cleanFloor` above the threshold. `mutating` only to read the keeper in place (see
    /// `scoreInPlace`); it changes nothing.
    ///
    /// `connected` says the caller holds the slot of a connected peer (as the router does, by its connection).
    @inline(__always)
    mutating func scoreIsBelow(_ threshold: Double, slot: Int, connected: Bool, now: Instant) -> Bool {
        if scoreIsSurelyNotBelow(threshold, slot: slot, connected: connected) { return false }
        return score(slot: slot, now: now) < threshold
    }

    /// Whether the bound alone says the score of the peer at `slot` is not below `threshold`.
    ///
    /// It does for a peer with nothing `penalized`, no crowded IP, and a `cleanFloor` above the threshold (or, when
    /// no topic weighs a P3 deficit, a threshold of 0 or less: the score is then a sum of terms that are not
    /// negative). Reads none of the peer's counters; false says nothing. `mutating` only to read the keeper in
    /// place; it changes nothing.
    @inline(__always)
    mutating func scoreIsSurelyNotBelow(_ threshold: Double, slot: Int, connected: Bool) -> Bool {
        guard crowdedIPs == 0,
            cleanNonNegative && threshold <= 0 || cleanFloor - 1e-9 * max(1, abs(threshold)) > threshold
        else { return false }
        return (slot < 64 ? penalizedSlots & (UInt64(1) << UInt64(slot)) == 0 : !peers[slot].penalized)
            && (connected || peers[slot].connected)
    }

    /// `scoreIsBelow(_:slot:connected:now:)` by peer id (a peer the keeper does not know scores 0).
    public mutating func scoreIsBelow(_ threshold: Double, peer: PeerID, now: Instant) -> Bool {
        guard let slot = knownSlot(peer) else { return 0 < threshold }
        return scoreIsBelow(threshold, slot: slot, connected: false, now: now)
    }

    /// The lowest score a connected peer can have with no penalty counter set and no crowded IP.
    ///
    /// Under `parameters` with the topics `topics` interned: each topic's P3 at its full deficit, weighted (P1 and
    /// P2 are never negative, P3b, P4, P5 below 0, P6 and P7 are then 0, and a cap only lowers a positive sum). -∞
    /// when a weight has the sign the bound needs the other way (validated parameters never do).
    static func cleanFloor(_ parameters: GossipsubScoreParameters, _ topics: [GossipsubTopicScoreParameters]) -> Double
    {
        guard parameters.appSpecificWeight >= 0, parameters.behaviourPenaltyWeight <= 0,
            parameters.behaviourPenaltyWeight == 0 || parameters.behaviourPenaltyThreshold >= 0
        else { return -.infinity }
        var floor = 0.0
        for topic in topics {
            guard topic.topicWeight >= 0, topic.firstMessageDeliveriesWeight >= 0,
                topic.meshMessageDeliveriesWeight <= 0, topic.timeInMeshWeight >= 0,
                topic.timeInMeshWeight == 0 || (topic.timeInMeshQuantum > 0 && topic.timeInMeshCap >= 0),
                // Counters stay within [0, cap] only with caps and decays that are not negative.
                topic.firstMessageDeliveriesCap >= 0, topic.firstMessageDeliveriesDecay >= 0,
                topic.meshMessageDeliveriesCap >= 0, topic.meshMessageDeliveriesDecay >= 0
            else { return -.infinity }
            if topic.meshMessageDeliveriesWeight != 0 {
                let worst = max(0, topic.meshMessageDeliveriesThreshold)
                floor += topic.topicWeight * (worst * worst * topic.meshMessageDeliveriesWeight)
            }
        }
        return floor.isFinite ? floor : -.infinity
    }

    /// Whether a clean peer's score (as `cleanFloor` defines clean) is a sum of terms that are not negative.
    ///
    /// It is when the floor's conditions hold and no scored topic weighs a P3 deficit (its weight, its topic's
    /// weight or its threshold is 0). Then P1 and P2 are products of factors that are not negative and every other
    /// term is 0, so the score is at least 0 exactly, where `cleanFloor` needs a margin for rounding.
    static func cleanScoresAreNonNegative(
        _ parameters: GossipsubScoreParameters, _ topics: [GossipsubTopicScoreParameters]
    ) -> Bool {
        guard cleanFloor(parameters, topics) != -.infinity else { return false }
        return topics.allSatisfy {
            $0.meshMessageDeliveriesWeight == 0 || $0.topicWeight == 0 || $0.meshMessageDeliveriesThreshold <= 0
        }
    }

    /// The slot of a connected peer's counters: it stays the peer's until the peer disconnects, so the router
    /// keeps it with the connection and scores by it without a look-up (`score(slot:now:)`).
    func slot(of peer: PeerID) -> Int? { connectedSlot(peer) }

    /// The score of the peer whose counters are at `slot` (`slot(of:)`, taken while it is connected).
    @inline(__always)
    func score(slot: Int, now: Instant) -> Double {
        // Fields are read in place: a copy of the record would retain its peer id and topic array.
        if !peers[slot].connected && peers[slot].expire < now { return 0 }
        var topicScore = 0.0
        for index in peers[slot].topics.indices {
            let parameters = topicParameters[peers[slot].topics[index].topic]
            topicScore += peers[slot].topics[index].score(parameters, now: now) * parameters.topicWeight
        }
        var score = parameters.topicScoreCap > 0 ? min(topicScore, parameters.topicScoreCap) : topicScore
        if parameters.appSpecificWeight != 0 { score += peers[slot].applicationScore * parameters.appSpecificWeight }
        if parameters.ipColocationFactorWeight != 0, let ip = peers[slot].ipSlot {
            let surplus = Double(peersAtIP[ip]) - Double(parameters.ipColocationFactorThreshold)
            if surplus > 0 { score += surplus * surplus * parameters.ipColocationFactorWeight }
        }
        let penalty = peers[slot].behaviourPenalty
        if parameters.behaviourPenaltyWeight != 0, penalty > parameters.behaviourPenaltyThreshold {
            let excess = penalty - parameters.behaviourPenaltyThreshold
            score += excess * excess * parameters.behaviourPenaltyWeight
        }
        return score
    }

    /// Whether the keeper holds counters for `peer` (connected, or disconnected and retained).
    public func knows(_ peer: PeerID) -> Bool { knownSlot(peer) != nil }

    /// Peers with counters: connected and retained.
    public var peerCount: Int { slotOfPeer.count }

    /// Message delivery records held.
    public var deliveryRecordCount: Int { deliveries.count }

    /// Entries in the retained-peer expiry queue (live and stale), for tests of its bound.
    var retainedQueueCount: Int { retainedQueue.count }

    // MARK: - Internals

    private func ref(_ slot: Int) -> PeerRef { UInt64(slot) << 32 | UInt64(peers[slot].generation) }

    /// The slot `ref` names, if it still names the peer it was taken for.
    private func slot(of ref: PeerRef) -> Int? { Self.slot(of: ref, in: peers) }

    private static func slot(of ref: PeerRef, in peers: [GossipsubPeerCounters]) -> Int? {
        let slot = Int(ref >> 32)
        guard slot < peers.count, peers[slot].generation == UInt32(truncatingIfNeeded: ref) else { return nil }
        return slot
    }

    private func knownSlot(_ peer: PeerID) -> Int? { slotOfPeer[peer] }

    private func connectedSlot(_ peer: PeerID) -> Int? {
        guard let slot = knownSlot(peer), peers[slot].connected else { return nil }
        return slot
    }

    /// The topic table's index of `topic`, interning it when `defaultTopic` scores it (up to the bound).
    private mutating func scoredTopic(_ topic: String) -> Int? {
        // Calls come in runs on one topic; a string comparison is cheaper than hashing it.
        if let last = lastTopic, last.name == topic { return last.index }
        if let index = topicOfName[topic] {
            lastTopic = (topic, index)
            return index
        }
        guard let defaults = parameters.defaultTopic,
            topicParameters.count - parameters.topics.count < parameters.maxDefaultScoredTopics
        else { return nil }
        return addTopic(topic, defaults)
    }

    @discardableResult
    private mutating func addTopic(_ name: String, _ parameters: GossipsubTopicScoreParameters) -> Int {
        topicOfName[name] = topicParameters.count
        topicParameters.append(parameters)
        topicDecayFactors.append(GossipsubTopicDecayFactors(parameters, intervals: 1))
        cleanFloor = Self.cleanFloor(self.parameters, topicParameters)
        cleanNonNegative = Self.cleanScoresAreNonNegative(self.parameters, topicParameters)
        return topicParameters.count - 1
    }

    private mutating func addMeshDelivery(_ slot: Int, _ index: Int) {
        let cap = topicParameters[peers[slot].topics[index].topic].meshMessageDeliveriesCap
        peers[slot].topics[index].meshMessageDeliveries = min(peers[slot].topics[index].meshMessageDeliveries + 1, cap)
    }

    private mutating func addInvalidDelivery(_ slot: Int, topic: Int) {
        let index = peers[slot].topicIndex(topic)
        peers[slot].topics[index].invalidMessageDeliveries += 1
        setPenalized(slot, true)
    }

    /// Takes the peer out of the topic's mesh, adding the squared delivery deficit to P3b when P3 was active.
    private mutating func leaveMesh(_ slot: Int, _ index: Int, now: Instant) {
        guard peers[slot].topics[index].inMesh else { return }
        let parameters = topicParameters[peers[slot].topics[index].topic]
        let deficit = peers[slot].topics[index].meshDeliveryDeficit(parameters, now: now)
        peers[slot].topics[index].meshFailurePenalty += deficit * deficit
        if deficit != 0 { setPenalized(slot, true) }
        peers[slot].topics[index].inMesh = false
    }

    private mutating func decay(intervals: Int) {
        let factors =
            intervals == 1
            ? topicDecayFactors : topicParameters.map { GossipsubTopicDecayFactors($0, intervals: intervals) }
        let behaviourDecay = GossipsubScoreMath.power(parameters.behaviourPenaltyDecay, intervals)
        let decayToZero = parameters.decayToZero
        for slot in peers.indices where peers[slot].connected {
            for index in peers[slot].topics.indices {
                peers[slot].topics[index].decay(factors[peers[slot].topics[index].topic], decayToZero: decayToZero)
            }
            let penalty = peers[slot].behaviourPenalty * behaviourDecay
            peers[slot].behaviourPenalty = penalty < decayToZero ? 0 : penalty
            if peers[slot].penalized { setPenalized(slot, peers[slot].hasPenalties) }
        }
    }

    /// Forgets the retained peers whose time is up at `now`.
    private mutating func forgetExpired(now: Instant) {
        while let oldest = retainedQueue.first, oldest.expire < now {
            retainedQueue.removeFirst()
            forgetIfRetained(oldest)
        }
    }

    /// Keeps the retained peers within `maxRetainedPeers`, forgetting the longest-gone first, and the queue within a
    /// small multiple of that (reconnects leave stale entries).
    private mutating func trimRetained() {
        while retainedCount > max(0, parameters.maxRetainedPeers), let oldest = retainedQueue.removeFirst() {
            forgetIfRetained(oldest)
        }
        if retainedQueue.count > 2 * max(64, retainedCount) {
            let peers = peers
            retainedQueue.retain { entry in
                guard let slot = Self.slot(of: entry.peer, in: peers) else { return false }
                return !peers[slot].connected && peers[slot].expire == entry.expire
            }
        }
    }

    /// Forgets the peer of a retained-queue entry unless it reconnected (or left again later) since.
    private mutating func forgetIfRetained(_ entry: (peer: PeerRef, expire: Instant)) {
        guard let slot = slot(of: entry.peer), !peers[slot].connected, peers[slot].expire == entry.expire else {
            return
        }
        retainedCount -= 1
        forget(slot)
    }

    private mutating func forget(_ slot: Int) {
        releaseIP(slot)
        slotOfPeer[peers[slot].peer] = nil
        peers[slot].generation &+= 1
        peers[slot].connected = false
        peers[slot].topics = []
        setPenalized(slot, false)
        freeSlots.append(slot)
    }

    /// Sets the peer's `penalized` flag, and its bit in `penalizedSlots` for the first 64 slots.
    private mutating func setPenalized(_ slot: Int, _ value: Bool) {
        peers[slot].penalized = value
        guard slot < 64 else { return }
        let bit = UInt64(1) << UInt64(slot)
        if value { penalizedSlots |= bit } else { penalizedSlots &= ~bit }
    }

    private mutating func holdIP(_ address: String) -> Int {
        let ip: Int
        if let known = slotOfIP[address] {
            ip = known
        } else if let free = freeIPSlots.popLast() {
            ip = free
            slotOfIP[address] = ip
            addressOfIP[ip] = address
        } else {
            ip = peersAtIP.count
            peersAtIP.append(0)
            addressOfIP.append(address)
            slotOfIP[address] = ip
        }
        let wasCrowded = crowded(ip)
        peersAtIP[ip] += 1
        if !wasCrowded && crowded(ip) { crowdedIPs += 1 }
        return ip
    }

    private mutating func releaseIP(_ slot: Int) {
        guard let ip = peers[slot].ipSlot else { return }
        peers[slot].ipSlot = nil
        let wasCrowded = crowded(ip)
        peersAtIP[ip] -= 1
        if wasCrowded && !crowded(ip) { crowdedIPs -= 1 }
        guard peersAtIP[ip] == 0 else { return }
        slotOfIP[addressOfIP[ip]] = nil
        addressOfIP[ip] = ""
        freeIPSlots.append(ip)
    }

    /// Whether the IP slot has a P6 surplus (more connected peers than the threshold, P6 on).
    private func crowded(_ ip: Int) -> Bool {
        parameters.ipColocationFactorWeight != 0
            && Double(peersAtIP[ip]) - Double(parameters.ipColocationFactorThreshold) > 0
    }

    /// Whether connections from `address` count for P6: loopback does not (local tests and tools run many peers on
    /// one host), as in go-libp2p-pubsub.
    static func countsForColocation(_ address: String) -> Bool {
        !(address.hasPrefix("127.") || address == "::1" || address.hasPrefix("::ffff:127."))
    }
}
