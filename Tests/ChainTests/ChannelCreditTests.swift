import Codec
import Crypto
import Testing

@testable import Chain

/// The serving peer's channel account: what a voucher must cover, what it refuses, and the receipt prices.
@Suite struct ChannelCreditTests {
    let payer = try! Address(hex: "0x1111111111111111111111111111111111111111")
    let payee = try! Address(hex: "0x2222222222222222222222222222222222222222")
    let id = [UInt8](repeating: 7, count: 32)

    func channel(deposit: UInt256 = 1_000, redeemed: UInt256 = 0, status: PaymentChannels.Status = .open)
        -> PaymentChannels.Channel
    {
        PaymentChannels.Channel(
            payer: payer, payee: payee, deposit: deposit, redeemed: redeemed, settleDelay: 60, closesAt: 0,
            status: status)
    }

    func voucher(_ amount: UInt256, _ tag: UInt8 = 1) -> PaymentVoucher {
        PaymentVoucher(channelID: id, cumulativeAmount: amount, requestHash: [UInt8](repeating: tag, count: 32))
    }

    @Test func unusedCostStaysAsCredit() throws {
        var credit = ChannelCredit()
        let first = try credit.accept(voucher(100), signer: payer, channel: channel(), payee: payee, maximumCost: 100)
        #expect(first.price == 100)
        #expect(credit.reserved == 100)
        credit.finish(first, cost: 30)
        #expect(credit.spent == 30 && credit.reserved == 0)
        // The next request of maximum cost 100 needs only spent + 100 = 130, and must pass the 100 accepted.
        #expect(credit.required(maximumCost: 100) == 130)
        #expect(credit.required(maximumCost: 10) == 101)
        let second = try credit.accept(
            voucher(130, 2), signer: payer, channel: channel(), payee: payee, maximumCost: 100)
        #expect(second.price == 30)
        #expect(credit.authorized == 130)
    }

    @Test func refusalsChangeNothing() {
        var credit = ChannelCredit(authorized: 200, spent: 150)
        let before = credit
        func refusal(_ body: (inout ChannelCredit) throws(PaymentRefusal) -> Void) -> PaymentRefusal? {
            do {
                try body(&credit)
                return nil
            } catch {
                return error
            }
        }
        #expect(
            refusal { c throws(PaymentRefusal) in
                _ = try c.accept(voucher(300), signer: payer, channel: nil, payee: payee, maximumCost: 10)
            }
                == .unknownChannel(id))
        #expect(
            refusal { c throws(PaymentRefusal) in
                _ = try c.accept(
                    voucher(300), signer: payer, channel: channel(status: .closing), payee: payee, maximumCost: 10)
            } == .channelClosing)
        #expect(
            refusal { c throws(PaymentRefusal) in
                _ = try c.accept(
                    voucher(300), signer: payer, channel: channel(status: .closed), payee: payee, maximumCost: 10)
            } == .channelClosed)
        #expect(
            refusal { c throws(PaymentRefusal) in
                _ = try c.accept(voucher(300), signer: payee, channel: channel(), payee: payee, maximumCost: 10)
            } == .badSignature)
        #expect(
            refusal { c throws(PaymentRefusal) in
                _ = try c.accept(voucher(300), signer: payer, channel: channel(), payee: payer, maximumCost: 10)
            } == .wrongPayee(expected: payer, channelPayee: payee))
        #expect(
            refusal { c throws(PaymentRefusal) in
                _ = try c.accept(voucher(200), signer: payer, channel: channel(), payee: payee, maximumCost: 10)
            } == .staleVoucher(cumulative: 200, authorized: 200))
        #expect(
            refusal { c throws(PaymentRefusal) in
                _ = try c.accept(voucher(1_001), signer: payer, channel: channel(), payee: payee, maximumCost: 10)
            } == .exceedsDeposit(cumulative: 1_001, deposit: 1_000))
        #expect(
            refusal { c throws(PaymentRefusal) in
                _ = try c.accept(voucher(250), signer: payer, channel: channel(), payee: payee, maximumCost: 101)
            } == .insufficient(cumulative: 250, required: 251))
        // What the ledger redeemed is a floor too.
        #expect(
            refusal { c throws(PaymentRefusal) in
                _ = try c.accept(
                    voucher(400), signer: payer, channel: channel(redeemed: 400), payee: payee, maximumCost: 1)
            } == .staleVoucher(cumulative: 400, authorized: 400))
        #expect(credit == before)
    }

    @Test func racingRequestsNeverSpendMoreThanAuthorized() throws {
        var credit = ChannelCredit()
        let a = try credit.accept(voucher(100, 1), signer: payer, channel: channel(), payee: payee, maximumCost: 100)
        // A second request while the first runs must cover the first's reservation too.
        #expect(credit.required(maximumCost: 100) == 200)
        let b = try credit.accept(voucher(200, 2), signer: payer, channel: channel(), payee: payee, maximumCost: 100)
        credit.finish(b, cost: 100)
        credit.finish(a, cost: 100)
        #expect(credit.spent == 200 && credit.spent <= credit.authorized && credit.reserved == 0)
        #expect(a.price + b.price == credit.authorized)
    }

    @Test func pricesOverflowToNil() {
        let price = ServingPrice(promptWei: UInt256(high: .max, low: .max), completionWei: 1)
        #expect(price.cost(promptTokens: 2, completionTokens: 0) == nil)
        #expect(ServingPrice(promptWei: 3, completionWei: 5).cost(promptTokens: 2, completionTokens: 4) == 26)
    }
}
