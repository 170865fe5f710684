import AttributionRules
import Chain
import Codec
import Crypto
import Foundation
import TestSupport
import Testing

@testable import Node

private let alice = try! Address(hex: "0x90F79bf6EB2c4f870365E785982E1f101E93b906")
private let bob = try! Address(hex: "0x15d34AAf54267DB7D7c367839AAf71A00a2C6A65")

private func line(_ contributor: Address, _ fields: [String: String]) -> String {
    var object: [String: Any] = ["contributor": contributor.checksummed]
    for (key, value) in fields { object[key] = value }
    let data = try! JSONSerialization.data(withJSONObject: object, options: [.sortedKeys])
    return String(decoding: data, as: UTF8.self)
}

/// A batch's records are the text, or the instruction, a blank line and the response; its leaves root is the one
/// `DatanetRegistry.contribute` checks, and its stored bytes are the lines with one newline each.
@Test func aBatchHashesItsRecordsAsTheRegistryDoes() throws {
    let text = line(alice, ["text": "Shards are verified on arrival."])
    let pair = line(alice, ["instruction": "What is a CID?", "response": "A content address."])
    let batch = try DatanetBatch(contents: Array("\(text)\r\n\n  \n\(pair)".utf8))
    #expect(
        batch.records.map(\.bytes) == [
            Array("Shards are verified on arrival.".utf8), Array("What is a CID?\n\nA content address.".utf8),
        ])
    #expect(batch.contents == Array("\(text)\n\(pair)\n".utf8))
    #expect(batch.contributor == alice)
    #expect(batch.recordHashes == batch.records.map { Keccak256.hash($0.bytes) })
    let leaves = batch.records.map { SnapshotMerkleTree.leaf(contributor: alice, record: $0.bytes) }
    #expect(batch.leavesRoot == SnapshotMerkleTree(leaves: leaves).snapshotRoot)
    #expect(batch.leavesRoot == DatanetRegistry.leavesRoot(contributor: alice, recordHashes: batch.recordHashes))
    // Reading the stored bytes again gives the same batch.
    #expect(try DatanetBatch(contents: batch.contents) == batch)
}

/// Every malformed line is refused with its line number; a batch of two contributors, an empty one, or one over the
/// registry's record bound is refused; 1,000 seeded mutations never crash the reader.
@Test func hostileBatchesAreRefusedWithTheirLine() throws {
    let good = line(alice, ["text": "ok"])
    let cases: [(String, Int?)] = [
        ("", nil), ("\n\n", nil), ("[1,2]", 1), ("{\"text\": \"no contributor\"}", 1),
        ("\(good)\n{\"contributor\": \"0x12\", \"text\": \"x\"}", 2),
        ("\(good)\n\(line(alice, ["text": ""]))", 2),
        ("\(line(alice, ["instruction": "only half"]))", 1),
        ("\(line(alice, ["text": "a", "instruction": "b", "response": "c"]))", 1),
        ("\(good)\n\(line(bob, ["text": "another contributor"]))", 2),
        ("\(good)\nnot json", 2),
    ]
    for (text, expected) in cases {
        #expect {
            try DatanetBatch(contents: Array(text.utf8))
        } throws: { error in
            guard case NodeError.datanetBatchInvalid(let line, _) = error else { return false }
            return line == expected
        }
    }
    let long = Array(repeating: good, count: DatanetRegistry.maxBatchRecords + 1).joined(separator: "\n")
    #expect(throws: NodeError.self) { try DatanetBatch(contents: Array(long.utf8)) }
    let huge = [UInt8](repeating: 0x61, count: DatanetBatch.maximumLineBytes + 1)
    #expect {
        try DatanetBatch(contents: huge)
    } throws: { error in
        guard case NodeError.datanetBatchInvalid(let line, _) = error else { return false }
        return line == 1
    }
    var random = SeededRandom(seed: 41)
    let base = Array("\(good)\n\(line(alice, ["instruction": "q", "response": "r"]))\n".utf8)
    for _ in 0..<1_000 {
        let mutated = random.mutate(base)
        if let batch = try? DatanetBatch(contents: mutated) {
            #expect(!batch.records.isEmpty && batch.records.allSatisfy { $0.contributor == batch.contributor })
        }
    }
}

