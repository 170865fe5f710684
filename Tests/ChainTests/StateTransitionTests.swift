import Codec
import Crypto
import Foundation
import TestSupport
import Testing

@testable import Chain

/// The devnet config from the repository.
func devnetConfig() throws -> NetworkConfig {
    try NetworkConfig.parse(Data(contentsOf: Fixtures.packageRoot.appendingPathComponent("netconfig/devnet.json")))
}

func devKeys(_ config: NetworkConfig) throws -> [Secp256k1PrivateKey] {
    try config.devAccounts.map { try Secp256k1PrivateKey(bytes: $0.privateKey) }
}

func transfer(
    _ key: Secp256k1PrivateKey, nonce: UInt64, to: Address, value: UInt256, config: NetworkConfig,
    tip: UInt256 = 1_000_000_000, maxFee: UInt256 = 100_000_000_000
) throws -> SignedTransaction {
    try Transaction.dynamicFee(
        chainId: config.chainId, nonce: nonce, maxPriorityFeePerGas: tip, maxFeePerGas: maxFee, gasLimit: 21_000,
        to: to, value: value
    ).signed(with: key)
}

/// Σ balances + burned: the supply invariant (1e27 wei).
func totalSupply(_ state: WorldState, _ addresses: [Address]) throws -> UInt256 {
    try addresses.reduce(StateTransition.burned(state)) { $0 + (try state.account($1).balance) }
}

@Test func genesisAllocatesExactlyOneBillionOpen() throws {
    let config = try devnetConfig()
    let rules = StateTransition(config: config)
    let (block, state) = try rules.genesis()
    let addresses = config.genesisBalances.map(\.0)
    #expect(try totalSupply(state, addresses) == NetworkConfig.totalSupply)
    #expect(block.header.number == 0)
    // The published split: 61.7% community and ecosystem (dev accounts come out of it), 18.3%, 15%, 5%.
    let shares = Dictionary(uniqueKeysWithValues: config.allocations.map { ($0.label, $0.balance) })
    #expect(shares["investors"] == UInt256(183_000_000) * NetworkConfig.weiPerOpen)
    #expect(shares["team"] == UInt256(150_000_000) * NetworkConfig.weiPerOpen)
    #expect(shares["liquidity"] == UInt256(50_000_000) * NetworkConfig.weiPerOpen)
    #expect(try state.account(config.devAccounts[0].address).balance == UInt256(1_000_000) * NetworkConfig.weiPerOpen)
    // Genesis is deterministic.
    #expect(try rules.genesis().block.hash == block.hash)
}

@Test func configsThatBreakTheRulesAreRejected() throws {
    let text = try String(
        contentsOf: Fixtures.packageRoot.appendingPathComponent("netconfig/devnet.json"), encoding: .utf8)
    for (from, to) in [
        ("\"617000000 OPEN\"", "\"617000001 OPEN\""), ("\"burn\": 1000", "\"burn\": 999"),
        ("\"devAccountBalance\": \"1000000 OPEN\"", "\"devAccountBalance\": \"1000 ETH\""),
        ("\"chainId\": 16120033", "\"chainId\": 0"), ("\"name\"", "\"nom\""),
    ] {
        #expect(throws: ChainError.self, "\(from) → \(to)") {
            try NetworkConfig.parse(Data(text.replacingOccurrences(of: from, with: to).utf8))
        }
    }
    #expect(throws: ChainError.self) { try NetworkConfig.parse(Data("{".utf8)) }
}

