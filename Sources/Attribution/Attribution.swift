import Codec

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
    /// the snapshot's record (records in shards before s) + j.
    public static func attribute(_ response: [UInt8], shards: [AttributionIndex], minSpan: Int, maxRecords: Int)
        -> AttributionResult
    {
        let n = response.count
        var firstRecord: [Int] = []
        var total = 0
        for shard in shards {
            firstRecord.append(total)
            total += shard.records.count
        }
        // ℓ(i) and, per shard, the suffix-array interval of the longest match there.
        var statistics = [Int](repeating: 0, count: n)
        var matches = [[(length: Int, lower: Int, upper: Int)]](repeating: [], count: n)
        for start in 0..<n {
            for (shardIndex, shard) in shards.enumerated() {
                let known = start > 0 ? matches[start - 1][shardIndex].length - 1 : 0
                let match = shard.longestMatch(response[start...], known: known)
                matches[start].append(match)
                statistics[start] = max(statistics[start], match.length)
            }
        }
        var spans: [AttributionSpan] = []
        for start in 0..<n
        where statistics[start] >= minSpan && (start == 0 || statistics[start] >= statistics[start - 1]) {
            var firstOffset: [Int: Int] = [:]
            for (shardIndex, shard) in shards.enumerated() {
                let match = matches[start][shardIndex]
                guard match.length == statistics[start] else { continue }
                for rank in match.lower..<match.upper {
                    let (record, offset) = shard.locate(Int(shard.suffixArray[rank]))
                    let global = firstRecord[shardIndex] + record
                    firstOffset[global] = min(firstOffset[global] ?? Int.max, offset)
                }
            }
            let credited = firstOffset.keys.sorted().prefix(maxRecords).map { ($0, firstOffset[$0]!) }
            spans.append(AttributionSpan(start: start, length: statistics[start], records: Array(credited)))
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
        var weights: [Address: UInt128] = [:]
        for (record, weight) in result.recordWeights { weights[records[record].contributor, default: 0] += weight }
        return weights
    }
}
