import AttributionRules
import Chain
import Codec
import Crypto
import Foundation
import HTTP
import LightClient
import Runtime

/// The payer's side of paid inference.
///
/// It finds or opens a channel to the serving peer, asks its quote, signs the voucher the quote requires (recorded
/// before it is sent) and sends the request with it; `check` then verifies the receipt of the answer. `openledger
/// chat` and `openledger pay-proxy` both pay through it.
public final class PayingClient: Sendable {
    /// What the serving peer's /v1/models says about a model.
    public struct Offer: Sendable, Equatable {
        /// The model or adapter id.
        public var model: String
        /// The account that must be the channel's payee and the receipts' signer.
        public var payee: Address
        /// The chain of its channels.
        public var chainId: UInt64
        /// Its price.
        public var price: ServingPrice

        /// The offer for `name` among `offers`: its own, or, for an adapter of the ledger (`adapter-<id>`) the peer
        /// has not loaded yet and so does not list, the peer's terms for its base model (the first offer), which is
        /// what it charges for an adapter it fetches on demand; the first offer when `name` is nil.
        public static func choose(_ name: String?, in offers: [Offer]) -> Offer? {
            guard let name else { return offers.first }
            if let offer = offers.first(where: { $0.model == name }) { return offer }
            guard LedgerAdapterName.id(name) != nil, var base = offers.first else { return nil }
            base.model = name
            return base
        }
    }

    /// One paid exchange: the voucher sent and the body it paid for.
    public struct Payment: Sendable {
        /// The voucher the request carried.
        public var voucher: SignedVoucher
        /// The cumulative amount of the channel's voucher before this one (the receipt's price is the difference).
        public var previous: UInt256
        /// The peer's quote the voucher answered.
        public var quote: [String: String]
    }

    /// Why paying failed.
    public enum Failure: Error, Sendable, CustomStringConvertible {
        /// The endpoint could not be reached or answered garbage.
        case endpoint(String)
        /// The peer refused the payment with this status and message.
        case refused(status: Int, message: String)
        /// The payer's store, key or ledger failed.
        case payer(NodeError)

        /// The message.
        public var description: String {
            switch self {
            case .endpoint(let why): "endpoint: \(why)"
            case .refused(let status, let message): "refused (\(status)): \(message)"
            case .payer(let error): error.description
            }
        }
    }

    private let host: String
    private let port: Int
    private let key: Secp256k1PrivateKey
    private let store: PayerStore
    private let channels: ChannelClient?
    private let deposit: UInt256
    private let settleDelay: UInt64
    /// The payer's account.
    public let payer: Address

    /// A client of the peer at `endpoint` (`http://host:port`), paying with `key` from channels recorded in `store`;
    /// when it has none to the peer it opens one of `deposit` through `channels` (nil: never open one).
    public init(
        endpoint: String, key: Secp256k1PrivateKey, store: PayerStore, channels: ChannelClient?, deposit: UInt256,
        settleDelay: UInt64 = 3_600
    ) throws(Failure) {
        guard endpoint.hasPrefix("http://") else { throw .endpoint("only http:// endpoints: \(endpoint)") }
        let rest = endpoint.dropFirst(7).prefix { $0 != "/" }
        let parts = rest.split(separator: ":")
        guard parts.count == 2, let port = Int(parts[1]), (1...65_535).contains(port) else {
            throw .endpoint("the endpoint needs host:port: \(endpoint)")
        }
        host = String(parts[0])
        self.port = port
        self.key = key
        self.store = store
        self.channels = channels
        self.deposit = deposit
        self.settleDelay = settleDelay
        payer = WalletKeyFile.address(of: key)
    }

    /// A fresh connection to the peer (one per exchange, so clients on many threads never share one).
    public func connection(timeoutSeconds: Int = 300) -> HTTPClient {
        HTTPClient(host: host, port: port, timeoutSeconds: timeoutSeconds)
    }