@Test func transfersPayFeesBurnBaseFeeAndTipTheSequencer() throws {
    let config = try devnetConfig()
    let rules = StateTransition(config: config)
    let (genesis, state) = try rules.genesis()
    let keys = try devKeys(config)
    let alice = config.devAccounts[0].address
    let bob = config.devAccounts[1].address
    let sequencer = config.sequencer
    let tx = try transfer(keys[0], nonce: 0, to: bob, value: 5 * NetworkConfig.weiPerOpen, config: config)
    let built = try rules.buildBlock(
        parent: genesis.header, state: state, transactions: [tx], timestamp: genesis.header.timestamp + 1,
        beneficiary: sequencer)
    #expect(built.skipped.isEmpty)
    #expect(built.receipts.count == 1 && built.receipts[0].succeeded)
    let baseFee = try #require(built.block.header.baseFeePerGas)
    let burned = try StateTransition.burned(built.state)
    #expect(burned == baseFee * UInt256(21_000))
    #expect(try built.state.account(sequencer).balance == UInt256(1_000_000_000) * UInt256(21_000))
    #expect(try built.state.account(bob).balance == (try state.account(bob).balance) + 5 * NetworkConfig.weiPerOpen)
    let spent = (try state.account(alice).balance) - (try built.state.account(alice).balance)
    #expect(spent == 5 * NetworkConfig.weiPerOpen + (baseFee + UInt256(1_000_000_000)) * UInt256(21_000))
    // A validator applying the built block reaches the same state, and the block round-trips through RLP.
    let applied = try rules.apply(try Block(encoded: built.block.encoded), parent: genesis.header, state: state)
    #expect(applied.receipts == built.receipts)
    var appliedState = applied.state
    #expect(try appliedState.commit() == built.block.header.stateRoot)
    // Applying the same block twice is rejected.
    #expect(throws: ChainError.self) { try rules.apply(built.block, parent: built.block.header, state: applied.state) }
}

@Test func invalidTransactionsAreSkippedAndChangeNothing() throws {
    let config = try devnetConfig()
    let rules = StateTransition(config: config)
    let (genesis, state) = try rules.genesis()
    let keys = try devKeys(config)
    let bob = config.devAccounts[1].address
    var wrongChain = config
    wrongChain.chainId = 1
    let invalid: [SignedTransaction] = [
        try transfer(keys[0], nonce: 1, to: bob, value: 1, config: config),  // nonce gap
        try transfer(keys[0], nonce: 0, to: bob, value: 1, config: wrongChain),  // wrong chain id
        try transfer(keys[0], nonce: 0, to: bob, value: UInt256(2_000_000) * NetworkConfig.weiPerOpen, config: config),
        try transfer(keys[0], nonce: 0, to: bob, value: 1, config: config, maxFee: 1),  // below base fee
        try Transaction.legacy(chainId: nil, nonce: 0, gasPrice: 10_000_000_000, gasLimit: 21_000, to: bob, value: 1)
            .signed(with: keys[0]),  // unprotected
        try Transaction.dynamicFee(
            chainId: config.chainId, nonce: 0, maxPriorityFeePerGas: 1, maxFeePerGas: 10_000_000_000, gasLimit: 20_000,
            to: bob, value: 1
        ).signed(with: keys[0]),  // gas below intrinsic
        try Transaction.dynamicFee(
            chainId: config.chainId, nonce: 0, maxPriorityFeePerGas: 1, maxFeePerGas: 10_000_000_000,
            gasLimit: 100_000, to: nil, value: 0, data: [0x60]
        ).signed(with: keys[0]),  // contract creation
    ]
    // Each is refused with the rule it breaks, as data code can branch on.
    let rejections: [TransactionRejection] = [
        .nonceMismatch(got: 1, expected: 0), .wrongChain(got: 1, expected: config.chainId), .insufficientFunds,
        .feeCapBelowBaseFee(maxFeePerGas: 1, baseFee: try #require(genesis.header.baseFeePerGas)),
        .noReplayProtection, .gasBelowIntrinsic(gasLimit: 20_000, intrinsic: 21_000), .contractCreation,
    ]
    var before = state
    let root = try before.commit()
    for (transaction, rejection) in zip(invalid, rejections) {
        var scratch = state
        #expect(throws: ChainError.transactionRejected(rejection)) {
            try rules.applyTransaction(transaction, header: genesis.header, gasUsed: 0, state: &scratch)
        }
        #expect(try scratch.commit() == root)
    }
    let built = try rules.buildBlock(
        parent: genesis.header, state: state, transactions: invalid, timestamp: genesis.header.timestamp + 1,
        beneficiary: config.sequencer)
    #expect(built.block.transactions.isEmpty)
    #expect(built.skipped.count == invalid.count)
    // The builder checks against the next block's base fee.
    var nextRejections = rejections
    nextRejections[3] = .feeCapBelowBaseFee(maxFeePerGas: 1, baseFee: rules.nextBaseFee(genesis.header))
    #expect(built.skipped.map(\.1) == nextRejections.map { .transactionRejected($0) })
    // A block carrying an invalid transaction is rejected whole.
    var forged = built.block
    forged.transactions = [invalid[0]]
    forged.header.transactionsRoot = Block.transactionsRoot(forged.transactions)
    #expect(throws: ChainError.self) { try rules.apply(forged, parent: genesis.header, state: state) }
}
