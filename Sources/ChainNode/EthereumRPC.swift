import Chain
import Codec
import Crypto
import Foundation

/// The Ethereum JSON-RPC methods the devnet serves, plus `ol_getSignedHead` and `ol_getBlockSignature`.
public struct EthereumRPC: Sendable {
    /// The node whose chain the methods read and whose mempool they feed.
    public let node: DevnetNode
    /// What `web3_clientVersion` answers.
    public static let clientVersion = "openledger/v0.1.0/linux-x86_64/swift6"
    /// eth_getLogs limits: blocks per query and results per response.
    public static let maxLogRange: UInt64 = 10_000
    /// The most logs one `eth_getLogs` answer may hold.
    public static let maxLogResults = 10_000
    /// The priority fee suggested to wallets: 1 gwei.
    public static let suggestedTip = UInt256(1_000_000_000)

    /// The methods of `node`.
    public init(node: DevnetNode) { self.node = node }

    /// The method table for `JSONRPCServer`.
    public var methods: [String: JSONRPCServer.Method] {
        let rpc = self
        func method(_ body: @escaping @Sendable (EthereumRPC, RPCParams) throws(RPCError) -> Any)
            -> JSONRPCServer.Method
        {
            { (values: [Any]) throws(RPCError) -> Any in try body(rpc, RPCParams(values)) }
        }
        return [
            "web3_clientVersion": method { _, _ in Self.clientVersion },
            "net_version": method { rpc, _ in String(rpc.node.config.chainId) },
            "net_listening": method { _, _ in true },
            "eth_chainId": method { rpc, _ in JSON.quantity(rpc.node.config.chainId) },
            "eth_syncing": method { _, _ in false },
            "eth_accounts": method { _, _ in [String]() },
            "eth_blockNumber": method { rpc, _ in JSON.quantity(rpc.node.read { $0.head.number }) },
            "eth_gasPrice": method { rpc, _ in
                JSON.quantity(rpc.node.read { rpc.node.rules.nextBaseFee($0.head) } + Self.suggestedTip)
            },
            "eth_maxPriorityFeePerGas": method { _, _ in JSON.quantity(Self.suggestedTip) },
            "eth_getBlockByNumber": method { rpc, p throws(RPCError) in
                try p.count(1...2)
                guard let number = try rpc.blockNumber(p.values[0]) else { return NSNull() }
                return try rpc.blockJSON(number: number, full: p.has(1) ? try p.bool(1) : false)
            },
            "eth_getBlockByHash": method { rpc, p throws(RPCError) in
                try p.count(1...2)
                guard let number = try rpc.number(ofBlock: try p.hash(0)) else { return NSNull() }
                return try rpc.blockJSON(number: number, full: p.has(1) ? try p.bool(1) : false)
            },
            "eth_getTransactionByHash": method { rpc, p throws(RPCError) in
                try p.count(1...1)
                return try rpc.transactionJSON(hash: try p.hash(0))
            },
            "eth_getTransactionReceipt": method { rpc, p throws(RPCError) in
                try p.count(1...1)
                return try rpc.receiptJSON(hash: try p.hash(0))
            },
            "eth_getBlockReceipts": method { rpc, p throws(RPCError) in
                try p.count(1...1)
                guard let number = try rpc.blockNumber(p.values[0]) else { return NSNull() }
                return try rpc.receiptsJSON(number: number)
            },
            "eth_getBalance": method { rpc, p throws(RPCError) in
                try p.count(1...2)
                let address = try p.address(0)
                return JSON.quantity(
                    try rpc.withState(p.values.count > 1 ? p.values[1] : "latest") { state throws(RPCError) in
                        try rpc.account(address, state).balance
                    })
            },
            "eth_getTransactionCount": method { rpc, p throws(RPCError) in
                try p.count(1...2)
                let address = try p.address(0)
                let tag = p.values.count > 1 ? p.values[1] as? String : nil
                if tag == "pending" {
                    return JSON.quantity(
                        rpc.node.read { core in
                            core.mempool.nextNonce(address, accountNonce: (try? core.state.account(address).nonce) ?? 0)
                        })
                }
                return JSON.quantity(
                    try rpc.withState(p.values.count > 1 ? p.values[1] : "latest") { state throws(RPCError) in
                        try rpc.account(address, state).nonce
                    })
            },
            "eth_getCode": method { rpc, p throws(RPCError) in
                try p.count(1...2)
                let address = try p.address(0)
                let codeHash = try rpc.withState(p.values.count > 1 ? p.values[1] : "latest") {
                    state throws(RPCError) in
                    try rpc.account(address, state).codeHash
                }
                return codeHash == Keccak256.hash(StateTransition.predeployCode)
                    ? JSON.data(StateTransition.predeployCode) : "0x"
            },
            "eth_getStorageAt": method { rpc, p throws(RPCError) in
                try p.count(2...3)
                let address = try p.address(0)
                let slot = try RPCParams.quantity(try p.string(1), what: "argument 1").bigEndianBytes
                return JSON.data(
                    try rpc.withState(p.values.count > 2 ? p.values[2] : "latest") { state throws(RPCError) in
                        do {
                            return try state.storage(address, slot: slot)
                        } catch {
                            throw .internalError("\(error)")
                        }
                    })
            },
            "eth_call": method { rpc, p throws(RPCError) in
                try p.count(1...2)
                return JSON.data(
                    try rpc.call(try p.object(0), block: p.values.count > 1 ? p.values[1] : "latest").output)
            },
            "eth_estimateGas": method { rpc, p throws(RPCError) in
                try p.count(1...2)
                return JSON.quantity(
                    try rpc.call(try p.object(0), block: p.values.count > 1 ? p.values[1] : "latest").gas)
            },
            "eth_feeHistory": method { rpc, p throws(RPCError) in try rpc.feeHistory(p) },
            "eth_sendRawTransaction": method { rpc, p throws(RPCError) in
                try p.count(1...1)
                return JSON.data(try rpc.node.sendRawTransaction(try p.bytes(0)))
            },
            "eth_getLogs": method { rpc, p throws(RPCError) in
                try p.count(1...1)
                return try rpc.logs(try p.object(0))
            },
            "eth_getProof": method { rpc, p throws(RPCError) in try rpc.proof(p) },
            "debug_getRawBlock": method { rpc, p throws(RPCError) in
                try p.count(1...1)
                guard let number = try rpc.blockNumber(p.values[0]), let block = try rpc.storedBlock(number) else {
                    return NSNull()
                }
                return JSON.data(block.block.encoded)
            },
            "ol_getSignedHead": method { rpc, _ throws(RPCError) in
                let (number, signature) = rpc.node.read { ($0.head.number, $0.headSignature) }
                guard let block = try rpc.storedBlock(number) else { throw .internalError("head block missing") }
                return [
                    "header": rpc.headerJSON(block.block), "rlp": JSON.data(block.block.header.encoded),
                    "signature": JSON.data(signature), "chainId": JSON.quantity(rpc.node.config.chainId),
                ] as [String: Any]
            },
            "ol_getBlockSignature": method { rpc, p throws(RPCError) in
                try p.count(1...1)
                guard let number = try rpc.blockNumber(p.values[0]), let block = try rpc.storedBlock(number) else {
                    return NSNull()
                }
                return [
                    "number": JSON.quantity(number), "hash": JSON.data(block.block.hash),
                    "signature": JSON.data(block.signature), "rlp": JSON.data(block.block.header.encoded),
                    "chainId": JSON.quantity(rpc.node.config.chainId),
                ] as [String: Any]
            },
        ]
    }

