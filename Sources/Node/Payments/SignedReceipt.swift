import Chain
import Codec
import Crypto
import Foundation

/// A serving peer's signed receipt as answers carry it: in the `X-OpenLedger-Receipt` header, in the body as
/// `openledger.receipt`, and as the last server-sent event before `[DONE]` when streaming.
///
/// The JSON object holds the receipt's ten fields (wei, ids and seeds as decimal strings, hashes as 0x-hex), the
/// peer's signature and its address, and the EIP-712 domain it was signed under (docs/payments.md).
public struct SignedReceipt: Hashable, Sendable {
    /// The header that carries the receipt of a whole (not streamed) answer.
    public static let headerName = "X-OpenLedger-Receipt"

    /// The receipt.
    public var receipt: ServingReceipt
    /// The serving peer's signature: 65 bytes r ‖ s ‖ v over the receipt's EIP-712 digest.
    public var signature: [UInt8]
    /// The serving peer's account, which the signature recovers to.
    public var signer: Address
    /// The chain the receipt was signed for.
    public var chainId: UInt64
    /// The `AttributionClaims` contract of the domain.
    public var verifyingContract: Address

    /// A signed receipt from its parts.
    public init(
        receipt: ServingReceipt, signature: [UInt8], signer: Address, chainId: UInt64,
        verifyingContract: Address = AttributionClaims.defaultAddress
    ) {
        self.receipt = receipt
        self.signature = signature
        self.signer = signer
        self.chainId = chainId
        self.verifyingContract = verifyingContract
    }

    /// Signs `receipt` with `key` (whose address is `signer`) for `chainId`'s claims contract.
    public static func sign(
        _ receipt: ServingReceipt, with key: Secp256k1PrivateKey, signer: Address, chainId: UInt64,
        verifyingContract: Address = AttributionClaims.defaultAddress
    ) throws(ChainError) -> SignedReceipt {
        let signature = try receipt.sign(with: key, chainId: chainId, verifyingContract: verifyingContract)
        return SignedReceipt(
            receipt: receipt, signature: signature, signer: signer, chainId: chainId,
            verifyingContract: verifyingContract)
    }

    /// Whether the signature recovers to `signer` under the receipt's domain.
    public var isValid: Bool {
        receipt.signer(of: signature, chainId: chainId, verifyingContract: verifyingContract) == signer
    }

    /// The JSON object.
    public var object: [String: Any] {
        [
            "requestHash": Hex.encode(receipt.requestHash), "responseHash": Hex.encode(receipt.responseHash),
            "adapterId": receipt.adapterID.description, "promptTokens": receipt.promptTokens,
            "completionTokens": receipt.completionTokens, "price": receipt.price.description,
            "temperatureMillis": receipt.temperatureMillis, "topPMillis": receipt.topPMillis, "topK": receipt.topK,
            "seed": String(receipt.seed), "signature": Hex.encode(signature), "signer": signer.checksummed,
            "chainId": String(chainId), "verifyingContract": verifyingContract.checksummed,
            "attributionRoot": Hex.encode(receipt.attributionRoot),
        ]
    }

    /// The header value: the JSON object on one line, keys sorted.
    public var headerValue: String {
        let data = (try? JSONSerialization.data(withJSONObject: object, options: [.sortedKeys])) ?? Data()
        return String(decoding: data, as: UTF8.self)
    }

    /// Reads the JSON object (as the header or the body carries it); nil when a field is missing or malformed.
    public init?(object: [String: Any]) {
        func bytes32(_ key: String) -> [UInt8]? {
            guard let text = object[key] as? String, let bytes = try? Hex.decode(text), bytes.count == 32 else {
                return nil
            }
            return bytes
        }
        func integer<T: FixedWidthInteger>(_ key: String, _ type: T.Type) -> T? {
            if let number = object[key] as? NSNumber, !OpenAIAPI.isBoolean(number) {
                return T(exactly: number.doubleValue)
            }
            return (object[key] as? String).flatMap { T($0) }
        }
        guard let request = bytes32("requestHash"), let response = bytes32("responseHash"),
            let adapter = (object["adapterId"] as? String).flatMap({ UInt256(decimal: $0) }),
            let prompt = integer("promptTokens", UInt64.self),
            let completion = integer("completionTokens", UInt64.self),
            let price = (object["price"] as? String).flatMap({ UInt256(decimal: $0) }),
            let temperature = integer("temperatureMillis", UInt32.self), let topP = integer("topPMillis", UInt32.self),
            let topK = integer("topK", UInt32.self), let seed = integer("seed", UInt64.self),
            let signatureText = object["signature"] as? String, let signature = try? Hex.decode(signatureText),
            signature.count == 65, let signerText = object["signer"] as? String,
            let signer = try? Address(hex: signerText), let chainId = integer("chainId", UInt64.self),
            let contractText = object["verifyingContract"] as? String,
            let contract = try? Address(hex: contractText), let root = bytes32("attributionRoot")
        else { return nil }
        self.init(
            receipt: ServingReceipt(
                requestHash: request, responseHash: response, adapterID: adapter, promptTokens: prompt,
                completionTokens: completion, price: price, temperatureMillis: temperature, topPMillis: topP,
                topK: topK, seed: seed, attributionRoot: root),
            signature: signature, signer: signer, chainId: chainId, verifyingContract: contract)
    }

    /// Reads a header value.
    public init?(headerValue: String) {
        guard headerValue.utf8.count <= 4_096,
            let object = (try? JSONSerialization.jsonObject(with: Data(headerValue.utf8))) as? [String: Any]
        else { return nil }
        self.init(object: object)
    }
}
