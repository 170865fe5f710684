import Crypto
import Foundation

/// A JSON value as EIP-712 messages carry them; numbers keep their decimal text so that no precision is lost.
public indirect enum EIP712Value: Hashable, Sendable {
    case string(String)
    case number(String)
    case bool(Bool)
    case array([EIP712Value])
    case object([String: EIP712Value])
    case null

    /// Converts a value parsed by `JSONSerialization`.
    public init(json: Any) throws(CodecError) {
        switch json {
        case let string as String: self = .string(string)
        // JSON true/false arrive as NSNumber of type char ("c"); integers never do.
        case let number as NSNumber where String(cString: number.objCType) == "c": self = .bool(number.boolValue)
        case let number as NSNumber:
            let text = number.stringValue
            guard !text.contains("."), !text.contains("e") else {
                throw .invalidTypedData("number \(text) is not an integer")
            }
            self = .number(text)
        case let array as [Any]:
            var values: [EIP712Value] = []
            for element in array { values.append(try EIP712Value(json: element)) }
            self = .array(values)
        case let object as [String: Any]:
            var values: [String: EIP712Value] = [:]
            for (key, element) in object { values[key] = try EIP712Value(json: element) }
            self = .object(values)
        case is NSNull: self = .null
        default: throw .invalidTypedData("unsupported JSON value \(json)")
        }
    }
}

/// EIP-712 typed structured data: type definitions, a domain and a message, hashed as the EIP specifies for
/// any struct definitions (nested structs, arrays of any type, recursive types).
public struct EIP712TypedData: Sendable {
    /// A member of a struct type.
    public struct Field: Hashable, Sendable {
        /// The member's name.
        public var name: String
        /// The member's type as written in the definition: `uint256`, `address[]`, a struct name, ….
        public var type: String

        /// A member named `name` of type `type`.
        public init(name: String, type: String) {
            self.name = name
            self.type = type
        }
    }

    /// The struct definitions by type name, each an ordered member list.
    public var types: [String: [Field]]
    /// The name of the struct type `message` is an instance of.
    public var primaryType: String
    /// The `EIP712Domain` values (name, version, chain id, verifying contract, …).
    public var domain: [String: EIP712Value]
    /// The message's member values by name.
    public var message: [String: EIP712Value]

    /// The largest nesting of structs and arrays in a message.
    public static let maxDepth = 32

    /// Typed data from its parts, unchecked until it is hashed.
    public init(
        types: [String: [Field]], primaryType: String, domain: [String: EIP712Value], message: [String: EIP712Value]
    ) {
        self.types = types
        self.primaryType = primaryType
        self.domain = domain
        self.message = message
    }

    /// Parses the standard JSON form (`eth_signTypedData_v4`): `{types, primaryType, domain, message}`.
    public init(json data: Data) throws(CodecError) {
        // Our own reader keeps big numbers exact; Foundation's would round them.
        guard case .object(let root) = try EIP712JSONReader.parse(Array(data)) else {
            throw .invalidTypedData("top level is not an object")
        }
        guard case .object(let typeObject)? = root["types"] else { throw .invalidTypedData("missing types") }
        var types: [String: [Field]] = [:]
        for (name, definition) in typeObject {
            guard case .array(let members) = definition else { throw .invalidTypedData("type \(name) is not a list") }
            types[name] = try members.map { member throws(CodecError) in
                guard case .object(let field) = member, case .string(let fieldName)? = field["name"],
                    case .string(let fieldType)? = field["type"]
                else { throw .invalidTypedData("a member of \(name) lacks a name or type") }
                return Field(name: fieldName, type: fieldType)
            }
        }
        guard case .string(let primaryType)? = root["primaryType"] else {
            throw .invalidTypedData("missing primaryType")
        }
        guard case .object(let domain)? = root["domain"] else { throw .invalidTypedData("missing domain") }
        guard case .object(let message)? = root["message"] else { throw .invalidTypedData("missing message") }
        self.init(types: types, primaryType: primaryType, domain: domain, message: message)
    }

    // MARK: Types

    /// `Name(type1 name1,…)` for the type followed by its dependencies in alphabetical order.
    public func encodeType(_ name: String) throws(CodecError) -> String {
        var dependencies: Set<String> = []
        try collectDependencies(name, into: &dependencies)
        dependencies.remove(name)
        return try ([name] + dependencies.sorted()).map { type throws(CodecError) in
            let fields = try self.fields(of: type)
            return type + "(" + fields.map { "\($0.type) \($0.name)" }.joined(separator: ",") + ")"
        }.joined()
    }

    /// keccak256(encodeType(name)).
    public func typeHash(_ name: String) throws(CodecError) -> [UInt8] {
        Keccak256.hash(Array(try encodeType(name).utf8))
    }

    private func fields(of type: String) throws(CodecError) -> [Field] {
        guard let fields = types[type] else { throw .invalidTypedData("unknown struct type \(type)") }
        return fields
    }

    private func collectDependencies(_ type: String, into found: inout Set<String>) throws(CodecError) {
        let base = Self.baseType(type)
        guard types[base] != nil, !found.contains(base) else { return }
        found.insert(base)
        for field in try fields(of: base) { try collectDependencies(field.type, into: &found) }
    }

    /// `T` for `T`, `T[]`, `T[3][]`.
    private static func baseType(_ type: String) -> String {
        String(type.prefix { $0 != "[" })
    }

