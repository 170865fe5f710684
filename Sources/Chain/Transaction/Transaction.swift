import Codec
import Crypto

/// An access-list entry (EIP-2930): an address and storage keys the transaction declares it will touch.
public struct AccessListEntry: Hashable, Sendable {
    /// The account the transaction declares.
    public var address: Address
    /// The 32-byte storage slots of `address` it declares.
    public var storageKeys: [[UInt8]]

    /// An entry declaring `storageKeys` of `address`.
    public init(address: Address, storageKeys: [[UInt8]]) {
        self.address = address
        self.storageKeys = storageKeys
    }
}

/// The transaction types this chain accepts.
public enum TransactionType: UInt8, Sendable {
    /// Legacy, with or without EIP-155 replay protection.
    case legacy = 0
    /// EIP-1559 dynamic fee (type 2).
    case dynamicFee = 2
}

/// A transaction before signing: what the sender asks for.
public struct Transaction: Hashable, Sendable {
    /// The envelope: legacy or EIP-1559.
    public var type: TransactionType
    /// The chain id; nil only for a pre-EIP-155 legacy transaction.
    public var chainId: UInt64?
    /// The sender's nonce: its count of transactions so far.
    public var nonce: UInt64
    /// The tip per gas (EIP-1559); a legacy transaction's gas price.
    public var maxPriorityFeePerGas: UInt256
    /// The most per gas the sender pays (EIP-1559); a legacy transaction's gas price.
    public var maxFeePerGas: UInt256
    /// The most gas the transaction may use.
    public var gasLimit: UInt64
    /// The recipient; nil is contract creation.
    public var to: Address?
    /// The wei sent to `to`.
    public var value: UInt256
    /// The calldata, or the init code of a contract creation.
    public var data: [UInt8]
    /// The EIP-2930 access list; empty for legacy transactions.
    public var accessList: [AccessListEntry]

    /// An EIP-1559 transaction.
    public static func dynamicFee(
        chainId: UInt64, nonce: UInt64, maxPriorityFeePerGas: UInt256, maxFeePerGas: UInt256, gasLimit: UInt64,
        to: Address?, value: UInt256, data: [UInt8] = [], accessList: [AccessListEntry] = []
    ) -> Transaction {
        Transaction(
            type: .dynamicFee, chainId: chainId, nonce: nonce, maxPriorityFeePerGas: maxPriorityFeePerGas,
            maxFeePerGas: maxFeePerGas, gasLimit: gasLimit, to: to, value: value, data: data, accessList: accessList)
    }

    /// A legacy transaction, EIP-155 protected when `chainId` is given.
    public static func legacy(
        chainId: UInt64?, nonce: UInt64, gasPrice: UInt256, gasLimit: UInt64, to: Address?, value: UInt256,
        data: [UInt8] = []
    ) -> Transaction {
        Transaction(
            type: .legacy, chainId: chainId, nonce: nonce, maxPriorityFeePerGas: gasPrice, maxFeePerGas: gasPrice,
            gasLimit: gasLimit, to: to, value: value, data: data, accessList: [])
    }

    /// A legacy transaction's gas price.
    public var gasPrice: UInt256 { maxFeePerGas }

    /// The gas this transaction costs before it runs.
    public var intrinsicGas: UInt64 {
        FeeRules.intrinsicGas(
            data: data, accessListAddresses: accessList.count,
            accessListStorageKeys: accessList.reduce(0) { $0 + $1.storageKeys.count })
    }

    /// The price per gas paid in a block with `baseFee`: min(maxFee, baseFee + tip) (EIP-1559).
    public func effectiveGasPrice(baseFee: UInt256) -> UInt256 {
        let (sum, overflow) = baseFee.addingReportingOverflow(maxPriorityFeePerGas)
        return overflow ? maxFeePerGas : Swift.min(maxFeePerGas, sum)
    }

    var accessListItem: RLPItem {
        .list(accessList.map { .list([RLPItem($0.address), .list($0.storageKeys.map { .bytes($0) })]) })
    }

    /// The fields both the signing payload and the signed encoding start with.
    var payloadItems: [RLPItem] {
        let to: RLPItem = self.to.map { RLPItem($0) } ?? .bytes([])
        switch type {
        case .legacy:
            return [RLPItem(nonce), RLPItem(gasPrice), RLPItem(gasLimit), to, RLPItem(value), .bytes(data)]
        case .dynamicFee:
            return [
                RLPItem(chainId ?? 0), RLPItem(nonce), RLPItem(maxPriorityFeePerGas), RLPItem(maxFeePerGas),
                RLPItem(gasLimit), to, RLPItem(value), .bytes(data), accessListItem,
            ]
        }
    }

    /// The hash the sender signs.
    public var signingHash: [UInt8] {
        switch type {
        case .legacy:
            var items = payloadItems
            if let chainId { items += [RLPItem(chainId), .bytes([]), .bytes([])] }
            return Keccak256.hash(RLP.encode(.list(items)))
        case .dynamicFee:
            return Keccak256.hash([type.rawValue] + RLP.encode(.list(payloadItems)))
        }
    }

    /// Signs with `key` (RFC 6979, low s).
    public func signed(with key: Secp256k1PrivateKey) throws(ChainError) -> SignedTransaction {
        let signature: RecoverableSignature
        do {
            signature = try key.signRecoverable(digest: signingHash)
        } catch {
            throw .invalidSignature("\(error)")
        }
        return SignedTransaction(transaction: self, signature: signature)
    }
}
