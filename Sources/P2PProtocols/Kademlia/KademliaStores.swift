import Codec
import Runtime

/// Provider records a server holds: for each key, the peers that announced they provide it.
///
/// Each has its addresses and an expiry. Bounded in keys, providers per key and records in all; the oldest record goes first when full.
public struct KademliaProviderStore: Sendable {
    /// One provider of a key.
    public struct Provider: Sendable, Equatable {
        /// The provider and its addresses.
        public var info: KademliaPeerInfo
        /// When the record lapses.
        public var expires: Instant
    }

    /// Records in all.
    public let maxRecords: Int
    /// Providers per key.
    public let maxPerKey: Int

    private var byKey: [[UInt8]: [Provider]] = [:]
    private var expiries = FIFOQueue<(key: [UInt8], peer: PeerID, expires: Instant)>()
    /// Records held.
    public private(set) var count = 0

    /// An empty store.
    public init(maxRecords: Int = 100_000, maxPerKey: Int = 64) {
        self.maxRecords = maxRecords
        self.maxPerKey = maxPerKey
    }

    /// Adds or refreshes `info` as a provider of `key` until `expires`; false when the key already has
    /// `maxPerKey` others.
    @discardableResult
    public mutating func add(key: [UInt8], info: KademliaPeerInfo, expires: Instant) -> Bool {
        var providers = byKey[key] ?? []
        if let index = providers.firstIndex(where: { $0.info.id == info.id }) {
            providers[index] = Provider(info: info, expires: expires)
        } else {
            guard providers.count < maxPerKey else { return false }
            while count >= maxRecords, let oldest = expiries.popFirst() {
                drop(oldest.key, oldest.peer, oldest.expires)
            }
            providers.append(Provider(info: info, expires: expires))
            count += 1
        }
        byKey[key] = providers
        expiries.push((key, info.id, expires))
        return true
    }

    /// The live providers of `key`, in announcement order.
    public func providers(of key: [UInt8], now: Instant) -> [KademliaPeerInfo] {
        (byKey[key] ?? []).filter { $0.expires > now }.map(\.info)
    }

    /// Drops records that lapsed by `now`.
    public mutating func expire(now: Instant) {
        while let first = expiries.first, first.expires <= now {
            expiries.popFirst()
            drop(first.key, first.peer, first.expires)
        }
    }

    /// Removes the record of (key, peer) if its expiry is still `expires` (a refresh queued a later one).
    private mutating func drop(_ key: [UInt8], _ peer: PeerID, _ expires: Instant) {
        guard var providers = byKey[key], let index = providers.firstIndex(where: { $0.info.id == peer }),
            providers[index].expires == expires
        else { return }
        providers.remove(at: index)
        count -= 1
        byKey[key] = providers.isEmpty ? nil : providers
    }
}

/// Value records a server holds, bounded in number; each lapses after the store's TTL.
public struct KademliaRecordStore: Sendable {
    /// Records held at most.
    public let maxRecords: Int
    private var records: [[UInt8]: (record: KademliaRecord, expires: Instant)] = [:]
    private var expiries = FIFOQueue<(key: [UInt8], expires: Instant)>()

    /// An empty store.
    public init(maxRecords: Int = 10_000) { self.maxRecords = maxRecords }

    /// Records held.
    public var count: Int { records.count }

    /// The live record of `key`.
    public func record(_ key: [UInt8], now: Instant) -> KademliaRecord? {
        guard let stored = records[key], stored.expires > now else { return nil }
        return stored.record
    }

    /// Stores `record` until `expires`; false when the store is full of live records of other keys.
    @discardableResult
    public mutating func put(_ record: KademliaRecord, expires: Instant, now: Instant) -> Bool {
        if records[record.key] == nil && records.count >= maxRecords {
            expire(now: now)
            guard records.count < maxRecords else { return false }
        }
        records[record.key] = (record, expires)
        expiries.push((record.key, expires))
        return true
    }

    /// Drops records that lapsed by `now`.
    public mutating func expire(now: Instant) {
        while let first = expiries.first, first.expires <= now {
            expiries.popFirst()
            if let stored = records[first.key], stored.expires == first.expires { records[first.key] = nil }
        }
    }
}
