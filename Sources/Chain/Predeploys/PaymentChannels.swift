import Codec
import Crypto

/// `PaymentChannels`: unidirectional channels from a payer to a serving peer, paid by EIP-712 vouchers,
/// closed by the payer after a settle delay during which the payee can still redeem.
public struct PaymentChannels: Predeploy {
    public static let defaultAddress = try! Address(hex: "0x4200000000000000000000000000000000000103")

    /// The lifecycle of a channel.
    public enum Status: UInt8, Sendable {
        case none = 0
        case open = 1
        case closing = 2
        case closed = 3
    }

    /// A channel as stored.
    public struct Channel: Equatable, Sendable {
        public var payer: Address
        public var payee: Address
        public var deposit: UInt256
        public var redeemed: UInt256
        public var settleDelay: UInt64
        public var closesAt: UInt64
        public var status: Status
    }

    public let address: Address

    /// The canonical signatures of every function, view and event: the contract's interface.
    public static var interface: Set<String> {
        Set((functions + views).map(\.signature.canonical) + events.map(\.signature.canonical))
    }
    /// The longest settle delay a channel may have: ten years.
    public static let maximumSettleDelay: UInt64 = 315_360_000
    /// The shortest settle delay a channel may have.
    public let minimumSettleDelay: UInt64
    private var storage: ContractStorage { ContractStorage(address: address) }

    public init(address: Address = PaymentChannels.defaultAddress, minimumSettleDelay: UInt64) {
        self.address = address
        self.minimumSettleDelay = minimumSettleDelay
    }

    static let open = PredeployFunction(
        "open(address payee, uint64 settleDelay)", returns: "bytes32", gas: 60_000, payable: true)
    static let topUp = PredeployFunction("topUp(bytes32 channelId)", gas: 25_000, payable: true)
    static let redeem = PredeployFunction(
        "redeem(bytes32 channelId, uint256 cumulativeAmount, bytes32 requestHash, bytes signature)", gas: 45_000)
    static let startClose = PredeployFunction("startClose(bytes32 channelId)", returns: "uint64", gas: 25_000)
    static let withdraw = PredeployFunction("withdraw(bytes32 channelId)", returns: "uint256", gas: 30_000)
    static let getChannel = PredeployFunction(
        "getChannel(bytes32 channelId)", returns: "address,address,uint256,uint256,uint64,uint64,uint8")
    static let voucherDigest = PredeployFunction(
        "voucherDigest(bytes32 channelId, uint256 cumulativeAmount, bytes32 requestHash)", returns: "bytes32")
    static let functions = [open, topUp, redeem, startClose, withdraw]
    static let events = [opened, toppedUp, redeemed, closing, closed]
    static let views = [getChannel, voucherDigest]

    static let opened = PredeployEvent(
        "ChannelOpened(bytes32 indexed channelId, address indexed payer, address indexed payee, uint256 deposit, uint64 settleDelay)"
    )
    static let toppedUp = PredeployEvent("ChannelToppedUp(bytes32 indexed channelId, uint256 deposit)")
    static let redeemed = PredeployEvent(
        "VoucherRedeemed(bytes32 indexed channelId, uint256 cumulativeAmount, uint256 paid, bytes32 requestHash)")
    static let closing = PredeployEvent("ChannelClosing(bytes32 indexed channelId, uint64 closesAt)")
    static let closed = PredeployEvent("ChannelClosed(bytes32 indexed channelId, uint256 refund)")

    // Storage: slot 0 the channel counter; slot 1 the mapping channelId → 7 consecutive fields.
    private static let counterSlot = UInt256.zero
    private static let channelsSlot = UInt256(1)

    /// The id of the `counter`-th channel: keccak256(abi.encode(chainId, payer, payee, counter)).
    public static func channelID(chainId: UInt64, payer: Address, payee: Address, counter: UInt256) -> [UInt8] {
        Keccak256.hash(
            try! ABI.encode(
                [.uint(UInt256(chainId)), .address(payer), .address(payee), .uint(counter)],
                as: [.uint(256), .address, .address, .uint(256)]))
    }

