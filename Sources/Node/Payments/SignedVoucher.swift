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
        if let fast = Self.wellFormed(text) {
            self = fast
        } else {
            self = try Self.general(text)
        }
    }

    /// Reads any JSON form of the header (escapes, other key orders, extra fields), naming what is wrong.
    static func general(_ text: String) throws(PaymentRefusal) -> SignedVoucher {
        guard let parsed = (try? JSONSerialization.jsonObject(with: Data(text.utf8))) as? [String: Any] else {
            throw .malformedVoucher("the voucher header must be a JSON object")
        }
        let object = parsed.compactMapValues { $0 as? String }
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
        return SignedVoucher(
            voucher: PaymentVoucher(channelID: channel, cumulativeAmount: amount, requestHash: requestHash),
            signature: signature)
    }

    /// The voucher of a header in the form `headerValue` writes (a flat object of the four fields as 0x-hex and
    /// decimal strings, any order, JSON whitespace), read straight from its bytes; nil for anything else, which the
    /// general reader then judges with its reasons.
    static func wellFormed(_ text: String) -> SignedVoucher? {
        var text = text
        return text.withUTF8 { bytes -> SignedVoucher? in
            var index = 0
            func skipSpace() {
                while index < bytes.count,
                    bytes[index] == 0x20 || bytes[index] == 0x09 || bytes[index] == 0x0A
                        || bytes[index] == 0x0D
                {
                    index += 1
                }
            }
            func expect(_ byte: UInt8) -> Bool {
                skipSpace()
                guard index < bytes.count, bytes[index] == byte else { return false }
                index += 1
                return true
            }
            /// A string without escapes: its byte range.
            func string() -> Range<Int>? {
                guard expect(0x22) else { return nil }
                let start = index
                while index < bytes.count, bytes[index] != 0x22 {
                    guard bytes[index] != 0x5C, bytes[index] >= 0x20 else { return nil }
                    index += 1
                }
                guard index < bytes.count else { return nil }
                index += 1
                return start..<(index - 1)
            }
            func nibble(_ byte: UInt8) -> UInt8? {
                switch byte {
                case 0x30...0x39: byte - 0x30
                case 0x61...0x66: byte - 0x61 + 10
                case 0x41...0x46: byte - 0x41 + 10
                default: nil
                }
            }
            func hex(_ range: Range<Int>, count: Int) -> [UInt8]? {
                guard range.count == 2 + 2 * count, bytes[range.lowerBound] == 0x30,
                    bytes[range.lowerBound + 1] == 0x78 || bytes[range.lowerBound + 1] == 0x58
                else { return nil }
                var out = [UInt8](repeating: 0, count: count)
                var position = range.lowerBound + 2
                for i in 0..<count {
                    guard let high = nibble(bytes[position]), let low = nibble(bytes[position + 1]) else { return nil }
                    out[i] = high << 4 | low
                    position += 2
                }
                return out
            }
            func equals(_ range: Range<Int>, _ key: StaticString) -> Bool {
                guard range.count == key.utf8CodeUnitCount else { return false }
                let keyBytes = key.utf8Start
                for i in 0..<range.count where bytes[range.lowerBound + i] != keyBytes[i] { return false }
                return true
            }
            var channel: [UInt8]?
            var amount: UInt256?
            var request: [UInt8]?
            var signature: [UInt8]?
            guard expect(0x7B) else { return nil }
            repeat {
                guard let key = string(), expect(0x3A), let value = string() else { return nil }
                if equals(key, "channel"), channel == nil {
                    channel = hex(value, count: 32)
                    if channel == nil { return nil }
                } else if equals(key, "requestHash"), request == nil {
                    request = hex(value, count: 32)
                    if request == nil { return nil }
                } else if equals(key, "signature"), signature == nil {
                    signature = hex(value, count: 65)
                    if signature == nil { return nil }
                } else if equals(key, "cumulativeAmount"), amount == nil {
                    amount = UInt256(
                        decimal: String(decoding: UnsafeBufferPointer(rebasing: bytes[value]), as: UTF8.self))
                    if amount == nil { return nil }
                } else {
                    return nil
                }
            } while expect(0x2C)
            guard expect(0x7D) else { return nil }
            skipSpace()
            guard index == bytes.count, let channel, let amount, let request, let signature else { return nil }
            return SignedVoucher(
                voucher: PaymentVoucher(channelID: channel, cumulativeAmount: amount, requestHash: request),
                signature: signature)
        }
    }
}
