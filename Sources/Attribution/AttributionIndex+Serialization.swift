import Codec
import Crypto
import Foundation

extension AttributionIndex {
    /// The on-disk form, version 1 (little-endian): magic "OLAIDX01", UInt32 version, UInt64 record count,
    /// UInt64 text length; per record its 20-byte contributor, UInt32 length and bytes; the suffix array as
    /// Int32s; then SHA-256 of everything before. The text is rebuilt from the records.
    public static let magic = Array("OLAIDX01".utf8)
    public static let formatVersion: UInt32 = 1

    /// The serialized index.
    public var serialized: [UInt8] {
        var out = Self.magic
        func append<T: FixedWidthInteger>(_ value: T) { withUnsafeBytes(of: value.littleEndian) { out += $0 } }
        append(Self.formatVersion)
        append(UInt64(records.count))
        append(UInt64(text.count))
        for record in records {
            out += record.contributor.bytes
            append(UInt32(record.bytes.count))
            out += record.bytes
        }
        suffixArray.withUnsafeBytes { out += $0 }
        return out + SHA256.hash(out)
    }

    /// Parses and checks a serialized index: magic, version, checksum, every length, and that the suffix array
    /// is a permutation of the text's positions.
    public init(serialized bytes: UnsafeRawBufferPointer) throws(AttributionError) {
        func fail(_ why: String) -> AttributionError { .malformedIndex(why) }
        guard bytes.count >= 28 + 32, Array(bytes[0..<8]) == Self.magic else { throw fail("not an attribution index") }
        let body = UnsafeRawBufferPointer(rebasing: bytes[0..<(bytes.count - 32)])
        guard SHA256.hash(body) == Array(bytes[(bytes.count - 32)...]) else { throw fail("checksum mismatch") }
        var position = 8
        func read<T: FixedWidthInteger>(_: T.Type) throws(AttributionError) -> T {
            guard position + MemoryLayout<T>.size <= body.count else { throw fail("truncated") }
            defer { position += MemoryLayout<T>.size }
            return T(littleEndian: body.loadUnaligned(fromByteOffset: position, as: T.self))
        }
        guard try read(UInt32.self) == Self.formatVersion else { throw fail("unsupported version") }
        let recordCount = try read(UInt64.self)
        let textLength = try read(UInt64.self)
        guard recordCount <= UInt64(body.count), textLength <= UInt64(body.count) / 4 else {
            throw fail("implausible sizes")
        }
        var records: [Record] = []
        records.reserveCapacity(Int(recordCount))
        for _ in 0..<recordCount {
            guard position + 24 <= body.count else { throw fail("truncated record") }
            let contributor = try! Address(bytes: Array(body[position..<(position + 20)]))
            position += 20
            let length = Int(try read(UInt32.self))
            guard position + length <= body.count else { throw fail("truncated record bytes") }
            records.append(Record(contributor: contributor, bytes: Array(body[position..<(position + length)])))
            position += length
        }
        let expectedText = records.reduce(0) { $0 + $1.bytes.count + 1 }
        guard UInt64(expectedText) == textLength, position + expectedText * 4 == body.count else {
            throw fail("suffix array size does not match the records")
        }
        var suffixArray = [Int32](repeating: 0, count: expectedText)
        suffixArray.withUnsafeMutableBytes { $0.copyMemory(from: UnsafeRawBufferPointer(rebasing: body[position...])) }
        for index in suffixArray.indices { suffixArray[index] = Int32(littleEndian: suffixArray[index]) }
        var seen = [Bool](repeating: false, count: expectedText)
        for value in suffixArray {
            guard value >= 0, Int(value) < expectedText, !seen[Int(value)] else {
                throw fail("suffix array is not a permutation")
            }
            seen[Int(value)] = true
        }
        self.init(records: records, suffixArray: suffixArray)
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