    /// The stored channel, or nil.
    public func channel(_ id: [UInt8], state: some StorageReader) throws(ChainError) -> Channel? {
        let base = ContractStorage.mappingSlot(Self.channelsSlot, key: id)
        guard let status = Status(rawValue: UInt8(truncatingIfNeeded: try storage.word(state, base &+ 6).low)),
            status != .none
        else { return nil }
        return Channel(
            payer: try storage.address(state, base), payee: try storage.address(state, base &+ 1),
            deposit: try storage.word(state, base &+ 2), redeemed: try storage.word(state, base &+ 3),
            settleDelay: try storage.word(state, base &+ 4).uint64 ?? 0,
            closesAt: try storage.word(state, base &+ 5).uint64 ?? 0, status: status)
    }

    private func store(_ id: [UInt8], _ channel: Channel, state: inout WorldState) {
        let base = ContractStorage.mappingSlot(Self.channelsSlot, key: id)
        storage.setAddress(&state, base, channel.payer)
        storage.setAddress(&state, base &+ 1, channel.payee)
        storage.setWord(&state, base &+ 2, channel.deposit)
        storage.setWord(&state, base &+ 3, channel.redeemed)
        storage.setWord(&state, base &+ 4, UInt256(channel.settleDelay))
        storage.setWord(&state, base &+ 5, UInt256(channel.closesAt))
        storage.setWord(&state, base &+ 6, UInt256(channel.status.rawValue))
    }

