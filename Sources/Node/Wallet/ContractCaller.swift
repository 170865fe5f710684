import Chain
import Codec
import Crypto
import LightClient

/// Calls of one predeploy's functions as transactions through the light client: the balance checked, the call
/// dry-run by the server (`eth_estimateGas`, which answers the contract's revert reason), then signed, sent and
/// followed to its verified receipt; a failed receipt is an error carrying the reason the server's replay names.
public struct ContractCaller: Sendable {
    /// The light client every read and transaction goes through.
    public let client: LightClient
    /// The key that signs and pays.
    public let key: Secp256k1PrivateKey
    /// Its account.
    public let account: Address
    /// The contract called.
    public let contract: Address
    /// The ABI signature of a function of the contract, by name.
    public let signature: @Sendable (String) -> ABISignature?
    /// How long to wait for a transaction to be in a verified block.
    public let inclusionTimeoutSeconds: Double
    /// The most a transaction pays per gas (the light client's default).
    public static let maxFeePerGas: UInt256 = 50_000_000_000

    /// A caller of `contract`'s functions (looked up by `signature`) signing with `key` through `client`.
    public init(
        client: LightClient, key: Secp256k1PrivateKey, contract: Address,
        signature: @escaping @Sendable (String) -> ABISignature?, inclusionTimeoutSeconds: Double = 60
    ) {
        self.client = client
        self.key = key
        account = WalletKeyFile.address(of: key)
        self.contract = contract
        self.signature = signature
        self.inclusionTimeoutSeconds = inclusionTimeoutSeconds
    }

    /// The proven balance of `address` at the synced head.
    func balance(of address: Address) throws(NodeError) -> (balance: UInt256, header: VerifiedHeader) {
        try ledger { () throws(LightClientError) in
            let head = try client.syncHead()
            return (try client.account(address, at: head).account.balance, head)
        }
    }

    /// Checks the balance, dry-runs, sends and waits for the verified receipt of one call of the contract; returns the
    /// receipt, its verified block and the transaction's hash.
    public func submit(_ operation: String, value: UInt256 = .zero, data: [UInt8]) throws(NodeError) -> (
        receipt: Receipt, header: VerifiedHeader, transaction: [UInt8]
    ) {
        let (balance, _) = try self.balance(of: account)
        guard balance >= value else { throw .insufficientFunds(account: account, balance: balance, needed: value) }
        let estimate = try dryRun(operation, value: value, data: data, block: "latest")
        // Room above the estimate for state that changes before inclusion; only the gas used is paid.
        let gasLimit = estimate + estimate / 2
        let (gasCost, overflow) = UInt256(gasLimit).multipliedReportingOverflow(by: Self.maxFeePerGas)
        let (needed, carry) = value.addingReportingOverflow(gasCost)
        guard !overflow, !carry, balance >= needed else {
            throw .insufficientFunds(account: account, balance: balance, needed: needed)
        }
        let (hash, receipt, header) = try ledger { () throws(LightClientError) in
            let hash = try client.send(
                from: key, to: contract, value: value, data: data, gasLimit: gasLimit, maxFeePerGas: Self.maxFeePerGas)
            let included = try client.waitForInclusion(hash, timeoutSeconds: inclusionTimeoutSeconds)
            return (hash, included.receipt, included.header)
        }
        guard receipt.succeeded else {
            // The block's own reason is not in a receipt: the server's replay on the state before the block names it.
            let reason: String?
            do {
                _ = try dryRun(operation, value: value, data: data, block: UInt256(header.number - 1).hexQuantity)
                reason = nil
            } catch .transactionReverted(_, _, _, let why) {
                reason = why
            } catch {
                reason = nil
            }
            throw .transactionReverted(operation: operation, transaction: hash, block: header.number, reason: reason)
        }
        return (receipt, header, hash)
    }

    /// The gas the server says the call needs on `block`'s state; a call it says reverts is refused with its reason.
    private func dryRun(_ operation: String, value: UInt256, data: [UInt8], block: String) throws(NodeError) -> UInt64 {
        let call: [String: Any] = [
            "from": account.lowercaseHex, "to": contract.lowercaseHex, "value": value.hexQuantity,
            "data": Hex.encode(data),
        ]
        let answer: Any
        do {
            answer = try client.rpc.call("eth_estimateGas", [call, block])
        } catch .rpc(let code, let message) where code == 3 {
            let prefix = "execution reverted: "
            let reason = message.hasPrefix(prefix) ? String(message.dropFirst(prefix.count)) : message
            throw .transactionReverted(operation: operation, transaction: nil, block: nil, reason: reason)
        } catch {
            throw .ledger(error)
        }
        guard let text = answer as? String, text.hasPrefix("0x"), let gas = UInt256(hex: text)?.uint64,
            (21_000...10_000_000).contains(gas)
        else { throw .ledger(.malformedResponse("eth_estimateGas answered \(answer)")) }
        return gas
    }

    /// The calldata of the contract's function `name` with `arguments`.
    public func calldata(_ name: String, _ arguments: [ABIValue]) throws(NodeError) -> [UInt8] {
        guard let method = signature(name) else {
            throw .ledger(.verificationFailed("\(contract) has no function \(name)"))
        }
        do {
            return try method.encodeCall(arguments)
        } catch {
            throw .ledger(.verificationFailed("encoding \(name): \(error)"))
        }
    }

    /// The first log of the contract's event `name` in a verified receipt.
    public func event(_ name: String, in receipt: Receipt) throws(NodeError) -> DecodedEvent? {
        for log in receipt.logs where log.address == contract {
            let decoded: DecodedEvent?
            do {
                decoded = try PredeployEvents.decode(log)
            } catch {
                throw .ledger(.verificationFailed("a \(name) log does not decode: \(error)"))
            }
            if let decoded, decoded.name == name { return decoded }
        }
        return nil
    }

    /// Runs light-client work, its failure becoming the node's error.
    private func ledger<R>(_ body: () throws(LightClientError) -> R) throws(NodeError) -> R {
        do {
            return try body()
        } catch {
            throw .ledger(error)
        }
    }
}
