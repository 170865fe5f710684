import Codec

/// The serving peer's account of one payment channel.
///
/// It holds what the payer authorized, what answers cost, what is in flight. Pure: the caller recovers the voucher's signer,
/// reads the channel through its light client and persists the result. Vouchers are cumulative. A request's voucher
/// must exceed every voucher accepted before (`authorized`) and cover what answered requests cost (`spent`), what
/// running requests may still cost (`reserved`) and this request's maximum cost. The voucher's increment over
/// `authorized` is the price its receipt carries, as `AttributionClaims` checks it; what a request leaves unused
/// stays as credit, because the next voucher need only cover `spent` (docs/payments.md).
public struct ChannelCredit: Hashable, Sendable {
    /// The highest cumulative amount accepted on this channel.
    public var authorized: UInt256
    /// The cost of the answers given, at the listed prices.
    public var spent: UInt256
    /// The maximum cost of the answers still running.
    public var reserved: UInt256

    /// A channel's account: nothing accepted yet, or what a store kept.
    public init(authorized: UInt256 = .zero, spent: UInt256 = .zero, reserved: UInt256 = .zero) {
        self.authorized = authorized
        self.spent = spent
        self.reserved = reserved
    }

    /// One accepted voucher: what it authorized, the receipt's price, and what the answer may cost at most.
    public struct Acceptance: Hashable, Sendable {
        /// The voucher's cumulative amount.
        public var cumulative: UInt256
        /// The increment over the previously accepted voucher: the receipt's price.
        public var price: UInt256
        /// The request's maximum cost, reserved until it finishes.
        public var maximumCost: UInt256
    }

    /// The lowest cumulative amount a voucher for a request of `maximumCost` must carry, given what the ledger
    /// redeemed on the channel.
    public func required(maximumCost: UInt256, redeemed: UInt256 = .zero) -> UInt256? {
        let covered = spent.addingReportingOverflow(reserved)
        let needed = covered.partialValue.addingReportingOverflow(maximumCost)
        let floor = max(authorized, redeemed).addingReportingOverflow(1)
        guard !covered.overflow, !needed.overflow, !floor.overflow else { return nil }
        return max(needed.partialValue, floor.partialValue)
    }

    /// Checks `voucher`, signed by `signer`, against `channel` (as the light client proved it, nil when the ledger has none) for payee `payee` and a request of `maximumCost`.
    ///
    /// On success it reserves the cost and returns the acceptance. Refusals change nothing.
    public mutating func accept(
        _ voucher: PaymentVoucher, signer: Address?, channel: PaymentChannels.Channel?, payee: Address,
        maximumCost: UInt256
    ) throws(PaymentRefusal) -> Acceptance {
        guard let channel else { throw .unknownChannel(voucher.channelID) }
        switch channel.status {
        case .open: break
        case .closing: throw .channelClosing
        case .closed, .none: throw .channelClosed
        }
        guard channel.payee == payee else { throw .wrongPayee(expected: payee, channelPayee: channel.payee) }
        guard let signer, signer == channel.payer else { throw .badSignature }
        let floor = max(authorized, channel.redeemed)
        guard voucher.cumulativeAmount > floor else {
            throw .staleVoucher(cumulative: voucher.cumulativeAmount, authorized: floor)
        }
        guard voucher.cumulativeAmount <= channel.deposit else {
            throw .exceedsDeposit(cumulative: voucher.cumulativeAmount, deposit: channel.deposit)
        }
        guard let required = required(maximumCost: maximumCost, redeemed: channel.redeemed) else {
            throw .costOverflow
        }
        guard voucher.cumulativeAmount >= required else {
            throw .insufficient(cumulative: voucher.cumulativeAmount, required: required)
        }
        let acceptance = Acceptance(
            cumulative: voucher.cumulativeAmount, price: voucher.cumulativeAmount - floor,
            maximumCost: maximumCost)
        authorized = voucher.cumulativeAmount
        reserved += maximumCost
        return acceptance
    }

    /// Ends a request accepted as `acceptance` whose answer cost `cost` (at most its maximum; zero when it failed
    /// before a token): the reservation goes, the cost is spent.
    public mutating func finish(_ acceptance: Acceptance, cost: UInt256) {
        reserved = reserved >= acceptance.maximumCost ? reserved - acceptance.maximumCost : .zero
        spent += min(cost, acceptance.maximumCost)
    }
}
