import Chain
import Codec
import Crypto
import LightClient

/// The payer's operations on `PaymentChannels` (open, top up, start closing, withdraw) and its proven reads, over a
/// light client that verifies every answer.
///
/// Each operation is checked against proven state first (the channel exists, is the wallet's, is in the right state,
/// the account can pay), then dry-run by the server (`eth_estimateGas`), which answers the contract's own revert
/// reason; only then is the transaction signed and sent. Success is the verified receipt's status, and what an
/// operation returns (a channel id, a refund) is read from the verified receipt's logs and proven storage. When a
/// store is given, every channel the client opens or sees is recorded in it.
public final class ChannelClient: Sendable {
    /// The light client every read and transaction goes through.
    public let client: LightClient
    /// The wallet's key: it pays and signs.
    public let key: Secp256k1PrivateKey
    /// The wallet's account.
    public let account: Address
    /// Where opened and seen channels are recorded, if anywhere.
    public let store: PayerStore?
    /// The channels contract.
    public let contract: Address
    /// How long to wait for a transaction to be in a verified block.
    public let inclusionTimeoutSeconds: Double
    /// The most a transaction pays per gas (the light client's default).
    public static let maxFeePerGas: UInt256 = ContractCaller.maxFeePerGas
    private let caller: ContractCaller

    /// A client paying with `key` through `client`, recording channels in `store` when given.
    public init(
        client: LightClient, key: Secp256k1PrivateKey, store: PayerStore? = nil,
        contract: Address = PaymentChannels.defaultAddress, inclusionTimeoutSeconds: Double = 60
    ) {
        self.client = client
        self.key = key
        self.account = WalletKeyFile.address(of: key)
        self.store = store
        self.contract = contract
        self.inclusionTimeoutSeconds = inclusionTimeoutSeconds
        caller = ContractCaller(
            client: client, key: key, contract: contract,
            signature: { PaymentChannels.method(named: $0)?.signature },
            inclusionTimeoutSeconds: inclusionTimeoutSeconds)
    }

    /// Opens a channel to `payee` with `deposit` wei and `settleDelay` seconds; returns its id and the verified block
    /// that holds the opening.
    public func open(payee: Address, deposit: UInt256, settleDelay: UInt64) throws(NodeError) -> (
        channelID: [UInt8], header: VerifiedHeader
    ) {
        let data = try calldata("open", [.address(payee), .uint(UInt256(settleDelay))])
        let (receipt, header) = try submit("open", value: deposit, data: data)
        guard let opened = try event("ChannelOpened", in: receipt), case .fixedBytes(let id)? = opened["channelId"],
            id.count == 32
        else {
            throw .ledger(.verificationFailed("the verified receipt of open has no ChannelOpened log"))
        }
        let channel = try provenChannel(id, at: header)
        guard channel.payer == account, channel.payee == payee else {
            throw .ledger(.verificationFailed("proven channel \(Hex.encode(id)) is not the one just opened"))
        }
        try remember(id, channel)
        return (id, header)
    }

    /// Adds `amount` wei to the deposit of open channel `id`; returns the channel proven after the top-up.
    public func topUp(_ id: [UInt8], amount: UInt256) throws(NodeError) -> (
        channel: PaymentChannels.Channel, header: VerifiedHeader
    ) {
        try expect(id, status: .open)
        let (_, header) = try submit("top-up", value: amount, data: try calldata("topUp", [.fixedBytes(id)]))
        return try settled(id, at: header)
    }

    /// Starts closing channel `id`: the payee may redeem until the settle delay ends, then the payer may withdraw.
    public func startClose(_ id: [UInt8]) throws(NodeError) -> (
        channel: PaymentChannels.Channel, header: VerifiedHeader
    ) {
        try expect(id, status: .open)
        let (_, header) = try submit("close", value: .zero, data: try calldata("startClose", [.fixedBytes(id)]))
        return try settled(id, at: header)
    }

