import Chain
import Codec

/// What a paid inferencer charges and when it claims: the prices `PaidServingSetup.make` builds the gate with.
public struct ServingPricing: Sendable {
    /// The price of a model or adapter without its own.
    public var defaultPrice: ServingPrice
    /// Prices by model or adapter name.
    public var prices: [String: ServingPrice]
    /// The `ModelRegistry` adapter id each adapter name's receipts carry.
    public var adapterIDs: [String: UInt256]
    /// When receipts are claimed; nil keeps them unclaimed.
    public var claimPolicy: ClaimService.Policy?

    /// Pricing with these parts.
    public init(
        defaultPrice: ServingPrice, prices: [String: ServingPrice] = [:], adapterIDs: [String: UInt256] = [:],
        claimPolicy: ClaimService.Policy? = ClaimService.Policy()
    ) {
        self.defaultPrice = defaultPrice
        self.prices = prices
        self.adapterIDs = adapterIDs
        self.claimPolicy = claimPolicy
    }
}
