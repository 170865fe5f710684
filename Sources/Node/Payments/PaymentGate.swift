import AttributionRules
import Chain
import Codec
import Crypto
import Foundation
import Runtime
import SQLite
import Synchronization

/// The serving peer's check of every paid request, before a token is generated, and its receipt after.
///
/// `authorize` parses the voucher header, checks the request hash against the body, recovers the payer's
/// signature, checks the channel as the light client proved it (cached: no round trip while fresh) and the
/// channel's credit (`ChannelCredit`), then commits the voucher to the ledger. `finish` prices the answer, signs the
/// receipt and commits it. One lock orders every channel's acceptances, so racing requests never spend more than
/// their vouchers authorized.
public final class PaymentGate: Sendable {
    /// What the peer charges and as whom.
    public struct Terms: Sendable {
        /// The account paid: channels must name it as payee; it signs receipts.
        public var payee: Address
        /// The chain of the channels and the receipts' domain.
        public var chainId: UInt64
        /// The price of the base model and of every adapter not in `prices`.
        public var defaultPrice: ServingPrice
        /// Prices by model or adapter name.
        public var prices: [String: ServingPrice]
        /// `ModelRegistry` adapter ids by name, for receipts (0: the base model, or an adapter not on the ledger).
        public var adapterIDs: [String: UInt256]

        /// Terms from their parts.
        public init(
            payee: Address, chainId: UInt64, defaultPrice: ServingPrice, prices: [String: ServingPrice] = [:],
            adapterIDs: [String: UInt256] = [:]
        ) {
            self.payee = payee
            self.chainId = chainId
            self.defaultPrice = defaultPrice
            self.prices = prices
            self.adapterIDs = adapterIDs
        }

        /// The price of `model`.
        public func price(of model: String) -> ServingPrice { prices[model] ?? defaultPrice }
    }

    /// An accepted request: its voucher, what it reserved and at what price its answer is costed.
    public struct Ticket: Sendable {
        /// The voucher the request carried.
        public let voucher: SignedVoucher
        /// What the channel's credit recorded.
        public let acceptance: ChannelCredit.Acceptance
        /// The model or adapter served.
        public let model: String
        /// Its price.
        public let price: ServingPrice
    }

    /// A refusal with the quote a client needs to pay: the prices, this request's maximum cost, the payee and what
    /// the channel has spent and authorized here.
    public struct Refusal: Error, Sendable {
        /// Why.
        public let reason: PaymentRefusal
        /// The quote, as the error object's `quote` field carries it.
        public let quote: [String: String]
    }

    /// What a finished request produced: the signed receipt and the channel's account after it.
    public struct Settlement: Sendable {
        /// The receipt, signed.
        public let receipt: SignedReceipt
        /// The answer's cost at the listed prices.
        public let cost: UInt256
        /// The channel's account after the answer.
        public let credit: ChannelCredit
    }

    /// The terms.
    public let terms: Terms
    private let key: Secp256k1PrivateKey
    private let ledger: ServingLedger
    /// The proven channels.
    public let channels: ChannelCache
    private let clock: any Clock
    private let credits: Mutex<[[UInt8]: ChannelCredit]>
    /// The vouchers' EIP-712 domain separator on this chain, computed once.
    private let voucherDomain: [UInt8]
    private let acceptedCount = Atomic<Int>(0)

    /// Vouchers accepted (and committed) since the gate was made.
    public var accepted: Int { acceptedCount.load(ordering: .relaxed) }

    /// A gate charging by `terms`, signing with `key` (whose address must be `terms.payee`), keeping its books in `ledger` and reading channels through `channels`.
    ///
    /// Requests a previous run accepted but never answered get receipts for an empty answer now, so every accepted
    /// voucher has one.
    public init(
        terms: Terms, key: Secp256k1PrivateKey, ledger: ServingLedger, channels: ChannelCache, clock: any Clock
    ) throws(PaymentSetupError) {
        guard (try? Address(bytes: key.publicKey.ethereumAddress)) == terms.payee else {
            throw .keyMismatch("the key's address is not the payee \(terms.payee)")
        }
        self.terms = terms
        voucherDomain = PaymentVoucher.domainSeparator(
            chainId: terms.chainId, verifyingContract: PaymentChannels.defaultAddress)
        self.key = key
        self.ledger = ledger
        self.channels = channels
        self.clock = clock
        do {
            credits = Mutex(try ledger.credits())
        } catch {
            throw .ledger("\(error)")
        }
        do {
            for (voucher, price) in try ledger.unanswered() {
                let receipt = ServingReceipt(
                    requestHash: voucher.voucher.requestHash, responseHash: Keccak256.hash([]), adapterID: .zero,
                    promptTokens: 0, completionTokens: 0, price: price, temperatureMillis: 0, topPMillis: 0, topK: 0,
                    seed: 0)
                let signature = try receipt.sign(
                    with: key, chainId: terms.chainId, verifyingContract: AttributionClaims.defaultAddress)
                let credit = credits.withLock { $0[voucher.voucher.channelID] ?? ChannelCredit() }
                try ledger.finish(
                    channelID: voucher.voucher.channelID, receipt: receipt, signature: signature, response: [],
                    credit: credit, at: Int64(clock.wallNow().secondsSinceEpoch))
            }
        } catch {
            throw .ledger("recovering interrupted requests: \(error)")
        }
    }