    /// The peer's offers, from GET /v1/models; models it serves for free are absent.
    public func offers() throws(Failure) -> [Offer] {
        let response: HTTPClient.Response
        do {
            response = try connection(timeoutSeconds: 30).send(method: "GET", path: "/v1/models")
        } catch {
            throw .endpoint("\(error)")
        }
        guard response.status == 200,
            let object = (try? JSONSerialization.jsonObject(with: Data(response.body))) as? [String: Any],
            let data = object["data"] as? [[String: Any]]
        else { throw .endpoint("GET /v1/models answered \(response.status)") }
        return data.compactMap { entry in
            guard let id = entry["id"] as? String, let terms = entry["openledger"] as? [String: String],
                let payee = terms["payee"].flatMap({ try? Address(hex: $0) }),
                let chainId = terms["chainId"].flatMap({ UInt64($0) }),
                let prompt = terms["promptWeiPerToken"].flatMap({ UInt256(decimal: $0) }),
                let completion = terms["completionWeiPerToken"].flatMap({ UInt256(decimal: $0) })
            else { return nil }
            return Offer(
                model: id, payee: payee, chainId: chainId,
                price: ServingPrice(promptWei: prompt, completionWei: completion))
        }
    }

    /// An open channel of this payer to `payee` on `chainId` with room above its last voucher, opened now (and
    /// recorded) when there is none.
    public func channel(to payee: Address, chainId: UInt64) throws(Failure) -> PayerChannel {
        do {
            for channel in try store.channels(payer: payer, payee: payee)
            where channel.status == .open && channel.chainId == chainId {
                if try store.lastCumulative(channelID: channel.id) < channel.deposit { return channel }
            }
            guard let channels else {
                throw Failure.endpoint("no open channel to \(payee); open one with `openledger channel open`")
            }
            let (id, _) = try channels.open(payee: payee, deposit: deposit, settleDelay: settleDelay)
            guard let opened = try store.channel(id) else {
                throw Failure.endpoint("the opened channel was not recorded")
            }
            return opened
        } catch let failure as Failure {
            throw failure
        } catch let error as NodeError {
            throw .payer(error)
        } catch {
            throw .endpoint("\(error)")
        }
    }

    /// Sends the paid request: `body` to `path` with the voucher of `payment`; returns the peer's whole response.
    public func send(path: String, body: [UInt8], payment: Payment) throws(Failure) -> HTTPClient.Response {
        do {
            return try connection().send(
                method: "POST", path: path,
                headers: [
                    ("Content-Type", "application/json"), (SignedVoucher.headerName, payment.voucher.headerValue),
                ],
                body: body)
        } catch {
            throw .endpoint("\(error)")
        }
    }

    /// Asks the peer's quote for `body` on `channel` (a request without a voucher, which the peer refuses with 402
    /// and the quote), signs the voucher it requires and returns it; nil when the peer answered at once (it serves
    /// for free), with that response.
    public func pay(path: String, body: [UInt8], channel: PayerChannel) throws(Failure) -> (
        payment: Payment?, freeResponse: HTTPClient.Response?
    ) {
        let quoteResponse: HTTPClient.Response
        do {
            quoteResponse = try connection().send(
                method: "POST", path: path,
                headers: [("Content-Type", "application/json"), ("X-OpenLedger-Channel", Hex.encode(channel.id))],
                body: body)
        } catch {
            throw .endpoint("\(error)")
        }
        if quoteResponse.status == 200 { return (nil, quoteResponse) }
        let (message, quote) = Self.refusal(quoteResponse.body)
        guard quoteResponse.status == 402, let quote, let required = quote["required"].flatMap({ UInt256(decimal: $0) })
        else { throw .refused(status: quoteResponse.status, message: message) }
        do {
            let previous = try store.lastCumulative(channelID: channel.id)
            let voucher = try store.issueVoucher(
                channelID: channel.id, atLeast: required, requestHash: Keccak256.hash(body), key: key,
                chainId: channel.chainId, verifyingContract: PaymentChannels.defaultAddress)
            return (Payment(voucher: voucher, previous: previous, quote: quote), nil)
        } catch {
            throw .payer(error)
        }
    }

