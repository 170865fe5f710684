import Codec
import Crypto

/// The rules of the L2 as a pure function: genesis, and (state, block) → (new state, receipts).
///
/// Deterministic and free of IO. A block that breaks any rule is rejected with a typed error and, because the
/// state is a value, the caller's state is untouched.
public struct StateTransition: Sendable {
    /// The network whose rules apply.
    public let config: NetworkConfig
    /// The predeploys by address: calls to these addresses run them.
    public let predeploys: [Address: any Predeploy]

    /// Accounts with storage that the protocol itself keeps: the burned-fee ledger.
    public static let protocolLedger = try! Address(hex: "0x4200000000000000000000000000000000000100")
    /// The code a predeploy account carries, so that wallets see a contract: a single INVALID opcode.
    public static let predeployCode: [UInt8] = [0xFE]

    /// The rules of `config` with `predeploys` installed at their addresses.
    public init(config: NetworkConfig, predeploys: [any Predeploy] = []) {
        self.config = config
        var table: [Address: any Predeploy] = [:]
        for predeploy in predeploys { table[predeploy.address] = predeploy }
        self.predeploys = table
    }

    /// The rules of a network as it runs: the config with every predeploy at its address.
    ///
    /// Nodes, light clients and benchmarks all use this, so they agree on genesis.
    public static func standard(config: NetworkConfig) -> StateTransition {
        StateTransition(
            config: config,
            predeploys: [
                DatanetRegistry(), ModelRegistry(),
                PaymentChannels(minimumSettleDelay: config.parameters.minimumSettleDelaySeconds), Staking(),
                AttributionClaims(), Governance(), AgentRegistry(),
            ])
    }

    // MARK: Genesis

    /// The genesis block and state of the network.
    public func genesis() throws(ChainError) -> (block: Block, state: WorldState) {
        var state = WorldState()
        for (address, balance) in config.genesisBalances {
            try state.updateAccount(address) { account throws(ChainError) in account.balance += balance }
        }
        for address in predeploys.keys + [Self.protocolLedger] {
            try state.updateAccount(address) { account throws(ChainError) in
                account.nonce = 1
                account.codeHash = Keccak256.hash(Self.predeployCode)
            }
        }
        for address in predeploys.keys.sorted() { try predeploys[address]!.genesis(config: config, state: &state) }
        var header = BlockHeader(
            parentHash: [UInt8](repeating: 0, count: 32), beneficiary: .zero, stateRoot: try state.commit(),
            number: 0, gasLimit: config.gasLimit, timestamp: config.genesisTimestamp)
        header.baseFeePerGas = config.initialBaseFee
        header.withdrawalsRoot = MerklePatriciaTrie.emptyRoot
        header.blobGasUsed = 0
        header.excessBlobGas = 0
        header.parentBeaconBlockRoot = [UInt8](repeating: 0, count: 32)
        header.extraData = Array("openledger \(config.name)".utf8.prefix(32))
        return (Block(header: header, transactions: []), state)
    }

    // MARK: Blocks

    /// Applies `block` on top of `parent` whose post-state is `state`.
    ///
    /// Every header field is checked against what executing the transactions produces.
    public func apply(_ block: Block, parent: BlockHeader, state: WorldState) throws(ChainError)
        -> (state: WorldState, receipts: [Receipt])
    {
        let header = block.header
        try checkHeader(header, parent: parent)
        var state = state
        var receipts: [Receipt] = []
        var gasUsed: UInt64 = 0
        for (index, transaction) in block.transactions.enumerated() {
            do {
                let receipt = try applyTransaction(transaction, header: header, gasUsed: gasUsed, state: &state)
                gasUsed = receipt.cumulativeGasUsed
                receipts.append(receipt)
            } catch {
                throw .invalidBlock("transaction \(index) (\(Hex.encode(transaction.hash))): \(error)")
            }
        }
        guard gasUsed == header.gasUsed else {
            throw .invalidBlock("gasUsed \(header.gasUsed) in header, \(gasUsed) by execution")
        }
        guard Block.transactionsRoot(block.transactions) == header.transactionsRoot else {
            throw .invalidBlock("transactions root mismatch")
        }
        guard Block.receiptsRoot(receipts) == header.receiptsRoot else { throw .invalidBlock("receipts root mismatch") }
        guard Self.bloom(receipts) == header.logsBloom else { throw .invalidBlock("logs bloom mismatch") }
        let root = try state.commit()
        guard root == header.stateRoot else {
            throw .invalidBlock(
                "state root \(Hex.encode(header.stateRoot)) in header, \(Hex.encode(root)) by execution")
        }
        return (state, receipts)
    }

