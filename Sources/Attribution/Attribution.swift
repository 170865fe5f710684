import AttributionRules
import Dispatch
import Foundation

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
        let (weights, share) = AttributionCredit.weights(spans: spans, responseLength: n)
        return AttributionResult(
            responseLength: n, matchingStatistics: statistics, spans: spans, recordWeights: weights,
            attributedShare: share)
    }
}
