import AttributionRules
import CAttributionKernels
import CDivSufSort
import Crypto
import Dispatch
import Foundation

extension AttributionIndex {
    /// Indexes a snapshot: its records cut into shards of about equal text (at most `maxShardBytes` each, one
    /// record never split), built on up to `threads` cores at once, each shard carrying the snapshot's root.
    /// A record may not contain the byte 0xFF (no UTF-8 text does): it separates records in the text.
    public static func build(
        records: [Record], maxShardBytes: Int = defaultShardBytes,
        threads: Int = ProcessInfo.processInfo.activeProcessorCount
    ) throws(AttributionError) -> [AttributionIndex] {
        for (index, record) in records.enumerated() {
            let separator = record.bytes.withUnsafeBufferPointer { buffer in
                buffer.isEmpty ? nil : memchr(buffer.baseAddress!, 0xFF, buffer.count)
            }
            guard separator == nil else {
                throw .malformedRecords("record \(index) holds the byte 0xFF, which UTF-8 text never does")
            }
            guard record.bytes.count < maximumShardText else { throw .malformedRecords("record \(index) is too large") }
        }
        let ranges = shardRanges(records, maxShardBytes: max(1, min(maxShardBytes, maximumShardText)))
        let slots = SharedBuffer(buffer: UnsafeMutableBufferPointer<AttributionIndex?>.allocate(capacity: ranges.count))
        let shards = slots.buffer
        shards.initialize(repeating: nil)
        defer { shards.deallocate() }
        let workers = max(1, min(threads, ranges.count))
        DispatchQueue.concurrentPerform(iterations: workers) { worker in
            for shard in stride(from: worker, to: ranges.count, by: workers) {
                slots.buffer[shard] = buildShard(
                    records[ranges[shard]], firstRecord: ranges[shard].lowerBound, shardIndex: shard,
                    shardCount: ranges.count, snapshotRecordCount: records.count)
            }
        }
        let built = shards.map { $0! }
        let root = SnapshotMerkleTree(leaves: built.flatMap(\.leaves)).snapshotRoot
        DispatchQueue.concurrentPerform(iterations: workers) { worker in
            for shard in stride(from: worker, to: built.count, by: workers) { built[shard].seal(snapshotRoot: root) }
        }
        return built
    }

    /// Contiguous record ranges of about equal text, each within `maxShardBytes` unless one record alone exceeds it.
    static func shardRanges(_ records: [Record], maxShardBytes: Int) -> [Range<Int>] {
        let total = records.reduce(0) { $0 + $1.bytes.count + 1 }
        let count = max(1, (total + maxShardBytes - 1) / maxShardBytes)
        let target = (total + count - 1) / count
        var ranges: [Range<Int>] = []
        var start = 0
        var size = 0
        for (index, record) in records.enumerated() {
            let length = record.bytes.count + 1
            if size > 0 && (size + length > maxShardBytes || (size >= target && ranges.count < count - 1)) {
                ranges.append(start..<index)
                start = index
                size = 0
            }
            size += length
        }
        ranges.append(start..<records.count)
        return ranges
    }

    /// One shard: text, record table and hashes, prefix table, suffix array. The header and checksum come with
    /// `seal`, once the snapshot root is known.
    static func buildShard(
        _ records: ArraySlice<Record>, firstRecord: Int, shardIndex: Int, shardCount: Int, snapshotRecordCount: Int
    ) -> AttributionIndex {
        let textLength = records.reduce(0) { $0 + $1.bytes.count + 1 }
        let layout = IndexLayout(recordCount: records.count, textLength: textLength)
        let storage = IndexStorage(allocating: layout.buildSize)
        let base = storage.base
        // Gaps and padding are zero, the text's closing padding 0xFF, so equal snapshots give equal files.
        (base + layout.contributors + 20 * records.count).initializeMemory(
            as: UInt8.self, repeating: 0, count: layout.hashes - layout.contributors - 20 * records.count)
        (base + layout.pairs + 4 * 65_537).initializeMemory(
            as: UInt8.self, repeating: 0, count: layout.text - layout.pairs - 4 * 65_537)
        (base + layout.text + textLength).initializeMemory(
            as: UInt8.self, repeating: 0xFF, count: layout.suffixes - layout.text - textLength)
        let starts = (base + layout.starts).assumingMemoryBound(to: UInt64.self)
        let text = (base + layout.text).assumingMemoryBound(to: UInt8.self)
        var position = 0
        for (j, record) in records.enumerated() {
            starts[j] = UInt64(position)
            record.bytes.withUnsafeBufferPointer { bytes in
                if let source = bytes.baseAddress { (text + position).update(from: source, count: bytes.count) }
            }
            position += record.bytes.count
            text[position] = 0xFF
            position += 1
            (base + layout.contributors + 20 * j).copyMemory(from: record.contributor.bytes, byteCount: 20)
            (base + layout.hashes + 32 * j).copyMemory(from: Keccak256.hash(record.bytes), byteCount: 32)
        }
        starts[records.count] = UInt64(position)
        ola_pair_table(text, UInt64(textLength), (base + layout.pairs).assumingMemoryBound(to: UInt32.self))
        let sorted = divsufsort(text, (base + layout.suffixes).assumingMemoryBound(to: Int32.self), Int32(textLength))
        precondition(sorted == 0, "divsufsort failed")
        // The separators' suffixes sorted last; the checksum slot and its padding follow the kept ones.
        (base + layout.suffixes + 4 * layout.suffixCount).initializeMemory(
            as: UInt8.self, repeating: 0, count: layout.fileSize - layout.suffixes - 4 * layout.suffixCount)
        let header = IndexHeader(
            shardIndex: shardIndex, shardCount: shardCount, firstRecord: firstRecord, recordCount: records.count,
            snapshotRecordCount: snapshotRecordCount, textLength: textLength,
            snapshotRoot: [UInt8](repeating: 0, count: 32))
        header.write(to: base)
        return AttributionIndex(storage: storage, layout: layout, header: header)
    }

    /// Records the snapshot root in the header and checksums the shard.
    func seal(snapshotRoot root: [UInt8]) {
        snapshotRoot = root
        IndexHeader(self).write(to: storage.base)
        let checksum = ola_xxh64(storage.base, layout.checksum, 0)
        storage.base.storeBytes(of: checksum.littleEndian, toByteOffset: layout.checksum, as: UInt64.self)
    }
}
