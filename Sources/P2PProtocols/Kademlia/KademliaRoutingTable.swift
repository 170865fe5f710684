import Codec
import Runtime

/// The Kademlia routing table: one bucket of at most k peers per common-prefix length with the local key, the
/// least recently seen first, each with a replacement cache; at most `maxPerSubnet` peers of one IPv4 /24 per bucket.
///
/// A full bucket does not evict on its own: a newcomer goes to the replacement cache, and the table names the least
/// recently seen entry to ping; when that ping (or enough queries) fail, `remove` promotes the newest replacement.
public struct KademliaRoutingTable: Sendable {
    /// One peer of the table.
    public struct Entry: Sendable, Equatable {
        /// The peer.
        public var peer: PeerID
        /// Its point.
        public var key: KademliaKey
        /// Its addresses (the latest identify's listen addresses).
        public var addresses: [Multiaddr]
        /// Its IPv4 /24, when it has one that counts (not loopback).
        public var subnet: UInt32?
        /// When it last answered us or asked us something.
        public var lastSeen: Instant
        /// Consecutive failed requests.
        public var failures: Int
    }

    /// What `add` did.
    public enum AddOutcome: Sendable, Equatable {
        /// Now in its bucket.
        case added
        /// Already there: addresses refreshed and marked seen.
        case updated
        /// The bucket is full: kept in the replacement cache; `ping` is the least recently seen entry to check, when
        /// no check of this bucket is under way and that entry has not been seen for `pingAfter`.
        case cached(ping: PeerID?)
        /// Refused: its /24 already has `maxPerSubnet` peers in the bucket (and in the cache).
        case subnetFull
        /// The local peer.
        case isLocal
    }

    struct Bucket: Sendable {
        var entries: [Entry] = []
        var replacements: [Entry] = []
        var pinging: PeerID?
        var lastRefreshed: Instant
    }

    /// The local point.
    public let local: KademliaKey
    /// Peers per bucket (k).
    public let bucketSize: Int
    /// Entries per replacement cache.
    public let replacementSize: Int
    /// Peers of one /24 per bucket.
    public let maxPerSubnet: Int
    /// A contested entry not seen for this long is pinged.
    public let pingAfter: Double

    var buckets: [Bucket]
    /// Each peer's bucket and point: scans compare points (four words), not peer id bytes.
    var bucketOf: [PeerID: (bucket: Int, key: KademliaKey)] = [:]

    /// An empty table around `local`.
    public init(
        local: KademliaKey, bucketSize: Int = 20, replacementSize: Int = 20, maxPerSubnet: Int = 2,
        pingAfter: Double = 60, now: Instant
    ) {
        self.local = local
        self.bucketSize = bucketSize
        self.replacementSize = replacementSize
        self.maxPerSubnet = maxPerSubnet
        self.pingAfter = pingAfter
        buckets = Array(repeating: Bucket(lastRefreshed: now), count: 256)
    }

    /// Peers in the table (not counting replacement caches).
    public var count: Int { bucketOf.count }

    /// Whether `peer` is in the table.
    public func contains(_ peer: PeerID) -> Bool { bucketOf[peer] != nil }

    /// The entry of `peer`.
    public func entry(_ peer: PeerID) -> Entry? {
        guard let (index, key) = bucketOf[peer] else { return nil }
        return buckets[index].entries.first { $0.key == key }
    }

    /// The bucket index (common prefix length with the local key) of a point.
    public func bucketIndex(_ key: KademliaKey) -> Int { min(local.commonPrefixLength(with: key), 255) }

    /// The peers of bucket `index`, least recently seen first.
    public func peers(inBucket index: Int) -> [Entry] { buckets[index].entries }

    /// The replacement cache of bucket `index`, oldest first.
    public func replacements(inBucket index: Int) -> [Entry] { buckets[index].replacements }

    /// The highest bucket index holding a peer, or nil when the table is empty.
    public var deepestBucket: Int? { buckets.lastIndex { !$0.entries.isEmpty } }

    /// Every peer, bucket by bucket.
    public var allPeers: [Entry] { buckets.flatMap(\.entries) }

    /// Offers a peer that identify showed speaking the DHT protocol.
    public mutating func add(
        _ peer: PeerID, key: KademliaKey, addresses: [Multiaddr], subnet: UInt32?, now: Instant
    ) -> AddOutcome {
        guard key != local else { return .isLocal }
        let index = bucketIndex(key)
        if bucketOf[peer] != nil, let position = buckets[index].entries.firstIndex(where: { $0.key == key }) {
            var entry = buckets[index].entries.remove(at: position)
            if !addresses.isEmpty { entry.addresses = addresses }
            entry.lastSeen = now
            entry.failures = 0
            buckets[index].entries.append(entry)
            return .updated
        }
        let entry = Entry(peer: peer, key: key, addresses: addresses, subnet: subnet, lastSeen: now, failures: 0)
        if let subnet, subnetCount(subnet, in: buckets[index].entries) >= maxPerSubnet { return .subnetFull }
        if buckets[index].entries.count < bucketSize {
            buckets[index].entries.append(entry)
            bucketOf[peer] = (index, key)
            buckets[index].replacements.removeAll { $0.key == key }
            return .added
        }
        var cache = buckets[index].replacements
        cache.removeAll { $0.key == key }
        if let subnet, subnetCount(subnet, in: cache) >= maxPerSubnet { return .subnetFull }
        cache.append(entry)
        if cache.count > replacementSize { cache.removeFirst(cache.count - replacementSize) }
        buckets[index].replacements = cache
        var ping: PeerID?
        if buckets[index].pinging == nil, let oldest = buckets[index].entries.first,
            now.seconds(since: oldest.lastSeen) >= pingAfter
        {
            buckets[index].pinging = oldest.peer
            ping = oldest.peer
        }
        return .cached(ping: ping)
    }

