import Chain
import Codec
import Crypto
import Foundation
import Runtime
import SQLite
import Synchronization

/// The devnet's single sequencer: accepts transactions, produces and signs a block every block time, and
/// keeps everything in a `ChainStore`. Thread-safe: one lock guards the head, its state and the mempool.
public final class DevnetNode: Sendable {
    /// The network the node runs.
    public let config: NetworkConfig
    /// The chain rules it builds blocks with.
    public let rules: StateTransition
    /// Where blocks, state and pending transactions are kept.
    public let store: ChainStore
    /// Where block timestamps and receipt times come from.
    public let clock: any Runtime.Clock
    private let sequencerKey: Secp256k1PrivateKey
    private let core: Mutex<Core>

    /// The most transactions one block takes from the mempool.
    public static let maxTransactionsPerBlock = 20_000
    /// The largest raw transaction accepted (as geth: 128 KiB).
    public static let maxTransactionBytes = 128 * 1024

    /// What the lock guards.
    public struct Core: Sendable {
        public var head: BlockHeader
        public var headSignature: [UInt8]
        public var state: WorldState
        public var mempool: Mempool
    }

    /// Why the node could not open its chain or produce a block.
    public enum NodeError: Error, CustomStringConvertible {
        /// The data directory holds another network's chain.
        case wrongNetwork(String)
        /// The chain store failed (a disk or database error).
        case storage(SQLiteError)
        /// The store has a head number but no block at it.
        case headBlockMissing
        /// The data directory cannot be created.
        case dataDirectory(String)
        /// The chain rules refused what the node built (a bug, or a corrupt state).
        case rules(ChainError)
        /// The sequencer key could not sign.
        case signing(CryptoError)

        /// The error as the operator reads it.
        public var description: String {
            switch self {
            case .wrongNetwork(let why): "data directory belongs to another network: \(why)"
            case .storage(let error): "\(error)"
            case .headBlockMissing: "storage: head block missing"
            case .dataDirectory(let why): why
            case .rules(let error): "\(error)"
            case .signing(let error): "\(error)"
            }
        }
    }

    /// Opens (or creates, at genesis) the chain under `dataDirectory`; pending transactions acknowledged before
    /// a crash return to the mempool. Block timestamps and receipt times are `clock`'s wall time.
    public init(
        config: NetworkConfig, sequencerKey: Secp256k1PrivateKey, dataDirectory: String,
        clock: any Runtime.Clock = SystemClock()
    ) throws(NodeError) {
        self.config = config
        self.sequencerKey = sequencerKey
        self.clock = clock
        rules = StateTransition.standard(config: config)
        do {
            try FileManager.default.createDirectory(atPath: dataDirectory, withIntermediateDirectories: true)
        } catch {
            throw .dataDirectory("\(error)")
        }
        do {
            store = try ChainStore(path: dataDirectory + "/chain.sqlite")
        } catch {
            throw .storage(error)
        }
        let (genesis, genesisState): (Block, WorldState)
        do {
            (genesis, genesisState) = try rules.genesis()
        } catch {
            throw .rules(error)
        }
        let store = store
        let core: Core
        if let headNumber = try Self.stored({ () throws(SQLiteError) in try store.headNumber() }) {
            guard let stored = try Self.stored({ () throws(SQLiteError) in try store.block(number: 0) }),
                stored.block.hash == genesis.hash
            else { throw .wrongNetwork("its genesis is not \(Hex.encode(genesis.hash))") }
            guard let head = try Self.stored({ () throws(SQLiteError) in try store.block(number: headNumber) }) else {
                throw .headBlockMissing
            }
            core = Core(
                head: head.block.header, headSignature: head.signature,
                state: WorldState(stateRoot: head.block.header.stateRoot, source: store), mempool: Mempool())
        } else {
            var state = genesisState
            let nodes = state.takeNewNodes()
            let signature = try Self.sign(genesis.hash, chainId: config.chainId, key: sequencerKey)
            try Self.stored { () throws(SQLiteError) in
                try store.append(genesis, signature: signature, receipts: [], senders: [], nodes: nodes)
            }
            core = Core(head: genesis.header, headSignature: signature, state: state, mempool: Mempool())
        }
        self.core = Mutex(core)
        for raw in try Self.stored({ () throws(SQLiteError) in try store.pending() }) {
            do {
                _ = try admit(raw, persist: false)
            } catch {
                try Self.stored { () throws(SQLiteError) in try store.removePending(Keccak256.hash(raw)) }
            }
        }
    }

    /// Runs a store operation, reporting its failure as a storage error.
    private static func stored<R>(_ body: () throws(SQLiteError) -> R) throws(NodeError) -> R {
        do {
            return try body()
        } catch {
            throw .storage(error)
        }
    }

    static func sign(_ blockHash: [UInt8], chainId: UInt64, key: Secp256k1PrivateKey) throws(NodeError) -> [UInt8] {
        do {
            return try SequencerSignature.sign(blockHash: blockHash, chainId: chainId, key: key)
        } catch {
            throw .signing(error)
        }
    }

    /// Runs `body` with a consistent view of the head, its state and the mempool.
    public func read<R>(_ body: (Core) throws -> R) rethrows -> R {
        try core.withLock { try body($0) }
    }

    // MARK: Transactions

    /// Validates, records and pools a raw transaction; returns its hash once it is durably acknowledged.
    public func sendRawTransaction(_ raw: [UInt8]) throws(RPCError) -> [UInt8] {
        do {
            return try admit(raw, persist: true)
        } catch {
            throw error.rpcError
        }
    }

