import Chain
import Codec
import Crypto

extension LightClient {
    /// The receipts of block `number`, accepted only when they rebuild the verified header's receipts root.
    public func receipts(ofBlock number: UInt64) throws(LightClientError) -> (
        receipts: [Receipt], header: VerifiedHeader
    ) {
        let header = try header(number)
        let result = try rpc.call("eth_getBlockReceipts", [UInt256(number).hexQuantity])
        var receipts: [Receipt] = []
        for entry in try RPCValues.array(result, "eth_getBlockReceipts") {
            let object = try RPCValues.object(entry, "receipt")
            let type: TransactionType
            switch try RPCValues.uint64(object["type"], "receipt type") {
            case 0: type = .legacy
            case 2: type = .dynamicFee
            case let other: throw .malformedResponse("receipt type \(other)")
            }
            let logs = try RPCValues.array(object["logs"], "logs").map { entry throws(LightClientError) in
                let log = try RPCValues.object(entry, "log")
                return Log(
                    address: try RPCValues.address(log["address"], "log address"),
                    topics: try RPCValues.array(log["topics"], "topics").map { topic throws(LightClientError) in
                        try RPCValues.bytes(topic, "topic")
                    },
                    data: try RPCValues.bytes(log["data"], "log data"))
            }
            receipts.append(
                Receipt(
                    type: type, succeeded: try RPCValues.uint64(object["status"], "status") == 1,
                    cumulativeGasUsed: try RPCValues.uint64(object["cumulativeGasUsed"], "cumulativeGasUsed"),
                    logs: logs))
        }
        guard Block.receiptsRoot(receipts) == header.header.receiptsRoot else {
            throw .verificationFailed(
                "receipts of block \(number) do not rebuild its receipts root: a receipt or log was altered or left out"
            )
        }
        return (receipts, header)
    }

    /// Block `number` with its transactions, accepted only when it hashes to the verified header and its
    /// transactions rebuild the header's transactions root.
    public func block(_ number: UInt64) throws(LightClientError) -> (block: Block, header: VerifiedHeader) {
        let header = try header(number)
        let raw = try RPCValues.bytes(try rpc.call("debug_getRawBlock", [UInt256(number).hexQuantity]), "raw block")
        let block: Block
        do {
            block = try Block(encoded: raw)
        } catch {
            throw .verificationFailed("block \(number): \(error)")
        }
        guard block.hash == header.hash else {
            throw .verificationFailed("block \(number) is not the verified header's")
        }
        return (block, header)
    }

    /// Signs and submits a transaction, choosing the nonce locally: the proven account nonce or, when higher,
    /// the next one after this client's own pending submissions.
    public func send(
        from key: Secp256k1PrivateKey, to: Address, value: UInt256, data: [UInt8] = [], gasLimit: UInt64 = 21_000,
        maxFeePerGas: UInt256 = 50_000_000_000, maxPriorityFeePerGas: UInt256 = 1_000_000_000
    ) throws(LightClientError) -> [UInt8] {
        let sender: Address
        do {
            sender = try Address(bytes: key.publicKey.ethereumAddress)
        } catch {
            throw .verificationFailed("\(error)")
        }
        let head = try syncHead()
        let proven = try account(sender, at: head).account.nonce
        let nonce = nextNonces.withLock { max($0[sender] ?? 0, proven) }
        let signed: SignedTransaction
        do {
            signed = try Transaction.dynamicFee(
                chainId: trust.chainId, nonce: nonce, maxPriorityFeePerGas: maxPriorityFeePerGas,
                maxFeePerGas: maxFeePerGas, gasLimit: gasLimit, to: to, value: value, data: data
            ).signed(with: key)
        } catch {
            throw .verificationFailed("\(error)")
        }
        let hash = try RPCValues.bytes(
            try rpc.call("eth_sendRawTransaction", [Hex.encode(signed.encoded)]), "transaction hash")
        guard hash == signed.hash else { throw .verificationFailed("server returned another transaction hash") }
        nextNonces.withLock { $0[sender] = nonce + 1 }
        return hash
    }

    /// How long `waitForInclusion` waits between polls.
    public static let inclusionPollSeconds = 0.05

    /// Waits until transaction `hash` is in a block, then proves it: the verified block holds it at the claimed
    /// position and the verified receipts give its receipt. Polls every `inclusionPollSeconds` on the client's
    /// clock until `timeoutSeconds` have passed on it.
    public func waitForInclusion(_ hash: [UInt8], timeoutSeconds: Double = 30) throws(LightClientError)
        -> (receipt: Receipt, header: VerifiedHeader, position: Int)
    {
        let deadline = clock.now().advanced(bySeconds: timeoutSeconds)
        while clock.now() < deadline {
            let result = try rpc.call("eth_getTransactionReceipt", [Hex.encode(hash)])
            if let object = result as? [String: Any] {
                let number = try RPCValues.uint64(object["blockNumber"], "blockNumber")
                let position = Int(try RPCValues.uint64(object["transactionIndex"], "transactionIndex"))
                let head = try syncHead()
                guard number <= head.number else {
                    clock.sleep(seconds: Self.inclusionPollSeconds)
                    continue
                }
                let (block, header) = try block(number)
                guard position < block.transactions.count, block.transactions[position].hash == hash else {
                    throw .verificationFailed(
                        "block \(number) does not hold \(Hex.encode(hash)) at position \(position)")
                }
                let (receipts, _) = try receipts(ofBlock: number)
                guard position < receipts.count else { throw .verificationFailed("no receipt at position \(position)") }
                return (receipts[position], header, position)
            }
            clock.sleep(seconds: Self.inclusionPollSeconds)
        }
        throw .notIncluded(transaction: hash, timeoutSeconds: timeoutSeconds)
    }
}
