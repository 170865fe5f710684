import Codec
import Crypto

/// Anything that can answer "what is in storage slot S of account A": the world state itself, or a set of slots
/// a light client has proven. Predeploy records are decoded through this, so both read them the same way.
public protocol StorageReader {
    /// The 32-byte word in `slot` of `address` (zero when unset).
    func word(_ address: Address, slot: [UInt8]) throws(ChainError) -> [UInt8]
}

extension WorldState: StorageReader {
    /// The word in `slot` of `address` in this state.
    public func word(_ address: Address, slot: [UInt8]) throws(ChainError) -> [UInt8] {
        try storage(address, slot: slot)
    }
}

/// Solidity-style slot arithmetic over an account's storage trie: numbered slots, mappings at
/// keccak256(key ‖ slot), arrays and strings at keccak256(slot) + i. Predeploys keep their state this way so
/// that `eth_getProof` proves it and tools that know Solidity's layout can read it.
public enum ContractStorage {
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
}