    /// Withdraws what channel `id` has not paid out, once its settle delay is over; returns the refund in wei.
    public func withdraw(_ id: [UInt8]) throws(NodeError) -> (refund: UInt256, header: VerifiedHeader) {
        let (channel, head) = try expect(id, status: .closing)
        guard head.header.timestamp >= channel.closesAt else {
            throw .settleDelayRunning(id: id, closesAt: channel.closesAt, headTimestamp: head.header.timestamp)
        }
        let (receipt, header) = try submit("withdraw", value: .zero, data: try calldata("withdraw", [.fixedBytes(id)]))
        guard let closed = try event("ChannelClosed", in: receipt), case .uint(let refund)? = closed["refund"] else {
            throw .ledger(.verificationFailed("the verified receipt of withdraw has no ChannelClosed log"))
        }
        _ = try settled(id, at: header)
        return (refund, header)
    }

    /// Channel `id` proven at `header` (the verified head when nil), or nil when the ledger proves it absent; a
    /// channel kept in the store is updated to what was proven.
    public func status(_ id: [UInt8], at header: VerifiedHeader? = nil) throws(NodeError) -> (
        channel: PaymentChannels.Channel?, header: VerifiedHeader
    ) {
        let (channel, header) = try ledger { () throws(LightClientError) in
            let at: VerifiedHeader
            if let header { at = header } else { at = try client.syncHead() }
            return try client.read(PaymentChannels.ChannelLayout.self, id, in: contract, at: at)
        }
        if let channel, try store?.channel(id) != nil { try remember(id, channel) }
        return (channel, header)
    }

    /// The balance of `address` in wei, proven against the verified head.
    public func balance(of address: Address) throws(NodeError) -> (balance: UInt256, header: VerifiedHeader) {
        let (account, header) = try ledger { () throws(LightClientError) in
            try client.account(address, at: client.syncHead())
        }
        return (account.balance, header)
    }

    // MARK: Steps

    /// The proven channel `id`, refused unless it exists, is the wallet's and has `status`.
    @discardableResult
    private func expect(_ id: [UInt8], status: PaymentChannels.Status) throws(NodeError) -> (
        channel: PaymentChannels.Channel, header: VerifiedHeader
    ) {
        let (channel, header) = try self.status(id)
        guard let channel else { throw .unknownChannel(id: id) }
        guard channel.payer == account else { throw .notChannelPayer(id: id, payer: channel.payer, account: account) }
        guard channel.status == status else {
            throw .channelInWrongState(id: id, status: channel.status, expected: status)
        }
        return (channel, header)
    }

    /// Channel `id` proven at `header`, recorded; an absent channel is a lie the client caught.
    private func settled(_ id: [UInt8], at header: VerifiedHeader) throws(NodeError) -> (
        channel: PaymentChannels.Channel, header: VerifiedHeader
    ) {
        let channel = try provenChannel(id, at: header)
        try remember(id, channel)
        return (channel, header)
    }

    private func provenChannel(_ id: [UInt8], at header: VerifiedHeader) throws(NodeError) -> PaymentChannels.Channel {
        guard let channel = try status(id, at: header).channel else {
            throw .ledger(
                .verificationFailed("channel \(Hex.encode(id)) is proven absent right after a transaction on it"))
        }
        return channel
    }

    /// Records `channel` in the store, if there is one.
    private func remember(_ id: [UInt8], _ channel: PaymentChannels.Channel) throws(NodeError) {
        try store?.record(
            PayerChannel(
                id: id, payer: channel.payer, payee: channel.payee, chainId: client.trust.chainId,
                deposit: channel.deposit, status: channel.status, settleDelay: channel.settleDelay,
                closesAt: channel.closesAt))
    }

    /// Checks the balance, dry-runs, sends and waits for the verified receipt of one call of the contract.
    private func submit(_ operation: String, value: UInt256, data: [UInt8]) throws(NodeError) -> (
        receipt: Receipt, header: VerifiedHeader
    ) {
        let (receipt, header, _) = try caller.submit(operation, value: value, data: data)
        return (receipt, header)
    }

    /// The calldata of the contract's function `name` with `arguments`.
    private func calldata(_ name: String, _ arguments: [ABIValue]) throws(NodeError) -> [UInt8] {
        try caller.calldata(name, arguments)
    }

    /// The first log of the contract's event `name` in a verified receipt.
    private func event(_ name: String, in receipt: Receipt) throws(NodeError) -> DecodedEvent? {
        try caller.event(name, in: receipt)
    }

    /// Runs light-client work, its failure becoming the node's error.
    private func ledger<R>(_ body: () throws(LightClientError) -> R) throws(NodeError) -> R {
        do {
            return try body()
        } catch {
            throw .ledger(error)
        }
    }
}
