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
        /// Nothing: the peer already delivered it, the record is full, or the message was ignored.
        case nothing
        /// Tracked until the verdict.
        case pending
        /// A valid message, validated at that instant (P3 credit when inside the window).
        case valid(validated: Instant)
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

    /// The status of `id`'s record, if it has one.
    func status(_ id: GossipsubMessageID) -> Status? { records[id]?.status }

    /// Makes sure `id` has a record (first seen at `now`).
    mutating func begin(_ id: GossipsubMessageID, now: Instant) {
        guard records[id] == nil else { return }
        while records.count >= capacity, let oldest = expiry.removeFirst() { records[oldest.id] = nil }
        records[id] = Record()
        expiry.append((id, now.advanced(bySeconds: ttl)))
    }

    /// Marks `id` valid at `now` with `first` its first deliverer; returns the peers tracked while it was pending, or
    /// nil when it had a verdict already.
    mutating func markValid(_ id: GossipsubMessageID, first: UInt64, now: Instant) -> [UInt64]? {
        begin(id, now: now)
        guard records[id]?.status == .pending else { return nil }
        return modify(id) { record in
            let pending = record.peers
            record.status = .valid
            record.validated = now
            if !record.peers.contains(first) {
                if record.peers.count >= Self.maxPeersPerRecord { record.peers.removeLast() }
                record.peers.append(first)
            }
            return pending
        }
    }

    /// Marks `id` invalid (or ignored); returns the peers tracked while it was pending, or nil when it had a verdict
    /// already.
    mutating func markRejected(_ id: GossipsubMessageID, status: Status, now: Instant) -> [UInt64]? {
        begin(id, now: now)
        guard records[id]?.status == .pending else { return nil }
        return modify(id) { record in
            let pending = record.peers
            record.status = status
            record.peers = []
            return pending
        }
    }

    /// Records a duplicate of `id` from `peer` and says what it means.
    mutating func duplicate(_ id: GossipsubMessageID, peer: UInt64, now: Instant) -> Duplicate {
        begin(id, now: now)
        return modify(id) { record in
            switch record.status {
            case .ignored: return .nothing
            case .invalid: return .invalid
            case .pending, .valid:
                guard !record.peers.contains(peer), record.peers.count < Self.maxPeersPerRecord else { return .nothing }
                record.peers.append(peer)
                return record.status == .pending ? .pending : .valid(validated: record.validated)
            }
        }
    }

    /// Drops the records whose time has passed at `now`.
    mutating func expire(now: Instant) {
        while let oldest = expiry.first, oldest.expire < now {
            expiry.removeFirst()
            records[oldest.id] = nil
        }
    }

    private mutating func modify<Result>(_ id: GossipsubMessageID, _ body: (inout Record) -> Result) -> Result {
        body(&records[id, default: Record()])
    }
}
