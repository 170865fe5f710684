/// A span of the response and the records it credits (DESIGN.md §8).
public struct AttributionSpan: Hashable, Sendable {
    /// The span's first byte in the response.
    public var start: Int
    /// The span's length in bytes: ℓ(start).
    public var length: Int
    /// The credited records, by increasing index, each with the first offset where the span's bytes occur.
    public var records: [(index: Int, offset: Int)]

    /// A span of `length` bytes at `start` crediting `records`.
    public init(start: Int, length: Int, records: [(index: Int, offset: Int)]) {
        self.start = start
        self.length = length
        self.records = records
    }

    /// Spans are equal when their bounds and credited records (index and offset) are.
    public static func == (a: AttributionSpan, b: AttributionSpan) -> Bool {
        a.start == b.start && a.length == b.length && a.records.map(\.index) == b.records.map(\.index)
            && a.records.map(\.offset) == b.records.map(\.offset)
    }

    /// Hashes the bounds and the credited records.
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
    /// n: the response's length in bytes.
    public var responseLength: Int
    /// ℓ(i) for every position of the response.
    public var matchingStatistics: [Int]
    /// The spans, by increasing start.
    public var spans: [AttributionSpan]
    /// w_r for every credited record.
    public var recordWeights: [Int: UInt128]
    /// W: the attributed share of the answer.
    public var attributedShare: UInt128

    /// A result from its parts.
    public init(
        responseLength: Int, matchingStatistics: [Int], spans: [AttributionSpan], recordWeights: [Int: UInt128],
        attributedShare: UInt128
    ) {
        self.responseLength = responseLength
        self.matchingStatistics = matchingStatistics
        self.spans = spans
        self.recordWeights = recordWeights
        self.attributedShare = attributedShare
    }
}
