/// The `openledger` command tree.
enum Commands {
    static let root = CommandSpec(
        name: "openledger",
        summary: "OpenLedger light node: ledger light client, peer-to-peer exchange, inference and attribution.",
        subcommands: [
            DevnetCommand.command, LightCommand.command, AttributeCommand.command, P2PCommand.command,
            InferCommand.infer, InferCommand.tokenize, ServeCommand.command, LoRACommand.command, SimCommand.command,
            ContentCommand.command, WalletCommand.command, ChannelCommand.command, ChatCommand.command,
            PayProxyCommand.command, ClaimsCommand.command, ClaimsCommand.stake, TrainCommand.command,
            DatanetCommand.command, ModelCommand.command, NodeCommand.command,
            bench,
        ]
    )

    static let bench = CommandSpec(
        name: "bench",
        summary: "Measure the node's building blocks against reference implementations.",
        subcommands: [
            BenchCrypto.command, BenchChain.command, BenchDevnet.command, BenchLight.command, BenchAttribution.command,
            BenchP2P.command, BenchInference.command, BenchLoRA.command, BenchGossip.command,
            BenchContent.command, BenchPayments.command, BenchTrain.command, BenchNode.command,
        ]
    )
}
