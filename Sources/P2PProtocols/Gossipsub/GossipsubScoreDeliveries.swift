import Runtime

/// The score keeper's record of who delivered each recent message, and what became of it (go-libp2p-pubsub's
/// `messageDeliveries`): it lets a mesh peer that forwarded a message while we were validating it share the verdict
/// (P3 credit when it is valid, P4 when it is not), and lets a duplicate count once per peer.
///
/// Bounded: a record lives `ttl` seconds and at most `capacity` records are kept (the oldest go first); a record
/// tracks at most `maxPeersPerRecord` peers.
struct GossipsubScoreDeliveries: Sendable {
    /// What we know of a message.
    enum Status: UInt8, Sendable {
        /// Validation has not answered yet.
        case pending
        /// Validated and delivered.
        case valid
        /// Rejected by validation.
        case invalid
        /// The validator said ignore: nobody gains or loses by it.
        case ignored
    }

    /// One message's record.
    struct Record: Sendable {
        var status = Status.pending
        /// When the message was validated (valid records only).
        var validated = Instant(nanoseconds: 0)
        /// The peers that delivered it, as `PeerRef`s: while pending (to settle at the verdict), and once valid (so a
        /// peer's duplicates count once).
        var peers: [UInt64] = []
    }

    /// What a duplicate delivery means for the peer that made it.
    enum Duplicate: Equatable, Sendable {
        /// Nothing: the peer already delivered it, the record is full, the message was ignored, or it was valid and
        /// the window has passed.
        case nothing
        /// Tracked until the verdict.
        case pending
        /// A valid message, within the window of its validation (P3 credit).
        case valid
        /// An invalid message (P4).
        case invalid
    }

    /// Peers tracked per record at most: more than a mesh and its gossip ever deliver honestly.
    static let maxPeersPerRecord = 64

    private var records: [GossipsubMessageID: Record] = [:]
    private var expiry = GossipsubScoreQueue<(id: GossipsubMessageID, expire: Instant)>()
    private let ttl: Double
    private let capacity: Int

    /// Records kept `ttl` seconds, at most `capacity` of them.
    init(ttl: Double, capacity: Int) {
        self.ttl = ttl
        self.capacity = max(1, capacity)
    }

    /// Records held.
    var count: Int { records.count }

    /// Makes sure `id` has a record (first seen at `now`).
    mutating func begin(_ id: GossipsubMessageID, now: Instant) { _ = index(id, now: now) }

    /// Marks `id` valid at `now` with `first` its first deliverer; returns the peers tracked while it was pending, or
    /// nil when it had a verdict already.
    mutating func markValid(_ id: GossipsubMessageID, first: UInt64, now: Instant) -> [UInt64]? {
        let index = index(id, now: now)
        guard records.values[index].status == .pending else { return nil }
        let pending = records.values[index].peers
        records.values[index].status = .valid
        records.values[index].validated = now
        if !pending.contains(first) {
            if pending.count >= Self.maxPeersPerRecord { records.values[index].peers.removeLast() }
            Self.append(first, to: &records.values[index].peers)
        }
        return pending
    }

    /// Marks `id` invalid (or ignored); returns the peers tracked while it was pending, or nil when it had a verdict
    /// already.
    mutating func markRejected(_ id: GossipsubMessageID, status: Status, now: Instant) -> [UInt64]? {
        let index = index(id, now: now)
        guard records.values[index].status == .pending else { return nil }
        let pending = records.values[index].peers
        records.values[index].status = status
        records.values[index].peers = []
        return pending
    }

    /// Records a duplicate of `id` from `peer` and says what it means; a duplicate of a valid message counts only
    /// within `window` seconds of its validation (P3's window).
    ///
    /// Past the window the valid record's peer list has done its work (no later duplicate counts, whoever sends it),
    /// so it is let go: a record then keeps a few words instead of a list for every message of the last `ttl`.
    mutating func duplicate(_ id: GossipsubMessageID, peer: UInt64, now: Instant, window: Double) -> Duplicate {
        let index = index(id, now: now)
        // Read in place: a copy of the record would share its peer list and make the append copy it.
        let status = records.values[index].status
        switch status {
        case .ignored: return .nothing
        case .invalid: return .invalid
        case .valid where now.seconds(since: records.values[index].validated) > window:
            if records.values[index].peers.capacity > 0 { records.values[index].peers = [] }
            return .nothing
        case .pending, .valid:
            guard !records.values[index].peers.contains(peer),
                records.values[index].peers.count < Self.maxPeersPerRecord
            else { return .nothing }
            Self.append(peer, to: &records.values[index].peers)
            return status == .pending ? .pending : .valid
        }
    }

    /// Room a record's peer list gets at its first peer: a mesh of D = 8 delivers most messages about that often, so
    /// the list is allocated once instead of grown three times from one element (measured: fewer instructions and
    /// less memory than 12, whose room most records leave empty).
    static let initialPeerRoom = 8

    @inline(__always)
    private static func append(_ peer: UInt64, to peers: inout [UInt64]) {
        if peers.capacity == 0 { peers.reserveCapacity(initialPeerRoom) }
        peers.append(peer)
    }

    /// Drops the records whose time has passed at `now`.
    mutating func expire(now: Instant) {
        while let oldest = expiry.first, oldest.expire < now {
            expiry.removeFirst()
            records[oldest.id] = nil
        }
    }

    /// The index of `id`'s record, made (first seen at `now`) when missing; the oldest records make room.
    private mutating func index(_ id: GossipsubMessageID, now: Instant) -> [GossipsubMessageID: Record].Index {
        let key = id
        if let index = records.index(forKey: key) { return index }
        while records.count >= capacity, let oldest = expiry.removeFirst() { records[oldest.id] = nil }
        records[key] = Record()
        expiry.append((key, now.advanced(bySeconds: ttl)))
        return records.index(forKey: key)!
    }
}
