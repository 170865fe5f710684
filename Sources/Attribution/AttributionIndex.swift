import AttributionRules
import CAttributionKernels
import CDivSufSort
import Codec
import Crypto
import FileIO
import Foundation

/// One shard of a snapshot's suffix-array index: a contiguous run of the snapshot's records.
///
/// The text is the records' bytes, each followed by the separator byte 0xFF, which never occurs in UTF-8 and which
/// no record may contain; a match therefore never crosses a record boundary. The suffix array (libdivsufsort) lists
/// the suffixes that do not start with a separator — those sort last, so dropping them leaves a prefix of the array.
/// A table of two-byte prefixes gives every search its first two steps. The shard lives in one block of memory laid
/// out exactly as its file (`docs/attribution.md`), owned or memory-mapped.
public final class AttributionIndex: @unchecked Sendable {
    /// The snapshot's record index of this shard's first record.
    public let firstRecord: Int
    /// The number of records in this shard.
    public let recordCount: Int
    /// The snapshot this shard belongs to: its root and record count, and the shard's place among its shards.
    public internal(set) var snapshotRoot: [UInt8]
    /// The number of records in the whole snapshot.
    public let snapshotRecordCount: Int
    /// This shard's place among the snapshot's shards, from 0.
    public let shardIndex: Int
    /// The number of shards the snapshot is cut into.
    public let shardCount: Int

    let storage: IndexStorage
    let layout: IndexLayout
    /// The text, its suffix array, the two-byte prefix table and where each record starts (recordCount + 1).
    let text: UnsafeBufferPointer<UInt8>
    let suffixes: UnsafeBufferPointer<UInt32>
    let pairs: UnsafeBufferPointer<UInt32>
    let starts: UnsafeBufferPointer<UInt64>

    /// The largest shard text, in bytes, the 32-bit suffix array can hold.
    public static let maximumShardText = Int(Int32.max)
    /// Shards are cut to at most this much text by default: small enough to build in cache-friendly pieces on every
    /// core, large enough that a query visits few of them.
    public static let defaultShardBytes = 64 << 20

    init(storage: IndexStorage, layout: IndexLayout, header: IndexHeader) {
        self.storage = storage
        self.layout = layout
        firstRecord = header.firstRecord
        recordCount = header.recordCount
        snapshotRoot = header.snapshotRoot
        snapshotRecordCount = header.snapshotRecordCount
        shardIndex = header.shardIndex
        shardCount = header.shardCount
        let base = storage.base
        text = UnsafeBufferPointer(
            start: (base + layout.text).assumingMemoryBound(to: UInt8.self), count: layout.textLength)
        suffixes = UnsafeBufferPointer(
            start: (base + layout.suffixes).assumingMemoryBound(to: UInt32.self), count: layout.suffixCount)
        pairs = UnsafeBufferPointer(start: (base + layout.pairs).assumingMemoryBound(to: UInt32.self), count: 65_537)
        starts = UnsafeBufferPointer(
            start: (base + layout.starts).assumingMemoryBound(to: UInt64.self), count: layout.recordCount + 1)
    }

    /// A one-shard index of `records`, which are the whole snapshot.
    public convenience init(records: [Record]) throws(AttributionError) {
        let shards = try Self.build(records: records, maxShardBytes: Self.maximumShardText, threads: 1)
        guard shards.count == 1 else { throw .malformedRecords("records too large for one shard") }
        let shard = shards[0]
        self.init(storage: shard.storage, layout: shard.layout, header: IndexHeader(shard))
    }

    // MARK: Records

    /// Record j of this shard (0-based within the shard).
    public func record(_ j: Int) -> Record {
        Record(contributor: contributor(j), bytes: Array(recordBytes(j)))
    }

    /// Record j's bytes, inside the shard's memory (valid while the shard lives).
    func recordBytes(_ j: Int) -> UnsafeBufferPointer<UInt8> {
        let start = Int(starts[j])
        return UnsafeBufferPointer(rebasing: text[start..<(Int(starts[j + 1]) - 1)])
    }

