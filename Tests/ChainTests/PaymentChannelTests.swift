import Codec
import Crypto
import Foundation
import TestSupport
import Testing

@testable import Chain

/// A chain of the devnet config with every predeploy, driven one transaction per block; each built block is
/// also checked by applying it as a validator would.
struct TestChain {
    let config: NetworkConfig
    let rules: StateTransition
    let channels: PaymentChannels
    let datanets = DatanetRegistry()
    let models = ModelRegistry()
    let keys: [Secp256k1PrivateKey]
    var head: BlockHeader
    var state: WorldState
    var nonces: [Address: UInt64] = [:]
    /// Whether each built block is also applied as a validator would (long randomized runs skip it).
    var validates = true

    /// The devnet with the channel and registry predeploys, or with every predeploy of the network (`standard`).
    init(standard: Bool = false, adjust: (inout NetworkConfig) -> Void = { _ in }) throws {
        var config = try devnetConfig()
        adjust(&config)
        self.config = config
        channels = PaymentChannels(minimumSettleDelay: config.parameters.minimumSettleDelaySeconds)
        rules =
            standard
            ? StateTransition.standard(config: config)
            : StateTransition(config: config, predeploys: [channels, datanets, models])
        keys = try devKeys(config)
        let genesis = try rules.genesis()
        head = genesis.block.header
        state = genesis.state
    }

    func address(_ index: Int) -> Address { config.devAccounts[index].address }

    /// Sends one call from dev account `from` to a predeploy in its own block; returns the receipt.
    @discardableResult
    mutating func send(
        from: Int, to: Address? = nil, function: String, _ arguments: [ABIValue], value: UInt256 = .zero,
        secondsLater: UInt64 = 1
    ) throws -> Receipt {
        let sender = address(from)
        let nonce = nonces[sender, default: 0]
        let transaction = try Transaction.dynamicFee(
            chainId: config.chainId, nonce: nonce, maxPriorityFeePerGas: 1, maxFeePerGas: 100_000_000_000,
            gasLimit: 30_000_000, to: to ?? channels.address, value: value,
            data: try ABISignature(parsing: function).encodeCall(arguments)
        ).signed(with: keys[from])
        let built = try rules.buildBlock(
            parent: head, state: state, transactions: [transaction], timestamp: head.timestamp + secondsLater,
            beneficiary: config.sequencer)
        #expect(built.skipped.isEmpty)
        if validates { _ = try rules.apply(built.block, parent: head, state: state) }
        head = built.block.header
        state = built.state
        nonces[sender] = nonce + 1
        return built.receipts[0]
    }

    /// Calls a view function through `eth_call`'s path and decodes the result.
    func view(_ to: Address, _ function: String, _ arguments: [ABIValue], returns: [ABIType]) throws -> [ABIValue] {
        let output = try rules.call(
            to: to, data: try ABISignature(parsing: function).encodeCall(arguments), from: .zero, state: state,
            header: head)
        return try ABI.decode(output, as: returns)
    }

    mutating func open(payer: Int, payee: Int, deposit: UInt256) throws -> [UInt8] {
        let receipt = try send(
            from: payer, function: "open(address,uint64)", [.address(address(payee)), .uint(60)], value: deposit)
        #expect(receipt.succeeded)
        return try #require(receipt.logs.first?.topics[1])
    }

    func voucher(_ id: [UInt8], _ amount: UInt256, key: Int, chainId: UInt64? = nil) throws -> [ABIValue] {
        let voucher = PaymentVoucher(
            channelID: id, cumulativeAmount: amount, requestHash: Keccak256.hash(amount.bigEndianBytes))
        let signature = try voucher.sign(
            with: keys[key], chainId: chainId ?? config.chainId, verifyingContract: channels.address)
        return [.fixedBytes(id), .uint(amount), .fixedBytes(voucher.requestHash), .bytes(signature)]
    }

    func balance(_ index: Int) throws -> UInt256 { try state.account(address(index)).balance }
}

private let redeem = "redeem(bytes32,uint256,bytes32,bytes)"
private let open = UInt256(1_000_000_000_000_000_000 as UInt64)

@Test func voucherDigestIsStandardEIP712() throws {
    let voucher = PaymentVoucher(
        channelID: Keccak256.hash([1]), cumulativeAmount: 12_345, requestHash: Keccak256.hash([2]))
    let address = PaymentChannels.defaultAddress
    #expect(
        voucher.digest(chainId: 16_120_033, verifyingContract: address)
            == (try voucher.typedData(chainId: 16_120_033, verifyingContract: address).digest()))
}

