import Codec

/// What a model or adapter costs: OPEN wei per prompt token and per completion token.
public struct ServingPrice: Hashable, Sendable {
    /// Wei per prompt token.
    public var promptWei: UInt256
    /// Wei per completion token.
    public var completionWei: UInt256

    /// A price of `promptWei` per prompt token and `completionWei` per completion token.
    public init(promptWei: UInt256, completionWei: UInt256) {
        self.promptWei = promptWei
        self.completionWei = completionWei
    }

    /// Serving for nothing.
    public static let free = ServingPrice(promptWei: .zero, completionWei: .zero)

    /// The wei for `promptTokens` and `completionTokens`, or nil when it does not fit 256 bits.
    public func cost(promptTokens: Int, completionTokens: Int) -> UInt256? {
        let prompt = promptWei.multipliedReportingOverflow(by: UInt256(max(0, promptTokens)))
        let completion = completionWei.multipliedReportingOverflow(by: UInt256(max(0, completionTokens)))
        let sum = prompt.partialValue.addingReportingOverflow(completion.partialValue)
        guard !prompt.overflow, !completion.overflow, !sum.overflow else { return nil }
        return sum.partialValue
    }
}
