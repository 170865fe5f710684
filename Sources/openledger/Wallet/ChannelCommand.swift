import Chain
import Codec
import LightClient
import Node

/// `openledger channel …`: the wallet's payment channels, opened, topped up, closed and withdrawn through the light
/// client, and kept in DIR/payer.sqlite with the vouchers signed on them.
enum ChannelCommand {
    static let common =
        [NodeOptions.dataDirectory("The wallet key, the payer's store and verified headers are in DIR.")]
        + WalletCommand.ledger
    static let channelArgument = ArgumentSpec(name: "channel", help: "0x-hex 32-byte channel id.")

    static let command = CommandSpec(
        name: "channel",
        summary: "Payment channels from the wallet to serving peers: open, status, top-up, close, withdraw.",
        subcommands: [
            CommandSpec(
                name: "open", summary: "Open a channel to a payee with a deposit; prints the channel id.",
                discussion:
                    "AMOUNT is `10 OPEN`, `10OPEN`, `0.5 OPEN` or plain wei. The settle delay (how long the payee may still redeem after the wallet starts closing) defaults to the network's minimum.",
                options: [
                    OptionSpec(name: "payee", valueName: "ADDRESS", help: "The serving peer's account."),
                    OptionSpec(name: "deposit", valueName: "AMOUNT", help: "What the channel holds."),
                    OptionSpec(name: "settle-delay", valueName: "SECONDS", help: "Settle delay in seconds."),
                ] + common,
                action: { arguments, output throws(CLIError) in
                    guard let payeeText = arguments.string("payee") else {
                        throw .usage("missing option --payee", command: arguments.command)
                    }
                    let payee = try LightCommand.parseAddress(payeeText, arguments)
                    let deposit = try amount("deposit", arguments)
                    let configuration = try NodeOptions.configuration(arguments)
                    let settleDelay =
                        try arguments.int("settle-delay", in: 0...Int(PaymentChannels.maximumSettleDelay)).map {
                            UInt64($0)
                        } ?? configuration.network.parameters.minimumSettleDelaySeconds
                    let (channels, _) = try channelClient(arguments)
                    let (id, header) = try WalletCommand.node { () throws(NodeError) in
                        try channels.open(payee: payee, deposit: deposit, settleDelay: settleDelay)
                    }
                    output.line("opened channel \(Hex.encode(id))")
                    output.line(
                        "  payee \(payee.checksummed), deposit \(LightCommand.openText(deposit)) OPEN (\(deposit) wei), settle delay \(settleDelay) s"
                    )
                    output.line("verified: included in \(blockText(header))")
                }),
            CommandSpec(
                name: "status", summary: "A channel, or every channel of the wallet, proven against the verified head.",
                arguments: [
                    ArgumentSpec(
                        name: "channel", help: "0x-hex channel id (default: all the wallet's).", optional: true)
                ],
                options: common,
                action: { arguments, output throws(CLIError) in
                    let requested = try arguments.positionals.first.map { text throws(CLIError) in
                        try LightCommand.parseBytes32(text, arguments)
                    }
                    let (channels, store) = try channelClient(arguments)
                    let ids: [[UInt8]]
                    if let requested {
                        ids = [requested]
                    } else {
                        ids = try WalletCommand.node { () throws(NodeError) in
                            try store.channels(payer: channels.account).map(\.id)
                        }
                    }
                    guard !ids.isEmpty else {
                        output.line("no channels of \(channels.account.checksummed) in \(store.path)")
                        return
                    }
                    let head = try LightCommand.run { () throws(LightClientError) in try channels.client.syncHead() }
                    for id in ids {
                        let (channel, _) = try WalletCommand.node { () throws(NodeError) in
                            try channels.status(id, at: head)
                        }
                        guard let channel else {
                            throw .failure("no channel \(Hex.encode(id)) at block \(head.number) (proven absent)")
                        }
                        let last = try WalletCommand.node { () throws(NodeError) in
                            try store.lastCumulative(channelID: id)
                        }
                        for line in describe(id, channel, lastVoucher: last, head: head) { output.line(line) }
                    }
                    output.line("verified: storage proofs of PaymentChannels at \(blockText(head))")
                }),
            CommandSpec(
                name: "top-up", summary: "Add to an open channel's deposit.", arguments: [channelArgument],
                options: [OptionSpec(name: "amount", valueName: "AMOUNT", help: "What to add.")] + common,
                action: { arguments, output throws(CLIError) in
                    let id = try LightCommand.parseBytes32(arguments.positionals[0], arguments)
                    let added = try amount("amount", arguments)
                    let (channels, _) = try channelClient(arguments)
                    let (channel, header) = try WalletCommand.node { () throws(NodeError) in
                        try channels.topUp(id, amount: added)
                    }
                    output.line(
                        "topped up channel \(Hex.encode(id)) by \(LightCommand.openText(added)) OPEN: deposit \(LightCommand.openText(channel.deposit)) OPEN (\(channel.deposit) wei)"
                    )
                    output.line("verified: included in \(blockText(header))")
                }),
            CommandSpec(
                name: "close", summary: "Start closing a channel: the payee may redeem until the settle delay ends.",
                arguments: [channelArgument], options: common,
                action: { arguments, output throws(CLIError) in
                    let id = try LightCommand.parseBytes32(arguments.positionals[0], arguments)
                    let (channels, _) = try channelClient(arguments)
                    let (channel, header) = try WalletCommand.node { () throws(NodeError) in
                        try channels.startClose(id)
                    }
                    output.line(
                        "closing channel \(Hex.encode(id)): withdraw from block time \(channel.closesAt) (\(channel.settleDelay) s settle delay)"
                    )
                    output.line("verified: included in \(blockText(header))")
                }),
            CommandSpec(
                name: "withdraw", summary: "Take back what a closing channel did not pay, after its settle delay.",
                arguments: [channelArgument], options: common,
                action: { arguments, output throws(CLIError) in
                    let id = try LightCommand.parseBytes32(arguments.positionals[0], arguments)
                    let (channels, _) = try channelClient(arguments)
                    let (refund, header) = try WalletCommand.node { () throws(NodeError) in
                        try channels.withdraw(id)
                    }
                    output.line(
                        "withdrew \(LightCommand.openText(refund)) OPEN (\(refund) wei) from channel \(Hex.encode(id)); it is closed"
                    )
                    output.line("verified: included in \(blockText(header))")
                }),
        ])