    /// Builds the next block from candidate transactions, skipping those that are not valid now; returns the
    /// block, its post-state and receipts, and the skipped transactions with the reason for each.
    public func buildBlock(
        parent: BlockHeader, state: WorldState, transactions: [SignedTransaction], timestamp: UInt64,
        beneficiary: Address
    ) throws(ChainError) -> (
        block: Block, state: WorldState, receipts: [Receipt], skipped: [(SignedTransaction, ChainError)]
    ) {
        var header = BlockHeader(
            parentHash: parent.hash, beneficiary: beneficiary, stateRoot: [], number: parent.number + 1,
            gasLimit: config.gasLimit, timestamp: max(timestamp, parent.timestamp))
        header.baseFeePerGas = nextBaseFee(parent)
        header.withdrawalsRoot = MerklePatriciaTrie.emptyRoot
        header.blobGasUsed = 0
        header.excessBlobGas = 0
        header.parentBeaconBlockRoot = [UInt8](repeating: 0, count: 32)
        var state = state
        var included: [SignedTransaction] = []
        var receipts: [Receipt] = []
        var skipped: [(SignedTransaction, ChainError)] = []
        var gasUsed: UInt64 = 0
        for transaction in transactions {
            do {
                let receipt = try applyTransaction(transaction, header: header, gasUsed: gasUsed, state: &state)
                gasUsed = receipt.cumulativeGasUsed
                receipts.append(receipt)
                included.append(transaction)
            } catch {
                skipped.append((transaction, error))
            }
        }
        header.gasUsed = gasUsed
        header.transactionsRoot = Block.transactionsRoot(included)
        header.receiptsRoot = Block.receiptsRoot(receipts)
        header.logsBloom = Self.bloom(receipts)
        header.stateRoot = try state.commit()
        return (Block(header: header, transactions: included), state, receipts, skipped)
    }

    /// The base fee of the block after `parent`.
    public func nextBaseFee(_ parent: BlockHeader) -> UInt256 {
        FeeRules.nextBaseFee(
            parentBaseFee: parent.baseFeePerGas ?? config.initialBaseFee, parentGasUsed: parent.gasUsed,
            parentGasLimit: parent.gasLimit)
    }

    private func checkHeader(_ header: BlockHeader, parent: BlockHeader) throws(ChainError) {
        guard header.parentHash == parent.hash else { throw .invalidBlock("parent hash does not match the parent") }
        guard header.number == parent.number + 1 else {
            throw .invalidBlock("number \(header.number) does not follow parent \(parent.number)")
        }
        // Blocks come faster than once a second, so timestamps may repeat but never go back.
        guard header.timestamp >= parent.timestamp else { throw .invalidBlock("timestamp before the parent's") }
        guard header.gasLimit == config.gasLimit else { throw .invalidBlock("gas limit \(header.gasLimit)") }
        guard header.gasUsed <= header.gasLimit else { throw .invalidBlock("gas used above the gas limit") }
        guard header.baseFeePerGas == nextBaseFee(parent) else { throw .invalidBlock("base fee breaks EIP-1559") }
        guard header.extraData.count <= 32 else { throw .invalidBlock("extraData over 32 bytes") }
        guard header.ommersHash == BlockHeader.emptyOmmersHash, header.difficulty == .zero else {
            throw .invalidBlock("ommers or difficulty on a post-merge chain")
        }
    }

    static func bloom(_ receipts: [Receipt]) -> Bloom {
        var bloom = Bloom()
        for receipt in receipts { bloom.formUnion(receipt.bloom) }
        return bloom
    }

    // MARK: Transactions

    /// The total OPEN burned so far (base fees), in wei.
    public static func burned(_ state: WorldState) throws(ChainError) -> UInt256 {
        UInt256(bigEndian: try state.storage(protocolLedger, slot: WorldState.zeroWord))!
    }

