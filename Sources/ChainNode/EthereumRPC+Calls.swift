import Chain
import Codec
import Foundation

extension EthereumRPC {
    /// Simulates a call on the named block's state without changing anything: views of a predeploy answer
    /// directly, other functions run on a copy of the state. Returns the output and the gas it would use.
    func call(_ object: [String: Any], block: Any) throws(RPCError) -> (output: [UInt8], gas: UInt64) {
        guard let toText = object["to"] as? String else {
            throw .server("contract creation is not supported on this chain")
        }
        let to = try RPCParams.address(toText, what: "to")
        let from =
            try (object["from"] as? String).map { text throws(RPCError) in try RPCParams.address(text, what: "from") }
            ?? .zero
        let dataText = object["input"] as? String ?? object["data"] as? String ?? "0x"
        let data = try RPCParams.bytes(dataText, what: "input")
        let value =
            try (object["value"] as? String).map { text throws(RPCError) in try RPCParams.quantity(text, what: "value")
            } ?? .zero
        let intrinsic = FeeRules.intrinsicGas(data: data)
        guard let number = try blockNumber(block), let stored = try storedBlock(number) else {
            throw .server("header not found")
        }
        let header = stored.block.header
        return try withState(block) { state throws(RPCError) in
            guard let predeploy = node.rules.predeploys[to] else {
                if value > .zero, try account(from, state).balance < value {
                    throw .server("insufficient funds for transfer")
                }
                return ([], intrinsic)
            }
            let context = CallContext(
                caller: from, value: value, blockNumber: header.number, timestamp: header.timestamp,
                chainId: node.config.chainId)
            do throws(ChainError) {
                return (try predeploy.view(data, state: state, context: context), intrinsic)
            } catch .unknownSelector {
                // Not a view: run the function itself on a scratch copy of the state (below).
            } catch {
                throw Self.rpcError(error)
            }
            var scratch = state
            do throws(ChainError) {
                if value > .zero {
                    try scratch.updateAccount(from) { account throws(ChainError) in
                        guard account.balance >= value else { throw .reverted("insufficient funds for transfer") }
                        account.balance -= value
                    }
                    try scratch.updateAccount(to) { account throws(ChainError) in account.balance += value }
                }
                let outcome = try predeploy.call(data, context: context, state: &scratch)
                return (outcome.output, intrinsic + outcome.gas)
            } catch {
                throw Self.rpcError(error)
            }
        }
    }

    /// The JSON-RPC error of a failed call: a revert keeps its reason (code 3), anything else is internal.
    static func rpcError(_ error: ChainError) -> RPCError {
        if let reason = error.revertReason { return .reverted(reason) }
        return .internalError("\(error)")
    }

    func feeHistory(_ p: RPCParams) throws(RPCError) -> Any {
        try p.count(2...3)
        let count = try p.uint64(0)
        guard (1...1024).contains(count) else { throw .invalidParams("blockCount must be 1 to 1024") }
        guard let newest = try blockNumber(p.values[1]) else { throw .server("header not found") }
        var percentiles: [Double] = []
        if p.has(2) {
            guard let list = p.values[2] as? [NSNumber] else {
                throw .invalidParams("rewardPercentiles must be numbers")
            }
            percentiles = list.map(\.doubleValue)
            guard percentiles.allSatisfy({ (0...100).contains($0) }), percentiles == percentiles.sorted(),
                percentiles.count <= 100
            else { throw .invalidParams("rewardPercentiles must rise from 0 to 100") }
        }
        let oldest = newest + 1 >= count ? newest + 1 - count : 0
        var baseFees: [String] = []
        var ratios: [Double] = []
        var rewards: [[String]] = []
        var last: BlockHeader? = nil
        for number in oldest...newest {
            guard let stored = try storedBlock(number) else { break }
            let header = stored.block.header
            let baseFee = header.baseFeePerGas ?? .zero
            baseFees.append(JSON.quantity(baseFee))
            ratios.append(Double(header.gasUsed) / Double(header.gasLimit))
            if !percentiles.isEmpty {
                let tips = stored.block.transactions.map { transaction -> UInt256 in
                    let price = transaction.transaction.effectiveGasPrice(baseFee: baseFee)
                    return price > baseFee ? price - baseFee : .zero
                }.sorted()
                rewards.append(
                    percentiles.map { percentile in
                        tips.isEmpty ? "0x0" : JSON.quantity(tips[Int(percentile / 100 * Double(tips.count - 1))])
                    })
            }
            last = header
        }
        if let last { baseFees.append(JSON.quantity(node.rules.nextBaseFee(last))) }
        var result: [String: Any] = [
            "oldestBlock": JSON.quantity(oldest), "baseFeePerGas": baseFees, "gasUsedRatio": ratios,
        ]
        if !percentiles.isEmpty { result["reward"] = rewards }
        return result
    }