    /// The quote for a request of `maximumCost` on `model`, for channel `channel` when known.
    public func quote(model: String, maximumCost: UInt256?, channel: [UInt8]?) -> [String: String] {
        let price = terms.price(of: model)
        var quote: [String: String] = [
            "payee": terms.payee.checksummed, "chainId": String(terms.chainId),
            "verifyingContract": PaymentChannels.defaultAddress.checksummed, "model": model,
            "promptWeiPerToken": price.promptWei.description, "completionWeiPerToken": price.completionWei.description,
        ]
        if let maximumCost { quote["maximumCost"] = maximumCost.description }
        if let channel {
            let credit = credits.withLock { $0[channel] ?? ChannelCredit() }
            let redeemed = channels.fresh(channel)?.channel?.redeemed ?? .zero
            quote["channel"] = Hex.encode(channel)
            quote["spent"] = credit.spent.description
            quote["authorized"] = credit.authorized.description
            quote["reserved"] = credit.reserved.description
            if let maximumCost, let required = credit.required(maximumCost: maximumCost, redeemed: redeemed) {
                quote["required"] = required.description
            }
        }
        return quote
    }

    /// Checks and accepts the voucher of a request.
    ///
    /// `header` is the `X-OpenLedger-Voucher` value, `body` the exact request bytes. With `mayProve` false a channel
    /// not proven recently returns nil (prove it off the server's thread, then call again with true); otherwise the
    /// voucher is accepted or refused.
    public func authorize(
        header: String?, body: [UInt8], model: String, promptTokens: Int, maxTokens: Int, channelHint: String?,
        mayProve: Bool, path: String? = nil
    ) -> Result<Ticket, Refusal>? {
        check(
            header: header, body: body, model: model, promptTokens: promptTokens, maxTokens: maxTokens,
            channelHint: channelHint, mayProve: mayProve, commit: true, path: path)
    }

    /// Runs every check `authorize` runs — header, request hash, signature, channel, replay, credit — and commits
    /// nothing: what a voucher's verification costs, as `bench payments` measures it.
    public func verify(header: String, body: [UInt8], model: String, promptTokens: Int, maxTokens: Int) -> Result<
        Ticket, Refusal
    >? {
        check(
            header: header, body: body, model: model, promptTokens: promptTokens, maxTokens: maxTokens,
            channelHint: nil, mayProve: false, commit: false, path: nil)
    }

    private func check(
        header: String?, body: [UInt8], model: String, promptTokens: Int, maxTokens: Int, channelHint: String?,
        mayProve: Bool, commit: Bool, path: String?
    ) -> Result<Ticket, Refusal>? {
        let price = terms.price(of: model)
        let maximumCost = price.cost(promptTokens: promptTokens, completionTokens: maxTokens)
        let hint = channelHint.flatMap { try? Hex.decode($0) }.flatMap { $0.count == 32 ? $0 : nil }
        func refuse(_ reason: PaymentRefusal, channel: [UInt8]? = nil) -> Result<Ticket, Refusal> {
            .failure(Refusal(reason: reason, quote: quote(model: model, maximumCost: maximumCost, channel: channel)))
        }
        guard let header else { return refuse(.missingVoucher, channel: hint) }
        let signed: SignedVoucher
        do {
            signed = try SignedVoucher(headerValue: header)
        } catch {
            return refuse(error, channel: hint)
        }
        let id = signed.voucher.channelID
        guard let maximumCost else { return refuse(.costOverflow, channel: id) }
        guard Keccak256.hash(body) == signed.voucher.requestHash else {
            return refuse(.requestHashMismatch, channel: id)
        }
        var entry = channels.fresh(id)
        if entry == nil || (entry?.channel.map { signed.voucher.cumulativeAmount > $0.deposit } ?? false) {
            guard mayProve else { return nil }
            do {
                entry = try channels.prove(id)
            } catch {
                return .failure(
                    Refusal(
                        reason: .ledgerUnavailable("\(error)"),
                        quote: quote(model: model, maximumCost: maximumCost, channel: id)))
            }
        }
        let payer = signed.voucher.signer(of: signed.signature, domainSeparator: voucherDomain)
        let now = Int64(clock.wallNow().secondsSinceEpoch)
        let outcome: Result<ChannelCredit.Acceptance, PaymentRefusal> = credits.withLock { credits in
            var credit = credits[id] ?? ChannelCredit()
            do {
                guard !(try ledger.hasRequest(signed.voucher.requestHash)) else { return .failure(.requestAlreadyPaid) }
                let acceptance = try credit.accept(
                    signed.voucher, signer: payer, channel: entry?.channel, payee: terms.payee,
                    maximumCost: maximumCost)
                guard commit else { return .success(acceptance) }
                try ledger.accept(
                    signed, acceptance: acceptance, credit: credit, request: path.map { ($0, body) }, at: now)
                credits[id] = credit
                acceptedCount.add(1, ordering: .relaxed)
                return .success(acceptance)
            } catch let refusal as PaymentRefusal {
                return .failure(refusal)
            } catch {
                return .failure(.ledgerUnavailable("the payment ledger failed: \(error)"))
            }
        }
        switch outcome {
        case .success(let acceptance):
            return .success(Ticket(voucher: signed, acceptance: acceptance, model: model, price: price))
        case .failure(let refusal): return refuse(refusal, channel: id)
        }
    }

