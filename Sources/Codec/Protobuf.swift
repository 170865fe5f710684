/// Protocol Buffers wire types.
public enum ProtobufWireType: UInt8, Sendable {
    case varint = 0
    case fixed64 = 1
    case lengthDelimited = 2
    case fixed32 = 5
}

/// Writes protobuf wire format: field keys, varints, zigzag, fixed-width and length-delimited values.
public struct ProtobufWriter: Sendable {
    /// The bytes written so far.
    public private(set) var bytes: [UInt8] = []

    /// An empty message.
    public init() {}

    private mutating func key(_ field: Int, _ type: ProtobufWireType) {
        precondition(field >= 1 && field <= ProtobufReader.maxFieldNumber, "protobuf field number out of range")
        Varint.append(UInt64(field) << 3 | UInt64(type.rawValue), to: &bytes)
    }

    /// A varint field (int32/int64/uint32/uint64/bool/enum).
    public mutating func varint(_ field: Int, _ value: UInt64) {
        key(field, .varint)
        Varint.append(value, to: &bytes)
    }

    /// A zigzag-encoded signed field (sint32/sint64).
    public mutating func sint(_ field: Int, _ value: Int64) {
        varint(field, UInt64(bitPattern: (value << 1) ^ (value >> 63)))
    }

    /// A fixed64 field.
    public mutating func fixed64(_ field: Int, _ value: UInt64) {
        key(field, .fixed64)
        for shift in stride(from: 0, to: 64, by: 8) { bytes.append(UInt8(truncatingIfNeeded: value >> UInt64(shift))) }
    }

    /// A fixed32 field.
    public mutating func fixed32(_ field: Int, _ value: UInt32) {
        key(field, .fixed32)
        for shift in stride(from: 0, to: 32, by: 8) { bytes.append(UInt8(truncatingIfNeeded: value >> UInt32(shift))) }
    }

    /// A length-delimited field: bytes, a string or an embedded message.
    public mutating func bytes(_ field: Int, _ value: some Collection<UInt8>) {
        key(field, .lengthDelimited)
        Varint.append(UInt64(value.count), to: &bytes)
        bytes.append(contentsOf: value)
    }

    /// A string field.
    public mutating func string(_ field: Int, _ value: String) { bytes(field, Array(value.utf8)) }
}

/// One field read from a protobuf message.
public struct ProtobufField: Hashable, Sendable {
    /// A field's payload by wire type.
    public enum Value: Hashable, Sendable {
        case varint(UInt64)
        case fixed64(UInt64)
        case fixed32(UInt32)
        case bytes([UInt8])
    }

    /// The field number.
    public var number: Int
    /// The field's payload.
    public var value: Value

    /// Field `number` holding `value`.
    public init(number: Int, value: Value) {
        self.number = number
        self.value = value
    }

    /// The value of a varint field, or nil.
    public var varint: UInt64? {
        if case .varint(let value) = value { return value }
        return nil
    }

    /// The payload of a length-delimited field, or nil.
    public var bytes: [UInt8]? {
        if case .bytes(let value) = value { return value }
        return nil
    }
}

/// One field as `ProtobufReader.nextSpan` reads it: a scalar value, or where a length-delimited one lies.
public struct ProtobufSpan: Hashable, Sendable {
    /// The field number.
    public var number: Int
    /// The value of a varint or fixed-width field; nil for a length-delimited one.
    public var scalar: ProtobufField.Value?
    /// Where a length-delimited value lies in the reader's buffer; nil for the others.
    public var range: Range<Int>?

    /// A span of these values.
    public init(number: Int, scalar: ProtobufField.Value?, range: Range<Int>?) {
        self.number = number
        self.scalar = scalar
        self.range = range
    }

    /// The value of a varint field, or nil.
    public var varint: UInt64? {
        if case .varint(let value) = scalar { return value }
        return nil
    }
}

/// Reads the fields of a protobuf message with strict bounds: truncation, unknown or group wire types, field
/// number 0 or above 2^29−1 and lengths past the end are errors.
public struct ProtobufReader: Sendable {
    /// The largest field number protobuf allows: 2^29 − 1.
    public static let maxFieldNumber = (1 << 29) - 1

    private let data: [UInt8]
    private var position: Int
    private let end: Int

    /// A reader at the start of the message `data`.
    public init(_ data: [UInt8]) {
        self.data = data
        position = 0
        end = data.count
    }

    /// A reader of the message that lies at `range` in `data` (an embedded message, or one message of a buffer),
    /// without copying it.
    public init(_ data: [UInt8], range: Range<Int>) {
        precondition(range.lowerBound >= 0 && range.upperBound <= data.count, "protobuf range out of its buffer")
        self.data = data
        position = range.lowerBound
        end = range.upperBound
    }

    /// The buffer the message lies in: a span's range indexes it.
    public var buffer: [UInt8] { data }

    /// Whether every field has been read.
    public var isAtEnd: Bool { position == end }

    /// The next field, or nil at the end of the message.
    public mutating func next() throws(CodecError) -> ProtobufField? {
        guard let span = try nextSpan() else { return nil }
        if let range = span.range { return ProtobufField(number: span.number, value: .bytes(Array(data[range]))) }
        return ProtobufField(number: span.number, value: span.scalar!)
    }

    /// The next field without copying a length-delimited value: its bytes are `buffer[range]`; nil at the end.
    public mutating func nextSpan() throws(CodecError) -> ProtobufSpan? {
        guard position < end else { return nil }
        let key = try readVarint()
        let number = key >> 3
        guard number >= 1, number <= UInt64(Self.maxFieldNumber) else {
            throw .invalidProtobuf("field number \(number) out of range")
        }
        guard let type = ProtobufWireType(rawValue: UInt8(key & 7)) else {
            throw .invalidProtobuf("wire type \(key & 7) of field \(number) is not supported")
        }
        switch type {
        case .varint:
            return ProtobufSpan(number: Int(number), scalar: .varint(try readVarint()), range: nil)
        case .fixed64:
            return ProtobufSpan(number: Int(number), scalar: .fixed64(try readFixed(8)), range: nil)
        case .fixed32:
            return ProtobufSpan(
                number: Int(number), scalar: .fixed32(UInt32(truncatingIfNeeded: try readFixed(4))), range: nil)
        case .lengthDelimited:
            let length = try readVarint()
            guard length <= UInt64(end - position) else {
                throw .invalidProtobuf("field \(number) claims \(length) bytes, \(end - position) left")
            }
            let range = position..<(position + Int(length))
            position += Int(length)
            return ProtobufSpan(number: Int(number), scalar: nil, range: range)
        }
    }

    /// Every remaining field.
    public mutating func readAll() throws(CodecError) -> [ProtobufField] {
        var fields: [ProtobufField] = []
        while let field = try next() { fields.append(field) }
        return fields
    }

    private mutating func readVarint() throws(CodecError) -> UInt64 {
        do {
            // Protobuf varints may use the full 64 bits (10 bytes).
            return try Varint.read(data[..<end], at: &position, maxBytes: 10)
        } catch {
            throw .invalidProtobuf("\(error)")
        }
    }

    private mutating func readFixed(_ count: Int) throws(CodecError) -> UInt64 {
        guard count <= end - position else { throw .invalidProtobuf("truncated fixed\(count * 8) value") }
        var value: UInt64 = 0
        for index in 0..<count { value |= UInt64(data[position + index]) << UInt64(8 * index) }
        position += count
        return value
    }
}