/// A file splits into batches of at most 1,024 records in line order; a record crediting another account than the
/// contributing one is refused with its line number in the whole file.
@Test func aFileSplitsIntoRegistrySizedBatchesOfOneContributor() throws {
    let lines = (0..<2_500).map { line(alice, ["text": "record \($0)"]) }
    let batches = try DatanetBatch.split(Array(lines.joined(separator: "\n").utf8), contributor: alice)
    #expect(batches.map(\.records.count) == [1_024, 1_024, 452])
    #expect(batches.flatMap(\.records).map(\.bytes) == (0..<2_500).map { Array("record \($0)".utf8) })
    var mixed = lines
    mixed[1_500] = line(bob, ["text": "not alice's"])
    #expect {
        try DatanetBatch.split(Array(mixed.joined(separator: "\n").utf8), contributor: alice)
    } throws: { error in
        guard case NodeError.datanetBatchInvalid(let line, _) = error else { return false }
        return line == 1_501
    }
    #expect(throws: NodeError.self) { try DatanetBatch.split(Array(lines[0].utf8), contributor: bob) }
}

/// A shard list round-trips; one whose leaves are not contiguous, whose counts disagree, or whose fields are out
/// of form is refused, and mutations never crash the reader.
@Test func shardListsRoundTripAndMalformedOnesAreRefused() throws {
    let cid = "bafkreigh2akiscaildcqabsyg3dfr6chu3fgpregiymsck7e7aqa4s52zy"
    let root = "0x" + String(repeating: "ab", count: 32)
    func list(_ shards: [(UInt64, Int)], records: UInt64, root: String = root, cid: String = cid) -> [UInt8] {
        let object: [String: Any] = [
            "kind": "datanet-shards", "datanetId": "3", "snapshotRoot": root, "records": records,
            "shards": shards.enumerated().map { index, shard in
                ["batchId": "\(index + 1)", "cid": cid, "firstLeaf": shard.0, "records": shard.1] as [String: Any]
            },
        ]
        return Array(try! JSONSerialization.data(withJSONObject: object, options: [.sortedKeys]))
    }
    let good = try DatanetShardList.decode(list([(0, 44), (44, 31)], records: 75))
    #expect(good.shards.map(\.records) == [44, 31] && good.datanetId == "3")
    #expect(try DatanetShardList.decode(good.encoded) == good)
    for bad in [
        list([(0, 44), (40, 31)], records: 75), list([(0, 44), (44, 31)], records: 76),
        list([(0, 44)], records: 44, root: "0x12"), list([(0, 44)], records: 44, cid: "not-a-cid"),
        list([(0, 0)], records: 0), Array("{}".utf8),
        [UInt8](repeating: 0x20, count: DatanetShardList.maximumBytes + 1),
    ] {
        #expect(throws: NodeError.self) { try DatanetShardList.decode(bad) }
    }
    var random = SeededRandom(seed: 5)
    for _ in 0..<1_000 { _ = try? DatanetShardList.decode(random.mutate(good.encoded)) }
}

/// A run's provenance yields the hashes and Datanet roots that go on-chain, compacted; a file without them, or one
/// too large for the ledger, is refused.
@Test func trainingProvenanceIsReadAndBounded() throws {
    let hash = String(repeating: "1f", count: 32)
    var object: [String: Any] = [
        "base_model": ["file": "m.gguf", "sha256": hash], "training_data": ["sha256": hash, "records": 3],
        "training_log_root": "0x" + String(repeating: "2e", count: 32),
        "datanets": [["id": "4", "snapshot_root": "0x" + String(repeating: "3d", count: 32), "records": 3]],
        "hyper_parameters": ["rank": 8],
    ]
    let pretty = try JSONSerialization.data(withJSONObject: object, options: [.prettyPrinted])
    let provenance = try TrainingProvenance.parse(Array(pretty), path: "p.json")
    #expect(provenance.baseModelHash == [UInt8](repeating: 0x1f, count: 32))
    #expect(provenance.trainingLogRoot == [UInt8](repeating: 0x2e, count: 32))
    #expect(provenance.datanets.map(\.id) == [UInt256(4)])
    #expect(provenance.datanets.map(\.root) == [[UInt8](repeating: 0x3d, count: 32)])
    #expect(provenance.document.count < pretty.count && !provenance.document.contains(0x0A))
    let reread = try TrainingProvenance.parse(provenance.document, path: "p.json")
    #expect(reread == provenance)
    object["training_log_root"] = "0x12"
    #expect(throws: NodeError.self) {
        try TrainingProvenance.parse(Array(try JSONSerialization.data(withJSONObject: object)), path: "p.json")
    }
    object["training_log_root"] = "0x" + String(repeating: "2e", count: 32)
    object["notes"] = String(repeating: "n", count: ModelRegistry.maxProvenanceBytes)
    #expect(throws: NodeError.self) {
        try TrainingProvenance.parse(Array(try JSONSerialization.data(withJSONObject: object)), path: "p.json")
    }
    #expect(throws: NodeError.self) { try TrainingProvenance.parse(Array("[]".utf8), path: "p.json") }
}
