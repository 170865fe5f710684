import Codec

/// Why the chain rules refused an input: malformed encodings, and transactions or blocks that break a rule.
///
/// Each case names what was wrong with which input, so a JSON-RPC error or a log line can say it plainly, and code
/// branches on the case, never on the text.
public enum ChainError: Error, Equatable, Sendable, CustomStringConvertible {
    /// An RLP structure is not the shape this type needs (wrong item count, a list where a string belongs …).
    case malformed(what: String, why: String)
    /// The signature of a transaction does not verify or recover.
    case invalidSignature(String)
    /// A transaction that cannot be built or encoded (a tool's input rather than a rule of the chain).
    case invalidTransaction(String)
    /// A transaction that breaks a rule of the state transition and so may not be included now.
    case transactionRejected(TransactionRejection)
    /// A block that breaks a rule (parent, number, roots, gas, base fee …).
    case invalidBlock(String)
    /// A predeploy call that reverted, with the reason it gives.
    case reverted(String)
    /// Calldata whose selector names no function of the predeploy (views and functions are looked up apart).
    case unknownSelector([UInt8])
    /// OPEN sent to a predeploy function that does not accept it.
    case notPayable(function: String)
    /// OPEN sent to a predeploy that accepts it with none of its functions, refused in the contract's name.
    case contractNotPayable(contract: String)
    /// A predeploy call that needed more gas than the transaction left it.
    case outOfGas
    /// A call an economy predeploy refused by one of its rules (a revert with a typed reason).
    case refused(EconomyRejection)

    /// The reason of a revert (what follows "execution reverted: "), or nil when the error is not a revert.
    public var revertReason: String? {
        switch self {
        case .reverted(let why): why
        case .unknownSelector(let selector): "unknown function selector \(Hex.encode(selector))"
        case .notPayable(let function): "\(function) does not accept OPEN"
        case .contractNotPayable(let contract): "\(contract) does not accept OPEN"
        case .outOfGas: "out of gas"
        case .refused(let rejection): rejection.description
        default: nil
        }
    }

    /// The error as a person reads it.
    public var description: String {
        switch self {
        case .malformed(let what, let why): "malformed \(what): \(why)"
        case .invalidSignature(let why): "invalid signature: \(why)"
        case .invalidTransaction(let why): "invalid transaction: \(why)"
        case .transactionRejected(let rejection): "invalid transaction: \(rejection)"
        case .invalidBlock(let why): "invalid block: \(why)"
        case .reverted, .unknownSelector, .notPayable, .contractNotPayable, .outOfGas, .refused:
            "execution reverted: \(revertReason ?? "")"
        }
    }
}

/// Why the state transition refuses to include a transaction now, with the values that broke the rule.
public enum TransactionRejection: Error, Equatable, Sendable, CustomStringConvertible {
    /// A transaction without an EIP-155 chain id.
    case noReplayProtection
    /// A transaction signed for another chain.
    case wrongChain(got: UInt64, expected: UInt64)
    /// A transaction without a recipient: contract creation.
    case contractCreation
    /// A nonce other than the account's next one.
    case nonceMismatch(got: UInt64, expected: UInt64)
    /// The account's nonce cannot advance further.
    case nonceOverflow
    /// A gas limit below the transaction's intrinsic gas.
    case gasBelowIntrinsic(gasLimit: UInt64, intrinsic: UInt64)
    /// A gas limit above what is left in the block: the transaction may fit a later block.
    case exceedsRemainingBlockGas(gasLimit: UInt64)
    /// A fee cap below the block's base fee.
    case feeCapBelowBaseFee(maxFeePerGas: UInt256, baseFee: UInt256)
    /// A priority fee above the fee cap.
    case priorityFeeAboveFeeCap
    /// A balance below gas limit × fee cap + value.
    case insufficientFunds

    /// The rule that was broken, as a person reads it.
    public var description: String {
        switch self {
        case .noReplayProtection: "transactions without EIP-155 replay protection are not accepted"
        case .wrongChain(let got, let expected): "chain id \(got), this chain is \(expected)"
        case .contractCreation: "contract creation is not supported"
        case .nonceMismatch(let got, let expected): "nonce \(got), account nonce is \(expected)"
        case .nonceOverflow: "nonce overflow"
        case .gasBelowIntrinsic(let gasLimit, let intrinsic): "gas limit \(gasLimit) below intrinsic gas \(intrinsic)"
        case .exceedsRemainingBlockGas(let gasLimit): "gas limit \(gasLimit) exceeds the block's remaining gas"
        case .feeCapBelowBaseFee(let maxFee, let baseFee): "max fee per gas \(maxFee) below base fee \(baseFee)"
        case .priorityFeeAboveFeeCap: "max priority fee above max fee"
        case .insufficientFunds: "insufficient funds for gas * price + value"
        }
    }
}
