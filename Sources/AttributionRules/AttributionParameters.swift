/// The network parameters of PoA-SA v1: the minimum span L and the records K credited per span.
public struct AttributionParameters: Hashable, Sendable {
    /// L: the shortest match, in bytes, that makes a span.
    public var minSpan: Int
    /// K: the most records one span credits.
    public var maxRecords: Int

    /// The defaults of DESIGN.md §8: L = 32 bytes, K = 4.
    public static let defaults = AttributionParameters(minSpan: 32, maxRecords: 4)

    /// Parameters L = `minSpan`, K = `maxRecords`.
    public init(minSpan: Int, maxRecords: Int) {
        self.minSpan = minSpan
        self.maxRecords = maxRecords
    }
}