    func logs(_ filter: [String: Any]) throws(RPCError) -> Any {
        let head = node.read { $0.head.number }
        var from: UInt64
        var to: UInt64
        if let hash = filter["blockHash"] as? String {
            guard filter["fromBlock"] == nil, filter["toBlock"] == nil else {
                throw .invalidParams("cannot specify both BlockHash and FromBlock/ToBlock, choose one or the other")
            }
            guard let number = try number(ofBlock: try RPCParams.hash(hash, what: "blockHash")) else {
                throw .server("unknown block")
            }
            (from, to) = (number, number)
        } else {
            from = try filter["fromBlock"].map { value throws(RPCError) in try blockNumber(value) ?? head + 1 } ?? head
            to = try filter["toBlock"].map { value throws(RPCError) in try blockNumber(value) ?? head } ?? head
        }
        to = min(to, head)
        guard from <= to else { return [Any]() }
        guard to - from < Self.maxLogRange else {
            throw RPCError(code: -32005, message: "query exceeds max block range \(Self.maxLogRange)")
        }
        var addresses: [Address] = []
        switch filter["address"] {
        case nil, is NSNull: break
        case let text as String: addresses = [try RPCParams.address(text, what: "address")]
        case let list as [Any]:
            for item in list {
                guard let text = item as? String else { throw .invalidParams("address list holds a non-string") }
                addresses.append(try RPCParams.address(text, what: "address"))
            }
        default: throw .invalidParams("address must be a string or a list")
        }
        var topics: [[[UInt8]]?] = []
        if let list = filter["topics"] {
            guard let list = list as? [Any], list.count <= 4 else {
                throw .invalidParams("topics must be a list of up to 4")
            }
            for entry in list {
                switch entry {
                case is NSNull: topics.append(nil)
                case let text as String: topics.append([try RPCParams.hash(text, what: "topic")])
                case let options as [Any]:
                    var hashes: [[UInt8]] = []
                    for option in options {
                        guard let text = option as? String else {
                            throw .invalidParams("topic list holds a non-string")
                        }
                        hashes.append(try RPCParams.hash(text, what: "topic"))
                    }
                    topics.append(hashes)
                default: throw .invalidParams("a topic is null, a hash or a list of hashes")
                }
            }
        }
        let found: [ChainStore.StoredLog]
        do {
            found = try node.store.logs(
                from: from, to: to, addresses: addresses, topics: topics, limit: Self.maxLogResults)
        } catch {
            throw .internalError("\(error)")
        }
        guard found.count <= Self.maxLogResults else {
            throw RPCError(code: -32005, message: "query returned more than \(Self.maxLogResults) results")
        }
        var blocks: [UInt64: Block] = [:]
        var out: [Any] = []
        for stored in found {
            if blocks[stored.blockNumber] == nil {
                blocks[stored.blockNumber] = try storedBlock(stored.blockNumber)?.block
            }
            guard let block = blocks[stored.blockNumber] else { continue }
            out.append(
                logJSON(
                    stored.log, block: block, transactionHash: block.transactions[stored.transactionPosition].hash,
                    position: stored.transactionPosition, logIndex: stored.logIndex))
        }
        return out
    }

    func proof(_ p: RPCParams) throws(RPCError) -> Any {
        try p.count(2...3)
        let address = try p.address(0)
        guard let slotTexts = p.values[1] as? [Any] else { throw .invalidParams("storage keys must be a list") }
        guard slotTexts.count <= 1_000 else { throw .invalidParams("at most 1000 storage keys") }
        var slots: [[UInt8]] = []
        for item in slotTexts {
            guard let text = item as? String else { throw .invalidParams("storage key must be a hex string") }
            let bytes = try RPCParams.bytes(text, what: "storage key")
            guard bytes.count <= 32 else { throw .invalidParams("storage key longer than 32 bytes") }
            slots.append([UInt8](repeating: 0, count: 32 - bytes.count) + bytes)
        }
        let proof = try withState(p.values.count > 2 ? p.values[2] : "latest") { state throws(RPCError) in
            do {
                return try state.proof(of: address, slots: slots)
            } catch {
                throw .internalError("\(error)")
            }
        }
        return [
            "address": address.lowercaseHex, "accountProof": proof.accountProof.map(JSON.data),
            "balance": JSON.quantity(proof.account.balance), "codeHash": JSON.data(proof.account.codeHash),
            "nonce": JSON.quantity(proof.account.nonce), "storageHash": JSON.data(proof.account.storageRoot),
            "storageProof": proof.storageProofs.map { storage in
                [
                    "key": JSON.data(storage.key), "value": JSON.quantity(UInt256(bigEndian: storage.value)!),
                    "proof": storage.proof.map(JSON.data),
                ] as [String: Any]
            },
        ] as [String: Any]
    }
}