    // MARK: Hashing

    /// typeHash ‖ the encoding of each field of `value`.
    public func encodeData(_ type: String, _ value: [String: EIP712Value]) throws(CodecError) -> [UInt8] {
        try encodeData(type, value, depth: 0)
    }

    private func encodeData(_ type: String, _ value: [String: EIP712Value], depth: Int) throws(CodecError) -> [UInt8] {
        guard depth <= Self.maxDepth else { throw .invalidTypedData("message nested deeper than \(Self.maxDepth)") }
        var out = try typeHash(type)
        for field in try fields(of: type) {
            guard let fieldValue = value[field.name] else {
                throw .invalidTypedData("\(type).\(field.name) is missing")
            }
            out += try encodeField(field.type, fieldValue, path: "\(type).\(field.name)", depth: depth)
        }
        return out
    }

    /// keccak256(encodeData(type, value)).
    public func hashStruct(_ type: String, _ value: [String: EIP712Value]) throws(CodecError) -> [UInt8] {
        Keccak256.hash(try encodeData(type, value))
    }

    /// hashStruct("EIP712Domain", domain).
    public func domainSeparator() throws(CodecError) -> [UInt8] { try hashStruct("EIP712Domain", domain) }

    /// The digest that is signed: keccak256(0x19 0x01 ‖ domainSeparator ‖ hashStruct(primaryType, message)).
    public func digest() throws(CodecError) -> [UInt8] {
        Keccak256.hash([0x19, 0x01] + (try domainSeparator()) + (try hashStruct(primaryType, message)))
    }

    /// The 32-byte encoding of one field value.
    private func encodeField(_ type: String, _ value: EIP712Value, path: String, depth: Int) throws(CodecError)
        -> [UInt8]
    {
        if type.hasSuffix("]"), let open = type.lastIndex(of: "[") {
            let elementType = String(type[..<open])
            let sizeText = type[type.index(after: open)..<type.index(before: type.endIndex)]
            guard case .array(let elements) = value else { throw .invalidTypedData("\(path) is not an array") }
            if !sizeText.isEmpty {
                guard let size = Int(sizeText), size == elements.count else {
                    throw .invalidTypedData("\(path) has \(elements.count) elements, type \(type)")
                }
            }
            var concatenated: [UInt8] = []
            for (index, element) in elements.enumerated() {
                concatenated += try encodeField(elementType, element, path: "\(path)[\(index)]", depth: depth + 1)
            }
            return Keccak256.hash(concatenated)
        }
        if types[type] != nil {
            guard case .object(let object) = value else { throw .invalidTypedData("\(path) is not an object") }
            return Keccak256.hash(try encodeData(type, object, depth: depth + 1))
        }
        switch type {
        case "string":
            guard case .string(let text) = value else { throw .invalidTypedData("\(path) is not a string") }
            return Keccak256.hash(Array(text.utf8))
        case "bytes":
            return Keccak256.hash(try Self.hexBytes(value, path: path))
        default:
            let abiType: ABIType
            do {
                abiType = try ABIType(parsing: type)
            } catch {
                throw .invalidTypedData("\(path) has unknown type \(type)")
            }
            return try ABI.encode([try Self.atomicValue(value, abiType, path: path)], as: [abiType])
        }
    }

    private static func hexBytes(_ value: EIP712Value, path: String) throws(CodecError) -> [UInt8] {
        guard case .string(let text) = value, text.hasPrefix("0x") else {
            throw .invalidTypedData("\(path) is not 0x-prefixed hex")
        }
        do {
            return try Hex.decode(text)
        } catch {
            throw .invalidTypedData("\(path): \(error)")
        }
    }

    private static func atomicValue(_ value: EIP712Value, _ type: ABIType, path: String) throws(CodecError) -> ABIValue
    {
        switch type {
        case .uint, .int:
            let text: String
            switch value {
            case .number(let number): text = number
            case .string(let string): text = string
            default: throw .invalidTypedData("\(path) is not a number")
            }
            let negative = text.hasPrefix("-")
            let digits = negative ? String(text.dropFirst()) : text
            let magnitude = digits.hasPrefix("0x") ? UInt256(hex: digits) : UInt256(decimal: digits)
            guard let magnitude else { throw .invalidTypedData("\(path) = \(text) is not an integer") }
            if case .uint = type {
                guard !negative || magnitude == .zero else { throw .invalidTypedData("\(path) is negative") }
                return .uint(magnitude)
            }
            let word = negative ? UInt256.zero &- magnitude : magnitude
            guard negative ? magnitude <= UInt256(1) << 255 : magnitude < UInt256(1) << 255 else {
                throw .invalidTypedData("\(path) = \(text) does not fit in 256 bits")
            }
            return .int(word)
        case .address:
            let bytes = try hexBytes(value, path: path)
            guard bytes.count == 20 else { throw .invalidTypedData("\(path) is not a 20-byte address") }
            return .address(try Address(bytes: bytes))
        case .bool:
            guard case .bool(let flag) = value else { throw .invalidTypedData("\(path) is not a boolean") }
            return .bool(flag)
        case .fixedBytes(let count):
            let bytes = try hexBytes(value, path: path)
            guard bytes.count == count else { throw .invalidTypedData("\(path) is not \(count) bytes") }
            return .fixedBytes(bytes)
        default:
            throw .invalidTypedData("\(path) has type \(type), which EIP-712 does not allow here")
        }
    }
}
