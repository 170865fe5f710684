import Chain
import Codec
import Crypto
import Foundation
import Node

/// `openledger bench chain`: block application (what every validating node does) on 10,000-transaction
/// blocks: plain transfers, and payment-channel voucher redemptions.
enum BenchChain {
    static let command = CommandSpec(
        name: "chain",
        summary: "Block application throughput: transfers/s and voucher redemptions/s (JSON lines).",
        discussion: """
            Builds blocks of --transactions signed transactions on the devnet genesis, then times applying each
            block as a validator does: sender recovery, execution, receipts, and every root. One thread.
            """,
        options: [
            OptionSpec(name: "transactions", valueName: "N", help: "Transactions per block.", defaultValue: "10000"),
            NodeOptions.config,
        ],
        action: { arguments, output throws(CLIError) in
            let count = try arguments.int("transactions", in: 10...100_000) ?? 10_000
            var config = try NodeOptions.configuration(arguments).network
            do {
                config.gasLimit = 4_000_000_000  // room for 10,000 calls in one block
                for figure in try run(config: config, count: count) { output.line(figure.jsonLine(references: [])) }
            } catch {
                throw .failure("\(error)")
            }
        }
    )

    static func run(config: NetworkConfig, count: Int) throws(ChainError) -> [BenchFigure] {
        let rules = StateTransition.standard(config: config)
        let channels = PaymentChannels(minimumSettleDelay: config.parameters.minimumSettleDelaySeconds)
        let (genesis, state) = try rules.genesis()
        let keys = try config.devAccounts.map { account throws(ChainError) in
            do {
                return try Secp256k1PrivateKey(bytes: account.privateKey)
            } catch {
                throw .invalidTransaction("\(error)")
            }
        }
        let senders = keys.count
        guard senders >= 2 else { throw .invalidBlock("the config needs at least two dev accounts") }
        func transaction(
            _ from: Int, nonce: UInt64, to: Address, value: UInt256, data: [UInt8] = [], gas: UInt64 = 21_000
        )
            throws(ChainError) -> SignedTransaction
        {
            try Transaction.dynamicFee(
                chainId: config.chainId, nonce: nonce, maxPriorityFeePerGas: 1, maxFeePerGas: 50_000_000_000,
                gasLimit: gas, to: to, value: value, data: data
            ).signed(with: keys[from])
        }

        // Transfers: round-robin over the dev accounts.
        var transfers: [SignedTransaction] = []
        for index in 0..<count {
            let from = index % senders
            transfers.append(
                try transaction(
                    from, nonce: UInt64(index / senders), to: config.devAccounts[(from + 1) % senders].address,
                    value: 1_000))
        }
        let transferBlock = try rules.buildBlock(
            parent: genesis.header, state: state, transactions: transfers, timestamp: genesis.header.timestamp + 1,
            beneficiary: config.sequencer)
        guard transferBlock.skipped.isEmpty else { throw .invalidBlock("bench transfers were skipped") }
        let transferSeconds = timed { _ = try? rules.apply(transferBlock.block, parent: genesis.header, state: state) }
        guard (try? rules.apply(transferBlock.block, parent: genesis.header, state: state)) != nil else {
            throw .invalidBlock("bench transfer block does not apply")
        }

        // Voucher redemptions: each account opens a channel to the next, which redeems growing vouchers.
        let open = try! ABISignature(parsing: "open(address,uint64)")
        let redeem = try! ABISignature(parsing: "redeem(bytes32,uint256,bytes32,bytes)")
        var opens: [SignedTransaction] = []
        var channelIDs: [[UInt8]] = []
        for from in 0..<senders {
            let payee = config.devAccounts[(from + 1) % senders].address
            let data = try encode(open, [.address(payee), .uint(UInt256(config.parameters.minimumSettleDelaySeconds))])
            opens.append(
                try transaction(
                    from, nonce: 0, to: channels.address, value: UInt256(10_000_000_000), data: data, gas: 200_000))
            channelIDs.append(
                PaymentChannels.channelID(
                    chainId: config.chainId, payer: config.devAccounts[from].address, payee: payee,
                    counter: UInt256(from)))
        }
        let openBlock = try rules.buildBlock(
            parent: genesis.header, state: state, transactions: opens, timestamp: genesis.header.timestamp + 1,
            beneficiary: config.sequencer)
        var redemptions: [SignedTransaction] = []
        for index in 0..<count {
            let channel = index % senders
            let payee = (channel + 1) % senders
            let round = index / senders
            let voucher = PaymentVoucher(
                channelID: channelIDs[channel], cumulativeAmount: UInt256(UInt64(round + 1) * 1_000),
                requestHash: Keccak256.hash(UInt256(UInt64(index)).bigEndianBytes))
            let signature = try voucher.sign(
                with: keys[channel], chainId: config.chainId, verifyingContract: channels.address)
            let data = try encode(
                redeem,
                [
                    .fixedBytes(voucher.channelID), .uint(voucher.cumulativeAmount), .fixedBytes(voucher.requestHash),
                    .bytes(signature),
                ])
            redemptions.append(
                try transaction(
                    payee, nonce: UInt64(round + 1), to: channels.address, value: .zero, data: data, gas: 200_000))
        }
        let redeemBlock = try rules.buildBlock(
            parent: openBlock.block.header, state: openBlock.state, transactions: redemptions,
            timestamp: openBlock.block.header.timestamp + 1, beneficiary: config.sequencer)
        guard redeemBlock.skipped.isEmpty, redeemBlock.receipts.allSatisfy(\.succeeded) else {
            throw .invalidBlock("bench redemptions failed")
        }
        let redeemSeconds = timed {
            _ = try? rules.apply(redeemBlock.block, parent: openBlock.block.header, state: openBlock.state)
        }
        return [
            BenchFigure(
                bench: "chain_apply_transfers", unit: .operationsPerSecond, value: Double(count) / transferSeconds,
                details: ["transactions": "\(count)", "seconds": String(format: "%.3f", transferSeconds)]),
            BenchFigure(
                bench: "chain_apply_voucher_redemptions", unit: .operationsPerSecond,
                value: Double(count) / redeemSeconds,
                details: ["transactions": "\(count)", "seconds": String(format: "%.3f", redeemSeconds)]),
        ]
    }

    private static func encode(_ signature: ABISignature, _ values: [ABIValue]) throws(ChainError) -> [UInt8] {
        do {
            return try signature.encodeCall(values)
        } catch {
            throw .invalidTransaction("\(error)")
        }
    }

    /// The best of three runs of `body`, in seconds.
    private static func timed(_ body: () -> Void) -> Double {
        (0..<3).map { _ in BenchTimer.repeatFor(seconds: 0) { body() }.elapsed }.min()!
    }
}
