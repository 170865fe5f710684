import Chain
import Codec
import Crypto
import Foundation
import SQLite
import Synchronization

/// The devnet's single sequencer: accepts transactions, produces and signs a block every block time, and
/// keeps everything in a `ChainStore`. Thread-safe: one lock guards the head, its state and the mempool.
public final class DevnetNode: Sendable {
    public let config: NetworkConfig
    public let rules: StateTransition
    public let store: ChainStore
    private let sequencerKey: Secp256k1PrivateKey
    private let clock: @Sendable () -> UInt64
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

    public enum NodeError: Error, CustomStringConvertible {
        case wrongNetwork(String)
        case storage(String)

        public var description: String {
            switch self {
            case .wrongNetwork(let why): "data directory belongs to another network: \(why)"
            case .storage(let why): "storage: \(why)"
            }
        }
    }

    /// Opens (or creates, at genesis) the chain under `dataDirectory`; pending transactions acknowledged before
    /// a crash return to the mempool. `clock` gives Unix seconds.
    public init(
        config: NetworkConfig, sequencerKey: Secp256k1PrivateKey, dataDirectory: String,
        clock: @escaping @Sendable () -> UInt64 = { UInt64(Date().timeIntervalSince1970) }
    ) throws {
        self.config = config
        self.sequencerKey = sequencerKey
        self.clock = clock
        rules = StateTransition.standard(config: config)
        try FileManager.default.createDirectory(atPath: dataDirectory, withIntermediateDirectories: true)
        store = try ChainStore(path: dataDirectory + "/chain.sqlite")
        let (genesis, genesisState) = try rules.genesis()
        let core: Core
        if let headNumber = try store.headNumber() {
            guard let stored = try store.block(number: 0), stored.block.hash == genesis.hash else {
                throw NodeError.wrongNetwork("its genesis is not \(Hex.encode(genesis.hash))")
            }
            guard let head = try store.block(number: headNumber) else { throw NodeError.storage("head block missing") }
            core = Core(
                head: head.block.header, headSignature: head.signature,
                state: WorldState(stateRoot: head.block.header.stateRoot, source: store), mempool: Mempool())
        } else {
            var state = genesisState
            let nodes = state.takeNewNodes()
            let signature = try Self.sign(genesis.hash, chainId: config.chainId, key: sequencerKey)
            try store.append(genesis, signature: signature, receipts: [], senders: [], nodes: nodes)
            core = Core(head: genesis.header, headSignature: signature, state: state, mempool: Mempool())
        }
        self.core = Mutex(core)
        for raw in try store.pending() {
            do {
                _ = try admit(raw, persist: false)
            } catch {
                try store.removePending(Keccak256.hash(raw))
            }
        }
    }

    /// The sequencer's signature of a block: secp256k1 over keccak256(0^32 ‖ chainId (uint256) ‖ blockHash).
    public static func signingDigest(blockHash: [UInt8], chainId: UInt64) -> [UInt8] {
        Keccak256.hash([UInt8](repeating: 0, count: 32) + UInt256(chainId).bigEndianBytes + blockHash)
    }

    static func sign(_ blockHash: [UInt8], chainId: UInt64, key: Secp256k1PrivateKey) throws -> [UInt8] {
        try key.signRecoverable(digest: signingDigest(blockHash: blockHash, chainId: chainId)).rsv
    }

    /// Runs `body` with a consistent view of the head, its state and the mempool.
    public func read<R>(_ body: (Core) throws -> R) rethrows -> R {
        try core.withLock { try body($0) }
    }

    // MARK: Transactions

    /// Validates, records and pools a raw transaction; returns its hash once it is durably acknowledged.
    public func sendRawTransaction(_ raw: [UInt8]) throws(RPCError) -> [UInt8] {
        try admit(raw, persist: true)
    }

