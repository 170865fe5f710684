import Chain
import Codec
import LightClient
import Runtime
import Synchronization

/// Reads a payment channel as proven at a verified head.
public protocol ChannelReader: Sendable {
    /// The channel `id` (nil when the ledger has none) proven at the freshest verified head, and that head's number.
    func provenChannel(_ id: [UInt8]) throws(LightClientError) -> (channel: PaymentChannels.Channel?, head: UInt64)
}

extension LightClient: ChannelReader {
    /// Syncs the head, then proves the channel's storage against it.
    public func provenChannel(_ id: [UInt8]) throws(LightClientError) -> (
        channel: PaymentChannels.Channel?, head: UInt64
    ) {
        let (channel, header) = try read(PaymentChannels.ChannelLayout.self, id, at: try syncHead())
        return (channel, header.number)
    }
}

/// Channels as the light client proved them, kept so that a paid request costs no RPC round trip.
///
/// An entry serves requests for `maximumAge` seconds after its proof; `refresh` (the payment service calls it every
/// `refreshSeconds`) proves every entry again. Staleness is safe within the settle delay: a payer who starts to close
/// cannot withdraw before it ends, and the peer redeems well inside it (docs/payments.md). A deposit a voucher
/// exceeds is proven again at once, in case the payer topped up.
public final class ChannelCache: Sendable {
    /// A proven channel and when it was proven.
    public struct Entry: Sendable {
        /// The channel, nil when the ledger proved it absent.
        public var channel: PaymentChannels.Channel?
        /// The verified head it was proven at.
        public var head: UInt64
        /// When (on the cache's clock).
        public var provenAt: Instant
        /// When a request last used it.
        public var usedAt: Instant
    }

    private let reader: any ChannelReader
    private let clock: any Clock
    /// How long a proven entry serves requests, in seconds.
    public let maximumAge: Double
    /// Entries kept at most; the least recently used go first.
    public let capacity: Int
    private let entries = Mutex<[[UInt8]: Entry]>([:])
    private let hits = Atomic<Int>(0)
    private let proofs = Atomic<Int>(0)

    /// A cache over `reader`, on `clock`.
    public init(reader: any ChannelReader, clock: any Clock, maximumAge: Double = 10, capacity: Int = 10_000) {
        self.reader = reader
        self.clock = clock
        self.maximumAge = maximumAge
        self.capacity = max(1, capacity)
    }

    /// The entry for `id` when it is fresh enough to serve a request without a round trip.
    public func fresh(_ id: [UInt8]) -> Entry? {
        let now = clock.now()
        return entries.withLock { entries -> Entry? in
            guard var entry = entries[id], now.seconds(since: entry.provenAt) <= maximumAge else { return nil }
            entry.usedAt = now
            entries[id] = entry
            hits.add(1, ordering: .relaxed)
            return entry
        }
    }

    /// Proves channel `id` now (a round trip) and keeps it.
    public func prove(_ id: [UInt8]) throws(LightClientError) -> Entry {
        let (channel, head) = try reader.provenChannel(id)
        let now = clock.now()
        let entry = Entry(channel: channel, head: head, provenAt: now, usedAt: now)
        entries.withLock { entries in
            entries[id] = entry
            if entries.count > capacity, let oldest = entries.min(by: { $0.value.usedAt < $1.value.usedAt })?.key {
                entries[oldest] = nil
            }
        }
        proofs.add(1, ordering: .relaxed)
        return entry
    }

    /// Proves every kept channel again; returns how many failed (the entries stay as they were).
    @discardableResult
    public func refresh() -> Int {
        let ids = entries.withLock { Array($0.keys) }
        var failed = 0
        for id in ids {
            do { _ = try prove(id) } catch { failed += 1 }
        }
        return failed
    }

    /// Requests served from the cache, and proofs fetched.
    public var counters: (hits: Int, proofs: Int) { (hits.load(ordering: .relaxed), proofs.load(ordering: .relaxed)) }
}