    /// The message and quote of a refusal body (`{"error": {"message", "quote"}}`).
    public static func refusal(_ body: [UInt8]) -> (message: String, quote: [String: String]?) {
        guard let object = (try? JSONSerialization.jsonObject(with: Data(body))) as? [String: Any],
            let error = object["error"] as? [String: Any]
        else { return (String(decoding: body.prefix(300), as: UTF8.self), nil) }
        return ((error["message"] as? String) ?? "refused", error["quote"] as? [String: String])
    }

    /// What a receipt check found: each check by name, and whether all passed.
    public struct ReceiptCheck: Sendable {
        /// The checks in order, with their outcome.
        public var checks: [(name: String, passed: Bool)]
        /// True when every check passed.
        public var passed: Bool { checks.allSatisfy(\.passed) }
    }

    /// Checks a receipt against what the payer knows: signed by the channel's payee for the channel's chain, for
    /// this request body, over this response text, at the voucher's increment.
    public static func check(
        _ receipt: SignedReceipt, payment: Payment, payee: Address, chainId: UInt64, body: [UInt8], response: String
    ) -> ReceiptCheck {
        ReceiptCheck(checks: [
            ("signed by the payee \(payee)", receipt.isValid && receipt.signer == payee),
            ("for chain \(chainId)", receipt.chainId == chainId),
            ("request hash = keccak256(body)", receipt.receipt.requestHash == Keccak256.hash(body)),
            ("response hash = keccak256(answer)", receipt.receipt.responseHash == Keccak256.hash(Array(response.utf8))),
            (
                "price = the voucher's increment",
                receipt.receipt.price == payment.voucher.voucher.cumulativeAmount - payment.previous
            ),
        ])
    }
}

extension PayingClient {
    /// What the attribution of an answer proved: the checks, and the proof when the peer served one.
    public struct AttributionCheck: Sendable {
        /// The checks in order, with their outcome.
        public var checks: [(name: String, passed: Bool)]
        /// The proof the peer served.
        public var proof: AttributionProof?
    }

    /// Fetches the whole proof of the answer to `requestHash` (GET /v1/attribution/…) and checks it: it proves
    /// `response` (spans, Merkle paths, weights) under the network's L and K, against a snapshot root the ledger
    /// committed, as `light` proves it.
    public func checkAttribution(
        requestHash: [UInt8], response: String, light: LightClient, parameters: AttributionParameters,
        receiptRoot: [UInt8]? = nil
    ) -> AttributionCheck {
        var checks: [(name: String, passed: Bool)] = []
        guard
            let fetched = try? connection(timeoutSeconds: 30).send(
                method: "GET", path: "/v1/attribution/\(Hex.encode(requestHash))"),
            fetched.status == 200,
            let object = (try? JSONSerialization.jsonObject(with: Data(fetched.body))) as? [String: Any],
            let encoded = (object["encoded"] as? String).flatMap({ try? Hex.decode($0) }),
            let proof = try? AttributionProof(encoded: encoded)
        else {
            return AttributionCheck(checks: [("the peer serves the attribution proof", false)], proof: nil)
        }
        checks.append(("the peer serves the attribution proof", true))
        if let receiptRoot {
            checks.append(
                (
                    "the receipt signs this proof (attribution root)",
                    ServingReceipt.attributionRoot(of: proof) == receiptRoot
                ))
        }
        let commitment = AttributionCommitment(
            snapshotRoot: proof.snapshotRoot, recordCount: proof.recordCount, parameters: parameters)
        let proves =
            (try? AttributionVerifier.checkClaim(proof, response: Array(response.utf8), against: commitment)) != nil
        checks.append(
            (
                "the proof attributes this answer (spans, Merkle paths, weights; L \(parameters.minSpan), K \(parameters.maxRecords))",
                proves
            ))
        let committed = try? light.read(
            DatanetRegistry.CommittedRootLayout.self, proof.snapshotRoot, at: try light.syncHead())
        let datanet = committed?.value.map { " by Datanet \($0)" } ?? ""
        checks.append(
            (
                "its snapshot root \(Hex.encode(proof.snapshotRoot)) is committed on the ledger\(datanet) (proven)",
                committed?.value != nil
            ))
        return AttributionCheck(checks: checks, proof: proof)
    }
}
