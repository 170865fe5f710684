import Codec
import Runtime

/// A fetch the application runs through the exchange (one DAG, usually).
public struct BitswapSessionID: Hashable, Sendable, CustomStringConvertible {
    /// The number.
    public let value: UInt64
    /// An id of `value`.
    public init(_ value: UInt64) { self.value = value }
    /// The number in decimal.
    public var description: String { "\(value)" }
}

/// A question to the block store the engine asks the shell (which blocks of a peer's wants are held).
public struct BitswapLookupID: Hashable, Sendable, CustomStringConvertible {
    /// The number.
    public let value: UInt64
    /// An id of `value`.
    public init(_ value: UInt64) { self.value = value }
    /// The number in decimal.
    public var description: String { "\(value)" }
}

/// What the store holds of one wanted block.
public enum BitswapBlockLookup: Sendable, Equatable {
    /// Not held.
    case missing
    /// Held, of this many bytes (enough to answer a want-have).
    case have(size: Int)
    /// Held: the verified bytes (the answer to a want-block).
    case block([UInt8])
}

/// The exchange's parameters.
public struct BitswapConfig: Sendable, Equatable {
    /// Wants of one peer held at once (go's default wantlist bound is 1,024 per message; we hold up to this many).
    public var maxWantsPerPeer = 4_096
    /// Our want-blocks in flight to one peer (256 KiB blocks: 8 MiB).
    public var maxOutstandingPerPeer = 16
    /// Blocks one session still wants, at most.
    public var maxWantsPerSession = 1 << 20
    /// Sessions at once.
    public var maxSessions = 1_024
    /// Seconds a want-block may go unanswered before it is asked of another peer.
    public var wantTimeout = 15.0
    /// Seconds between re-sends of wants nobody has answered (py-libp2p needs them: its late pushes are lost).
    public var rebroadcastInterval = 5.0
    /// Bytes of blocks packed into one outgoing message.
    public var maxMessageBlockBytes = 2 * 1024 * 1024
    /// Seconds a peer that sent a bad block stays out of every session.
    public var penaltySeconds = 600.0
    /// Peers remembered as penalized, at most.
    public var maxPenalized = 4_096
    /// Blocks recently wanted and received, remembered so that a late duplicate is not taken for a bad block.
    public var recentlyWantedMemory = 65_536
    /// Decoding bounds.
    public var limits = BitswapMessage.Limits()

    /// The defaults.
    public init() {}
}
