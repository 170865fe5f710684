import Codec
import Crypto
import Foundation
import TestSupport
import Testing

@testable import Chain

/// 1,000 seeded random blocks of mixed transactions — valid and invalid transfers, channel operations with
/// good and bad vouchers, Datanet contributions — checking after every block that supply is conserved,
/// that every skipped transaction was invalid and changes nothing, that a block cannot be applied twice, and
/// that a validator re-executing the block reaches the builder's state root; finally the whole chain is
/// replayed from genesis to the same head.
@Test func randomBlocksKeepEveryInvariant() throws {
    var random = SeededRandom(seed: 2026)
    let config = try devnetConfig()
    let channels = PaymentChannels(minimumSettleDelay: config.parameters.minimumSettleDelaySeconds)
    let datanets = DatanetRegistry()
    let rules = StateTransition(config: config, predeploys: [channels, datanets, ModelRegistry()])
    let keys = try devKeys(config)
    let accounts = config.devAccounts.map(\.address)
    let strangers = try (0..<5).map { _ in try Address(bytes: random.bytes(20)) }
    let watched = Set(
        config.genesisBalances.map(\.0) + strangers + [
            config.sequencer, channels.address, datanets.address,
            StateTransition.protocolLedger,
        ])
    let (genesis, genesisState) = try rules.genesis()
    var head = genesis.header
    var state = genesisState
    var nonces = [UInt64](repeating: 0, count: keys.count)
    var openChannels: [(id: [UInt8], payer: Int, payee: Int, redeemed: UInt64)] = []
    var blocks: [Block] = []
    var skippedTotal = 0
    var revertedTotal = 0

    func sign(
        _ from: Int, nonce: UInt64, to: Address?, value: UInt256, data: [UInt8] = [], gas: UInt64 = 300_000,
        chainId: UInt64? = nil
    ) throws -> SignedTransaction {
        try Transaction.dynamicFee(
            chainId: chainId ?? config.chainId, nonce: nonce,
            maxPriorityFeePerGas: UInt256(UInt64.random(in: 0...3, using: &random)),
            maxFeePerGas: 50_000_000_000, gasLimit: data.isEmpty ? 21_000 : gas, to: to, value: value, data: data
        ).signed(with: keys[from])
    }

    for _ in 0..<1_000 {
        var planned = nonces
        var candidates: [SignedTransaction] = []
        for _ in 0..<Int.random(in: 1...8, using: &random) {
            let from = Int.random(in: 0..<keys.count, using: &random)
            let kind = Int.random(in: 0..<10, using: &random)
            switch kind {
            case 0...3:  // a transfer, to anyone
                let to =
                    Bool.random(using: &random)
                    ? accounts.randomElement(using: &random)! : strangers.randomElement(using: &random)!
                candidates.append(
                    try sign(
                        from, nonce: planned[from], to: to,
                        value: UInt256(UInt64.random(in: 0...5_000_000_000_000_000_000, using: &random))))
                planned[from] += 1
            case 4:  // invalid: nonce gap, wrong chain, more than the balance
                switch Int.random(in: 0..<3, using: &random) {
                case 0: candidates.append(try sign(from, nonce: planned[from] + 5, to: accounts[0], value: 1))
                case 1: candidates.append(try sign(from, nonce: planned[from], to: accounts[0], value: 1, chainId: 1))
                default:
                    candidates.append(
                        try sign(from, nonce: planned[from], to: accounts[0], value: NetworkConfig.totalSupply))
                }
            case 5:  // open a channel
                let payee = (from + 1 + Int.random(in: 0..<(keys.count - 1), using: &random)) % keys.count
                let data = try ABISignature(parsing: "open(address,uint64)").encodeCall([
                    .address(accounts[payee]), .uint(60),
                ])
                candidates.append(
                    try sign(from, nonce: planned[from], to: channels.address, value: 1_000_000, data: data))
                planned[from] += 1
            case 6, 7:  // redeem on a known channel, sometimes with a bad voucher
                guard let channel = openChannels.randomElement(using: &random) else { continue }
                let amount = UInt256(channel.redeemed + UInt64.random(in: 0...300_000, using: &random))
                let voucher = PaymentVoucher(
                    channelID: channel.id, cumulativeAmount: amount, requestHash: random.bytes(32))
                let signer = Int.random(in: 0..<4, using: &random) == 0 ? from : channel.payer
                let signature = try voucher.sign(
                    with: keys[signer], chainId: config.chainId, verifyingContract: channels.address)
                let data = try ABISignature(parsing: "redeem(bytes32,uint256,bytes32,bytes)").encodeCall(
                    [.fixedBytes(channel.id), .uint(amount), .fixedBytes(voucher.requestHash), .bytes(signature)])
                candidates.append(
                    try sign(
                        channel.payee, nonce: planned[channel.payee], to: channels.address, value: .zero, data: data))
                planned[channel.payee] += 1
            case 8:  // close or withdraw
                guard let channel = openChannels.randomElement(using: &random) else { continue }
                let function = Bool.random(using: &random) ? "startClose(bytes32)" : "withdraw(bytes32)"
                let data = try ABISignature(parsing: function).encodeCall([.fixedBytes(channel.id)])
                candidates.append(
                    try sign(
                        channel.payer, nonce: planned[channel.payer], to: channels.address, value: .zero, data: data))
                planned[channel.payer] += 1
            default:  // a Datanet and a contribution to it
                let create = try ABISignature(parsing: "createDatanet(string,bytes,bool,address[])").encodeCall(
                    [.string("d\(head.number)"), .bytes([]), .bool(false), .array([])])
                candidates.append(
                    try sign(from, nonce: planned[from], to: datanets.address, value: .zero, data: create))
                planned[from] += 1
                let hashes = (0..<Int.random(in: 1...4, using: &random)).map { _ in random.bytes(32) }
                let root = DatanetRegistry.leavesRoot(contributor: accounts[from], recordHashes: hashes)
                let contribute = try ABISignature(parsing: "contribute(uint256,uint64,bytes,bytes32,bytes32[])")
                    .encodeCall(
                        [
                            .uint(1), .uint(UInt256(hashes.count)), .bytes([]), .fixedBytes(root),
                            .array(hashes.map { .fixedBytes($0) }),
                        ])
                candidates.append(
                    try sign(from, nonce: planned[from], to: datanets.address, value: .zero, data: contribute))
                planned[from] += 1
            }
        }
        let before = state
        var beforeCopy = before
        let beforeRoot = try beforeCopy.commit()
        let built = try rules.buildBlock(
            parent: head, state: before, transactions: candidates,
            timestamp: head.timestamp + UInt64.random(in: 1...40, using: &random), beneficiary: config.sequencer)
        // Skipped transactions are invalid on their own and change nothing.
        for (transaction, _) in built.skipped.prefix(2) {
            var scratch = before
            #expect(throws: ChainError.self) {
                try rules.applyTransaction(transaction, header: built.block.header, gasUsed: 0, state: &scratch)
            }
            #expect(try scratch.commit() == beforeRoot)
        }
        skippedTotal += built.skipped.count
        revertedTotal += built.receipts.filter { !$0.succeeded }.count
        // A validator re-executing the block reaches the same state root.
        let applied = try rules.apply(built.block, parent: head, state: before)
        var appliedState = applied.state
        #expect(try appliedState.commit() == built.block.header.stateRoot)
        // The same block cannot be applied twice.
        #expect(throws: ChainError.self) {
            try rules.apply(built.block, parent: built.block.header, state: built.state)
        }
        // Supply: balances + burned = 1e27 wei.
        #expect(try totalSupply(built.state, Array(watched)) == NetworkConfig.totalSupply)
        // Follow what the block did.
        for (transaction, receipt) in zip(built.block.transactions, built.receipts) {
            let sender = try transaction.recoverSender()
            let index = accounts.firstIndex(of: sender)!
            nonces[index] = transaction.transaction.nonce + 1
            guard receipt.succeeded, transaction.transaction.to == channels.address else { continue }
            for log in receipt.logs where log.topics[0] == PaymentChannels.opened.signature.topic {
                let payer = accounts.firstIndex(of: try Address(bytes: Array(log.topics[2].suffix(20))))!
                let payee = accounts.firstIndex(of: try Address(bytes: Array(log.topics[3].suffix(20))))!
                openChannels.append((log.topics[1], payer, payee, 0))
            }
            for log in receipt.logs where log.topics[0] == PaymentChannels.redeemed.signature.topic {
                let amount = UInt256(abi: try ABI.decode(log.data, as: [.uint(256), .uint(256), .fixedBytes(32)])[0])
                if let slot = openChannels.firstIndex(where: { $0.id == log.topics[1] }) {
                    openChannels[slot].redeemed = amount.uint64!
                }
            }
        }
        head = built.block.header
        state = built.state
        blocks.append(built.block)
    }
    #expect(skippedTotal > 100)
    #expect(revertedTotal > 20)
    #expect(blocks.reduce(0) { $0 + $1.transactions.count } > 2_000)
    // Replaying every block from genesis reproduces the head: the transition is deterministic.
    var replayHead = genesis.header
    var replayState = genesisState
    for block in blocks {
        (replayState, _) = try rules.apply(block, parent: replayHead, state: replayState)
        replayHead = block.header
    }
    #expect(try replayState.commit() == head.stateRoot)
}