    // MARK: Blocks and state

    /// The block number a tag, number or EIP-1898 object names; nil when it does not exist.
    func blockNumber(_ value: Any) throws(RPCError) -> UInt64? {
        let head = node.read { $0.head.number }
        if let object = value as? [String: Any] {
            if let hash = object["blockHash"] as? String {
                return try number(ofBlock: try RPCParams.hash(hash, what: "blockHash"))
            }
            if let number = object["blockNumber"] { return try blockNumber(number) }
            throw .invalidParams("block object needs blockHash or blockNumber")
        }
        guard let text = value as? String else { throw .invalidParams("block must be a tag or a hex number") }
        switch text {
        case "latest", "pending", "safe", "finalized": return head
        case "earliest": return 0
        default:
            if text.count == 66 { return try number(ofBlock: try RPCParams.hash(text, what: "block")) }
            guard let number = try RPCParams.quantity(text, what: "block number").uint64 else { return nil }
            return number <= head ? number : nil
        }
    }

    func number(ofBlock hash: [UInt8]) throws(RPCError) -> UInt64? {
        do {
            return try node.store.block(hash: hash)?.block.header.number
        } catch {
            throw .internalError("\(error)")
        }
    }

    func storedBlock(_ number: UInt64) throws(RPCError) -> ChainStore.StoredBlock? {
        do {
            return try node.store.block(number: number)
        } catch {
            throw .internalError("\(error)")
        }
    }

