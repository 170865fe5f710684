import Chain
import Codec

/// Why the devnet refused a raw transaction at the door (`eth_sendRawTransaction`) or its mempool refused to
/// pool it, with the values that broke the rule. `rpcError` gives geth's code and message for each, so what a
/// wallet reads stays what geth would say while code branches on the case.
public enum AdmissionError: Error, Equatable, Sendable, CustomStringConvertible {
    /// The raw transaction is over the size limit.
    case oversized
    /// The bytes do not decode as a transaction.
    case undecodable(ChainError)
    /// The signature does not recover a sender.
    case invalidSender
    /// A transaction without an EIP-155 chain id.
    case noReplayProtection
    /// A transaction signed for another chain.
    case wrongChain(got: UInt64, expected: UInt64)
    /// A transaction without a recipient.
    case contractCreation
    /// A gas limit below the intrinsic gas.
    case intrinsicGasTooLow(gasLimit: UInt64, minimum: UInt64)
    /// A gas limit above the block gas limit.
    case exceedsBlockGasLimit
    /// A priority fee above the fee cap.
    case priorityFeeAboveFeeCap
    /// A fee cap below the next block's base fee.
    case feeCapBelowBaseFee(sender: Address, maxFeePerGas: UInt256, baseFee: UInt256)
    /// A balance below gas limit × fee cap + value (`cost` nil when that overflows 256 bits).
    case insufficientFunds(sender: Address, balance: UInt256, cost: UInt256?)
    /// A nonce the account has already used.
    case nonceTooLow(next: UInt64, got: UInt64)
    /// A nonce too far beyond the account's next one to queue.
    case nonceTooHigh(next: UInt64, got: UInt64)
    /// The pool already holds this transaction.
    case alreadyKnown
    /// A replacement that does not raise both fee caps by 10%.
    case replacementUnderpriced
    /// The sender has as many pending transactions as the pool allows.
    case senderFull(limit: Int)
    /// The pool is full.
    case poolFull
    /// The sender's account could not be read.
    case stateUnavailable(ChainError)
    /// The transaction could not be recorded durably.
    case notRecorded(String)

    /// The JSON-RPC error a client receives, with geth's code and message.
    public var rpcError: RPCError {
        switch self {
        case .stateUnavailable(let error): .internalError("\(error)")
        case .notRecorded(let why): .internalError("cannot record the transaction: \(why)")
        default: .server(description)
        }
    }

    /// The message a client reads.
    public var description: String {
        switch self {
        case .oversized: "oversized data"
        case .undecodable(.invalidSignature(let why)): "invalid sender: invalid signature: \(why)"
        case .undecodable(.malformed(let what, let why)): "rlp: malformed \(what): \(why)"
        case .undecodable(let error): "\(error)"
        case .invalidSender: "invalid sender"
        case .noReplayProtection: "only replay-protected (EIP-155) transactions allowed over RPC"
        case .wrongChain(let got, let expected): "invalid chain id for signer: have \(got) want \(expected)"
        case .contractCreation: "contract creation is not supported on this chain"
        case .intrinsicGasTooLow(let gasLimit, let minimum):
            "intrinsic gas too low: gas \(gasLimit), minimum needed \(minimum)"
        case .exceedsBlockGasLimit: "exceeds block gas limit"
        case .priorityFeeAboveFeeCap: "max priority fee per gas higher than max fee per gas"
        case .feeCapBelowBaseFee(let sender, let maxFee, let baseFee):
            "max fee per gas less than block base fee: address \(sender), maxFeePerGas: \(maxFee), baseFee: \(baseFee)"
        case .insufficientFunds(let sender, let balance, let cost):
            "insufficient funds for gas * price + value: address \(sender) have \(balance) want \(cost?.description ?? "more than 2^256")"
        case .nonceTooLow(let next, let got): "nonce too low: next nonce \(next), tx nonce \(got)"
        case .nonceTooHigh(let next, let got): "nonce too high: next nonce \(next), tx nonce \(got)"
        case .alreadyKnown: "already known"
        case .replacementUnderpriced: "replacement transaction underpriced"
        case .senderFull(let limit): "txpool is full: account has \(limit) pending transactions"
        case .poolFull: "txpool is full"
        case .stateUnavailable(let error): "\(error)"
        case .notRecorded(let why): "cannot record the transaction: \(why)"
        }
    }
}