    private func admit(_ raw: [UInt8], persist: Bool) throws(RPCError) -> [UInt8] {
        guard raw.count <= Self.maxTransactionBytes else { throw .server("oversized data") }
        let signed: SignedTransaction
        do {
            signed = try SignedTransaction(encoded: raw)
        } catch {
            if case .invalidSignature = error { throw .server("invalid sender: \(error)") }
            throw .server("\(error)".replacingOccurrences(of: "malformed ", with: "rlp: malformed "))
        }
        let transaction = signed.transaction
        guard let chainId = transaction.chainId else {
            throw .server("only replay-protected (EIP-155) transactions allowed over RPC")
        }
        guard chainId == config.chainId else {
            throw .server("invalid chain id for signer: have \(chainId) want \(config.chainId)")
        }
        guard transaction.to != nil else { throw .server("contract creation is not supported on this chain") }
        let sender: Address
        do {
            sender = try signed.recoverSender()
        } catch {
            throw .server("invalid sender")
        }
        guard transaction.gasLimit >= transaction.intrinsicGas else {
            throw .server(
                "intrinsic gas too low: gas \(transaction.gasLimit), minimum needed \(transaction.intrinsicGas)")
        }
        guard transaction.gasLimit <= config.gasLimit else { throw .server("exceeds block gas limit") }
        guard transaction.maxPriorityFeePerGas <= transaction.maxFeePerGas else {
            throw .server("max priority fee per gas higher than max fee per gas")
        }
        return try core.withLock { core throws(RPCError) in
            let baseFee = rules.nextBaseFee(core.head)
            guard transaction.maxFeePerGas >= baseFee else {
                throw .server(
                    "max fee per gas less than block base fee: address \(sender), maxFeePerGas: \(transaction.maxFeePerGas), baseFee: \(baseFee)"
                )
            }
            let account: Account
            do {
                account = try core.state.account(sender)
            } catch {
                throw .internalError("\(error)")
            }
            let (gasCost, overflow1) = transaction.maxFeePerGas.multipliedReportingOverflow(
                by: UInt256(transaction.gasLimit))
            let (cost, overflow2) = gasCost.addingReportingOverflow(transaction.value)
            guard !overflow1, !overflow2, cost <= account.balance else {
                throw .server(
                    "insufficient funds for gas * price + value: address \(sender) have \(account.balance) want \(overflow1 || overflow2 ? "more than 2^256" : cost.description)"
                )
            }
            if core.mempool.contains(signed.hash) { return signed.hash }
            let replaced = try core.mempool.add(signed, sender: sender, accountNonce: account.nonce)
            if persist {
                do {
                    try store.storePending(signed, received: Int64(Date().timeIntervalSince1970 * 1000))
                    if let replaced { try store.removePending(replaced) }
                } catch {
                    core.mempool.remove(signed.hash)
                    throw .internalError("cannot record the transaction: \(error)")
                }
            }
            return signed.hash
        }
    }

    // MARK: Blocks

    /// Builds, signs and stores the next block from the mempool; returns its header.
    @discardableResult
    public func produceBlock() throws -> BlockHeader {
        try core.withLock { core in
            let baseFee = rules.nextBaseFee(core.head)
            let state = core.state
            let candidates = core.mempool.executable(
                accountNonce: { (try? state.account($0).nonce) ?? 0 }, baseFee: baseFee,
                limit: Self.maxTransactionsPerBlock)
            var built = try rules.buildBlock(
                parent: core.head, state: core.state, transactions: candidates, timestamp: clock(),
                beneficiary: config.sequencer)
            let senders = try built.block.transactions.map { try $0.recoverSender() }
            let signature = try Self.sign(built.block.hash, chainId: config.chainId, key: sequencerKey)
            let nodes = built.state.takeNewNodes()
            try store.append(
                built.block, signature: signature, receipts: built.receipts, senders: senders, nodes: nodes)
            core.head = built.block.header
            core.headSignature = signature
            core.state = built.state
            for transaction in built.block.transactions { core.mempool.remove(transaction.hash) }
            // Transactions that can never run now (their funds went elsewhere, say) leave the pool; those that
            // only missed this block's gas stay.
            for (transaction, error) in built.skipped where !"\(error)".contains("remaining gas") {
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

    /// The sequencer's signature of block `number`.
    public func signature(ofBlock number: UInt64) throws -> [UInt8]? { try store.block(number: number)?.signature }
}

/// Produces a block every `interval` on its own thread until stopped.
public final class BlockProducer: Sendable {
    private let stopped = Atomic<Bool>(false)
    private let done = Mutex<Bool>(false)

    public init(node: DevnetNode, intervalMilliseconds: UInt64, onError: @escaping @Sendable (Error) -> Void) {
        let thread = Thread { [self] in
            var next = DispatchTime.now().uptimeNanoseconds
            while !stopped.load(ordering: .acquiring) {
                next += intervalMilliseconds * 1_000_000
                do {
                    try node.produceBlock()
                } catch {
                    onError(error)
                }
                let now = DispatchTime.now().uptimeNanoseconds
                if next > now { usleep(UInt32(min(1_000_000, (next - now) / 1_000))) } else { next = now }
            }
            done.withLock { $0 = true }
        }
        thread.name = "sequencer"
        thread.start()
    }

    /// Stops producing and waits for the block in progress.
    public func stop() {
        stopped.store(true, ordering: .releasing)
        while !done.withLock({ $0 }) { usleep(1_000) }
    }
}