    /// The admission rules of `eth_sendRawTransaction` (geth's checks and messages), then the mempool's.
    private func admit(_ raw: [UInt8], persist: Bool) throws(AdmissionError) -> [UInt8] {
        guard raw.count <= Self.maxTransactionBytes else { throw .oversized }
        let signed: SignedTransaction
        do {
            signed = try SignedTransaction(encoded: raw)
        } catch {
            throw .undecodable(error)
        }
        let transaction = signed.transaction
        guard let chainId = transaction.chainId else { throw .noReplayProtection }
        guard chainId == config.chainId else { throw .wrongChain(got: chainId, expected: config.chainId) }
        guard transaction.to != nil else { throw .contractCreation }
        let sender: Address
        do {
            sender = try signed.recoverSender()
        } catch {
            throw .invalidSender
        }
        guard transaction.gasLimit >= transaction.intrinsicGas else {
            throw .intrinsicGasTooLow(gasLimit: transaction.gasLimit, minimum: transaction.intrinsicGas)
        }
        guard transaction.gasLimit <= config.gasLimit else { throw .exceedsBlockGasLimit }
        guard transaction.maxPriorityFeePerGas <= transaction.maxFeePerGas else { throw .priorityFeeAboveFeeCap }
        return try core.withLock { core throws(AdmissionError) in
            let baseFee = rules.nextBaseFee(core.head)
            guard transaction.maxFeePerGas >= baseFee else {
                throw .feeCapBelowBaseFee(sender: sender, maxFeePerGas: transaction.maxFeePerGas, baseFee: baseFee)
            }
            let account: Account
            do throws(ChainError) {
                account = try core.state.account(sender)
            } catch {
                throw .stateUnavailable(error)
            }
            let (gasCost, overflow1) = transaction.maxFeePerGas.multipliedReportingOverflow(
                by: UInt256(transaction.gasLimit))
            let (cost, overflow2) = gasCost.addingReportingOverflow(transaction.value)
            guard !overflow1, !overflow2, cost <= account.balance else {
                throw .insufficientFunds(
                    sender: sender, balance: account.balance, cost: overflow1 || overflow2 ? nil : cost)
            }
            if core.mempool.contains(signed.hash) { return signed.hash }
            let replaced = try core.mempool.add(signed, sender: sender, accountNonce: account.nonce)
            if persist {
                do {
                    try store.storePending(signed, received: clock.wallNow().millisecondsSinceEpoch)
                    if let replaced { try store.removePending(replaced) }
                } catch {
                    core.mempool.remove(signed.hash)
                    throw .notRecorded("\(error)")
                }
            }
            return signed.hash
        }
    }

    // MARK: Blocks

    /// The timestamp of a block produced now: the clock's wall time in whole seconds.
    private var blockTimestamp: UInt64 { UInt64(max(0, clock.wallNow().secondsSinceEpoch)) }

    /// Builds, signs and stores the next block from the mempool; returns its header.
    @discardableResult
    public func produceBlock() throws(NodeError) -> BlockHeader {
        try core.withLock { core throws(NodeError) in
            let baseFee = rules.nextBaseFee(core.head)
            let state = core.state
            let candidates = core.mempool.executable(
                accountNonce: { (try? state.account($0).nonce) ?? 0 }, baseFee: baseFee,
                limit: Self.maxTransactionsPerBlock)
            var built:
                (block: Block, state: WorldState, receipts: [Receipt], skipped: [(SignedTransaction, ChainError)])
            let senders: [Address]
            do throws(ChainError) {
                built = try rules.buildBlock(
                    parent: core.head, state: core.state, transactions: candidates, timestamp: blockTimestamp,
                    beneficiary: config.sequencer)
                senders = try built.block.transactions.map { transaction throws(ChainError) in
                    try transaction.recoverSender()
                }
            } catch {
                throw .rules(error)
            }
            let signature = try Self.sign(built.block.hash, chainId: config.chainId, key: sequencerKey)
            let nodes = built.state.takeNewNodes()
            let block = built.block
            let receipts = built.receipts
            try Self.stored { () throws(SQLiteError) in
                try store.append(block, signature: signature, receipts: receipts, senders: senders, nodes: nodes)
            }
            core.head = built.block.header
            core.headSignature = signature
            core.state = built.state
            for transaction in built.block.transactions { core.mempool.remove(transaction.hash) }
            // Transactions that can never run now (their funds went elsewhere, say) leave the pool; those that
            // only missed this block's gas stay.
            for (transaction, error) in built.skipped where !Self.mayFitLaterBlock(error) {
                core.mempool.remove(transaction.hash)
                try? store.removePending(transaction.hash)
            }
            let newState = built.state
            for hash in core.mempool.prune(accountNonce: { (try? newState.account($0).nonce) ?? 0 }) {
                try? store.removePending(hash)
            }
            return built.block.header
        }
    }

    /// Whether a transaction the block builder skipped may still be included later: only one that did not fit
    /// the gas left in this block.
    static func mayFitLaterBlock(_ error: ChainError) -> Bool {
        if case .transactionRejected(.exceedsRemainingBlockGas) = error { return true }
        return false
    }

    /// The sequencer's signature of block `number`.
    public func signature(ofBlock number: UInt64) throws(SQLiteError) -> [UInt8]? {
        try store.block(number: number)?.signature
    }
}
