import Chain
import Codec
import Foundation

/// A payer's voucher with its signature, as the `X-OpenLedger-Voucher` header carries it.
///
/// The header is one JSON object, `{"channel": "0x…", "cumulativeAmount": "<decimal wei>", "requestHash": "0x…",
/// "signature": "0x…"}`: a 32-byte channel id, the cumulative amount as a decimal string (wei exceed JSON's
/// numbers), keccak256 of the request body, and the payer's 65-byte EIP-712 signature r ‖ s ‖ v (docs/payments.md).
public struct SignedVoucher: Hashable, Sendable {
    /// The header that carries a voucher on a paid request.
    public static let headerName = "X-OpenLedger-Voucher"
    /// The longest header value accepted (a well-formed voucher is about 330 bytes).
    public static let maximumHeaderBytes = 1_024

    /// The voucher: channel, cumulative amount, request hash.
    public var voucher: PaymentVoucher
    /// The payer's signature over the voucher's EIP-712 digest: 65 bytes r ‖ s ‖ v.
    public var signature: [UInt8]

    /// A signed voucher from its parts.
    public init(voucher: PaymentVoucher, signature: [UInt8]) {
        self.voucher = voucher
        self.signature = signature
    }

    /// The header value: the JSON object above, keys sorted.
    public var headerValue: String {
        let object: [String: String] = [
            "channel": Hex.encode(voucher.channelID), "cumulativeAmount": voucher.cumulativeAmount.description,
            "requestHash": Hex.encode(voucher.requestHash), "signature": Hex.encode(signature),
        ]
        let data = (try? JSONSerialization.data(withJSONObject: object, options: [.sortedKeys])) ?? Data()
        return String(decoding: data, as: UTF8.self)
    }

    /// Parses a header value; a typed refusal names what is wrong with it.
    public init(headerValue text: String) throws(PaymentRefusal) {
        guard text.utf8.count <= Self.maximumHeaderBytes else {
            throw .malformedVoucher("the voucher header is longer than \(Self.maximumHeaderBytes) bytes")
        }
        guard let object = (try? JSONSerialization.jsonObject(with: Data(text.utf8))) as? [String: Any] else {
            throw .malformedVoucher("the voucher header must be a JSON object")
        }
        func string(_ key: String) throws(PaymentRefusal) -> String {
            guard let value = object[key] as? String else {
                throw .malformedVoucher("the voucher needs '\(key)' as a string")
            }
            return value
        }
        func bytes(_ key: String, count: Int) throws(PaymentRefusal) -> [UInt8] {
            let text = try string(key)
            guard let decoded = try? Hex.decode(text), decoded.count == count else {
                throw .malformedVoucher("the voucher's '\(key)' must be \(count) bytes of 0x-hex")
            }
            return decoded
        }
        let channel = try bytes("channel", count: 32)
        guard let amount = UInt256(decimal: try string("cumulativeAmount")) else {
            throw .malformedVoucher("the voucher's 'cumulativeAmount' must be a decimal string of wei")
        }
        let requestHash = try bytes("requestHash", count: 32)
        let signature = try bytes("signature", count: 65)
        self.init(
            voucher: PaymentVoucher(channelID: channel, cumulativeAmount: amount, requestHash: requestHash),
            signature: signature)
    }
}
