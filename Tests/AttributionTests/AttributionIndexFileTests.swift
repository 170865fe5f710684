import Codec
import Foundation
import TestSupport
import Testing

@testable import Attribution

@Test func serializedIndexRoundTripsAndRejectsCorruption() throws {
    var random = SeededRandom(seed: 9)
    let records = try (0..<20).map { _ in
        Record(
            contributor: try Address(bytes: random.bytes(20)),
            bytes: random.bytes(Int.random(in: 0...50, using: &random)))
    }
    let index = AttributionIndex(records: records)
    let bytes = index.serialized
    let restored = try bytes.withUnsafeBytes { buffer throws(AttributionError) in
        try AttributionIndex(serialized: buffer)
    }
    #expect(restored.records == records)
    #expect(restored.suffixArray == index.suffixArray)
    let response = Array(records[3].bytes) + random.bytes(10)
    #expect(
        Attribution.attribute(response, index: restored, minSpan: 4, maxRecords: 2)
            == Attribution.attribute(response, index: index, minSpan: 4, maxRecords: 2))
    var accepted = 0
    for _ in 0..<2_000 {
        let mutated = random.mutate(bytes)
        if mutated != bytes,
            (try? mutated.withUnsafeBytes { buffer throws(AttributionError) in try AttributionIndex(serialized: buffer)
            }) != nil
        {
            accepted += 1
        }
    }
    #expect(accepted == 0)  // every change breaks the checksum or the structure
    var flipped = bytes
    flipped[40] ^= 1
    #expect(throws: AttributionError.self) {
        try flipped.withUnsafeBytes { buffer throws(AttributionError) in try AttributionIndex(serialized: buffer) }
    }
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
