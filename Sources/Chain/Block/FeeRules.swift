import Codec

/// Gas and fee rules: EIP-1559 base fee, intrinsic gas (EIP-2028, EIP-2930).
public enum FeeRules {
    /// EIP-1559 elasticity: the gas target is half the gas limit.
    public static let elasticityMultiplier: UInt64 = 2
    /// EIP-1559: the base fee moves by at most 1/8 per block.
    public static let baseFeeChangeDenominator: UInt64 = 8

    /// The intrinsic gas of every transaction.
    public static let transactionGas: UInt64 = 21_000
    /// The intrinsic gas of each zero calldata byte (EIP-2028).
    public static let zeroDataByteGas: UInt64 = 4
    /// The intrinsic gas of each nonzero calldata byte (EIP-2028).
    public static let nonzeroDataByteGas: UInt64 = 16
    /// The intrinsic gas of each access-list address (EIP-2930).
    public static let accessListAddressGas: UInt64 = 2_400
    /// The intrinsic gas of each access-list storage key (EIP-2930).
    public static let accessListStorageKeyGas: UInt64 = 1_900

    /// The base fee of the block after `parent`, by the EIP-1559 update rule.
    public static func nextBaseFee(parentBaseFee: UInt256, parentGasUsed: UInt64, parentGasLimit: UInt64) -> UInt256 {
        let target = parentGasLimit / elasticityMultiplier
        guard target > 0, parentGasUsed != target else { return parentBaseFee }
        if parentGasUsed > target {
            let delta =
                parentBaseFee * UInt256(parentGasUsed - target) / UInt256(target)
                / UInt256(baseFeeChangeDenominator)
            return parentBaseFee + Swift.max(delta, UInt256(1))
        }
        let delta =
            parentBaseFee * UInt256(target - parentGasUsed) / UInt256(target)
            / UInt256(baseFeeChangeDenominator)
        return parentBaseFee - delta
    }

    /// The gas a transaction costs before it runs: the base cost, its calldata and its access list.
    public static func intrinsicGas(data: [UInt8], accessListAddresses: Int = 0, accessListStorageKeys: Int = 0)
        -> UInt64
    {
        let zeros = UInt64(data.lazy.filter { $0 == 0 }.count)
        let nonzeros = UInt64(data.count) - zeros
        return transactionGas + zeros * zeroDataByteGas + nonzeros * nonzeroDataByteGas
            + UInt64(accessListAddresses) * accessListAddressGas + UInt64(accessListStorageKeys)
            * accessListStorageKeyGas
    }
}
