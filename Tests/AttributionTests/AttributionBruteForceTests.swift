import AttributionRules
import Codec
import TestSupport
import Testing

@testable import Attribution

/// The reference: §8 computed the slow, obvious way, O(n·N) per position.
private func bruteForce(_ response: [UInt8], _ records: [Record], minSpan: Int, maxRecords: Int) -> AttributionResult {
    let n = response.count
    func occurs(_ pattern: ArraySlice<UInt8>, in record: [UInt8]) -> Int? {
        if pattern.isEmpty { return 0 }
        guard pattern.count <= record.count else { return nil }
        for offset in 0...(record.count - pattern.count)
        where record[offset..<(offset + pattern.count)].elementsEqual(pattern) {
            return offset
        }
        return nil
    }
    var statistics = [Int](repeating: 0, count: n)
    for start in 0..<n {
        var best = 0
        for record in records {
            for offset in 0..<max(record.bytes.count, 0) {
                var length = 0
                while start + length < n, offset + length < record.bytes.count,
                    response[start + length] == record.bytes[offset + length]
                {
                    length += 1
                }
                best = max(best, length)
            }
        }
        statistics[start] = best
    }
    var spans: [AttributionSpan] = []
    for start in 0..<n where statistics[start] >= minSpan && (start == 0 || statistics[start] >= statistics[start - 1])
    {
        let pattern = response[start..<(start + statistics[start])]
        var credited: [(index: Int, offset: Int)] = []
        for (index, record) in records.enumerated() where credited.count < maxRecords {
            if let offset = occurs(pattern, in: record.bytes) { credited.append((index, offset)) }
        }
        spans.append(AttributionSpan(start: start, length: statistics[start], records: credited))
    }
    let (weights, share) = AttributionCredit.weights(spans: spans, responseLength: n)
    return AttributionResult(
        responseLength: n, matchingStatistics: statistics, spans: spans, recordWeights: weights, attributedShare: share)
}

/// Independent arithmetic check of the credit rule on the brute-force spans (the engine's `credit` is also what
/// the brute force uses for weights, so the weights are re-derived here from §8 directly).
private func weightsFromDefinition(_ spans: [AttributionSpan], n: Int) -> [Int: UInt128] {
    let scale: UInt128 = 1_000_000_000_000_000_000
    var units: [Int: UInt128] = [:]
    var covered = 0
    for position in 0..<n {
        let covering = spans.filter { $0.start <= position && position < $0.start + $0.length }
        if covering.isEmpty { continue }
        covered += 1
        for span in covering {
            for record in span.records {
                units[record.index, default: 0] += scale / UInt128(covering.count) / UInt128(span.records.count)
            }
        }
    }
    var weights = units.mapValues { $0 / UInt128(n) }
    let total = scale * UInt128(covered) / UInt128(max(n, 1))
    if let lowest = weights.keys.min() { weights[lowest]! += total - weights.values.reduce(0, +) }
    return weights
}

@Test(arguments: 0..<1_000)
func engineAgreesWithBruteForce(seed: Int) throws {
    var random = SeededRandom(seed: UInt64(seed))
    let alphabets: [[UInt8]] = [
        Array("a".utf8), Array("ab".utf8), Array("abc de".utf8), Array("the quick brown fox".utf8),
        Array("héllo wörld ünïcödé ".utf8), (0...254).map { UInt8($0) },
    ]
    let alphabet = alphabets[seed % alphabets.count]
    let contributors = try (0..<3).map { _ in try Address(bytes: random.bytes(20)) }
    var records: [Record] = []
    for _ in 0..<Int.random(in: 1...6, using: &random) {
        let length = Int.random(in: 0...40, using: &random)  // empty records included
        records.append(
            Record(
                contributor: contributors.randomElement(using: &random)!,
                bytes: (0..<length).map { _ in alphabet.randomElement(using: &random)! }))
    }
    if seed % 7 == 0, let first = records.first {  // identical records under different contributors
        records.append(Record(contributor: contributors[2], bytes: first.bytes))
    }
    // Responses: copies of record pieces (matches that touch record boundaries), noise, and longer than any record.
    var response: [UInt8] = []
    for _ in 0..<Int.random(in: 1...6, using: &random) {
        if let record = records.randomElement(using: &random), !record.bytes.isEmpty, Bool.random(using: &random) {
            let start = Int.random(in: 0..<record.bytes.count, using: &random)
            response += record.bytes[start...]
        } else {
            // Every byte value but 0xFF can occur in records; a response may hold 0xFF, which matches nothing.
            let noise = alphabet.count > 200 ? alphabet + [0xFF] : alphabet
            response += (0..<Int.random(in: 0...12, using: &random)).map { _ in noise.randomElement(using: &random)! }
        }
    }
    let minSpan = [1, 2, 3, 5, 8][seed % 5]
    let maxRecords = [1, 2, 4][seed % 3]
    let index = try AttributionIndex(records: records)
    let engine = Attribution.attribute(response, index: index, minSpan: minSpan, maxRecords: maxRecords)
    // The same searches split over threads, in chunks of the response.
    let split = Attribution.attribute(
        response, shards: [index], minSpan: minSpan, maxRecords: maxRecords, threads: 1 + seed % 4,
        parallelAbove: (0, 0))
    #expect(split == engine, "seed \(seed): split searches")
    let reference = bruteForce(response, records, minSpan: minSpan, maxRecords: maxRecords)
    #expect(engine.matchingStatistics == reference.matchingStatistics, "seed \(seed): ℓ")
    #expect(engine.spans == reference.spans, "seed \(seed): spans")
    #expect(engine.recordWeights == weightsFromDefinition(reference.spans, n: response.count), "seed \(seed): weights")
    #expect(engine.attributedShare == reference.attributedShare)
    if !engine.spans.isEmpty {
        #expect(engine.recordWeights.values.reduce(0, +) == engine.attributedShare)
    }
}

/// Shards queried together give the same result as one index over all records.
@Test(arguments: 0..<200)
func shardedSnapshotEqualsOneIndex(seed: Int) throws {
    var random = SeededRandom(seed: UInt64(10_000 + seed))
    let alphabet = Array("abab cd".utf8)
    let records = try (0..<Int.random(in: 2...9, using: &random)).map { _ in
        Record(
            contributor: try Address(bytes: random.bytes(20)),
            bytes: (0..<Int.random(in: 0...30, using: &random)).map { _ in alphabet.randomElement(using: &random)! })
    }
    let response = (0..<Int.random(in: 0...60, using: &random)).map { _ in alphabet.randomElement(using: &random)! }
    let whole = Attribution.attribute(
        response, index: try AttributionIndex(records: records), minSpan: 3, maxRecords: 2)
    let text = records.reduce(0) { $0 + $1.bytes.count + 1 }  // each record and its separator
    let shards = try AttributionIndex.build(
        records: records, maxShardBytes: Int.random(in: 1...max(1, text / 2), using: &random), threads: 2)
    #expect(shards.count > 1)
    #expect(try AttributionIndex.snapshot(shards).count == shards.count)
    #expect(shards.allSatisfy { $0.snapshotRoot == shards[0].snapshotRoot })
    #expect(shards.map(\.recordCount).reduce(0, +) == records.count)
    #expect(shards.flatMap(\.records) == records)
    let sharded = Attribution.attribute(response, shards: shards, minSpan: 3, maxRecords: 2)
    #expect(sharded == whole)
    let split = Attribution.attribute(
        response, shards: shards, minSpan: 3, maxRecords: 2, threads: 2, parallelAbove: (0, 0))
    #expect(split == whole)
}