    /// Marks `peer` as seen now (it answered, or asked us something): it moves to the end of its bucket.
    public mutating func markSeen(_ peer: PeerID, now: Instant) {
        guard let (index, key) = bucketOf[peer],
            let position = buckets[index].entries.firstIndex(where: { $0.key == key })
        else { return }
        var entry = buckets[index].entries.remove(at: position)
        entry.lastSeen = now
        entry.failures = 0
        buckets[index].entries.append(entry)
        if buckets[index].pinging == peer { buckets[index].pinging = nil }
    }

    /// Counts a failed request to `peer`; at `limit` consecutive failures (or a failed ping) it is removed.
    ///
    /// Returns whether it was.
    public mutating func recordFailure(_ peer: PeerID, limit: Int) -> Bool {
        guard let (index, key) = bucketOf[peer],
            let position = buckets[index].entries.firstIndex(where: { $0.key == key })
        else { return false }
        buckets[index].entries[position].failures += 1
        guard buckets[index].entries[position].failures >= limit || buckets[index].pinging == peer else {
            return false
        }
        remove(peer)
        return true
    }

    /// Removes `peer` (also from the caches); the newest replacement that fits the /24 limit takes its place.
    ///
    /// Returns the promoted entry.
    @discardableResult
    public mutating func remove(_ peer: PeerID) -> Entry? {
        let key = bucketOf.removeValue(forKey: peer)?.key ?? KademliaKey(peer: peer)
        let index = bucketIndex(key)
        buckets[index].replacements.removeAll { $0.key == key }
        guard buckets[index].entries.contains(where: { $0.key == key }) else { return nil }
        buckets[index].entries.removeAll { $0.key == key }
        if buckets[index].pinging == peer { buckets[index].pinging = nil }
        var cache = buckets[index].replacements
        for position in cache.indices.reversed() {
            let candidate = cache[position]
            if let subnet = candidate.subnet, subnetCount(subnet, in: buckets[index].entries) >= maxPerSubnet {
                continue
            }
            cache.remove(at: position)
            buckets[index].replacements = cache
            buckets[index].entries.append(candidate)
            bucketOf[candidate.peer] = (index, candidate.key)
            return candidate
        }
        return nil
    }

    /// Up to `count` peers closest to `target`, nearest first, skipping `excluding`.
    ///
    /// Only the buckets that can hold them are sorted: bucket c = cpl(local, target) holds the peers nearest the
    /// target, then every bucket above c (all equally far in the first c + 1 bits), then c − 1, c − 2, …
    public func closest(to target: KademliaKey, count: Int, excluding: PeerID? = nil) -> [Entry] {
        guard count > 0 else { return [] }
        let c = bucketIndex(target)
        // Sorted as (distance, bucket, position) triples: sorting entries themselves would retain their arrays.
        let excluded = excluding.map { KademliaKey(peer: $0) }
        var picked: [(distance: KademliaKey, bucket: Int, position: Int)] = []
        picked.reserveCapacity(count)
        var group: [(distance: KademliaKey, bucket: Int, position: Int)] = []
        func take(_ range: some Sequence<Int>) {
            group.removeAll(keepingCapacity: true)
            for bucket in range {
                for position in buckets[bucket].entries.indices {
                    let key = buckets[bucket].entries[position].key
                    if key != excluded { group.append((key.distance(to: target), bucket, position)) }
                }
            }
            group.sort { $0.distance < $1.distance }
            picked.append(contentsOf: group.prefix(count - picked.count))
        }
        take(c...c)
        if picked.count < count, c + 1 < buckets.count { take((c + 1)..<buckets.count) }
        var index = c - 1
        while picked.count < count && index >= 0 {
            take(index...index)
            index -= 1
        }
        return picked.map { buckets[$0.bucket].entries[$0.position] }
    }

    /// When bucket `index` was last refreshed (a lookup into its range).
    public func lastRefreshed(_ index: Int) -> Instant { buckets[index].lastRefreshed }

    /// Records a lookup into bucket `index`'s range.
    public mutating func markRefreshed(_ index: Int, now: Instant) { buckets[index].lastRefreshed = now }

    private func subnetCount(_ subnet: UInt32, in entries: [Entry]) -> Int {
        var count = 0
        for entry in entries where entry.subnet == subnet { count += 1 }
        return count
    }

    /// The IPv4 /24 of the first IPv4 address among `addresses` that is not loopback (loopback is exempt from the
    /// limit: local tests and interop run there).
    public static func subnet(of addresses: [Multiaddr]) -> UInt32? {
        for address in addresses {
            for component in address.components where component.code == .ip4 && component.value.count == 4 {
                let value = component.value
                if value[0] == 127 { continue }
                return UInt32(value[0]) << 16 | UInt32(value[1]) << 8 | UInt32(value[2])
            }
        }
        return nil
    }
}