    /// Checks and executes one transaction.
    ///
    /// A transaction that may not be included throws and changes nothing; an included one whose call reverts keeps only
    /// its nonce and fee.
    public func applyTransaction(
        _ signed: SignedTransaction, header: BlockHeader, gasUsed blockGasUsed: UInt64, state: inout WorldState
    ) throws(ChainError) -> Receipt {
        let transaction = signed.transaction
        guard let chainId = transaction.chainId else {
            throw .transactionRejected(.noReplayProtection)
        }
        guard chainId == config.chainId else {
            throw .transactionRejected(.wrongChain(got: chainId, expected: config.chainId))
        }
        guard let to = transaction.to else { throw .transactionRejected(.contractCreation) }
        let sender = try signed.recoverSender()
        var account = try state.account(sender)
        guard transaction.nonce == account.nonce else {
            throw .transactionRejected(.nonceMismatch(got: transaction.nonce, expected: account.nonce))
        }
        guard account.nonce < UInt64.max else { throw .transactionRejected(.nonceOverflow) }
        let intrinsic = transaction.intrinsicGas
        guard transaction.gasLimit >= intrinsic else {
            throw .transactionRejected(.gasBelowIntrinsic(gasLimit: transaction.gasLimit, intrinsic: intrinsic))
        }
        guard transaction.gasLimit <= header.gasLimit - blockGasUsed else {
            throw .transactionRejected(.exceedsRemainingBlockGas(gasLimit: transaction.gasLimit))
        }
        let baseFee = header.baseFeePerGas ?? .zero
        guard transaction.maxFeePerGas >= baseFee else {
            throw .transactionRejected(.feeCapBelowBaseFee(maxFeePerGas: transaction.maxFeePerGas, baseFee: baseFee))
        }
        guard transaction.maxPriorityFeePerGas <= transaction.maxFeePerGas else {
            throw .transactionRejected(.priorityFeeAboveFeeCap)
        }
        let (maxCost, overflow1) = transaction.maxFeePerGas.multipliedReportingOverflow(
            by: UInt256(transaction.gasLimit))
        let (upfront, overflow2) = maxCost.addingReportingOverflow(transaction.value)
        guard !overflow1, !overflow2, upfront <= account.balance else {
            throw .transactionRejected(.insufficientFunds)
        }

        // From here on the transaction is included.
        let price = transaction.effectiveGasPrice(baseFee: baseFee)
        account.nonce += 1
        state.setAccount(sender, account)
        var gasUsed = intrinsic
        var logs: [Log] = []
        var succeeded = true
        state.checkpoint()
        do throws(ChainError) {
            if transaction.value > .zero {
                try state.updateAccount(sender) { account throws(ChainError) in account.balance -= transaction.value }
                try state.updateAccount(to) { account throws(ChainError) in account.balance += transaction.value }
            }
            if let predeploy = predeploys[to] {
                let context = CallContext(
                    caller: sender, value: transaction.value, blockNumber: header.number, timestamp: header.timestamp,
                    chainId: config.chainId)
                let outcome = try predeploy.call(transaction.data, context: context, state: &state)
                guard outcome.gas <= transaction.gasLimit - intrinsic else {
                    throw ChainError.outOfGas
                }
                gasUsed += outcome.gas
                logs = outcome.logs
            }
            state.commitCheckpoint()
        } catch {
            state.revertToCheckpoint()
            succeeded = false
            // A failed call costs what it would have cost, or all the gas when it ran out.
            if error == .outOfGas { gasUsed = transaction.gasLimit }
        }
        let fee = price * UInt256(gasUsed)
        try state.updateAccount(sender) { account throws(ChainError) in account.balance -= fee }
        let burn = baseFee * UInt256(gasUsed)
        let tip = fee - burn
        if tip > .zero {
            try state.updateAccount(header.beneficiary) { account throws(ChainError) in account.balance += tip }
        }
        if burn > .zero {
            let burned = try Self.burned(state) + burn
            state.setStorage(Self.protocolLedger, slot: WorldState.zeroWord, value: burned.bigEndianBytes)
        }
        return Receipt(
            type: transaction.type, succeeded: succeeded, cumulativeGasUsed: blockGasUsed + gasUsed, logs: logs)
    }

    // MARK: Views

    /// Answers `eth_call` to a predeploy view function against `state`.
    public func call(to: Address, data: [UInt8], from: Address, state: WorldState, header: BlockHeader)
        throws(ChainError) -> [UInt8]
    {
        guard let predeploy = predeploys[to] else { return [] }
        let context = CallContext(
            caller: from, value: .zero, blockNumber: header.number, timestamp: header.timestamp, chainId: config.chainId
        )
        return try predeploy.view(data, state: state, context: context)
    }
}