    /// The wei of option `--name`, which must be given and above zero.
    static func amount(_ name: String, _ arguments: ParsedArguments) throws(CLIError) -> UInt256 {
        guard let text = arguments.string(name) else {
            throw .usage("missing option --\(name)", command: arguments.command)
        }
        guard let wei = OpenAmount.parse(text), wei > .zero else {
            throw .usage(
                "option --\(name) expects an amount above zero such as 10 OPEN, 0.5 OPEN or 1000 (wei), got '\(text)'",
                command: arguments.command)
        }
        return wei
    }

    /// The wallet's channel client: its key, its payer store, and the light client the options ask for.
    static func channelClient(_ arguments: ParsedArguments) throws(CLIError) -> (
        channels: ChannelClient, store: PayerStore
    ) {
        let key = try WalletCommand.loadKey(arguments)
        let directory = NodeOptions.dataDirectory(arguments)
        let store = try WalletCommand.node { () throws(NodeError) in try PayerStore(path: directory.payerStore) }
        return (ChannelClient(client: try LightCommand.makeClient(arguments), key: key, store: store), store)
    }

    /// The lines `channel status` prints for one channel.
    static func describe(
        _ id: [UInt8], _ channel: PaymentChannels.Channel, lastVoucher: UInt256, head: VerifiedHeader
    ) -> [String] {
        let deadline: String
        switch channel.status {
        case .closing where channel.closesAt > head.header.timestamp:
            deadline =
                "closing, withdraw from block time \(channel.closesAt) (\(channel.closesAt - head.header.timestamp) s)"
        case .closing: deadline = "closing, withdraw now (from block time \(channel.closesAt))"
        default: deadline = "\(channel.status)"
        }
        return [
            "channel \(Hex.encode(id))",
            "  payee \(channel.payee.checksummed)",
            "  deposit \(LightCommand.openText(channel.deposit)) OPEN (\(channel.deposit) wei), redeemed \(LightCommand.openText(channel.redeemed)) OPEN (\(channel.redeemed) wei)",
            "  status \(deadline), settle delay \(channel.settleDelay) s",
            "  last voucher \(lastVoucher) wei",
        ]
    }

    /// `block N 0x… (timestamp T)`.
    static func blockText(_ header: VerifiedHeader) -> String {
        "block \(header.number) \(Hex.encode(header.hash)) (timestamp \(header.header.timestamp))"
    }
}
