/// When a block is kept LZ4-compressed: when that saves at least `minimumSaving` of its bytes.
///
/// Compressing a block that does not shrink costs time for nothing, and most of what the store holds (model weights,
/// already-compressed shards) does not shrink. So a block larger than twice `sampleSize` is first tried on its first
/// `sampleSize` bytes: when the sample does not save the minimum, the block is stored as it is without compressing
/// the rest.
public struct CompressionPolicy: Hashable, Sendable {
    /// The least fraction of its size compression must save for a block to be kept compressed.
    public var minimumSaving: Double
    /// The bytes tried first on a large block; 0 tries every block whole.
    public var sampleSize: Int
    /// Whether to compress at all.
    public var enabled: Bool

    /// A policy saving at least `minimumSaving`, sampling `sampleSize` bytes of large blocks first.
    public init(minimumSaving: Double = 0.10, sampleSize: Int = 16_384, enabled: Bool = true) {
        self.minimumSaving = minimumSaving
        self.sampleSize = sampleSize
        self.enabled = enabled
    }

    /// At least 10%, sampling 16 KiB of blocks over 32 KiB first.
    public static let standard = CompressionPolicy()
    /// Never compress.
    public static let none = CompressionPolicy(enabled: false)

    /// The most bytes a compressed form of `count` bytes may take to be kept.
    func limit(_ count: Int) -> Int { Int((Double(count) * (1 - minimumSaving)).rounded(.down)) }
}

/// The stored form of one block, as it sits in a pack: a one-byte kind, then either the block itself (kind 0) or a
/// little-endian 32-bit size and the LZ4 block of the bytes (kind 1).
///
/// The kind travels with the bytes, so the index and the record cannot disagree about how to read it; what a record
/// decodes to still has to be verified against its CID.
enum BlockRecord {
    /// A block ready to be written: the record's header and payload, kept apart so the payload is never copied
    /// before the write.
    struct Encoded: Sendable {
        let header: [UInt8]
        let payload: [UInt8]
        var storedSize: Int { header.count + payload.count }
        var compressed: Bool { header.first == lz4 }
    }

    static let raw: UInt8 = 0
    static let lz4: UInt8 = 1
    /// The header of a raw record: the kind alone.
    static let rawHeaderSize = 1
    /// The header of an LZ4 record: the kind and the decompressed size.
    static let lz4HeaderSize = 5

    /// The record of `bytes` under `policy`.
    static func encode(_ bytes: [UInt8], policy: CompressionPolicy) -> Encoded {
        guard policy.enabled, bytes.count >= 64 else { return Encoded(header: [raw], payload: bytes) }
        let compressed = bytes.withUnsafeBytes { buffer -> [UInt8]? in
            if policy.sampleSize > 0 && buffer.count > 2 * policy.sampleSize {
                let sample = UnsafeRawBufferPointer(rebasing: buffer[0..<policy.sampleSize])
                guard LZ4.compress(sample, limit: policy.limit(sample.count)) != nil else { return nil }
            }
            return LZ4.compress(buffer, limit: policy.limit(buffer.count) - lz4HeaderSize)
        }
        guard let compressed else { return Encoded(header: [raw], payload: bytes) }
        let size = UInt32(bytes.count)
        return Encoded(
            header: [lz4, UInt8(size & 0xFF), UInt8(size >> 8 & 0xFF), UInt8(size >> 16 & 0xFF), UInt8(size >> 24)],
            payload: compressed)
    }

    /// The bytes a whole record holds, or nil when it is not a well-formed record of at most `maxSize` bytes.
    static func decode(_ record: UnsafeRawBufferPointer, maxSize: Int) -> [UInt8]? {
        guard let kind = record.first else { return nil }
        switch kind {
        case raw:
            guard record.count - rawHeaderSize <= maxSize else { return nil }
            return Array(record[rawHeaderSize...])
        case lz4 where record.count > lz4HeaderSize:
            let size = Int(record[1]) | Int(record[2]) << 8 | Int(record[3]) << 16 | Int(record[4]) << 24
            guard size <= maxSize else { return nil }
            return LZ4.decompress(UnsafeRawBufferPointer(rebasing: record[lz4HeaderSize...]), size: size)
        default:
            return nil
        }
    }

    /// The record held in `record`'s bytes, split into header and payload, or nil when it is not well formed.
    static func split(_ record: [UInt8]) -> Encoded? {
        switch record.first {
        case raw: return Encoded(header: [raw], payload: Array(record[rawHeaderSize...]))
        case lz4 where record.count > lz4HeaderSize:
            return Encoded(header: Array(record[..<lz4HeaderSize]), payload: Array(record[lz4HeaderSize...]))
        default: return nil
        }
    }
}
