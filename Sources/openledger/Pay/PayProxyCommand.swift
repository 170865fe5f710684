import Codec
import Node
import Runtime

/// `openledger pay-proxy`: a local OpenAI-compatible endpoint that pays a remote serving peer with the wallet's key
/// and channel (`Node.PayProxy`), until SIGINT or SIGTERM.
enum PayProxyCommand {
    static let command = CommandSpec(
        name: "pay-proxy", summary: "A local OpenAI-compatible proxy that pays a serving peer per request.",
        options: [
            OptionSpec(
                name: "endpoint", valueName: "URL", help: "The serving peer's API.",
                defaultValue: "http://127.0.0.1:8080"),
            OptionSpec(name: "host", valueName: "ADDRESS", help: "Address to listen on.", defaultValue: "127.0.0.1"),
            OptionSpec(name: "port", valueName: "PORT", help: "Port (0 picks one).", defaultValue: "8090"),
            OptionSpec(
                name: "deposit", valueName: "AMOUNT", help: "Deposit of a channel opened for the peer.",
                defaultValue: "1 OPEN"),
            NodeOptions.dataDirectory("The wallet key and the payer's store are in DIR."),
        ] + WalletCommand.ledger + NodeOptions.logging,
        action: { arguments, output throws(CLIError) in
            let logger = try NodeOptions.logging(arguments, output).logger("pay-proxy")
            let port = try arguments.int("port", in: 0...65_535) ?? 8_090
            guard let deposit = OpenAmount.parse(arguments.string("deposit") ?? "1 OPEN"), deposit > .zero else {
                throw .usage("option --deposit expects an amount such as 1 OPEN", command: arguments.command)
            }
            let (channels, store) = try ChannelCommand.channelClient(arguments)
            let endpoint = arguments.string("endpoint") ?? "http://127.0.0.1:8080"
            let client = try ChatCommand.paying { () throws(PayingClient.Failure) in
                try PayingClient(
                    endpoint: endpoint, key: channels.key, store: store, channels: channels, deposit: deposit)
            }
            let proxy = PayProxy(
                client: client, host: arguments.string("host") ?? "127.0.0.1", port: port, logger: logger)
            do throws(NodeError) {
                try ServiceGroup([proxy], logger: logger).run(
                    started: {
                        output.line(
                            "Paying proxy on http://\(arguments.string("host") ?? "127.0.0.1"):\(proxy.port)/v1")
                        output.line("Pays \(endpoint) from \(client.payer)")
                    }, until: TerminationSignals())
            } catch {
                throw NodeOptions.failure(error)
            }
        })
}
