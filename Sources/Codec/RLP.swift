/// An RLP item: a byte string or a list of items (Ethereum Yellow Paper, Appendix B).
public indirect enum RLPItem: Hashable, Sendable {
    case bytes([UInt8])
    case list([RLPItem])
}

/// Recursive Length Prefix encoding.
///
/// Decoding is strict: every input has exactly one accepted encoding, so anything non-canonical (a single low byte
/// wrapped as a string, a long form for a short length, a length with leading zeros, trailing bytes) is rejected.
public enum RLP {
    /// The deepest list nesting `decode` accepts.
    public static let maxDepth = 1024

    // MARK: Encoding

    /// The encoding of `item`.
    public static func encode(_ item: RLPItem) -> [UInt8] {
        var out = [UInt8]()
        out.reserveCapacity(encodedLength(item))
        append(item, to: &out)
        return out
    }

    /// The encoding of a byte string.
    public static func encode(bytes: some Collection<UInt8>) -> [UInt8] {
        if bytes.count == 1, let byte = bytes.first, byte < 0x80 { return [byte] }
        var out = [UInt8]()
        out.reserveCapacity(bytes.count + 9)
        appendHeader(length: bytes.count, offset: 0x80, to: &out)
        out.append(contentsOf: bytes)
        return out
    }

    /// The encoding of a list whose items are already encoded.
    public static func encodeList(encoded items: [[UInt8]]) -> [UInt8] {
        let payload = items.reduce(0) { $0 + $1.count }
        var out = [UInt8]()
        out.reserveCapacity(payload + 9)
        appendHeader(length: payload, offset: 0xC0, to: &out)
        for item in items { out.append(contentsOf: item) }
        return out
    }

    /// The length of `item`'s encoding.
    public static func encodedLength(_ item: RLPItem) -> Int {
        switch item {
        case .bytes(let bytes):
            if bytes.count == 1 && bytes[0] < 0x80 { return 1 }
            return headerLength(bytes.count) + bytes.count
        case .list(let items):
            let payload = items.reduce(0) { $0 + encodedLength($1) }
            return headerLength(payload) + payload
        }
    }

    private static func headerLength(_ length: Int) -> Int {
        length < 56 ? 1 : 1 + (Int.bitWidth - length.leadingZeroBitCount + 7) / 8
    }

    private static func append(_ item: RLPItem, to out: inout [UInt8]) {
        switch item {
        case .bytes(let bytes):
            if bytes.count == 1 && bytes[0] < 0x80 {
                out.append(bytes[0])
            } else {
                appendHeader(length: bytes.count, offset: 0x80, to: &out)
                out.append(contentsOf: bytes)
            }
        case .list(let items):
            let payload = items.reduce(0) { $0 + encodedLength($1) }
            appendHeader(length: payload, offset: 0xC0, to: &out)
            for child in items { append(child, to: &out) }
        }
    }

    private static func appendHeader(length: Int, offset: UInt8, to out: inout [UInt8]) {
        if length < 56 {
            out.append(offset + UInt8(length))
            return
        }
        let byteCount = (Int.bitWidth - length.leadingZeroBitCount + 7) / 8
        out.append(offset + 55 + UInt8(byteCount))
        for shift in stride(from: (byteCount - 1) * 8, through: 0, by: -8) {
            out.append(UInt8(truncatingIfNeeded: length >> shift))
        }
    }

    // MARK: Decoding

    /// Decodes exactly one item that spans all of `bytes`.
    public static func decode(_ bytes: [UInt8]) throws(CodecError) -> RLPItem {
        try bytes.withUnsafeBufferPointer { buffer throws(CodecError) in
            var reader = Reader(buffer: buffer)
            let item = try reader.item(depth: 0)
            guard reader.position == buffer.count else {
                throw .invalidRLP("\(buffer.count - reader.position) trailing byte(s) after the item")
            }
            return item
        }
    }

    /// Decodes a sequence of concatenated items (as in a stream of encoded transactions).
    public static func decodeSequence(_ bytes: [UInt8]) throws(CodecError) -> [RLPItem] {
        try bytes.withUnsafeBufferPointer { buffer throws(CodecError) in
            var reader = Reader(buffer: buffer)
            var items: [RLPItem] = []
            while reader.position < buffer.count { items.append(try reader.item(depth: 0)) }
            return items
        }
    }

    private struct Reader {
        let buffer: UnsafeBufferPointer<UInt8>
        var position = 0

        /// Reads a header: (is list, payload length); checks that the payload fits and is canonical.
        mutating func header() throws(CodecError) -> (isList: Bool, length: Int, singleByte: Bool) {
            guard position < buffer.count else { throw .invalidRLP("truncated: expected an item at \(position)") }
            let prefix = buffer[position]
            let start = position
            position += 1
            switch prefix {
            case 0x00...0x7F:
                position = start
                return (false, 1, true)
            case 0x80...0xB7:
                let length = Int(prefix - 0x80)
                try need(length, at: start)
                if length == 1 && buffer[position] < 0x80 {
                    throw .invalidRLP(
                        "non-canonical: single byte 0x\(String(buffer[position], radix: 16)) "
                            + "encoded as a string at \(start)")
                }
                return (false, length, false)
            case 0xB8...0xBF:
                return (false, try longLength(Int(prefix - 0xB7), at: start), false)
            case 0xC0...0xF7:
                let length = Int(prefix - 0xC0)
                try need(length, at: start)
                return (true, length, false)
            default:
                return (true, try longLength(Int(prefix - 0xF7), at: start), false)
            }
        }

        private mutating func longLength(_ byteCount: Int, at start: Int) throws(CodecError) -> Int {
            try need(byteCount, at: start)
            guard buffer[position] != 0 else {
                throw .invalidRLP("non-canonical: length with leading zero at \(start)")
            }
            guard byteCount <= 7 else { throw .invalidRLP("oversized: \(byteCount)-byte length at \(start)") }
            var length = 0
            for _ in 0..<byteCount {
                length = length << 8 | Int(buffer[position])
                position += 1
            }
            guard length >= 56 else {
                throw .invalidRLP("non-canonical: long form for length \(length) at \(start)")
            }
            try need(length, at: start)
            return length
        }

        private func need(_ count: Int, at start: Int) throws(CodecError) {
            guard count <= buffer.count - position else {
                throw .invalidRLP("truncated: item at \(start) needs \(count) byte(s), \(buffer.count - position) left")
            }
        }

        mutating func item(depth: Int) throws(CodecError) -> RLPItem {
            let (isList, length, singleByte) = try header()
            if singleByte {
                defer { position += 1 }
                return .bytes([buffer[position]])
            }
            let end = position + length
            if !isList {
                defer { position = end }
                return .bytes(Array(buffer[position..<end]))
            }
            guard depth < RLP.maxDepth else { throw .invalidRLP("lists nested deeper than \(RLP.maxDepth)") }
            var items: [RLPItem] = []
            while position < end {
                items.append(try item(depth: depth + 1))
                guard position <= end else { throw .invalidRLP("list item overruns its list at \(position)") }
            }
            return .list(items)
        }
    }
}
