import Codec

/// How a record kept in a predeploy's storage is found and read. The predeploy that writes the record and a
/// light client that reads it from proven slots both go through the same layout type.
public protocol StorageLayout {
    /// What names one record (a channel id, a Datanet id …).
    associatedtype Key
    /// What reading a record gives (optional when a record may be absent).
    associatedtype Value
    /// The address of the predeploy that keeps these records, at its default address.
    static var contract: Address { get }
    /// The first slot of the record named `key`.
    static func base(_ key: Key) -> UInt256
    /// Reads the record whose slots `record` locates.
    static func read(_ record: StorageRecord, from reader: some StorageReader) throws(ChainError) -> Value
}

extension StorageLayout {
    /// The slots of the record named `key` in `contract`'s storage.
    public static func record(_ key: Key, in contract: Address = contract) -> StorageRecord {
        StorageRecord(contract: contract, base: base(key))
    }

    /// Reads the record named `key` from `contract`'s storage.
    public static func read(_ key: Key, in contract: Address = contract, from reader: some StorageReader)
        throws(ChainError) -> Value
    {
        try read(record(key, in: contract), from: reader)
    }
}

/// A value that fits one storage word.
public protocol StorageWord: Sendable {
    /// The value of a stored word; corrupt words throw.
    init(storageWord word: [UInt8]) throws(ChainError)
    /// The word to store.
    var storageWord: [UInt8] { get }
}

/// A typed field of a record: the word at `offset` from the record's base slot.
public struct StorageField<Value: StorageWord>: Sendable {
    /// Slots from the record's base.
    public let offset: UInt64

    /// The field at `offset`.
    public init(_ offset: UInt64) { self.offset = offset }
}

/// A byte string field: its length at `offset`, its bytes in 32-byte chunks from keccak256(base + offset) (a
/// simplification of Solidity's short-string packing that keeps every string provable the same way).
public struct StorageBytesField: Sendable {
    /// Slots from the record's base.
    public let offset: UInt64
    /// The most bytes a stored value may declare.
    public let maxLength: Int

    /// The field at `offset`.
    public init(_ offset: UInt64, maxLength: Int = 1 << 20) {
        self.offset = offset
        self.maxLength = maxLength
    }
}

/// An array of words whose elements sit from keccak256(base + offset); where the length lives is the record's
/// choice (a length word at `offset`, as Solidity's `T[]`, or another field).
public struct StorageArrayField<Element: StorageWord>: Sendable {
    /// Slots from the record's base.
    public let offset: UInt64

    /// The field at `offset`.
    public init(_ offset: UInt64) { self.offset = offset }
}

/// One record's slots in a predeploy's storage: the contract, and the slot the record begins at. Reads go through
/// any `StorageReader`; writes go to a `WorldState`.
public struct StorageRecord: Sendable {
    /// The predeploy whose storage holds the record.
    public let contract: Address
    /// The record's first slot.
    public let base: UInt256

    /// The record at `base` in `contract`'s storage.
    public init(contract: Address, base: UInt256) {
        self.contract = contract
        self.base = base
    }

    /// The word `offset` slots from the base.
    func slot(_ offset: UInt64) -> [UInt8] { (base &+ UInt256(offset)).bigEndianBytes }

    /// The value of `field`.
    public func get<Value>(_ field: StorageField<Value>, from reader: some StorageReader) throws(ChainError) -> Value {
        try Value(storageWord: try reader.word(contract, slot: slot(field.offset)))
    }

    /// Stores `value` in `field`.
    public func set<Value>(_ field: StorageField<Value>, _ value: Value, in state: inout WorldState) {
        state.setStorage(contract, slot: slot(field.offset), value: value.storageWord)
    }

    /// The bytes of `field`.
    public func get(_ field: StorageBytesField, from reader: some StorageReader) throws(ChainError) -> [UInt8] {
        guard let length = try UInt256(storageWord: try reader.word(contract, slot: slot(field.offset))).uint64,
            length <= UInt64(field.maxLength)
        else { throw .invalidBlock("corrupt byte string length in storage of \(contract)") }
        let elements = StorageArrayField<Bytes32>(field.offset)
        var out: [UInt8] = []
        var index: UInt64 = 0
        while out.count < Int(length) {
            out += try get(elements, index, from: reader).bytes
            index += 1
        }
        return Array(out.prefix(Int(length)))
    }

