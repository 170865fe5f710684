import AttributionRules
import CAttributionKernels
import Codec
import FileIO
import Foundation

/// The fixed fields at the start of a shard file (96 bytes, little-endian): magic "OLAIDX02", UInt32 version,
/// UInt32 shard index, UInt32 shard count, UInt32 zero, UInt64 first record, UInt64 record count, UInt64 snapshot
/// record count, UInt64 text length, UInt64 suffix count, the 32-byte snapshot root.
struct IndexHeader: Equatable {
    static let magic = Array("OLAIDX02".utf8)
    static let version: UInt32 = 2
    static let size = 96

    var shardIndex: Int
    var shardCount: Int
    var firstRecord: Int
    var recordCount: Int
    var snapshotRecordCount: Int
    var textLength: Int
    var suffixCount: Int
    var snapshotRoot: [UInt8]

    init(
        shardIndex: Int, shardCount: Int, firstRecord: Int, recordCount: Int, snapshotRecordCount: Int,
        textLength: Int, snapshotRoot: [UInt8]
    ) {
        self.shardIndex = shardIndex
        self.shardCount = shardCount
        self.firstRecord = firstRecord
        self.recordCount = recordCount
        self.snapshotRecordCount = snapshotRecordCount
        self.textLength = textLength
        suffixCount = textLength - recordCount
        self.snapshotRoot = snapshotRoot
    }

    init(_ index: AttributionIndex) {
        self.init(
            shardIndex: index.shardIndex, shardCount: index.shardCount, firstRecord: index.firstRecord,
            recordCount: index.recordCount, snapshotRecordCount: index.snapshotRecordCount,
            textLength: index.text.count, snapshotRoot: index.snapshotRoot)
    }

    func write(to base: UnsafeMutableRawPointer) {
        let raw = UnsafeMutableRawBufferPointer(start: base, count: Self.size)
        raw.initializeMemory(as: UInt8.self, repeating: 0)
        raw.copyBytes(from: Self.magic)
        raw.storeBytes(of: Self.version.littleEndian, toByteOffset: 8, as: UInt32.self)
        raw.storeBytes(of: UInt32(shardIndex).littleEndian, toByteOffset: 12, as: UInt32.self)
        raw.storeBytes(of: UInt32(shardCount).littleEndian, toByteOffset: 16, as: UInt32.self)
        for (offset, value) in [
            (24, firstRecord), (32, recordCount), (40, snapshotRecordCount), (48, textLength), (56, suffixCount),
        ] {
            raw.storeBytes(of: UInt64(value).littleEndian, toByteOffset: offset, as: UInt64.self)
        }
        UnsafeMutableRawBufferPointer(rebasing: raw[64..<96]).copyBytes(from: snapshotRoot)
    }

    /// Reads and checks the header fields against the file size (so that no later size computation overflows).
    static func read(_ raw: UnsafeRawBufferPointer) throws(AttributionError) -> IndexHeader {
        func fail(_ why: String) -> AttributionError { .malformedIndex(why) }
        if raw.count >= 8, Array(raw[0..<8]) == Array("OLAIDX01".utf8) {
            throw fail("index format 1 is no longer read; rebuild it with `openledger attribute index`")
        }
        guard raw.count >= size + 8, Array(raw[0..<8]) == magic else { throw fail("not an attribution index") }
        func u32(_ offset: Int) -> Int {
            Int(UInt32(littleEndian: raw.loadUnaligned(fromByteOffset: offset, as: UInt32.self)))
        }
        func u64(_ offset: Int) -> UInt64 {
            UInt64(littleEndian: raw.loadUnaligned(fromByteOffset: offset, as: UInt64.self))
        }
        guard u32(8) == Int(version) else { throw fail("unsupported version \(u32(8)) (this build reads \(version))") }
        let limit = UInt64(raw.count)
        let values = [24, 32, 40, 48, 56].map(u64)
        guard values.allSatisfy({ $0 <= limit }) else { throw fail("implausible sizes") }
        let (first, count, total, textLength, suffixCount) = (
            Int(values[0]), Int(values[1]), Int(values[2]), Int(values[3]), Int(values[4])
        )
        let header = IndexHeader(
            shardIndex: u32(12), shardCount: u32(16), firstRecord: first, recordCount: count,
            snapshotRecordCount: total, textLength: textLength, snapshotRoot: Array(raw[64..<96]))
        guard header.shardCount >= 1, header.shardIndex < header.shardCount, u32(20) == 0 else {
            throw fail("bad shard numbering")
        }
        guard first + count <= total, textLength >= count, textLength <= AttributionIndex.maximumShardText,
            suffixCount == textLength - count
        else { throw fail("inconsistent counts") }
        return header
    }
}

