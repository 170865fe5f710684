/// Solidity ABI encoding and strict decoding (Solidity docs, "Contract ABI Specification").
public enum ABI {
    /// Encodes `values` as the tuple `types`, as function arguments and return data are encoded.
    public static func encode(_ values: [ABIValue], as types: [ABIType]) throws(CodecError) -> [UInt8] {
        var out: [UInt8] = []
        try encodeTuple(values, types, into: &out)
        return out
    }

    /// Decodes `data` as the tuple `types`.
    ///
    /// Strict: offsets and lengths must stay inside the data, padding must be zero, booleans 0 or 1, integers and
    /// addresses within their width. Trailing bytes after the encoding are allowed, as in calldata.
    public static func decode(_ data: [UInt8], as types: [ABIType]) throws(CodecError) -> [ABIValue] {
        try data.withUnsafeBufferPointer { buffer throws(CodecError) in
            let decoder = ABIDecoder(data: buffer)
            return try decoder.decodeTuple(types, at: 0, depth: 0)
        }
    }

    // MARK: Encoding

    private static func encodeTuple(_ values: [ABIValue], _ types: [ABIType], into out: inout [UInt8])
        throws(CodecError)
    {
        guard values.count == types.count else {
            throw .invalidABI("\(values.count) value(s) for \(types.count) type(s)")
        }
        let start = out.count
        let headSize = types.reduce(0) { $0 + $1.headSize }
        out.append(contentsOf: repeatElement(0, count: headSize))
        var headPosition = start
        for (value, type) in zip(values, types) {
            if type.isDynamic {
                let offset = UInt256(out.count - start)
                out.replaceSubrange(headPosition..<headPosition + 32, with: offset.bigEndianBytes)
                try encodeValue(value, type, into: &out)
            } else {
                var head: [UInt8] = []
                try encodeValue(value, type, into: &head)
                out.replaceSubrange(headPosition..<headPosition + head.count, with: head)
            }
            headPosition += type.headSize
        }
    }

    private static func encodeValue(_ value: ABIValue, _ type: ABIType, into out: inout [UInt8]) throws(CodecError) {
        switch (type, value) {
        case (.uint(let bits), .uint(let word)):
            guard word.bitWidth <= bits else { throw .invalidABI("\(word) does not fit in uint\(bits)") }
            out += word.bigEndianBytes
        case (.int(let bits), .int(let word)):
            guard fitsSigned(word, bits: bits) else {
                throw .invalidABI("\(ABIValue.signedDescription(word)) does not fit in int\(bits)")
            }
            out += word.bigEndianBytes
        case (.address, .address(let address)):
            out += [UInt8](repeating: 0, count: 12) + address.bytes
        case (.bool, .bool(let flag)):
            out += [UInt8](repeating: 0, count: 31) + [flag ? 1 : 0]
        case (.fixedBytes(let count), .fixedBytes(let bytes)):
            guard bytes.count == count else { throw .invalidABI("\(bytes.count) bytes for bytes\(count)") }
            out += bytes + [UInt8](repeating: 0, count: 32 - count)
        case (.bytes, .bytes(let bytes)):
            appendPadded(bytes, to: &out)
        case (.string, .string(let string)):
            appendPadded(Array(string.utf8), to: &out)
        case (.array(let element), .array(let elements)):
            out += UInt256(elements.count).bigEndianBytes
            try encodeTuple(elements, Array(repeating: element, count: elements.count), into: &out)
        case (.fixedArray(let element, let count), .array(let elements)):
            guard elements.count == count else { throw .invalidABI("\(elements.count) element(s) for \(type)") }
            try encodeTuple(elements, Array(repeating: element, count: count), into: &out)
        case (.tuple(let types), .tuple(let elements)):
            try encodeTuple(elements, types, into: &out)
        default:
            throw .invalidABI("value \(value) is not of type \(type)")
        }
    }

    private static func appendPadded(_ bytes: [UInt8], to out: inout [UInt8]) {
        out += UInt256(bytes.count).bigEndianBytes
        out += bytes
        out += [UInt8](repeating: 0, count: (32 - bytes.count % 32) % 32)
    }

    /// Whether a two's complement word is within intN: its bits above N−1 are all copies of the sign bit.
    static func fitsSigned(_ word: UInt256, bits: Int) -> Bool {
        if bits == 256 { return true }
        let high = word >> (bits - 1)
        return high == .zero || high == UInt256.max >> (bits - 1)
    }
}

/// Reads an ABI encoding with every offset and length checked against the data.
///
/// Offsets may point anywhere, including at the same tail twice; the work budget (proportional to the data
/// size) stops an encoding whose shared tails would make decoding blow up exponentially.
private final class ABIDecoder {
    let data: UnsafeBufferPointer<UInt8>
    private var budget: Int