    /// Stores `value` in `field`: its length, then its bytes zero-padded to whole words.
    public func set(_ field: StorageBytesField, _ value: [UInt8], in state: inout WorldState) {
        set(StorageField<UInt256>(field.offset), UInt256(value.count), in: &state)
        let elements = StorageArrayField<Bytes32>(field.offset)
        var offset = 0
        var index: UInt64 = 0
        while offset < value.count {
            let chunk = Array(value[offset..<min(offset + 32, value.count)])
            set(elements, index, Bytes32(chunk + [UInt8](repeating: 0, count: 32 - chunk.count)), in: &state)
            offset += 32
            index += 1
        }
    }

    /// Element `index` of `field`.
    public func get<Element>(_ field: StorageArrayField<Element>, _ index: UInt64, from reader: some StorageReader)
        throws(ChainError) -> Element
    {
        try Element(storageWord: try reader.word(contract, slot: elementSlot(field, index)))
    }

    /// Stores element `index` of `field`.
    public func set<Element>(
        _ field: StorageArrayField<Element>, _ index: UInt64, _ value: Element, in state: inout WorldState
    ) {
        state.setStorage(contract, slot: elementSlot(field, index), value: value.storageWord)
    }

    /// The first `count` elements of `field`.
    public func get<Element>(_ field: StorageArrayField<Element>, count: UInt64, from reader: some StorageReader)
        throws(ChainError) -> [Element]
    {
        var elements: [Element] = []
        for index in 0..<count { elements.append(try get(field, index, from: reader)) }
        return elements
    }

    /// Stores `values` as the first elements of `field`.
    public func set<Element>(_ field: StorageArrayField<Element>, _ values: [Element], in state: inout WorldState) {
        for (index, value) in values.enumerated() { set(field, UInt64(index), value, in: &state) }
    }

    private func elementSlot<Element>(_ field: StorageArrayField<Element>, _ index: UInt64) -> [UInt8] {
        (ContractStorage.dataSlot(base &+ UInt256(field.offset)) &+ UInt256(index)).bigEndianBytes
    }
}

/// A raw 32-byte word (a hash, a root): stored as it is.
public struct Bytes32: StorageWord, Hashable {
    /// The 32 bytes.
    public var bytes: [UInt8]

    /// The word of `bytes` (32 of them).
    public init(_ bytes: [UInt8]) { self.bytes = bytes }

    /// The stored word.
    public init(storageWord word: [UInt8]) { bytes = word }

    /// The bytes themselves.
    public var storageWord: [UInt8] { bytes }
}

extension UInt256: StorageWord {
    /// The big-endian number of the word.
    public init(storageWord word: [UInt8]) throws(ChainError) {
        guard let value = UInt256(bigEndian: word) else { throw .invalidBlock("storage word of \(word.count) bytes") }
        self = value
    }

    /// The big-endian word.
    public var storageWord: [UInt8] { bigEndianBytes }
}

extension UInt64: StorageWord {
    /// The number of a word that holds at most 64 bits.
    public init(storageWord word: [UInt8]) throws(ChainError) {
        guard let value = try UInt256(storageWord: word).uint64 else {
            throw .invalidBlock("storage word over 64 bits")
        }
        self = value
    }

    /// The big-endian word.
    public var storageWord: [UInt8] { UInt256(self).bigEndianBytes }
}

extension Bool: StorageWord {
    /// True for any non-zero word.
    public init(storageWord word: [UInt8]) throws(ChainError) { self = try UInt256(storageWord: word) != .zero }

    /// 1 or 0.
    public var storageWord: [UInt8] { UInt256(self ? 1 : 0).bigEndianBytes }
}

extension Address: StorageWord {
    /// The low 20 bytes of the word.
    public init(storageWord word: [UInt8]) throws(ChainError) {
        guard word.count == 32 else { throw .invalidBlock("storage word of \(word.count) bytes") }
        self = try! Address(bytes: Array(word.suffix(20)))
    }

    /// The address left-padded with zeros.
    public var storageWord: [UInt8] { [UInt8](repeating: 0, count: 12) + bytes }
}