    /// Runs `body` on the state after the named block.
    func withState<R>(_ block: Any, _ body: (WorldState) throws(RPCError) -> R) throws(RPCError) -> R {
        guard let number = try blockNumber(block) else { throw .server("header not found") }
        let (headNumber, headState) = node.read { ($0.head.number, $0.state) }
        if number == headNumber { return try body(headState) }
        guard let stored = try storedBlock(number) else { throw .server("header not found") }
        return try body(WorldState(stateRoot: stored.block.header.stateRoot, source: node.store))
    }

    func account(_ address: Address, _ state: WorldState) throws(RPCError) -> Account {
        do {
            return try state.account(address)
        } catch {
            throw .internalError("\(error)")
        }
    }

    func headerJSON(_ block: Block) -> [String: Any] {
        let header = block.header
        var json: [String: Any] = [
            "number": JSON.quantity(header.number), "hash": JSON.data(block.hash),
            "parentHash": JSON.data(header.parentHash), "sha3Uncles": JSON.data(header.ommersHash),
            "miner": header.beneficiary.lowercaseHex, "stateRoot": JSON.data(header.stateRoot),
            "transactionsRoot": JSON.data(header.transactionsRoot), "receiptsRoot": JSON.data(header.receiptsRoot),
            "logsBloom": JSON.data(header.logsBloom.bytes), "difficulty": JSON.quantity(header.difficulty),
            "gasLimit": JSON.quantity(header.gasLimit), "gasUsed": JSON.quantity(header.gasUsed),
            "timestamp": JSON.quantity(header.timestamp), "extraData": JSON.data(header.extraData),
            "mixHash": JSON.data(header.mixHash), "nonce": JSON.data(header.nonce),
            "size": JSON.quantity(UInt64(block.encoded.count)), "uncles": [String](), "totalDifficulty": "0x0",
        ]
        if let value = header.baseFeePerGas { json["baseFeePerGas"] = JSON.quantity(value) }
        if let value = header.withdrawalsRoot {
            json["withdrawalsRoot"] = JSON.data(value)
            json["withdrawals"] = [Any]()
        }
        if let value = header.blobGasUsed { json["blobGasUsed"] = JSON.quantity(value) }
        if let value = header.excessBlobGas { json["excessBlobGas"] = JSON.quantity(value) }
        if let value = header.parentBeaconBlockRoot { json["parentBeaconBlockRoot"] = JSON.data(value) }
        return json
    }

    func blockJSON(number: UInt64, full: Bool) throws(RPCError) -> Any {
        guard let stored = try storedBlock(number) else { return NSNull() }
        var json = headerJSON(stored.block)
        json["transactions"] =
            full
            ? try stored.block.transactions.enumerated().map { index, transaction throws(RPCError) in
                try transactionJSON(transaction, block: stored.block, index: index)
            } as [Any]
            : stored.block.transactions.map { JSON.data($0.hash) }
        return json
    }

    func transactionJSON(_ signed: SignedTransaction, block: Block?, index: Int?) throws(RPCError) -> [String: Any] {
        let transaction = signed.transaction
        let sender: Address
        do {
            sender = try signed.recoverSender()
        } catch {
            throw .internalError("\(error)")
        }
        var json: [String: Any] = [
            "hash": JSON.data(signed.hash), "nonce": JSON.quantity(transaction.nonce), "from": sender.lowercaseHex,
            "to": transaction.to.map { $0.lowercaseHex as Any } ?? NSNull(), "value": JSON.quantity(transaction.value),
            "gas": JSON.quantity(transaction.gasLimit), "input": JSON.data(transaction.data),
            "type": JSON.quantity(UInt64(transaction.type.rawValue)), "r": JSON.quantity(signed.r),
            "s": JSON.quantity(signed.s),
            "blockHash": block.map { JSON.data($0.hash) as Any } ?? NSNull(),
            "blockNumber": block.map { JSON.quantity($0.header.number) as Any } ?? NSNull(),
            "transactionIndex": index.map { JSON.quantity(UInt64($0)) as Any } ?? NSNull(),
        ]
        if let chainId = transaction.chainId { json["chainId"] = JSON.quantity(chainId) }
        switch transaction.type {
        case .legacy:
            json["gasPrice"] = JSON.quantity(transaction.gasPrice)
            json["v"] = JSON.quantity(signed.legacyV)
        case .dynamicFee:
            let price =
                block?.header.baseFeePerGas.map { transaction.effectiveGasPrice(baseFee: $0) }
                ?? transaction.maxFeePerGas
            json["gasPrice"] = JSON.quantity(price)
            json["maxFeePerGas"] = JSON.quantity(transaction.maxFeePerGas)
            json["maxPriorityFeePerGas"] = JSON.quantity(transaction.maxPriorityFeePerGas)
            json["accessList"] = transaction.accessList.map {
                ["address": $0.address.lowercaseHex, "storageKeys": $0.storageKeys.map(JSON.data)] as [String: Any]
            }
            json["v"] = JSON.quantity(UInt64(signed.signature.recoveryID))
            json["yParity"] = JSON.quantity(UInt64(signed.signature.recoveryID))
        }
        return json
    }

