import AttributionRules
import Chain
import Codec
import Crypto
import Foundation

/// One contributed batch of Datanet records: the JSONL bytes stored as content (their CID goes on-chain) and the
/// records they carry, each hashed as `DatanetRegistry` hashes it (docs/datanets.md).
///
/// A line is `{"contributor": "0x…", "text": "…"}` or `{"contributor": "0x…", "instruction": "…", "response": "…"}`.
/// A record's bytes, which its on-chain hash and the attribution index cover, are the text, or the instruction, a
/// blank line and the response.
public struct DatanetBatch: Sendable, Equatable {
    /// The most bytes one line may take.
    public static let maximumLineBytes = 1 << 20
    /// The most bytes one batch file may take.
    public static let maximumBytes = 64 << 20

    /// The batch's bytes as stored: one record per line, each ending in a newline.
    public let contents: [UInt8]
    /// The records, in line order.
    public let records: [Record]

    /// The keccak256 of each record's bytes.
    public var recordHashes: [[UInt8]] { records.map { Keccak256.hash($0.bytes) } }

    /// The account every record credits (a batch has one contributor, the account that sends it).
    public var contributor: Address { records[0].contributor }

    /// The snapshot root of the batch's own leaves, as `contribute` checks it.
    public var leavesRoot: [UInt8] {
        DatanetRegistry.leavesRoot(contributor: contributor, recordHashes: recordHashes)
    }

    /// Reads one batch: 1 … `DatanetRegistry.maxBatchRecords` records of one contributor.
    public init(contents: [UInt8]) throws(NodeError) {
        guard contents.count <= Self.maximumBytes else {
            throw .datanetBatchInvalid(line: nil, reason: "a batch is at most \(Self.maximumBytes) bytes")
        }
        let lines = try Self.lines(contents)
        guard !lines.isEmpty else { throw .datanetBatchInvalid(line: nil, reason: "no records") }
        guard lines.count <= DatanetRegistry.maxBatchRecords else {
            throw .datanetBatchInvalid(
                line: nil, reason: "\(lines.count) records; a batch holds at most \(DatanetRegistry.maxBatchRecords)")
        }
        var records: [Record] = []
        for (number, line) in lines {
            let record = try Self.record(line, number: number)
            if let first = records.first, first.contributor != record.contributor {
                throw .datanetBatchInvalid(
                    line: number,
                    reason: "contributor \(record.contributor) differs from the batch's \(first.contributor)")
            }
            records.append(record)
        }
        self.contents = lines.flatMap { $0.1 + [0x0A] }
        self.records = records
    }

    /// Splits a JSONL file into batches of at most `DatanetRegistry.maxBatchRecords` records, each one
    /// contributor's; every record must credit `contributor`.
    public static func split(_ bytes: [UInt8], contributor: Address) throws(NodeError) -> [DatanetBatch] {
        guard bytes.count <= 16 * maximumBytes else {
            throw .datanetBatchInvalid(line: nil, reason: "the file is over \(16 * maximumBytes) bytes")
        }
        let lines = try lines(bytes)
        guard !lines.isEmpty else { throw .datanetBatchInvalid(line: nil, reason: "no records") }
        var batches: [DatanetBatch] = []
        var start = 0
        while start < lines.count {
            let slice = lines[start..<min(start + DatanetRegistry.maxBatchRecords, lines.count)]
            for (number, line) in slice {
                let record = try record(line, number: number)
                guard record.contributor == contributor else {
                    throw .datanetBatchInvalid(
                        line: number,
                        reason:
                            "the record credits \(record.contributor), not the contributing account \(contributor): each account contributes its own records"
                    )
                }
            }
            do {
                batches.append(try DatanetBatch(contents: slice.flatMap { $0.1 + [0x0A] }))
            } catch .datanetBatchInvalid(let line, let reason) {
                throw .datanetBatchInvalid(line: line.map { $0 + start }, reason: reason)
            }
            start += DatanetRegistry.maxBatchRecords
        }
        return batches
    }

    /// The non-blank lines with their 1-based numbers, bounded.
    private static func lines(_ bytes: [UInt8]) throws(NodeError) -> [(Int, [UInt8])] {
        var out: [(Int, [UInt8])] = []
        var number = 0
        for line in bytes.split(separator: 0x0A, omittingEmptySubsequences: false) {
            number += 1
            guard line.count <= maximumLineBytes else {
                throw .datanetBatchInvalid(line: number, reason: "longer than \(maximumLineBytes) bytes")
            }
            var trimmed = Array(line)
            if trimmed.last == 0x0D { trimmed.removeLast() }
            guard trimmed.contains(where: { $0 != 0x20 && $0 != 0x09 }) else { continue }
            out.append((number, trimmed))
        }
        return out
    }

    /// One line's record.
    private static func record(_ line: [UInt8], number: Int) throws(NodeError) -> Record {
        guard let object = try? JSONSerialization.jsonObject(with: Data(line)) as? [String: Any] else {
            throw .datanetBatchInvalid(line: number, reason: "not a JSON object")
        }
        guard let text = object["contributor"] as? String, let contributor = try? Address(hex: text) else {
            throw .datanetBatchInvalid(line: number, reason: "\"contributor\" must be a 0x address")
        }
        let bytes: [UInt8]
        if let text = object["text"] as? String {
            guard object["instruction"] == nil, object["response"] == nil else {
                throw .datanetBatchInvalid(line: number, reason: "a record has \"text\" or an instruction, not both")
            }
            bytes = Array(text.utf8)
        } else if let instruction = object["instruction"] as? String, let response = object["response"] as? String {
            bytes = Array(instruction.utf8) + [0x0A, 0x0A] + Array(response.utf8)
        } else {
            throw .datanetBatchInvalid(
                line: number, reason: "a record needs \"text\", or \"instruction\" and \"response\", as strings")
        }
        guard !bytes.isEmpty else { throw .datanetBatchInvalid(line: number, reason: "the record is empty") }
        return Record(contributor: contributor, bytes: bytes)
    }
}
