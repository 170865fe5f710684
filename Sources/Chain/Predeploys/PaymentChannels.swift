import Codec
import Crypto

/// `PaymentChannels`: unidirectional channels from a payer to a serving peer, paid by EIP-712 vouchers,
/// closed by the payer after a settle delay during which the payee can still redeem.
public struct PaymentChannels: Predeploy {
    /// The address the contract is installed at on every network.
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
        /// The account that deposited and signs vouchers.
        public var payer: Address
        /// The serving peer that redeems vouchers.
        public var payee: Address
        /// The wei deposited.
        public var deposit: UInt256
        /// The wei paid to the payee so far.
        public var redeemed: UInt256
        /// The seconds between the payer starting to close and the channel closing.
        public var settleDelay: UInt64
        /// The block timestamp from which the payer may close; 0 until closing starts.
        public var closesAt: UInt64
        /// Where the channel is in its lifecycle.
        public var status: Status

        /// A channel from its fields.
        public init(
            payer: Address, payee: Address, deposit: UInt256, redeemed: UInt256, settleDelay: UInt64, closesAt: UInt64,
            status: Status
        ) {
            self.payer = payer
            self.payee = payee
            self.deposit = deposit
            self.redeemed = redeemed
            self.settleDelay = settleDelay
            self.closesAt = closesAt
            self.status = status
        }
    }

    /// Where and how a channel is stored: slot 0 holds the channel counter, slot 1 the mapping
    /// channelId → seven consecutive fields.
    public enum ChannelLayout: StorageLayout {
        /// The channels contract at its default address.
        public static var contract: Address { PaymentChannels.defaultAddress }
        /// The channel counter, in the record at slot 0.
        static let count = StorageField<UInt256>(0)
        static let payer = StorageField<Address>(0)
        static let payee = StorageField<Address>(1)
        static let deposit = StorageField<UInt256>(2)
        static let redeemed = StorageField<UInt256>(3)
        static let settleDelay = StorageField<UInt64>(4)
        static let closesAt = StorageField<UInt64>(5)
        static let status = StorageField<UInt256>(6)

        /// `channels[id]` of the mapping at slot 1.
        public static func base(_ id: [UInt8]) -> UInt256 { ContractStorage.mappingSlot(1, key: id) }

        /// The stored channel, or nil when none has this id.
        public static func read(_ record: StorageRecord, from reader: some StorageReader) throws(ChainError)
            -> Channel?
        {
            guard let status = Status(rawValue: UInt8(truncatingIfNeeded: try record.get(status, from: reader).low)),
                status != .none
            else { return nil }
            return Channel(
                payer: try record.get(payer, from: reader), payee: try record.get(payee, from: reader),
                deposit: try record.get(deposit, from: reader), redeemed: try record.get(redeemed, from: reader),
                settleDelay: try record.get(settleDelay, from: reader),
                closesAt: try record.get(closesAt, from: reader), status: status)
        }

        /// Stores every field of `channel`.
        static func write(_ channel: Channel, to record: StorageRecord, in state: inout WorldState) {
            record.set(payer, channel.payer, in: &state)
            record.set(payee, channel.payee, in: &state)
            record.set(deposit, channel.deposit, in: &state)
            record.set(redeemed, channel.redeemed, in: &state)
            record.set(settleDelay, channel.settleDelay, in: &state)
            record.set(closesAt, channel.closesAt, in: &state)
            record.set(status, UInt256(channel.status.rawValue), in: &state)
        }
    }

    /// The module's address.
    public let address: Address
    /// The longest settle delay a channel may have: ten years.
    public static let maximumSettleDelay: UInt64 = 315_360_000
    /// The shortest settle delay a channel may have.
    public let minimumSettleDelay: UInt64

    /// The module at `address`, refusing settle delays below `minimumSettleDelay` seconds.
    public init(address: Address = PaymentChannels.defaultAddress, minimumSettleDelay: UInt64) {
        self.address = address
        self.minimumSettleDelay = minimumSettleDelay
    }

    /// Every function and view.
    public static let methods: [PredeployMethod<PaymentChannels>] = [
        .init("open(address payee, uint64 settleDelay)", returns: "bytes32", gas: 60_000, .payable, handler: open),
        .init("topUp(bytes32 channelId)", gas: 25_000, .payable, handler: topUp),
        .init(
            "redeem(bytes32 channelId, uint256 cumulativeAmount, bytes32 requestHash, bytes signature)",
            gas: 45_000, handler: redeem),
        .init("startClose(bytes32 channelId)", returns: "uint64", gas: 25_000, handler: startClose),
        .init("withdraw(bytes32 channelId)", returns: "uint256", gas: 30_000, handler: withdraw),
        .init(
            "getChannel(bytes32 channelId)", returns: "address,address,uint256,uint256,uint64,uint64,uint8", .view,
            handler: getChannel),
        .init(
            "voucherDigest(bytes32 channelId, uint256 cumulativeAmount, bytes32 requestHash)", returns: "bytes32",
            .view, handler: voucherDigest),
    ]
    /// Every event.
    public static let events = [opened, toppedUp, redeemed, closing, closed]

    static let opened = PredeployEvent(
        "ChannelOpened(bytes32 indexed channelId, address indexed payer, address indexed payee, uint256 deposit, uint64 settleDelay)"
    )
    static let toppedUp = PredeployEvent("ChannelToppedUp(bytes32 indexed channelId, uint256 deposit)")
    static let redeemed = PredeployEvent(
        "VoucherRedeemed(bytes32 indexed channelId, uint256 cumulativeAmount, uint256 paid, bytes32 requestHash)")
    static let closing = PredeployEvent("ChannelClosing(bytes32 indexed channelId, uint64 closesAt)")
    static let closed = PredeployEvent("ChannelClosed(bytes32 indexed channelId, uint256 refund)")

    /// The id of the `counter`-th channel: keccak256(abi.encode(chainId, payer, payee, counter)).
    public static func channelID(chainId: UInt64, payer: Address, payee: Address, counter: UInt256) -> [UInt8] {
        Keccak256.hash(
            try! ABI.encode(
                [.uint(UInt256(chainId)), .address(payer), .address(payee), .uint(counter)],
                as: [.uint(256), .address, .address, .uint(256)]))
    }

    /// The stored channel, or nil.
    public func channel(_ id: [UInt8], state: some StorageReader) throws(ChainError) -> Channel? {
        try ChannelLayout.read(id, in: address, from: state)
    }

    private func store(_ id: [UInt8], _ channel: Channel, state: inout WorldState) {
        ChannelLayout.write(channel, to: ChannelLayout.record(id, in: address), in: &state)
    }

    private func open(_ call: inout PredeployInvocation, payee: Address, settleDelay: UInt64) throws(ChainError)
        -> [ABIValue]
    {
        let context = call.context
        guard context.value > .zero else { throw .reverted("a channel needs a deposit") }
        guard payee != .zero, payee != context.caller else { throw .reverted("invalid payee") }
        guard settleDelay >= minimumSettleDelay else {
            throw .reverted("settle delay below the minimum of \(minimumSettleDelay) s")
        }
        guard settleDelay <= Self.maximumSettleDelay else {
            throw .reverted("settle delay above the maximum of \(Self.maximumSettleDelay) s")
        }
        let counterRecord = StorageRecord(contract: address, base: .zero)
        let counter = try counterRecord.get(ChannelLayout.count, from: call.state)
        counterRecord.set(ChannelLayout.count, counter &+ 1, in: &call.state)
        let id = Self.channelID(chainId: context.chainId, payer: context.caller, payee: payee, counter: counter)
        store(
            id,
            Channel(
                payer: context.caller, payee: payee, deposit: context.value, redeemed: .zero,
                settleDelay: settleDelay, closesAt: 0, status: .open), state: &call.state)
        call.logs = [
            Self.opened.log(
                address,
                [
                    .fixedBytes(id), .address(context.caller), .address(payee), .uint(context.value),
                    .uint(UInt256(settleDelay)),
                ])
        ]
        return [.fixedBytes(id)]
    }

    private func topUp(_ call: inout PredeployInvocation, id: [UInt8]) throws(ChainError) -> [ABIValue] {
        guard var channel = try channel(id, state: call.state), channel.status == .open else {
            throw .reverted("channel is not open")
        }
        guard call.context.caller == channel.payer else { throw .reverted("only the payer tops up") }
        channel.deposit = channel.deposit + call.context.value
        store(id, channel, state: &call.state)
        call.logs = [Self.toppedUp.log(address, [.fixedBytes(id), .uint(channel.deposit)])]
        return []
    }

    private func redeem(
        _ call: inout PredeployInvocation, id: [UInt8], cumulativeAmount: UInt256, requestHash: [UInt8],
        signature: [UInt8]
    ) throws(ChainError) -> [ABIValue] {
        let voucher = PaymentVoucher(channelID: id, cumulativeAmount: cumulativeAmount, requestHash: requestHash)
        guard var channel = try channel(id, state: call.state), channel.status != .closed else {
            throw .reverted("channel is not open")
        }
        let signer = try voucher.signer(of: signature, chainId: call.context.chainId, verifyingContract: address)
        guard signer == channel.payer else { throw .reverted("voucher not signed by the payer") }
        guard voucher.cumulativeAmount > channel.redeemed else {
            throw .reverted("stale voucher: \(voucher.cumulativeAmount) already redeemed up to \(channel.redeemed)")
        }
        guard voucher.cumulativeAmount <= channel.deposit else { throw .reverted("voucher exceeds the deposit") }
        let paid = voucher.cumulativeAmount - channel.redeemed
        channel.redeemed = voucher.cumulativeAmount
        store(id, channel, state: &call.state)
        try pay(paid, to: channel.payee, state: &call.state)
        call.logs = [
            Self.redeemed.log(
                address,
                [.fixedBytes(id), .uint(voucher.cumulativeAmount), .uint(paid), .fixedBytes(voucher.requestHash)])
        ]
        return []
    }

    private func startClose(_ call: inout PredeployInvocation, id: [UInt8]) throws(ChainError) -> [ABIValue] {
        guard var channel = try channel(id, state: call.state), channel.status == .open else {
            throw .reverted("channel is not open")
        }
        guard call.context.caller == channel.payer else { throw .reverted("only the payer closes") }
        let (closesAt, overflow) = call.context.timestamp.addingReportingOverflow(channel.settleDelay)
        guard !overflow else { throw .reverted("settle delay overflows the clock") }
        channel.status = .closing
        channel.closesAt = closesAt
        store(id, channel, state: &call.state)
        call.logs = [Self.closing.log(address, [.fixedBytes(id), .uint(UInt256(channel.closesAt))])]
        return [.uint(UInt256(channel.closesAt))]
    }

    private func withdraw(_ call: inout PredeployInvocation, id: [UInt8]) throws(ChainError) -> [ABIValue] {
        guard var channel = try channel(id, state: call.state), channel.status == .closing else {
            throw .reverted("channel is not closing")
        }
        guard call.context.caller == channel.payer else { throw .reverted("only the payer withdraws") }
        guard call.context.timestamp >= channel.closesAt else {
            throw .reverted("settle delay runs until \(channel.closesAt)")
        }
        let refund = channel.deposit - channel.redeemed
        channel.status = .closed
        store(id, channel, state: &call.state)
        try pay(refund, to: channel.payer, state: &call.state)
        call.logs = [Self.closed.log(address, [.fixedBytes(id), .uint(refund)])]
        return [.uint(refund)]
    }

    private func getChannel(_ call: inout PredeployInvocation, id: [UInt8]) throws(ChainError) -> [ABIValue] {
        let channel = try channel(id, state: call.state)
        return [
            .address(channel?.payer ?? .zero), .address(channel?.payee ?? .zero), .uint(channel?.deposit ?? .zero),
            .uint(channel?.redeemed ?? .zero), .uint(UInt256(channel?.settleDelay ?? 0)),
            .uint(UInt256(channel?.closesAt ?? 0)), .uint(UInt256(channel?.status.rawValue ?? 0)),
        ]
    }

    private func voucherDigest(
        _ call: inout PredeployInvocation, id: [UInt8], cumulativeAmount: UInt256, requestHash: [UInt8]
    ) throws(ChainError) -> [ABIValue] {
        let voucher = PaymentVoucher(channelID: id, cumulativeAmount: cumulativeAmount, requestHash: requestHash)
        return [.fixedBytes(voucher.digest(chainId: call.context.chainId, verifyingContract: address))]
    }

    private func pay(_ amount: UInt256, to recipient: Address, state: inout WorldState) throws(ChainError) {
        guard amount > .zero else { return }
        try state.updateAccount(address) { account throws(ChainError) in
            guard account.balance >= amount else { throw .reverted("channel funds missing") }
            account.balance -= amount
        }
        try state.updateAccount(recipient) { account throws(ChainError) in account.balance += amount }
    }

    // MARK: Escrow for AttributionClaims

    /// Redeems a voucher of `channel` into `escrow` instead of paying the payee; returns the increment.
    ///
    /// The channel's redeemed amount rises to the voucher's cumulative amount and the increment moves to `escrow`.
    ///
    /// The caller has checked the payer's signature and that the payee is the claimant.
    static func redeemToEscrow(
        _ id: [UInt8], _ channel: inout Channel, cumulativeAmount: UInt256, escrow: Address, state: inout WorldState
    ) throws(ChainError) -> UInt256 {
        let paid = cumulativeAmount - channel.redeemed
        channel.redeemed = cumulativeAmount
        ChannelLayout.write(channel, to: ChannelLayout.record(id), in: &state)
        try state.transfer(paid, from: defaultAddress, to: escrow)
        return paid
    }

    /// Returns `amount` held in `escrow` to channel `id`: an open or closing channel's deposit grows by it (its redeemed
    /// high-water mark stays, so the voucher cannot be redeemed again); a closed channel's payer is paid directly.
    static func refundFromEscrow(_ id: [UInt8], _ amount: UInt256, escrow: Address, state: inout WorldState)
        throws(ChainError)
    {
        guard var channel = try ChannelLayout.read(id, from: state) else { throw .reverted("no channel to refund") }
        if channel.status == .closed {
            try state.transfer(amount, from: escrow, to: channel.payer)
            return
        }
        channel.deposit += amount
        ChannelLayout.write(channel, to: ChannelLayout.record(id), in: &state)
        try state.transfer(amount, from: escrow, to: defaultAddress)
    }
}
