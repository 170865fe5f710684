/// A Solidity ABI type: elementary types, dynamic and fixed-size arrays, and tuples.
public indirect enum ABIType: Hashable, Sendable, CustomStringConvertible {
    case uint(Int)
    case int(Int)
    case address
    case bool
    /// bytes1 … bytes32.
    case fixedBytes(Int)
    case bytes
    case string
    /// T[]
    case array(ABIType)
    /// T[k]
    case fixedArray(ABIType, Int)
    /// (T1,T2,…)
    case tuple([ABIType])

    /// The deepest nesting of arrays and tuples a parsed type may have.
    public static let maxDepth = 32
    /// The largest k accepted in T[k].
    public static let maxFixedArrayLength = 65_536

    /// The canonical name used in signatures, such as `uint256` or `(address,bytes32)[]`.
    public var canonicalName: String {
        switch self {
        case .uint(let bits): "uint\(bits)"
        case .int(let bits): "int\(bits)"
        case .address: "address"
        case .bool: "bool"
        case .fixedBytes(let count): "bytes\(count)"
        case .bytes: "bytes"
        case .string: "string"
        case .array(let element): "\(element.canonicalName)[]"
        case .fixedArray(let element, let count): "\(element.canonicalName)[\(count)]"
        case .tuple(let elements): "(" + elements.map(\.canonicalName).joined(separator: ",") + ")"
        }
    }

    /// The canonical name.
    public var description: String { canonicalName }

    /// Whether the encoding has a variable size (and so sits in the tail, behind an offset).
    public var isDynamic: Bool {
        switch self {
        case .bytes, .string, .array: true
        case .fixedArray(let element, _): element.isDynamic
        case .tuple(let elements): elements.contains { $0.isDynamic }
        default: false
        }
    }

    /// The bytes the type takes in a head: 32 for a dynamic type (its offset), else its whole encoding.
    public var headSize: Int {
        switch self {
        case _ where isDynamic: 32
        case .fixedArray(let element, let count): element.headSize * count
        case .tuple(let elements): elements.reduce(0) { $0 + $1.headSize }
        default: 32
        }
    }

    /// Parses a type from its text, such as `uint256`, `uint` (= uint256), `bytes32[2][]`, `(uint8,string)[]` or
    /// `tuple(address,bool)`.
    public init(parsing text: some StringProtocol) throws(CodecError) {
        var parser = ABITypeParser(Array(text.utf8))
        self = try parser.parseType(depth: 0)
        guard parser.atEnd else { throw .invalidABI("unexpected text after type in '\(text)'") }
    }
}

/// A recursive-descent parser of ABI type text.
struct ABITypeParser {
    private let text: [UInt8]
    private var position = 0

    init(_ text: [UInt8]) { self.text = text }

    var atEnd: Bool { position == text.count }

    private var rest: String { String(decoding: text[position...], as: UTF8.self) }

    mutating func parseType(depth: Int) throws(CodecError) -> ABIType {
        guard depth <= ABIType.maxDepth else { throw .invalidABI("type nested deeper than \(ABIType.maxDepth)") }
        var type: ABIType
        if text[position...].starts(with: "tuple(".utf8) { position += 5 }
        if position < text.count && text[position] == UInt8(ascii: "(") {
            position += 1
            var elements: [ABIType] = []
            if position < text.count && text[position] == UInt8(ascii: ")") {
                position += 1
            } else {
                while true {
                    elements.append(try parseType(depth: depth + 1))
                    guard position < text.count else { throw .invalidABI("unterminated tuple type") }
                    let separator = text[position]
                    position += 1
                    if separator == UInt8(ascii: ")") { break }
                    guard separator == UInt8(ascii: ",") else { throw .invalidABI("expected ',' or ')' in tuple type") }
                }
            }
            type = .tuple(elements)
        } else {
            let start = position
            while position < text.count, Self.isNameByte(text[position]) { position += 1 }
            type = try Self.elementary(String(decoding: text[start..<position], as: UTF8.self))
        }
        var arrayDepth = 0
        while position < text.count && text[position] == UInt8(ascii: "[") {
            arrayDepth += 1
            guard depth + arrayDepth <= ABIType.maxDepth else {
                throw .invalidABI("type nested deeper than \(ABIType.maxDepth)")
            }
            position += 1
            let start = position
            while position < text.count, text[position] >= 48, text[position] <= 57 { position += 1 }
            guard position < text.count, text[position] == UInt8(ascii: "]") else {
                throw .invalidABI("malformed array suffix in '\(rest)'")
            }
            let digits = String(decoding: text[start..<position], as: UTF8.self)
            position += 1
            if digits.isEmpty {
                type = .array(type)
            } else {
                guard !digits.hasPrefix("0"), let count = Int(digits), count <= ABIType.maxFixedArrayLength else {
                    throw .invalidABI("fixed array length '\(digits)' is not in 1...\(ABIType.maxFixedArrayLength)")
                }
                type = .fixedArray(type, count)
            }
        }
        return type
    }

    private static func isNameByte(_ byte: UInt8) -> Bool {
        (byte >= 97 && byte <= 122) || (byte >= 48 && byte <= 57)
    }

    private static func elementary(_ name: String) throws(CodecError) -> ABIType {
        func size(_ suffix: Substring) -> Int? {
            guard !suffix.hasPrefix("0"), let value = Int(suffix) else { return nil }
            return value
        }
        switch name {
        case "address": return .address
        case "bool": return .bool
        case "bytes": return .bytes
        case "string": return .string
        case "uint": return .uint(256)
        case "int": return .int(256)
        default: break
        }
        if name.hasPrefix("uint"), let bits = size(name.dropFirst(4)), bits % 8 == 0, (8...256).contains(bits) {
            return .uint(bits)
        }
        if name.hasPrefix("int"), let bits = size(name.dropFirst(3)), bits % 8 == 0, (8...256).contains(bits) {
            return .int(bits)
        }
        if name.hasPrefix("bytes"), let count = size(name.dropFirst(5)), (1...32).contains(count) {
            return .fixedBytes(count)
        }
        throw .invalidABI("unknown type '\(name)'")
    }
}
