/// Multibase: self-describing base encodings, a one-character prefix naming the base (multiformats/multibase).
///
/// Every encoding of the multibase table's "final" and "draft" rows that the project's vectors exercise is supported.
public enum Multibase: String, CaseIterable, Sendable {
    case base2, base8, base10
    case base16, base16upper
    case base32, base32upper, base32hex, base32hexupper, base32pad, base32padupper, base32hexpad
    case base32hexpadupper, base32z
    case base36, base36upper
    case base58btc, base58flickr
    case base64, base64pad, base64url, base64urlpad
    case base256emoji

    /// The prefix character.
    public var prefix: Unicode.Scalar {
        switch self {
        case .base2: "0"
        case .base8: "7"
        case .base10: "9"
        case .base16: "f"
        case .base16upper: "F"
        case .base32: "b"
        case .base32upper: "B"
        case .base32hex: "v"
        case .base32hexupper: "V"
        case .base32pad: "c"
        case .base32padupper: "C"
        case .base32hexpad: "t"
        case .base32hexpadupper: "T"
        case .base32z: "h"
        case .base36: "k"
        case .base36upper: "K"
        case .base58btc: "z"
        case .base58flickr: "Z"
        case .base64: "m"
        case .base64pad: "M"
        case .base64url: "u"
        case .base64urlpad: "U"
        case .base256emoji: "\u{1F680}"
        }
    }

    private enum Scheme {
        /// RFC 4648 style: fixed bits per character, optional '=' padding.
        case bits(Int, alphabet: String, padded: Bool, caseInsensitive: Bool)
        /// Big-number conversion with leading zero bytes kept as leading zero digits (base58 style).
        case radix(alphabet: String, caseInsensitive: Bool)
        case emoji
    }

    private var scheme: Scheme {
        let rfc32 = "abcdefghijklmnopqrstuvwxyz234567"
        let hex32 = "0123456789abcdefghijklmnopqrstuv"
        let std64 = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"
        let url64 = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
        switch self {
        case .base2: return .bits(1, alphabet: "01", padded: false, caseInsensitive: false)
        case .base8: return .bits(3, alphabet: "01234567", padded: false, caseInsensitive: false)
        case .base10: return .radix(alphabet: "0123456789", caseInsensitive: false)
        case .base16: return .bits(4, alphabet: "0123456789abcdef", padded: false, caseInsensitive: true)
        case .base16upper: return .bits(4, alphabet: "0123456789ABCDEF", padded: false, caseInsensitive: true)
        case .base32: return .bits(5, alphabet: rfc32, padded: false, caseInsensitive: true)
        case .base32upper: return .bits(5, alphabet: rfc32.uppercased(), padded: false, caseInsensitive: true)
        case .base32hex: return .bits(5, alphabet: hex32, padded: false, caseInsensitive: true)
        case .base32hexupper: return .bits(5, alphabet: hex32.uppercased(), padded: false, caseInsensitive: true)
        case .base32pad: return .bits(5, alphabet: rfc32, padded: true, caseInsensitive: true)
        case .base32padupper: return .bits(5, alphabet: rfc32.uppercased(), padded: true, caseInsensitive: true)
        case .base32hexpad: return .bits(5, alphabet: hex32, padded: true, caseInsensitive: true)
        case .base32hexpadupper: return .bits(5, alphabet: hex32.uppercased(), padded: true, caseInsensitive: true)
        case .base32z:
            return .bits(5, alphabet: "ybndrfg8ejkmcpqxot1uwisza345h769", padded: false, caseInsensitive: false)
        case .base36: return .radix(alphabet: "0123456789abcdefghijklmnopqrstuvwxyz", caseInsensitive: true)
        case .base36upper: return .radix(alphabet: "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ", caseInsensitive: true)
        case .base58btc: return .radix(alphabet: Base58.bitcoinAlphabet, caseInsensitive: false)
        case .base58flickr:
            return .radix(
                alphabet: "123456789abcdefghijkmnopqrstuvwxyzABCDEFGHJKLMNPQRSTUVWXYZ", caseInsensitive: false)
        case .base64: return .bits(6, alphabet: std64, padded: false, caseInsensitive: false)
        case .base64pad: return .bits(6, alphabet: std64, padded: true, caseInsensitive: false)
        case .base64url: return .bits(6, alphabet: url64, padded: false, caseInsensitive: false)
        case .base64urlpad: return .bits(6, alphabet: url64, padded: true, caseInsensitive: false)
        case .base256emoji: return .emoji
        }
    }

    /// `bytes` in this base, without the prefix.
    public func encodeBody(_ bytes: [UInt8]) -> String {
        switch scheme {
        case .bits(let width, let alphabet, let padded, _):
            return BaseN.encodeBits(bytes, width: width, alphabet: Array(alphabet.unicodeScalars), padded: padded)
        case .radix(let alphabet, _):
            return BaseN.encodeRadix(bytes, alphabet: Array(alphabet.unicodeScalars))
        case .emoji:
            var out = String.UnicodeScalarView()
            for byte in bytes { out.append(BaseN.emojiAlphabet[Int(byte)]) }
            return String(out)
        }
    }

    /// Decodes text in this base without the prefix.
    public func decodeBody(_ text: Substring) throws(CodecError) -> [UInt8] {
        switch scheme {
        case .bits(let width, let alphabet, let padded, let caseInsensitive):
            return try BaseN.decodeBits(
                text, width: width, alphabet: Array(alphabet.unicodeScalars), padded: padded,
                caseInsensitive: caseInsensitive, name: rawValue)
        case .radix(let alphabet, let caseInsensitive):
            return try BaseN.decodeRadix(
                text, alphabet: Array(alphabet.unicodeScalars), caseInsensitive: caseInsensitive, name: rawValue)
        case .emoji:
            var out: [UInt8] = []
            for scalar in text.unicodeScalars {
                guard let index = BaseN.emojiIndex[scalar] else {
                    throw .invalidMultibase("'\(scalar)' is not a base256emoji character")
                }
                out.append(index)
            }
            return out
        }
    }

    /// The prefixed multibase text of `bytes`.
    public func encode(_ bytes: [UInt8]) -> String { String(prefix) + encodeBody(bytes) }

    /// Decodes multibase text: the base is named by its first character.
    public static func decode(_ text: some StringProtocol) throws(CodecError) -> (base: Multibase, bytes: [UInt8]) {
        guard let first = text.unicodeScalars.first else { throw .invalidMultibase("empty text") }
        guard let base = allCases.first(where: { $0.prefix == first }) else {
            throw .invalidMultibase("unknown multibase prefix '\(first)'")
        }
        let body = Substring(text).unicodeScalars.dropFirst()
        return (base, try base.decodeBody(Substring(body)))
    }
}

/// Base58 with the Bitcoin alphabet: the text form of peer ids and CIDv0.
public enum Base58 {
    static let bitcoinAlphabet = "123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz"

    /// `bytes` in base58btc (no multibase prefix).
    public static func encode(_ bytes: [UInt8]) -> String { Multibase.base58btc.encodeBody(bytes) }

    /// Decodes base58btc text (no multibase prefix).
    public static func decode(_ text: some StringProtocol) throws(CodecError) -> [UInt8] {
        try Multibase.base58btc.decodeBody(Substring(text))
    }
}
