import Codec
import Crypto

/// Anything that can answer "what is in storage slot S of account A": the world state itself, or a set of slots
/// a light client has proven. Predeploy records are decoded through this, so both read them the same way.
public protocol StorageReader {
    /// The 32-byte word in `slot` of `address` (zero when unset).
    func word(_ address: Address, slot: [UInt8]) throws(ChainError) -> [UInt8]
}

extension WorldState: StorageReader {
    public func word(_ address: Address, slot: [UInt8]) throws(ChainError) -> [UInt8] {
        try storage(address, slot: slot)
    }
}

/// Solidity-style storage layout over an account's storage trie: numbered slots, mappings at
/// keccak256(key ‖ slot), arrays and strings at keccak256(slot) + i. Predeploys keep their state this way so
/// that `eth_getProof` proves it and tools that know Solidity's layout can read it.
public struct ContractStorage: Sendable {
    public let address: Address

    public init(address: Address) { self.address = address }

    /// The slot of `mapping[key]` for a mapping at `slot` (key padded to 32 bytes as Solidity does).
    public static func mappingSlot(_ slot: UInt256, key: [UInt8]) -> UInt256 {
        let padded = key.count >= 32 ? key : [UInt8](repeating: 0, count: 32 - key.count) + key
        return UInt256(bigEndian: Keccak256.hash(padded + slot.bigEndianBytes))!
    }

    /// The slot of `mapping[key]` for a uint key.
    public static func mappingSlot(_ slot: UInt256, key: UInt256) -> UInt256 {
        mappingSlot(slot, key: key.bigEndianBytes)
    }

    /// The first data slot of a dynamic array or long string stored at `slot`.
    public static func dataSlot(_ slot: UInt256) -> UInt256 { UInt256(bigEndian: Keccak256.hash(slot.bigEndianBytes))! }

    func word(_ state: some StorageReader, _ slot: UInt256) throws(ChainError) -> UInt256 {
        UInt256(bigEndian: try state.word(address, slot: slot.bigEndianBytes))!
    }

    func setWord(_ state: inout WorldState, _ slot: UInt256, _ value: UInt256) {
        state.setStorage(address, slot: slot.bigEndianBytes, value: value.bigEndianBytes)
    }

    func bytes32(_ state: some StorageReader, _ slot: UInt256) throws(ChainError) -> [UInt8] {
        try state.word(address, slot: slot.bigEndianBytes)
    }

    func setBytes32(_ state: inout WorldState, _ slot: UInt256, _ value: [UInt8]) {
        state.setStorage(address, slot: slot.bigEndianBytes, value: value)
    }

    func address(_ state: some StorageReader, _ slot: UInt256) throws(ChainError) -> Address {
        try! Address(bytes: Array(try bytes32(state, slot).suffix(20)))
    }

    func setAddress(_ state: inout WorldState, _ slot: UInt256, _ value: Address) {
        setBytes32(&state, slot, [UInt8](repeating: 0, count: 12) + value.bytes)
    }

    /// Bytes as a length word at `slot` and 32-byte chunks from keccak256(slot) (a simplification of
    /// Solidity's short-string packing that keeps every string provable the same way).
    func bytes(_ state: some StorageReader, _ slot: UInt256) throws(ChainError) -> [UInt8] {
        guard let length = try word(state, slot).uint64, length <= 1 << 20 else {
            throw .invalidBlock("corrupt byte string length in storage of \(address)")
        }
        var out: [UInt8] = []
        let base = Self.dataSlot(slot)
        var index = UInt256.zero
        while out.count < Int(length) {
            out += try bytes32(state, base &+ index)
            index = index &+ 1
        }
        return Array(out.prefix(Int(length)))
    }

    func setBytes(_ state: inout WorldState, _ slot: UInt256, _ value: [UInt8]) {
        setWord(&state, slot, UInt256(value.count))
        let base = Self.dataSlot(slot)
        var index = UInt256.zero
        var offset = 0
        while offset < value.count {
            let chunk = Array(value[offset..<min(offset + 32, value.count)])
            setBytes32(&state, base &+ index, chunk + [UInt8](repeating: 0, count: 32 - chunk.count))
            offset += 32
            index = index &+ 1
        }
    }
}
