import Codec
import Dispatch
import Foundation

/// A span of the response and the records it credits (DESIGN.md §8).
public struct AttributionSpan: Hashable, Sendable {
    public var start: Int
    public var length: Int
    /// The credited records, by increasing index, each with the first offset where the span's bytes occur.
    public var records: [(index: Int, offset: Int)]

    public static func == (a: AttributionSpan, b: AttributionSpan) -> Bool {
        a.start == b.start && a.length == b.length && a.records.map(\.index) == b.records.map(\.index)
            && a.records.map(\.offset) == b.records.map(\.offset)
    }

    public func hash(into hasher: inout Hasher) {
        hasher.combine(start)
        hasher.combine(length)
        for record in records {
            hasher.combine(record.index)
            hasher.combine(record.offset)
        }
    }
}

/// The attribution of one response: matching statistics, spans, and weights in 1e18 fixed point.
public struct AttributionResult: Equatable, Sendable {
    public static let scale: UInt128 = 1_000_000_000_000_000_000

    public var responseLength: Int
    /// ℓ(i) for every position of the response.
    public var matchingStatistics: [Int]
    public var spans: [AttributionSpan]
    /// w_r for every credited record.
    public var recordWeights: [Int: UInt128]
    /// W: the attributed share of the answer.
    public var attributedShare: UInt128
}

/// PoA-SA v1: matching statistics of a response against a snapshot, spans of length ≥ L, the K lowest-indexed
/// records credited per span, and the integer credit arithmetic — all exactly as DESIGN.md §8 defines them.
public enum Attribution {
    /// Attributes `response` against `index` with minimum span `minSpan` (L) and `maxRecords` (K) per span.
    public static func attribute(_ response: [UInt8], index: AttributionIndex, minSpan: Int, maxRecords: Int)
        -> AttributionResult
    {
        attribute(response, shards: [index], minSpan: minSpan, maxRecords: maxRecords)
    }

    /// Attributes `response` against a snapshot split into shard indexes, in record order: shard s's record j is
    /// the snapshot's record (records in shards before s) + j. Large searches run on up to `threads` cores.
    public static func attribute(
        _ response: [UInt8], shards: [AttributionIndex], minSpan: Int, maxRecords: Int,
        threads: Int = ProcessInfo.processInfo.activeProcessorCount
    ) -> AttributionResult {
        attribute(
            response, shards: shards, minSpan: minSpan, maxRecords: maxRecords, threads: threads,
            parallelAbove: (text: 1 << 22, response: 256))
    }

    /// As above; searches split over threads once the shards' text and the response reach `parallelAbove`.
    static func attribute(
        _ response: [UInt8], shards: [AttributionIndex], minSpan: Int, maxRecords: Int, threads: Int,
        parallelAbove: (text: Int, response: Int)
    ) -> AttributionResult {
        let n = response.count
        var firstRecord: [Int] = []
        var total = 0
        for shard in shards {
            firstRecord.append(total)
            total += shard.recordCount
        }
        // ℓ per shard, then ℓ(i) = the longest over the shards.
        let perShard = UnsafeMutableBufferPointer<UInt32>.allocate(capacity: max(1, shards.count * n))
        perShard.initialize(repeating: 0)
        defer { perShard.deallocate() }
        response.withUnsafeBufferPointer { buffer in
            let pattern = SharedBuffer(buffer: UnsafeMutableBufferPointer(mutating: buffer))
            let output = SharedBuffer(buffer: perShard)
            let large = shards.reduce(0) { $0 + $1.text.count } >= parallelAbove.text && n >= parallelAbove.response
            let chunks = large ? max(1, (threads + shards.count - 1) / max(1, shards.count)) : 1
            let units = shards.count * chunks
            let work = { @Sendable (unit: Int) in
                let shard = unit / chunks
                let chunk = unit % chunks
                shards[shard].matchingStatistics(
                    UnsafeBufferPointer(pattern.buffer), from: n * chunk / chunks, to: n * (chunk + 1) / chunks,
                    into: output.buffer.baseAddress! + shard * n)
            }
            if large && units > 1 {
                DispatchQueue.concurrentPerform(iterations: units, execute: work)
            } else {
                for unit in 0..<units { work(unit) }
            }
        }
        var statistics = [Int](repeating: 0, count: n)
        for shard in shards.indices {
            for position in 0..<n {
                statistics[position] = max(statistics[position], Int(perShard[shard * n + position]))
            }
        }
        var spans: [AttributionSpan] = []
        response.withUnsafeBufferPointer { pattern in
            for start in 0..<n
            where statistics[start] >= minSpan && (start == 0 || statistics[start] >= statistics[start - 1]) {
                let length = statistics[start]
                let bytes = UnsafeBufferPointer(rebasing: pattern[start..<(start + length)])
                var credited: [(index: Int, offset: Int)] = []
                // Shards hold increasing record indices: the lowest records come from the first shards holding it.
                for (shardIndex, shard) in shards.enumerated()
                where credited.count < maxRecords && Int(perShard[shardIndex * n + start]) == length {
                    for found in shard.lowestRecords(containing: bytes, limit: maxRecords - credited.count) {
                        credited.append((firstRecord[shardIndex] + found.record, found.offset))
                    }
                }
                spans.append(AttributionSpan(start: start, length: length, records: credited))
            }
        }
        let (weights, share) = credit(spans: spans, responseLength: n)
        return AttributionResult(
            responseLength: n, matchingStatistics: statistics, spans: spans, recordWeights: weights,
            attributedShare: share)
    }

    /// The integer credit arithmetic of §8: per covered byte, SCALE split evenly over the spans covering it and
    /// then over each span's records (floors at each step); w_r = floor(U_r / n); the remainder of
    /// W = floor(SCALE · covered / n) goes to the lowest credited record.
    public static func credit(spans: [AttributionSpan], responseLength n: Int) -> (
        weights: [Int: UInt128], share: UInt128
    ) {
        guard n > 0, !spans.isEmpty else { return ([:], 0) }
        var coverage = [Int](repeating: 0, count: n)
        for span in spans { for position in span.start..<(span.start + span.length) { coverage[position] += 1 } }
        var units: [Int: UInt128] = [:]
        for span in spans where !span.records.isEmpty {
            for position in span.start..<(span.start + span.length) {
                let share = AttributionResult.scale / UInt128(coverage[position]) / UInt128(span.records.count)
                for record in span.records { units[record.index, default: 0] += share }
            }
        }
        let covered = coverage.filter { $0 > 0 }.count
        let total = AttributionResult.scale * UInt128(covered) / UInt128(n)
        var weights: [Int: UInt128] = [:]
        for (record, value) in units { weights[record] = value / UInt128(n) }
        let assigned = weights.values.reduce(0, +)
        if let lowest = weights.keys.min(), total >= assigned { weights[lowest, default: 0] += total - assigned }
        return (weights, total)
    }

    /// Weights per contributor: the sum of their records' weights.
    public static func contributorWeights(_ result: AttributionResult, records: [Record]) -> [Address: UInt128] {
        contributorWeights(result) { records[$0].contributor }
    }

    /// Weights per contributor, with each record's contributor looked up by index.
    public static func contributorWeights(_ result: AttributionResult, contributor: (Int) -> Address)
        -> [Address: UInt128]
    {
        var weights: [Address: UInt128] = [:]
        for (record, weight) in result.recordWeights { weights[contributor(record), default: 0] += weight }
        return weights
    }
}
