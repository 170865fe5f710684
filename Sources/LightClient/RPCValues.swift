import Codec
import Foundation

/// Reading server answers: anything of the wrong shape is a `malformedResponse` naming the field.
enum RPCValues {
    static func object(_ value: Any?, _ what: String) throws(LightClientError) -> [String: Any] {
        guard let object = value as? [String: Any] else { throw .malformedResponse("\(what) is not an object") }
        return object
    }

    static func array(_ value: Any?, _ what: String) throws(LightClientError) -> [Any] {
        guard let array = value as? [Any] else { throw .malformedResponse("\(what) is not a list") }
        return array
    }

    static func bytes(_ value: Any?, _ what: String) throws(LightClientError) -> [UInt8] {
        guard let text = value as? String, text.hasPrefix("0x"), let bytes = try? Hex.decode(text) else {
            throw .malformedResponse("\(what) is not 0x-hex")
        }
        return bytes
    }

    static func quantity(_ value: Any?, _ what: String) throws(LightClientError) -> UInt256 {
        guard let text = value as? String, text.hasPrefix("0x"), let number = UInt256(hex: text) else {
            throw .malformedResponse("\(what) is not a hex quantity")
        }
        return number
    }

    static func uint64(_ value: Any?, _ what: String) throws(LightClientError) -> UInt64 {
        guard let number = try quantity(value, what).uint64 else { throw .malformedResponse("\(what) over 64 bits") }
        return number
    }

    static func address(_ value: Any?, _ what: String) throws(LightClientError) -> Address {
        guard let address = try? Address(bytes: try bytes(value, what)) else {
            throw .malformedResponse("\(what) is not an address")
        }
        return address
    }
}