    /// Prices the answer of `ticket`, signs its receipt and commits both; `response` is what the client received.
    public func finish(
        _ ticket: Ticket, response: String, promptTokens: Int, completionTokens: Int, temperature: Float, topP: Float,
        topK: Int, seed: UInt64, proof: AttributionProof? = nil
    ) throws(PaymentSetupError) -> Settlement {
        let bytes = Array(response.utf8)
        let cost =
            ticket.price.cost(promptTokens: promptTokens, completionTokens: completionTokens)
            ?? ticket.acceptance.maximumCost
        let receipt = ServingReceipt(
            requestHash: ticket.voucher.voucher.requestHash, responseHash: Keccak256.hash(bytes),
            adapterID: terms.adapterIDs[ticket.model] ?? LedgerAdapterName.id(ticket.model) ?? .zero,
            promptTokens: UInt64(promptTokens),
            completionTokens: UInt64(completionTokens), price: ticket.acceptance.price,
            temperatureMillis: UInt32((max(0, temperature) * 1000).rounded()),
            topPMillis: UInt32((max(0, topP) * 1000).rounded()), topK: UInt32(max(0, topK)), seed: seed,
            attributionRoot: proof.map { ServingReceipt.attributionRoot(of: $0) } ?? ServingReceipt.noAttribution)
        let signed: SignedReceipt
        do {
            signed = try SignedReceipt.sign(receipt, with: key, signer: terms.payee, chainId: terms.chainId)
        } catch {
            throw .ledger("signing the receipt: \(error)")
        }
        let id = ticket.voucher.voucher.channelID
        let now = Int64(clock.wallNow().secondsSinceEpoch)
        let stored: Result<ChannelCredit, SQLiteError> = credits.withLock { credits in
            var credit = credits[id] ?? ChannelCredit()
            credit.finish(ticket.acceptance, cost: cost)
            do throws(SQLiteError) {
                try ledger.finish(
                    channelID: id, receipt: receipt, signature: signed.signature, response: bytes, credit: credit,
                    proof: proof?.encoded, at: now)
            } catch {
                return .failure(error)
            }
            credits[id] = credit
            return .success(credit)
        }
        let credit: ChannelCredit
        switch stored {
        case .success(let value): credit = value
        case .failure(let error): throw .ledger("storing the receipt: \(error)")
        }
        return Settlement(receipt: signed, cost: min(cost, ticket.acceptance.maximumCost), credit: credit)
    }

    /// The request of a claimed answer, for attesters to re-execute.
    public func claimedRequest(_ requestHash: [UInt8]) -> (path: String, body: [UInt8])? {
        (try? ledger.claimedRequest(requestHash)) ?? nil
    }

    /// The stored attribution proof of the answer to `requestHash`.
    public func storedProof(_ requestHash: [UInt8]) -> [UInt8]? {
        (try? ledger.proof(requestHash)) ?? nil
    }

    /// The stored receipt of `requestHash`.
    public func storedReceipt(_ requestHash: [UInt8]) -> ServingLedger.StoredReceipt? {
        try? ledger.receipt(requestHash)
    }
}

/// Why paid serving cannot start or record.
public enum PaymentSetupError: Error, Sendable, CustomStringConvertible {
    /// The signing key is not the payee's.
    case keyMismatch(String)
    /// The ledger database failed.
    case ledger(String)
    /// The ledger endpoint cannot be followed or verified.
    case ledgerUnavailable(String)

    /// The message.
    public var description: String {
        switch self {
        case .keyMismatch(let why), .ledger(let why): why
        case .ledgerUnavailable(let why): "paid serving needs a verifiable ledger: \(why)"
        }
    }
}
