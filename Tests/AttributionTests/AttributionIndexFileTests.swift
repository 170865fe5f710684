import AttributionRules
import Codec
import Foundation
import TestSupport
import Testing

@testable import Attribution

private func randomRecords(_ random: inout SeededRandom, count: Int) throws -> [Record] {
    try (0..<count).map { _ in
        Record(
            contributor: try Address(bytes: random.bytes(20)),
            bytes: random.bytes(Int.random(in: 0...50, using: &random)).map { min($0, 0xFE) })
    }
}

@Test func serializedIndexRoundTripsAndRejectsCorruption() throws {
    var random = SeededRandom(seed: 9)
    let records = try randomRecords(&random, count: 20)
    let index = try AttributionIndex(records: records)
    let bytes = index.serialized
    let restored = try AttributionIndex(serialized: bytes)
    #expect(restored.records == records)
    #expect(Array(restored.suffixes) == Array(index.suffixes))
    #expect(restored.snapshotRoot == index.snapshotRoot)
    #expect(try AttributionIndex(records: records).serialized == bytes)  // the same snapshot, the same bytes
    let response = Array(records[3].bytes) + random.bytes(10)
    #expect(
        Attribution.attribute(response, index: restored, minSpan: 4, maxRecords: 2)
            == Attribution.attribute(response, index: index, minSpan: 4, maxRecords: 2))
    var accepted = 0
    for _ in 0..<2_000 {
        let mutated = random.mutate(bytes)
        if mutated != bytes, (try? AttributionIndex(serialized: mutated)) != nil { accepted += 1 }
    }
    #expect(accepted == 0)  // every change breaks the checksum or the structure
    for cut in [0, 8, 95, 96, 104, bytes.count - 9, bytes.count - 1] {
        #expect(throws: AttributionError.self, "cut at \(cut)") {
            try AttributionIndex(serialized: Array(bytes.prefix(cut)))
        }
    }
    var flipped = bytes
    flipped[40] ^= 1
    #expect(throws: AttributionError.self) { try AttributionIndex(serialized: flipped) }
}

@Test func shardFilesMapAndFitTogether() throws {
    var random = SeededRandom(seed: 10)
    let records = try randomRecords(&random, count: 40)
    let shards = try AttributionIndex.build(records: records, maxShardBytes: 300, threads: 2)
    #expect(shards.count >= 3)
    let directory = FileManager.default.temporaryDirectory.appendingPathComponent("olai-\(getpid())").path
    try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
    defer { try? FileManager.default.removeItem(atPath: directory) }
    var mapped: [AttributionIndex] = []
    for (number, shard) in shards.enumerated() {
        let path = directory + "/shard-\(number).olai"
        try shard.write(to: path)
        mapped.append(try AttributionIndex(contentsOfFile: path))
        #expect(mapped.last!.serialized == shard.serialized)
    }
    #expect(try FileManager.default.contentsOfDirectory(atPath: directory).count == shards.count)  // no leftovers
    #expect(try AttributionIndex.snapshot(mapped).count == shards.count)
    #expect(mapped.flatMap(\.records) == records)
    let response = Array(records[7].bytes) + Array(records[30].bytes)
    #expect(
        Attribution.attribute(response, shards: mapped, minSpan: 3, maxRecords: 2)
            == Attribution.attribute(response, index: try AttributionIndex(records: records), minSpan: 3, maxRecords: 2)
    )
    // Shards that do not make one snapshot: missing, reordered, or from another snapshot.
    #expect(throws: AttributionError.self) { try AttributionIndex.snapshot(Array(mapped.dropLast())) }
    #expect(throws: AttributionError.self) { try AttributionIndex.snapshot(mapped.reversed()) }
    let other = try AttributionIndex.build(records: Array(records.dropLast()), maxShardBytes: 300, threads: 1)
    #expect(throws: AttributionError.self) { try AttributionIndex.snapshot([mapped[0]] + other.dropFirst()) }
    #expect(throws: AttributionError.self) { try AttributionIndex(contentsOfFile: directory + "/missing.olai") }
}

@Test func recordsHoldingTheSeparatorAreRefused() throws {
    let contributor = try Address(bytes: [UInt8](repeating: 7, count: 20))
    #expect(throws: AttributionError.self) {
        try AttributionIndex(records: [Record(contributor: contributor, bytes: [0x61, 0xFF, 0x62])])
    }
    // 0xFF in a response matches nothing and breaks matches around it.
    let index = try AttributionIndex(records: [Record(contributor: contributor, bytes: Array("abcabc".utf8))])
    let result = Attribution.attribute([0x61, 0x62, 0xFF, 0x63, 0x61], index: index, minSpan: 1, maxRecords: 1)
    #expect(result.matchingStatistics == [2, 1, 0, 2, 1])
}

@Test func emptySnapshotIndexes() throws {
    let index = try AttributionIndex(records: [])
    #expect(index.recordCount == 0)
    let restored = try AttributionIndex(serialized: index.serialized)
    #expect(Attribution.attribute(Array("abc".utf8), index: restored, minSpan: 1, maxRecords: 1).spans.isEmpty)
}

@Test func jsonlRecordsParseStrictly() throws {
    let good = Array(
        """
        {"contributor": "0xf39Fd6e51aad88F6F4ce6aB8827279cffFb92266", "text": "héllo"}

        {"contributor": "0x70997970c51812dc3a010c7d01b50e0d17dc79c8", "text": ""}
        """.utf8)
    let records = try Record.parseJSONL(good)
    #expect(records.count == 2)
    #expect(records[0].bytes == Array("héllo".utf8))
    for bad in [
        #"{"contributor": "0x12", "text": "x"}"#, #"{"text": "x"}"#, "not json",
        #"{"contributor": "0xf39Fd6e51aad88F6F4ce6aB8827279cffFb92266"}"#,
    ] {
        #expect(throws: AttributionError.self, "\(bad)") { try Record.parseJSONL(Array(bad.utf8)) }
    }
}
