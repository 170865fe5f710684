import Codec

/// A Swift type that a predeploy argument decodes to. Arguments are decoded by the signature's ABI types
/// first, so converting an accepted value cannot fail.
public protocol ABIArgument: Sendable {
    /// Whether values of `type` convert to this Swift type.
    static func accepts(_ type: ABIType) -> Bool
    /// The Swift value of a value decoded as an accepted type.
    init(abi value: ABIValue)
}

extension UInt256: ABIArgument {
    /// Any unsigned integer type.
    public static func accepts(_ type: ABIType) -> Bool {
        if case .uint = type { return true }
        return false
    }

    /// The word of a uint value.
    public init(abi value: ABIValue) {
        guard case .uint(let word) = value else { preconditionFailure("not a uint: \(value)") }
        self = word
    }
}

extension UInt64: ABIArgument {
    /// Unsigned integers of at most 64 bits.
    public static func accepts(_ type: ABIType) -> Bool {
        if case .uint(let bits) = type { return bits <= 64 }
        return false
    }

    /// The value of a uint of at most 64 bits (the decoder checked its width).
    public init(abi value: ABIValue) { self = UInt256(abi: value).uint64! }
}

extension Address: ABIArgument {
    /// `address`.
    public static func accepts(_ type: ABIType) -> Bool { type == .address }

    /// The address of an address value.
    public init(abi value: ABIValue) {
        guard case .address(let address) = value else { preconditionFailure("not an address: \(value)") }
        self = address
    }
}

extension Bool: ABIArgument {
    /// `bool`.
    public static func accepts(_ type: ABIType) -> Bool { type == .bool }

    /// The truth of a bool value.
    public init(abi value: ABIValue) {
        guard case .bool(let bool) = value else { preconditionFailure("not a bool: \(value)") }
        self = bool
    }
}

extension String: ABIArgument {
    /// `string`.
    public static func accepts(_ type: ABIType) -> Bool { type == .string }

    /// The text of a string value.
    public init(abi value: ABIValue) {
        guard case .string(let text) = value else { preconditionFailure("not a string: \(value)") }
        self = text
    }
}

extension Array: ABIArgument where Element: ABIArgument {
    /// `bytes` and `bytesN` when the elements are bytes; `T[]` and `T[k]` of an accepted `T` otherwise.
    public static func accepts(_ type: ABIType) -> Bool {
        if Element.self == UInt8.self {
            switch type {
            case .bytes, .fixedBytes: return true
            default: return false
            }
        }
        switch type {
        case .array(let element), .fixedArray(let element, _): return Element.accepts(element)
        default: return false
        }
    }

    /// The bytes of a bytes value, or the elements of an array.
    public init(abi value: ABIValue) {
        switch value {
        case .bytes(let bytes), .fixedBytes(let bytes): self = bytes as! [Element]
        case .array(let elements): self = elements.map { Element(abi: $0) }
        default: preconditionFailure("not bytes or an array: \(value)")
        }
    }
}

extension UInt8: ABIArgument {
    /// `uint8`.
    public static func accepts(_ type: ABIType) -> Bool { type == .uint(8) }

    /// The value of a uint8.
    public init(abi value: ABIValue) { self = UInt8(UInt256(abi: value).uint64!) }
}