@Test func channelLifecyclePaysIncrementsAndRefundsTheRest() throws {
    var chain = try TestChain()
    let id = try chain.open(payer: 0, payee: 1, deposit: 10 * open)
    let payeeBefore = try chain.balance(1)
    #expect(try chain.send(from: 1, function: redeem, try chain.voucher(id, 3 * open, key: 0)).succeeded)
    #expect(try chain.send(from: 1, function: redeem, try chain.voucher(id, 5 * open, key: 0)).succeeded)
    let payeeGasSpent = try chain.balance(1) - payeeBefore
    #expect(payeeGasSpent < 5 * open && payeeGasSpent > 4 * open)  // 5 OPEN in, two redemption fees out
    let stored = try #require(try chain.channels.channel(id, state: chain.state))
    #expect(stored.redeemed == 5 * open && stored.deposit == 10 * open && stored.status == .open)
    #expect(try chain.send(from: 0, function: "topUp(bytes32)", [.fixedBytes(id)], value: open).succeeded)
    #expect(try chain.send(from: 0, function: "startClose(bytes32)", [.fixedBytes(id)]).succeeded)
    // During the settle delay the payee can still redeem, and the payer cannot withdraw yet.
    #expect(try chain.send(from: 1, function: redeem, try chain.voucher(id, 6 * open, key: 0)).succeeded)
    #expect(try !chain.send(from: 0, function: "withdraw(bytes32)", [.fixedBytes(id)]).succeeded)
    let payerBefore = try chain.balance(0)
    #expect(try chain.send(from: 0, function: "withdraw(bytes32)", [.fixedBytes(id)], secondsLater: 61).succeeded)
    let refund = try chain.balance(0) - payerBefore
    #expect(refund > 4 * open && refund < 5 * open)  // 11 − 6 OPEN back, minus the fee
    #expect(try chain.channels.channel(id, state: chain.state)?.status == .closed)
    #expect(try chain.state.account(chain.channels.address).balance == .zero)
    // The view answers through eth_call.
    let view = try chain.rules.call(
        to: chain.channels.address,
        data: try ABISignature(parsing: "getChannel(bytes32)").encodeCall([.fixedBytes(id)]),
        from: .zero, state: chain.state, header: chain.head)
    let decoded = try ABI.decode(view, as: try #require(PaymentChannels.method(named: "getChannel")).outputs)
    #expect(decoded[3] == .uint(6 * open))
    #expect(decoded[6] == .uint(3))
}

@Test func channelAbuseIsRejected() throws {
    var chain = try TestChain()
    let id = try chain.open(payer: 0, payee: 1, deposit: 10 * open)
    let first = try chain.voucher(id, 2 * open, key: 0)
    #expect(try chain.send(from: 1, function: redeem, first).succeeded)
    let payee = try chain.balance(1)
    // Replay of the same voucher, and an older (smaller) one.
    #expect(try !chain.send(from: 1, function: redeem, first).succeeded)
    #expect(try !chain.send(from: 1, function: redeem, try chain.voucher(id, open, key: 0)).succeeded)
    // Signed by someone other than the payer.
    #expect(try !chain.send(from: 1, function: redeem, try chain.voucher(id, 3 * open, key: 2)).succeeded)
    // Signed for another chain id.
    #expect(try !chain.send(from: 1, function: redeem, try chain.voucher(id, 3 * open, key: 0, chainId: 1)).succeeded)
    // More than the deposit.
    #expect(try !chain.send(from: 1, function: redeem, try chain.voucher(id, 11 * open, key: 0)).succeeded)
    // Someone else closing or topping up.
    #expect(try !chain.send(from: 2, function: "startClose(bytes32)", [.fixedBytes(id)]).succeeded)
    #expect(try !chain.send(from: 2, function: "topUp(bytes32)", [.fixedBytes(id)], value: open).succeeded)
    // Failed calls cost the payee only gas; the channel did not move.
    #expect(try chain.balance(1) < payee)
    #expect(try chain.channels.channel(id, state: chain.state)?.redeemed == 2 * open)
    // Redeem after withdrawal.
    #expect(try chain.send(from: 0, function: "startClose(bytes32)", [.fixedBytes(id)]).succeeded)
    #expect(try chain.send(from: 0, function: "withdraw(bytes32)", [.fixedBytes(id)], secondsLater: 61).succeeded)
    #expect(try !chain.send(from: 1, function: redeem, try chain.voucher(id, 3 * open, key: 0)).succeeded)
    #expect(try !chain.send(from: 0, function: "withdraw(bytes32)", [.fixedBytes(id)]).succeeded)
    // Opening without deposit, to oneself, or with too short a delay.
    #expect(
        try !chain.send(from: 0, function: "open(address,uint64)", [.address(chain.address(1)), .uint(60)]).succeeded)
    #expect(
        try !chain.send(
            from: 0, function: "open(address,uint64)", [.address(chain.address(0)), .uint(60)], value: open
        ).succeeded)
    #expect(
        try !chain.send(from: 0, function: "open(address,uint64)", [.address(chain.address(1)), .uint(5)], value: open)
            .succeeded)
    // A settle delay that would overflow the clock is refused, never executed.
    #expect(
        try !chain.send(
            from: 0, function: "open(address,uint64)", [.address(chain.address(1)), .uint(UInt256(UInt64.max))],
            value: open
        ).succeeded)
    // Garbage calldata reverts.
    #expect(try !chain.send(from: 0, function: "nonsense(uint256)", [.uint(1)]).succeeded)
}