    public func call(_ calldata: [UInt8], context: CallContext, state: inout WorldState) throws(ChainError)
        -> CallOutcome
    {
        let function = try selectFunction(calldata, in: Self.functions)
        guard function.payable || context.value == .zero else {
            throw .reverted("\(function.signature.name) does not accept OPEN")
        }
        let arguments = try function.arguments(calldata)
        var outcome = CallOutcome(gas: function.gas)
        switch function.selector {
        case Self.open.selector:
            let payee = arguments[0].addressValue
            guard let settleDelay = arguments[1].uintValue.uint64 else { throw .reverted("bad settle delay") }
            guard context.value > .zero else { throw .reverted("a channel needs a deposit") }
            guard payee != .zero, payee != context.caller else { throw .reverted("invalid payee") }
            guard settleDelay >= minimumSettleDelay else {
                throw .reverted("settle delay below the minimum of \(minimumSettleDelay) s")
            }
            guard settleDelay <= Self.maximumSettleDelay else {
                throw .reverted("settle delay above the maximum of \(Self.maximumSettleDelay) s")
            }
            let counter = try storage.word(state, Self.counterSlot)
            storage.setWord(&state, Self.counterSlot, counter &+ 1)
            let id = Self.channelID(chainId: context.chainId, payer: context.caller, payee: payee, counter: counter)
            store(
                id,
                Channel(
                    payer: context.caller, payee: payee, deposit: context.value, redeemed: .zero,
                    settleDelay: settleDelay, closesAt: 0, status: .open), state: &state)
            outcome.output = function.returning([.fixedBytes(id)])
            outcome.logs = [
                Self.opened.log(
                    address,
                    [
                        .fixedBytes(id), .address(context.caller), .address(payee), .uint(context.value),
                        .uint(UInt256(settleDelay)),
                    ])
            ]
        case Self.topUp.selector:
            let id = arguments[0].bytesValue
            guard var channel = try channel(id, state: state), channel.status == .open else {
                throw .reverted("channel is not open")
            }
            guard context.caller == channel.payer else { throw .reverted("only the payer tops up") }
            channel.deposit = channel.deposit + context.value
            store(id, channel, state: &state)
            outcome.logs = [Self.toppedUp.log(address, [.fixedBytes(id), .uint(channel.deposit)])]
        case Self.redeem.selector:
            let id = arguments[0].bytesValue
            let voucher = PaymentVoucher(
                channelID: id, cumulativeAmount: arguments[1].uintValue, requestHash: arguments[2].bytesValue)
            guard var channel = try channel(id, state: state), channel.status != .closed else {
                throw .reverted("channel is not open")
            }
            let signer = try voucher.signer(
                of: arguments[3].bytesValue, chainId: context.chainId, verifyingContract: address)
            guard signer == channel.payer else { throw .reverted("voucher not signed by the payer") }
            guard voucher.cumulativeAmount > channel.redeemed else {
                throw .reverted("stale voucher: \(voucher.cumulativeAmount) already redeemed up to \(channel.redeemed)")
            }
            guard voucher.cumulativeAmount <= channel.deposit else { throw .reverted("voucher exceeds the deposit") }
            let paid = voucher.cumulativeAmount - channel.redeemed
            channel.redeemed = voucher.cumulativeAmount
            store(id, channel, state: &state)
            try pay(paid, to: channel.payee, state: &state)
            outcome.logs = [
                Self.redeemed.log(
                    address,
                    [.fixedBytes(id), .uint(voucher.cumulativeAmount), .uint(paid), .fixedBytes(voucher.requestHash)])
            ]
        case Self.startClose.selector:
            let id = arguments[0].bytesValue
            guard var channel = try channel(id, state: state), channel.status == .open else {
                throw .reverted("channel is not open")
            }
            guard context.caller == channel.payer else { throw .reverted("only the payer closes") }
            let (closesAt, overflow) = context.timestamp.addingReportingOverflow(channel.settleDelay)
            guard !overflow else { throw .reverted("settle delay overflows the clock") }
            channel.status = .closing
            channel.closesAt = closesAt
            store(id, channel, state: &state)
            outcome.output = function.returning([.uint(UInt256(channel.closesAt))])
            outcome.logs = [Self.closing.log(address, [.fixedBytes(id), .uint(UInt256(channel.closesAt))])]
        default:  // withdraw
            let id = arguments[0].bytesValue
            guard var channel = try channel(id, state: state), channel.status == .closing else {
                throw .reverted("channel is not closing")
            }
            guard context.caller == channel.payer else { throw .reverted("only the payer withdraws") }
            guard context.timestamp >= channel.closesAt else {
                throw .reverted("settle delay runs until \(channel.closesAt)")
            }
            let refund = channel.deposit - channel.redeemed
            channel.status = .closed
            store(id, channel, state: &state)
            try pay(refund, to: channel.payer, state: &state)
            outcome.output = function.returning([.uint(refund)])
            outcome.logs = [Self.closed.log(address, [.fixedBytes(id), .uint(refund)])]
        }
        return outcome
    }

    private func pay(_ amount: UInt256, to recipient: Address, state: inout WorldState) throws(ChainError) {
        guard amount > .zero else { return }
        try state.updateAccount(address) { account throws(ChainError) in
            guard account.balance >= amount else { throw .reverted("channel funds missing") }
            account.balance -= amount
        }
        try state.updateAccount(recipient) { account throws(ChainError) in account.balance += amount }
    }

    public func view(_ calldata: [UInt8], state: WorldState, context: CallContext) throws(ChainError) -> [UInt8] {
        let function = try selectFunction(calldata, in: Self.views)
        let arguments = try function.arguments(calldata)
        if function.selector == Self.voucherDigest.selector {
            let voucher = PaymentVoucher(
                channelID: arguments[0].bytesValue, cumulativeAmount: arguments[1].uintValue,
                requestHash: arguments[2].bytesValue)
            return function.returning([
                .fixedBytes(voucher.digest(chainId: context.chainId, verifyingContract: address))
            ])
        }
        let channel = try channel(arguments[0].bytesValue, state: state)
        return function.returning([
            .address(channel?.payer ?? .zero), .address(channel?.payee ?? .zero), .uint(channel?.deposit ?? .zero),
            .uint(channel?.redeemed ?? .zero), .uint(UInt256(channel?.settleDelay ?? 0)),
            .uint(UInt256(channel?.closesAt ?? 0)), .uint(UInt256(channel?.status.rawValue ?? 0)),
        ])
    }
}
