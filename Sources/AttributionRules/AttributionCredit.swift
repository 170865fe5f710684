import Codec

/// The integer credit arithmetic of PoA-SA v1 (DESIGN.md §8): SCALE = 10^18, every division a floor, 128 bits.
public enum AttributionCredit {
    /// SCALE: the whole answer in fixed point.
    public static let scale: UInt128 = 1_000_000_000_000_000_000

    /// Per covered byte, SCALE split evenly over the spans covering it and then over each span's records (floors
    /// at each step); w_r = floor(U_r / n); the remainder of W = floor(SCALE · covered / n) goes to the lowest
    /// credited record. The spans must lie inside the response (0 ≤ start, start + length ≤ n).
    public static func weights(spans: [AttributionSpan], responseLength n: Int) -> (
        weights: [Int: UInt128], share: UInt128
    ) {
        guard n > 0, !spans.isEmpty else { return ([:], 0) }
        // Coverage changes only at span boundaries, so each run of bytes between two boundaries earns the same
        // units per byte: summing runs gives the per-byte sums exactly, in time and memory of the span list.
        let cuts = Set(spans.flatMap { [$0.start, $0.start + $0.length] }).sorted()
        let order = spans.indices.filter { spans[$0].length > 0 }.sorted { spans[$0].start < spans[$1].start }
        var next = 0
        var active: [Int] = []
        var units: [Int: UInt128] = [:]
        var covered = 0
        for (from, to) in zip(cuts, cuts.dropFirst()) {
            while next < order.count && spans[order[next]].start <= from {
                active.append(order[next])
                next += 1
            }
            active.removeAll { spans[$0].start + spans[$0].length <= from }
            if active.isEmpty { continue }
            covered += to - from
            let perSpan = scale / UInt128(active.count)
            for span in active where !spans[span].records.isEmpty {
                let run = perSpan / UInt128(spans[span].records.count) * UInt128(to - from)
                for record in spans[span].records { units[record.index, default: 0] += run }
            }
        }
        let total = scale * UInt128(covered) / UInt128(n)
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
