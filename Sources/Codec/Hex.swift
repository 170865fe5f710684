/// Hexadecimal text, with or without the `0x` prefix that Ethereum uses everywhere.
public enum Hex {
    private static let digits = Array("0123456789abcdef".utf8)

    /// Lower-case hex of `bytes`, prefixed with `0x` when `prefix` is true.
    public static func encode(_ bytes: some Sequence<UInt8>, prefix: Bool = true) -> String {
        var out: [UInt8] = prefix ? [UInt8(ascii: "0"), UInt8(ascii: "x")] : []
        out.reserveCapacity(out.count + bytes.underestimatedCount * 2)
        for byte in bytes {
            out.append(digits[Int(byte >> 4)])
            out.append(digits[Int(byte & 0x0F)])
        }
        return String(decoding: out, as: UTF8.self)
    }

    /// The bytes of hex `text`; the `0x` prefix is optional, digits may be either case, length must be even.
    public static func decode(_ text: some StringProtocol) throws(CodecError) -> [UInt8] {
        var utf8 = Substring(text).utf8[...]
        if utf8.count >= 2, utf8.first == UInt8(ascii: "0"),
            utf8[utf8.index(after: utf8.startIndex)] | 0x20 == UInt8(ascii: "x")
        {
            utf8 = utf8.dropFirst(2)
        }
        guard utf8.count % 2 == 0 else { throw .invalidHex("odd number of hex digits") }
        var out = [UInt8]()
        out.reserveCapacity(utf8.count / 2)
        var high: UInt8? = nil
        for char in utf8 {
            guard let nibble = nibble(char) else {
                throw .invalidHex("invalid hex digit \(String(UnicodeScalar(char)).debugDescription)")
            }
            if let h = high {
                out.append(h << 4 | nibble)
                high = nil
            } else {
                high = nibble
            }
        }
        return out
    }

    @inline(__always)
    static func nibble(_ char: UInt8) -> UInt8? {
        switch char {
        case UInt8(ascii: "0")...UInt8(ascii: "9"): char - UInt8(ascii: "0")
        case UInt8(ascii: "a")...UInt8(ascii: "f"): char - UInt8(ascii: "a") + 10
        case UInt8(ascii: "A")...UInt8(ascii: "F"): char - UInt8(ascii: "A") + 10
        default: nil
        }
    }
}
