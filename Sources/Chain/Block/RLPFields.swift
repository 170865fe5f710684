import Codec

/// Reads the fields of an RLP list one by one with the checks Ethereum's encodings need: fixed-size hashes and
/// addresses, minimal integers, and no missing or extra items.
struct RLPFields {
    private let items: [RLPItem]
    private let what: String
    private(set) var index = 0

    /// The fields of `item`, which must be a list; `what` names the structure in errors.
    init(_ item: RLPItem, what: String) throws(ChainError) {
        guard case .list(let items) = item else { throw .malformed(what: what, why: "not an RLP list") }
        self.items = items
        self.what = what
    }

    /// The fields of the RLP encoding `bytes`.
    init(decoding bytes: [UInt8], what: String) throws(ChainError) {
        let item: RLPItem
        do {
            item = try RLP.decode(bytes)
        } catch {
            throw .malformed(what: what, why: error.description)
        }
        try self.init(item, what: what)
    }

    var count: Int { items.count }
    var remaining: Int { items.count - index }

    mutating func item() throws(ChainError) -> RLPItem {
        guard index < items.count else { throw .malformed(what: what, why: "missing field \(index)") }
        defer { index += 1 }
        return items[index]
    }

    mutating func bytes() throws(ChainError) -> [UInt8] {
        guard case .bytes(let bytes) = try item() else {
            throw .malformed(what: what, why: "field \(index - 1) is a list, expected a string")
        }
        return bytes
    }

    mutating func list() throws(ChainError) -> [RLPItem] {
        guard case .list(let list) = try item() else {
            throw .malformed(what: what, why: "field \(index - 1) is a string, expected a list")
        }
        return list
    }

    mutating func bytes(count: Int) throws(ChainError) -> [UInt8] {
        let value = try bytes()
        guard value.count == count else {
            throw .malformed(what: what, why: "field \(index - 1) has \(value.count) bytes, expected \(count)")
        }
        return value
    }

    mutating func uint256() throws(ChainError) -> UInt256 {
        let value = try bytes()
        guard value.first != 0 else {
            throw .malformed(what: what, why: "field \(index - 1) is an integer with a leading zero byte")
        }
        guard let number = UInt256(bigEndian: value) else {
            throw .malformed(what: what, why: "field \(index - 1) is an integer over 256 bits")
        }
        return number
    }

    mutating func uint64() throws(ChainError) -> UInt64 {
        guard let value = try uint256().uint64 else {
            throw .malformed(what: what, why: "field \(index - 1) does not fit in 64 bits")
        }
        return value
    }

    mutating func address() throws(ChainError) -> Address {
        let value = try bytes(count: 20)
        return try! Address(bytes: value)
    }

    /// An optional trailing field: nil when the list has ended.
    mutating func optional<T>(_ read: (inout RLPFields) throws(ChainError) -> T) throws(ChainError) -> T? {
        index < items.count ? try read(&self) : nil
    }

    /// Requires that every field was read.
    func finish() throws(ChainError) {
        guard index == items.count else {
            throw .malformed(what: what, why: "\(items.count - index) unexpected trailing field(s)")
        }
    }
}

extension RLPItem {
    /// An integer as RLP stores it: big-endian without leading zeros.
    init(_ value: UInt64) { self = .bytes(UInt256(value).minimalBigEndianBytes) }

    /// An integer as RLP stores it: big-endian without leading zeros.
    init(_ value: UInt256) { self = .bytes(value.minimalBigEndianBytes) }

    /// A 20-byte address.
    init(_ address: Address) { self = .bytes(address.bytes) }
}