    init(data: UnsafeBufferPointer<UInt8>) {
        self.data = data
        budget = 64 + data.count * 2
    }

    func word(at position: Int) throws(CodecError) -> UInt256 {
        guard position >= 0, position <= data.count - 32 else {
            throw .invalidABI("truncated: a 32-byte word at \(position) runs past the \(data.count)-byte data")
        }
        return UInt256(bigEndian: data[position..<position + 32])!
    }

    /// A word used as an offset or length: it must be small enough to index the data.
    func size(at position: Int, what: String) throws(CodecError) -> Int {
        let value = try word(at: position)
        guard let small = value.uint64, small <= UInt64(data.count) else {
            throw .invalidABI("\(what) \(value) at \(position) exceeds the \(data.count)-byte data")
        }
        return Int(small)
    }

    func decodeTuple(_ types: [ABIType], at start: Int, depth: Int) throws(CodecError) -> [ABIValue] {
        guard depth <= ABIType.maxDepth else { throw .invalidABI("nested deeper than \(ABIType.maxDepth)") }
        var values: [ABIValue] = []
        values.reserveCapacity(types.count)
        var headPosition = start
        for type in types {
            if type.isDynamic {
                let offset = try size(at: headPosition, what: "offset")
                guard start + offset <= data.count else {
                    throw .invalidABI("offset \(offset) at \(headPosition) points past the data")
                }
                values.append(try decodeValue(type, at: start + offset, depth: depth + 1))
            } else {
                values.append(try decodeValue(type, at: headPosition, depth: depth + 1))
            }
            headPosition += type.headSize
        }
        return values
    }

    func decodeValue(_ type: ABIType, at position: Int, depth: Int) throws(CodecError) -> ABIValue {
        budget -= 1
        guard budget >= 0 else { throw .invalidABI("encoding decodes to far more values than its size allows") }
        switch type {
        case .uint(let bits):
            let value = try word(at: position)
            guard value.bitWidth <= bits else { throw .invalidABI("value at \(position) does not fit in uint\(bits)") }
            return .uint(value)
        case .int(let bits):
            let value = try word(at: position)
            guard ABI.fitsSigned(value, bits: bits) else {
                throw .invalidABI("value at \(position) is not a sign-extended int\(bits)")
            }
            return .int(value)
        case .address:
            let value = try word(at: position)
            guard value.bitWidth <= 160 else { throw .invalidABI("address at \(position) has nonzero high bytes") }
            return .address(try Address(bytes: Array(value.bigEndianBytes.suffix(20))))
        case .bool:
            let value = try word(at: position)
            guard value <= UInt256(1) else { throw .invalidABI("bool at \(position) is neither 0 nor 1") }
            return .bool(value == UInt256(1))
        case .fixedBytes(let count):
            let bytes = try word(at: position).bigEndianBytes
            guard bytes[count...].allSatisfy({ $0 == 0 }) else {
                throw .invalidABI("bytes\(count) at \(position) has nonzero padding")
            }
            return .fixedBytes(Array(bytes[..<count]))
        case .bytes:
            return .bytes(try paddedBytes(at: position))
        case .string:
            let bytes = try paddedBytes(at: position)
            guard let string = String(validating: bytes, as: UTF8.self) else {
                throw .invalidABI("string at \(position) is not valid UTF-8")
            }
            return .string(string)
        case .array(let element):
            let count = try size(at: position, what: "array length")
            // Each element takes at least one head; a length the data cannot hold is rejected before allocating.
            guard count <= (data.count - position - 32) / max(1, element.headSize) else {
                throw .invalidABI("array length \(count) at \(position) exceeds the data")
            }
            return .array(try decodeTuple(Array(repeating: element, count: count), at: position + 32, depth: depth))
        case .fixedArray(let element, let count):
            return .array(try decodeTuple(Array(repeating: element, count: count), at: position, depth: depth))
        case .tuple(let types):
            return .tuple(try decodeTuple(types, at: position, depth: depth))
        }
    }

    private func paddedBytes(at position: Int) throws(CodecError) -> [UInt8] {
        let length = try size(at: position, what: "length")
        let start = position + 32
        let padded = (length + 31) / 32 * 32
        guard padded <= data.count - start else {
            throw .invalidABI("\(length) bytes at \(position) run past the data")
        }
        guard data[(start + length)..<(start + padded)].allSatisfy({ $0 == 0 }) else {
            throw .invalidABI("bytes at \(position) have nonzero padding")
        }
        return Array(data[start..<start + length])
    }
}