/// Where each part of a shard lies in its file, every part 8-byte aligned: the header; record starts (UInt64 ×
/// (records + 1)); contributors (20 bytes each); record hashes (keccak256, 32 bytes each); the two-byte prefix table
/// (UInt32 × 65,537); the text followed by at least 8 bytes 0xFF; the suffix array (UInt32 per suffix); XXH64 of
/// everything before it.
struct IndexLayout: Equatable {
    let recordCount: Int
    let textLength: Int
    var suffixCount: Int { textLength - recordCount }

    private static func align(_ value: Int) -> Int { (value + 7) & ~7 }

    var starts: Int { IndexHeader.size }
    var contributors: Int { starts + 8 * (recordCount + 1) }
    var hashes: Int { Self.align(contributors + 20 * recordCount) }
    var pairs: Int { hashes + 32 * recordCount }
    var text: Int { Self.align(pairs + 4 * 65_537) }
    var suffixes: Int { Self.align(text + textLength + 8) }
    var checksum: Int { Self.align(suffixes + 4 * suffixCount) }
    var fileSize: Int { checksum + 8 }
    /// While building, libdivsufsort writes one entry per text position, separators included.
    var buildSize: Int { max(fileSize, suffixes + 4 * textLength) }
}

extension AttributionIndex {
    /// The shard's file bytes.
    public var serialized: [UInt8] { Array(UnsafeRawBufferPointer(start: storage.base, count: layout.fileSize)) }

    /// A shard from file bytes, checked as `init(contentsOfFile:)` checks a file.
    public convenience init(serialized bytes: [UInt8]) throws(AttributionError) {
        let storage = IndexStorage(allocating: bytes.count)
        bytes.withUnsafeBytes { storage.base.copyMemory(from: $0.baseAddress!, byteCount: $0.count) }
        let (header, layout) = try Self.check(storage)
        self.init(storage: storage, layout: layout, header: header)
    }

    /// Maps a shard file read-only and checks it: header, sizes, checksum, and every structure the searches rely on
    /// (record starts and separators, the prefix table, suffix positions in range, the text's closing padding).
    public convenience init(contentsOfFile path: String) throws(AttributionError) {
        let file: MappedFile
        do {
            file = try MappedFile(path: path, populate: true)
        } catch {
            throw .storage(error)
        }
        guard file.count >= IndexHeader.size + 8 else {
            throw .malformedIndex("\(path): too short to be an attribution index")
        }
        let storage = IndexStorage(mapping: file)
        let (header, layout) = try Self.check(storage)
        self.init(storage: storage, layout: layout, header: header)
    }

