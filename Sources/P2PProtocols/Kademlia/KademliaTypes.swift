import Codec
import Runtime

/// A request the DHT sends to a peer; the shell reports its answer or failure with the same id.
public struct KademliaRequestID: Hashable, Sendable, CustomStringConvertible {
    /// The number.
    public let value: UInt64
    /// An id of `value`.
    public init(_ value: UInt64) { self.value = value }
    /// The number in decimal.
    public var description: String { "\(value)" }
}

/// An inbound stream carrying one request; the shell names it, the DHT answers on it.
public struct KademliaStreamID: Hashable, Sendable, CustomStringConvertible {
    /// The number.
    public let value: UInt64
    /// An id of `value`.
    public init(_ value: UInt64) { self.value = value }
    /// The number in decimal.
    public var description: String { "\(value)" }
}

/// A lookup: the application's (its own number) or one the DHT runs itself (refresh, republish, bootstrap).
public enum KademliaLookupID: Hashable, Sendable {
    /// Started by the application with this number.
    case application(UInt64)
    /// Started by the DHT.
    case maintenance(UInt64)
}

/// What a lookup looks for.
public enum KademliaLookupKind: Sendable, Equatable {
    /// The k closest peers to a key (bootstrap, refresh).
    case closestPeers
    /// A peer's addresses.
    case findPeer(PeerID)
    /// Up to `count` providers of the key.
    case findProviders(count: Int)
    /// The best value under the key.
    case getValue
    /// Announce ourselves as a provider to the k closest.
    case provide
    /// Store a record on the k closest.
    case putValue
}

/// How a lookup ended, with the figures the simulator reports.
public struct KademliaLookupResult: Sendable, Equatable {
    /// How it ended.
    public enum Outcome: Sendable, Equatable {
        /// The k closest peers seen have answered (or what it looked for was found).
        case completed
        /// The whole-lookup timeout passed first.
        case timedOut
        /// There was nobody to ask.
        case noPeers
    }

    /// The lookup.
    public var id: KademliaLookupID
    /// What it looked for.
    public var kind: KademliaLookupKind
    /// The key it looked up.
    public var key: [UInt8]
    /// How it ended.
    public var outcome: Outcome
    /// The closest peers that answered, nearest first (at most k).
    public var closest: [PeerID]
    /// Hops: the hop of the peer whose answer ended the lookup (findPeer, findProviders), else of the nearest peer
    /// that answered; a peer from our table is at hop 1, one learned from a hop-h answer at hop h + 1.
    public var hops: Int
    /// Peers queried.
    public var queried: Int
    /// Queries that failed or timed out.
    public var failed: Int
    /// Whether the target was found (findPeer: the peer; findProviders: at least one; getValue: a value;
    /// provide, putValue: at least one peer stored it).
    public var found: Bool
    /// provide, putValue: peers that took the record.
    public var stored: Int
    /// Seconds from start to end.
    public var duration: Double

    /// A result of these values.
    public init(
        id: KademliaLookupID, kind: KademliaLookupKind, key: [UInt8], outcome: Outcome, closest: [PeerID], hops: Int,
        queried: Int, failed: Int, found: Bool, stored: Int, duration: Double
    ) {
        self.id = id
        self.kind = kind
        self.key = key
        self.outcome = outcome
        self.closest = closest
        self.hops = hops
        self.queried = queried
        self.failed = failed
        self.found = found
        self.stored = stored
        self.duration = duration
    }
}

/// A dropped input worth a log line (the peer's request or answer was refused; only that stream is affected).
public struct KademliaDrop: Sendable, Equatable {
    /// The peer that sent it.
    public var peer: PeerID
    /// What was wrong.
    public var reason: KademliaError
}