    /// The contributor of record j of this shard.
    public func contributor(_ j: Int) -> Address {
        try! Address(
            bytes: Array(UnsafeRawBufferPointer(start: storage.base + layout.contributors + 20 * j, count: 20)))
    }

    /// keccak256 of record j's bytes.
    public func recordHash(_ j: Int) -> [UInt8] {
        Array(UnsafeRawBufferPointer(start: storage.base + layout.hashes + 32 * j, count: 32))
    }

    /// The snapshot Merkle leaves of this shard's records.
    public var leaves: [[UInt8]] {
        (0..<recordCount).map { SnapshotMerkleTree.leaf(contributor: contributor($0), recordHash: recordHash($0)) }
    }

    /// Every record of the shard.
    public var records: [Record] { (0..<recordCount).map(record) }

    /// The record holding text position `position`, and the offset within it.
    func locate(_ position: Int) -> (record: Int, offset: Int) {
        var low = 0
        var high = recordCount - 1
        while low < high {
            let middle = (low + high + 1) / 2
            if Int(starts[middle]) <= position { low = middle } else { high = middle - 1 }
        }
        return (low, position - Int(starts[low]))
    }

    // MARK: Searches

    func withView<T>(_ body: (UnsafePointer<ola_index>) -> T) -> T {
        var view = ola_index(
            text: text.baseAddress, text_length: UInt64(text.count), suffixes: suffixes.baseAddress,
            suffix_count: UInt64(suffixes.count), pairs: pairs.baseAddress)
        return withUnsafePointer(to: &view) { body($0) }
    }

    /// ℓ for positions [from, to) of `pattern`, written to `lengths` (indexed by position).
    func matchingStatistics(
        _ pattern: UnsafeBufferPointer<UInt8>, from: Int, to: Int, into lengths: UnsafeMutablePointer<UInt32>
    ) {
        withView { view in
            ola_matching_statistics(view, pattern.baseAddress, pattern.count, from, to, lengths)
        }
    }

    /// The suffix-array interval of the suffixes that start with `pattern`.
    func interval(of pattern: UnsafeBufferPointer<UInt8>) -> Range<Int> {
        var lower: UInt64 = 0
        var upper: UInt64 = 0
        withView { view in ola_interval(view, pattern.baseAddress, pattern.count, &lower, &upper) }
        return Int(lower)..<Int(upper)
    }

    /// The first `limit` records (by index within the shard) that contain `pattern`, each with the first offset
    /// where it occurs.
    func lowestRecords(containing pattern: UnsafeBufferPointer<UInt8>, limit: Int) -> [(record: Int, offset: Int)] {
        let ranks = interval(of: pattern)
        if ranks.isEmpty || limit <= 0 { return [] }
        // Text positions grow with record index, so the lowest records hold the smallest positions.
        var positions = Array(suffixes[ranks])
        positions.sort()
        var found: [(record: Int, offset: Int)] = []
        for position in positions {
            let (record, offset) = locate(Int(position))
            if found.last?.record == record { continue }
            found.append((record, offset))
            if found.count == limit { break }
        }
        return found
    }
}

/// The memory behind an index: an owned allocation or a read-only file mapping (`FileIO.MappedFile`).
final class IndexStorage: @unchecked Sendable {
    let base: UnsafeMutableRawPointer
    let byteCount: Int
    /// The mapping the bytes live in; nil for an owned allocation.
    private let file: MappedFile?

    init(allocating byteCount: Int) {
        base = UnsafeMutableRawPointer.allocate(byteCount: max(byteCount, 1), alignment: 64)
        self.byteCount = byteCount
        file = nil
    }

    /// The bytes of a mapped file; the index only reads them.
    init(mapping file: MappedFile) {
        base = UnsafeMutableRawPointer(mutating: file.base)
        byteCount = file.count
        self.file = file
    }

    deinit {
        if file == nil { base.deallocate() }
    }
}

/// Memory that parallel workers share, each touching only its own part.
struct SharedBuffer<Element>: @unchecked Sendable {
    let buffer: UnsafeMutableBufferPointer<Element>
}
