/// A value of an ABI type.
///
/// Integers are 256-bit words: unsigned as is, signed in two's complement.
public indirect enum ABIValue: Hashable, Sendable {
    case uint(UInt256)
    /// A signed integer as its 256-bit two's complement word.
    case int(UInt256)
    case address(Address)
    case bool(Bool)
    case fixedBytes([UInt8])
    case bytes([UInt8])
    case string(String)
    /// The elements of a T[] or T[k].
    case array([ABIValue])
    case tuple([ABIValue])

    /// A signed integer value.
    public static func signed(_ value: Int64) -> ABIValue {
        .int(value < 0 ? UInt256.zero &- UInt256(value.magnitude) : UInt256(value))
    }

    /// A signed integer from decimal text with an optional leading '-', or nil if malformed or out of range.
    public static func signed(decimal text: String) -> ABIValue? {
        let negative = text.hasPrefix("-")
        guard let magnitude = UInt256(decimal: negative ? text.dropFirst() : Substring(text)) else { return nil }
        if negative {
            guard magnitude <= UInt256(1) << 255 else { return nil }
            return .int(UInt256.zero &- magnitude)
        }
        guard magnitude < UInt256(1) << 255 else { return nil }
        return .int(magnitude)
    }

    /// The decimal text of a signed word (two's complement).
    public static func signedDescription(_ word: UInt256) -> String {
        word >> 255 == UInt256(1) ? "-" + (UInt256.zero &- word).description : word.description
    }
}
