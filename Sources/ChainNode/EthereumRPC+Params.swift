import Chain
import Codec
import Foundation

/// Reading JSON-RPC parameters: every malformed value becomes an "invalid argument" error naming it.
struct RPCParams {
    let values: [Any]

    init(_ values: [Any]) { self.values = values }

    func count(_ range: ClosedRange<Int>) throws(RPCError) {
        guard range.contains(values.count) else {
            throw .invalidParams(
                "expected \(range.lowerBound == range.upperBound ? "\(range.lowerBound)" : "\(range.lowerBound) to \(range.upperBound)") arguments, got \(values.count)"
            )
        }
    }

    func has(_ index: Int) -> Bool { index < values.count && !(values[index] is NSNull) }

    func string(_ index: Int) throws(RPCError) -> String {
        guard index < values.count, let text = values[index] as? String else {
            throw .invalidParams("argument \(index) must be a string")
        }
        return text
    }

    func bytes(_ index: Int) throws(RPCError) -> [UInt8] {
        try Self.bytes(try string(index), what: "argument \(index)")
    }

    static func bytes(_ text: String, what: String) throws(RPCError) -> [UInt8] {
        guard text.hasPrefix("0x") || text.hasPrefix("0X") else {
            throw .invalidParams("\(what): hex string without 0x prefix")
        }
        do {
            return try Hex.decode(text)
        } catch {
            throw .invalidParams("\(what): \(error)")
        }
    }

    static func hash(_ text: String, what: String) throws(RPCError) -> [UInt8] {
        let value = try bytes(text, what: what)
        guard value.count == 32 else {
            throw .invalidParams("\(what): hex string has length \(value.count * 2), want 64 for common.Hash")
        }
        return value
    }

    func hash(_ index: Int) throws(RPCError) -> [UInt8] { try Self.hash(try string(index), what: "argument \(index)") }

    static func address(_ text: String, what: String) throws(RPCError) -> Address {
        let value = try bytes(text, what: what)
        guard value.count == 20 else {
            throw .invalidParams("\(what): hex string has length \(value.count * 2), want 40 for common.Address")
        }
        return try! Address(bytes: value)
    }

    func address(_ index: Int) throws(RPCError) -> Address {
        try Self.address(try string(index), what: "argument \(index)")
    }

    static func quantity(_ text: String, what: String) throws(RPCError) -> UInt256 {
        guard text.hasPrefix("0x"), text.count > 2 else {
            throw .invalidParams("\(what): hex string without 0x prefix")
        }
        guard text.count == 3 || text.dropFirst(2).first != "0" else {
            throw .invalidParams("\(what): hex number with leading zero digits")
        }
        guard let value = UInt256(hex: text) else { throw .invalidParams("\(what): invalid hex number") }
        return value
    }

    func quantity(_ index: Int) throws(RPCError) -> UInt256 {
        try Self.quantity(try string(index), what: "argument \(index)")
    }

    func uint64(_ index: Int) throws(RPCError) -> UInt64 {
        if index < values.count, let number = values[index] as? NSNumber, !(String(cString: number.objCType) == "c"),
            number.int64Value >= 0
        {
            return UInt64(number.int64Value)
        }
        guard let value = try quantity(index).uint64 else {
            throw .invalidParams("argument \(index): number too large")
        }
        return value
    }

    func bool(_ index: Int) throws(RPCError) -> Bool {
        guard index < values.count, let number = values[index] as? NSNumber, String(cString: number.objCType) == "c"
        else { throw .invalidParams("argument \(index) must be a boolean") }
        return number.boolValue
    }

    func object(_ index: Int) throws(RPCError) -> [String: Any] {
        guard index < values.count, let object = values[index] as? [String: Any] else {
            throw .invalidParams("argument \(index) must be an object")
        }
        return object
    }
}

/// JSON forms of Ethereum values.
enum JSON {
    static func quantity(_ value: UInt64) -> String { "0x" + String(value, radix: 16) }
    static func quantity(_ value: UInt256) -> String { value.hexQuantity }
    static func data(_ bytes: [UInt8]) -> String { Hex.encode(bytes) }
}