    func transactionJSON(hash: [UInt8]) throws(RPCError) -> Any {
        if let pending = node.read({ $0.mempool.transaction(hash) }) {
            return try transactionJSON(pending, block: nil, index: nil)
        }
        guard let location = try location(hash), let stored = try storedBlock(location.number) else { return NSNull() }
        return try transactionJSON(
            stored.block.transactions[location.position], block: stored.block, index: location.position)
    }

    func location(_ hash: [UInt8]) throws(RPCError) -> (number: UInt64, position: Int, sender: Address)? {
        do {
            return try node.store.location(ofTransaction: hash)
        } catch {
            throw .internalError("\(error)")
        }
    }

    func receiptsJSON(number: UInt64) throws(RPCError) -> Any {
        guard let stored = try storedBlock(number) else { return NSNull() }
        let receipts: [Receipt]
        do {
            receipts = try node.store.receipts(number: number)
        } catch {
            throw .internalError("\(error)")
        }
        var logIndex = 0
        return try zip(stored.block.transactions, receipts).enumerated().map { position, pair throws(RPCError) in
            let json = try receiptJSON(
                pair.0, pair.1, block: stored.block, position: position, receipts: receipts, firstLogIndex: logIndex)
            logIndex += pair.1.logs.count
            return json
        } as [Any]
    }

    func receiptJSON(hash: [UInt8]) throws(RPCError) -> Any {
        guard let location = try location(hash), let stored = try storedBlock(location.number) else { return NSNull() }
        let receipts: [Receipt]
        do {
            receipts = try node.store.receipts(number: location.number)
        } catch {
            throw .internalError("\(error)")
        }
        let firstLogIndex = receipts.prefix(location.position).reduce(0) { $0 + $1.logs.count }
        return try receiptJSON(
            stored.block.transactions[location.position], receipts[location.position], block: stored.block,
            position: location.position, receipts: receipts, firstLogIndex: firstLogIndex)
    }

    func receiptJSON(
        _ signed: SignedTransaction, _ receipt: Receipt, block: Block, position: Int, receipts: [Receipt],
        firstLogIndex: Int
    ) throws(RPCError) -> [String: Any] {
        let sender: Address
        do {
            sender = try signed.recoverSender()
        } catch {
            throw .internalError("\(error)")
        }
        let previous = position == 0 ? 0 : receipts[position - 1].cumulativeGasUsed
        let baseFee = block.header.baseFeePerGas ?? .zero
        return [
            "transactionHash": JSON.data(signed.hash), "transactionIndex": JSON.quantity(UInt64(position)),
            "blockHash": JSON.data(block.hash), "blockNumber": JSON.quantity(block.header.number),
            "from": sender.lowercaseHex, "to": signed.transaction.to.map { $0.lowercaseHex as Any } ?? NSNull(),
            "cumulativeGasUsed": JSON.quantity(receipt.cumulativeGasUsed),
            "gasUsed": JSON.quantity(receipt.cumulativeGasUsed - previous),
            "effectiveGasPrice": JSON.quantity(signed.transaction.effectiveGasPrice(baseFee: baseFee)),
            "contractAddress": NSNull(), "logsBloom": JSON.data(receipt.bloom.bytes),
            "type": JSON.quantity(UInt64(signed.transaction.type.rawValue)),
            "status": receipt.succeeded ? "0x1" : "0x0",
            "logs": receipt.logs.enumerated().map { offset, log in
                logJSON(
                    log, block: block, transactionHash: signed.hash, position: position,
                    logIndex: firstLogIndex + offset)
            },
        ]
    }

    func logJSON(_ log: Log, block: Block, transactionHash: [UInt8], position: Int, logIndex: Int) -> [String: Any] {
        [
            "address": log.address.lowercaseHex, "topics": log.topics.map(JSON.data), "data": JSON.data(log.data),
            "blockNumber": JSON.quantity(block.header.number), "blockHash": JSON.data(block.hash),
            "blockTimestamp": JSON.quantity(block.header.timestamp),
            "transactionHash": JSON.data(transactionHash), "transactionIndex": JSON.quantity(UInt64(position)),
            "logIndex": JSON.quantity(UInt64(logIndex)), "removed": false,
        ]
    }
}
