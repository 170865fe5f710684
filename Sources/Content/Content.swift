import Codec

/// Why a DAG is kept: the owner of a pin, recorded with it so each can let go of its own.
public enum PinReason: String, Sendable, CaseIterable, Hashable {
    /// A shard of a Datanet snapshot the node serves.
    case datanetSnapshot = "datanet-snapshot"
    /// A LoRA adapter the node runs or serves.
    case adapter
    /// A base model the node runs or serves.
    case baseModel = "base-model"
    /// Kept by the user (`content add`, `content pin`).
    case user
}

/// One pin: a DAG root kept for a reason since a time.
public struct Pin: Hashable, Sendable {
    /// The root of the pinned DAG.
    public let root: CID
    /// Who keeps it.
    public let reason: PinReason
    /// When it was pinned, in milliseconds since the epoch.
    public let pinnedAt: Int64
}

/// What the store holds: blocks, bytes, pins and the quota.
public struct ContentStats: Hashable, Sendable {
    /// Blocks held.
    public let blocks: Int
    /// Their bytes, uncompressed.
    public let bytes: UInt64
    /// Bytes their records take in the packs (after LZ4 where it paid).
    public let storedBytes: UInt64
    /// Blocks kept LZ4-compressed.
    public let compressedBlocks: Int
    /// Pins (a root pinned for two reasons counts twice).
    public let pins: Int
    /// The disk quota in bytes, if one is set.
    public let quota: UInt64?
}

/// What `collectGarbage` removed.
public struct GarbageCollection: Hashable, Sendable {
    /// Blocks removed.
    public var blocks = 0
    /// Bytes on disk freed.
    public var storedBytes: UInt64 = 0
}

/// What `verify` found (and, when repairing, removed).
public struct VerifyReport: Hashable, Sendable {
    /// Blocks re-read and re-hashed.
    public var checked = 0
    /// Blocks whose record is missing, unreadable or does not hash to the CID.
    public var corrupt: [CID] = []
    /// Files the index does not reference: packs no row points into (but the active one), other files among the
    /// packs, and files left of the older one-file-per-block layout.
    public var strayFiles: [String] = []
    /// Whether the corrupt blocks and stray files were removed.
    public var repaired = false
}

/// Where a held block's record lies on disk: a pack file, an offset in it and the record's length.
public struct BlockLocation: Hashable, Sendable {
    /// The pack file's path.
    public let path: String
    /// The record's first byte in the pack.
    public let offset: Int
    /// The record's length in bytes (its kind header included).
    public let length: Int
}
