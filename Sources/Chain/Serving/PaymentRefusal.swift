import Codec

/// Why a serving peer refuses a paid request: each case says what to fix, and maps to an HTTP status
/// (402 when paying more, or paying at all, would be accepted; 403 when this voucher or channel never will be; 503
/// when the peer cannot check it now).
public enum PaymentRefusal: Error, Hashable, Sendable {
    /// The request carries no voucher.
    case missingVoucher
    /// The voucher header does not parse.
    case malformedVoucher(String)
    /// The voucher's request hash is not keccak256 of the request body.
    case requestHashMismatch
    /// The channel does not exist on the ledger (or on this chain).
    case unknownChannel([UInt8])
    /// The channel pays another account.
    case wrongPayee(expected: Address, channelPayee: Address)
    /// The payer started closing the channel.
    case channelClosing
    /// The channel is closed.
    case channelClosed
    /// The signature is not the channel payer's under this chain's `PaymentChannels` domain (forged, or signed for
    /// another chain, contract or channel).
    case badSignature
    /// The voucher's cumulative amount is not above one already accepted or redeemed (a replayed or reordered voucher).
    case staleVoucher(cumulative: UInt256, authorized: UInt256)
    /// The request hash was already paid for on this peer (a replayed request).
    case requestAlreadyPaid
    /// The cumulative amount exceeds the channel's deposit.
    case exceedsDeposit(cumulative: UInt256, deposit: UInt256)
    /// The cumulative amount does not cover what the channel spent, what it has in flight and this request's
    /// maximum cost.
    case insufficient(cumulative: UInt256, required: UInt256)
    /// The request's maximum cost does not fit 256 bits.
    case costOverflow
    /// The peer cannot prove the channel now (its ledger endpoint failed) or cannot record the voucher.
    case ledgerUnavailable(String)

    /// The HTTP status: 402 Payment Required or 403 Forbidden.
    public var status: Int {
        switch self {
        case .missingVoucher, .insufficient, .exceedsDeposit, .staleVoucher: 402
        case .malformedVoucher, .requestHashMismatch, .unknownChannel, .wrongPayee, .channelClosing, .channelClosed,
            .badSignature, .requestAlreadyPaid, .costOverflow:
            403
        case .ledgerUnavailable: 503
        }
    }

    /// The machine-readable code in the OpenAI-style error object.
    public var code: String {
        switch self {
        case .missingVoucher: "payment_required"
        case .malformedVoucher: "malformed_voucher"
        case .requestHashMismatch: "request_hash_mismatch"
        case .unknownChannel: "unknown_channel"
        case .wrongPayee: "wrong_payee"
        case .channelClosing: "channel_closing"
        case .channelClosed: "channel_closed"
        case .badSignature: "bad_voucher_signature"
        case .staleVoucher: "stale_voucher"
        case .requestAlreadyPaid: "request_already_paid"
        case .exceedsDeposit: "voucher_exceeds_deposit"
        case .insufficient: "insufficient_voucher"
        case .costOverflow: "cost_overflow"
        case .ledgerUnavailable: "ledger_unavailable"
        }
    }
}

extension PaymentRefusal: CustomStringConvertible {
    /// The message the error object carries.
    public var description: String {
        switch self {
        case .missingVoucher: "this model is paid: send a voucher in the X-OpenLedger-Voucher header (see the quote)"
        case .malformedVoucher(let why): why
        case .requestHashMismatch: "the voucher's requestHash is not keccak256 of the request body"
        case .unknownChannel(let id): "no open channel \(Hex.encode(id)) on this chain"
        case .wrongPayee(let expected, let payee): "the channel pays \(payee), not this peer (\(expected))"
        case .channelClosing: "the channel is closing"
        case .channelClosed: "the channel is closed"
        case .badSignature: "the voucher is not signed by the channel's payer for this chain's PaymentChannels"
        case .staleVoucher(let cumulative, let authorized):
            "stale voucher: cumulative \(cumulative) is not above \(authorized), already accepted"
        case .requestAlreadyPaid: "this request body was already paid for; vary it (a seed or a user field)"
        case .exceedsDeposit(let cumulative, let deposit):
            "the voucher's cumulative \(cumulative) exceeds the channel's deposit \(deposit)"
        case .insufficient(let cumulative, let required):
            "the voucher's cumulative \(cumulative) is below the \(required) this request needs"
        case .costOverflow: "the request's maximum cost overflows"
        case .ledgerUnavailable(let why): "the payment ledger is unavailable: \(why)"
        }
    }
}
