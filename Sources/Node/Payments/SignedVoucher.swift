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
        let object: [String: String]
        if let flat = Self.flatObject(text) {
            object = flat
        } else {
            guard let parsed = (try? JSONSerialization.jsonObject(with: Data(text.utf8))) as? [String: Any] else {
                throw .malformedVoucher("the voucher header must be a JSON object")
            }
            object = parsed.compactMapValues { $0 as? String }
        }
        func string(_ key: String) throws(PaymentRefusal) -> String {
            guard let value = object[key] else {
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

    /// A flat JSON object of string values without escapes (what every well-formed voucher is), parsed without
    /// Foundation's JSON reader; nil for anything else, which the full reader then judges.
    static func flatObject(_ text: String) -> [String: String]? {
        var object: [String: String] = [:]
        var utf8 = text.utf8[...]
        func skipSpace() {
            while let byte = utf8.first, byte == 0x20 || byte == 0x09 || byte == 0x0A || byte == 0x0D {
                utf8.removeFirst()
            }
        }
        func expect(_ byte: UInt8) -> Bool {
            skipSpace()
            guard utf8.first == byte else { return false }
            utf8.removeFirst()
            return true
        }
        func string() -> String? {
            guard expect(0x22) else { return nil }
            guard let end = utf8.firstIndex(where: { $0 == 0x22 || $0 == 0x5C || $0 < 0x20 }), utf8[end] == 0x22
            else { return nil }
            let value = String(decoding: utf8[..<end], as: UTF8.self)
            utf8 = utf8[utf8.index(after: end)...]
            return value
        }
        guard expect(0x7B) else { return nil }
        if expect(0x7D) { return object }
        repeat {
            guard let key = string(), expect(0x3A), let value = string(), object[key] == nil else { return nil }
            object[key] = value
        } while expect(0x2C)
        guard expect(0x7D) else { return nil }
        skipSpace()
        return utf8.isEmpty ? object : nil
    }
}