    static func check(_ storage: IndexStorage) throws(AttributionError) -> (IndexHeader, IndexLayout) {
        func fail(_ why: String) -> AttributionError { .malformedIndex(why) }
        let raw = UnsafeRawBufferPointer(start: storage.base, count: storage.byteCount)
        let header = try IndexHeader.read(raw)
        let layout = IndexLayout(recordCount: header.recordCount, textLength: header.textLength)
        guard layout.fileSize == raw.count else { throw fail("size \(raw.count) does not match its counts") }
        let stored = UInt64(littleEndian: raw.loadUnaligned(fromByteOffset: layout.checksum, as: UInt64.self))
        guard ola_xxh64(raw.baseAddress, layout.checksum, 0) == stored else { throw fail("checksum mismatch") }
        let text = raw.baseAddress!.advanced(by: layout.text).assumingMemoryBound(to: UInt8.self)
        let starts = raw.baseAddress!.advanced(by: layout.starts).assumingMemoryBound(to: UInt64.self)
        guard starts[0] == 0, Int(starts[header.recordCount]) == header.textLength else { throw fail("record starts") }
        for j in 0..<header.recordCount {
            let end = starts[j + 1]
            guard end > starts[j], text[Int(end) - 1] == 0xFF else { throw fail("record \(j) is not separated") }
        }
        for offset in 0..<8 where text[header.textLength + offset] != 0xFF { throw fail("text padding") }
        let pairs = raw.baseAddress!.advanced(by: layout.pairs).assumingMemoryBound(to: UInt32.self)
        guard pairs[0] == 0, Int(pairs[65_536]) == layout.suffixCount else { throw fail("prefix table totals") }
        for pair in 0..<65_536 where pairs[pair] > pairs[pair + 1] { throw fail("prefix table order") }
        let suffixes = raw.baseAddress!.advanced(by: layout.suffixes).assumingMemoryBound(to: UInt32.self)
        guard layout.suffixCount == 0 || Int(ola_max_u32(suffixes, layout.suffixCount)) < header.textLength else {
            throw fail("suffix position out of range")
        }
        return (header, layout)
    }

    /// Writes the shard to `path` atomically: a temporary file beside it, flushed, renamed into place, and the
    /// directory flushed; readers see the old file or the new one, never a mixture.
    public func write(to path: String) throws(AttributionError) {
        do {
            try AtomicFile.write(UnsafeRawBufferPointer(start: storage.base, count: layout.fileSize), to: path)
        } catch {
            throw .storage(error)
        }
    }

    /// The shards of one snapshot, checked to fit together: same snapshot root and record count, numbered
    /// 0 ..< count in order, records contiguous and complete.
    public static func snapshot(_ shards: [AttributionIndex]) throws(AttributionError) -> [AttributionIndex] {
        guard let first = shards.first else { throw .malformedIndex("no shards") }
        var next = 0
        for (position, shard) in shards.enumerated() {
            guard shard.snapshotRoot == first.snapshotRoot, shard.snapshotRecordCount == first.snapshotRecordCount,
                shard.shardCount == shards.count, shard.shardIndex == position, shard.firstRecord == next
            else {
                throw .malformedIndex(
                    "shard \(position) (numbered \(shard.shardIndex) of \(shard.shardCount)) does not belong to this snapshot of \(shards.count) shards"
                )
            }
            next += shard.recordCount
        }
        guard next == first.snapshotRecordCount else {
            throw .malformedIndex("shards hold \(next) of \(first.snapshotRecordCount) records")
        }
        return shards
    }
}

extension Record {
    /// Records from JSON Lines, one `{"contributor": "0x…", "text": "…"}` per line (blank lines skipped).
    public static func parseJSONL(_ data: [UInt8]) throws(AttributionError) -> [Record] {
        var records: [Record] = []
        for (number, line) in data.split(separator: UInt8(ascii: "\n"), omittingEmptySubsequences: false).enumerated() {
            if line.allSatisfy({ $0 == UInt8(ascii: " ") || $0 == UInt8(ascii: "\r") || $0 == UInt8(ascii: "\t") }) {
                continue
            }
            guard let object = (try? JSONSerialization.jsonObject(with: Data(line))) as? [String: Any],
                let contributor = object["contributor"] as? String, let text = object["text"] as? String
            else { throw .malformedRecords("line \(number + 1): expected {\"contributor\": \"0x…\", \"text\": \"…\"}") }
            do {
                records.append(Record(contributor: try Address(hex: contributor), bytes: Array(text.utf8)))
            } catch {
                throw .malformedRecords("line \(number + 1): \(error)")
            }
        }
        return records
    }
}
