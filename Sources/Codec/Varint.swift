/// Unsigned LEB128 varints as multiformats and protobuf use them.
public enum Varint {
    /// The multiformats unsigned-varint limit: 9 bytes, 63 bits.
    public static let maxBytes = 9

    /// The encoding of `value`.
    public static func encode(_ value: UInt64) -> [UInt8] {
        var out: [UInt8] = []
        append(value, to: &out)
        return out
    }

    /// The bytes the encoding of `value` takes.
    @inlinable
    public static func size(_ value: UInt64) -> Int {
        var value = value
        var count = 1
        while value >= 0x80 {
            value >>= 7
            count += 1
        }
        return count
    }

    /// Appends the encoding of `value` to `out`.
    public static func append(_ value: UInt64, to out: inout [UInt8]) {
        var value = value
        while value >= 0x80 {
            out.append(UInt8(truncatingIfNeeded: value) | 0x80)
            value >>= 7
        }
        out.append(UInt8(value))
    }

    /// Reads a varint at `position` in `bytes` and advances past it.
    ///
    /// Rejects truncated, overlong (more than `maxBytes`, or over 63 bits) and non-minimal encodings (a trailing 0x00
    /// continuation group).
    public static func read(
        _ bytes: some Collection<UInt8>, at position: inout Int, maxBytes: Int = Varint.maxBytes
    ) throws(CodecError) -> UInt64 {
        var value: UInt64 = 0
        var shift: UInt64 = 0
        var index = bytes.index(bytes.startIndex, offsetBy: position)
        for count in 1...maxBytes {
            guard index < bytes.endIndex else { throw .invalidVarint("truncated at byte \(position + count - 1)") }
            let byte = bytes[index]
            index = bytes.index(after: index)
            if shift == 63 && byte > 1 { throw .invalidVarint("value exceeds 64 bits") }
            value |= UInt64(byte & 0x7F) << shift
            if byte & 0x80 == 0 {
                if byte == 0 && count > 1 { throw .invalidVarint("non-minimal encoding") }
                if maxBytes == Varint.maxBytes && value > UInt64(Int64.max) {
                    throw .invalidVarint("value exceeds 63 bits")
                }
                position += count
                return value
            }
            shift += 7
        }
        throw .invalidVarint("longer than \(maxBytes) bytes")
    }

    /// Decodes exactly one varint spanning all of `bytes`.
    public static func decode(_ bytes: [UInt8]) throws(CodecError) -> UInt64 {
        var position = 0
        let value = try read(bytes, at: &position)
        guard position == bytes.count else { throw .invalidVarint("\(bytes.count - position) trailing byte(s)") }
        return value
    }
}
