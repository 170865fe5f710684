import Chain
import ChainNode
import Codec
import Foundation
import Node
import Runtime

/// `openledger devnet`: the embedded L2 — a sequencer producing signed blocks and serving Ethereum JSON-RPC.
enum DevnetCommand {
    static let command = CommandSpec(
        name: "devnet",
        summary: "Run a local devnet: sequencer, SQLite chain store and Ethereum JSON-RPC.",
        discussion: """
            Starts the devnet of netconfig/devnet.json (chain id 16120033) and serves JSON-RPC on 127.0.0.1.
            Funded dev accounts are the standard test mnemonic's ("test test … junk"), as in anvil and Hardhat.
            Data survives restarts, including kill -9. Stop with Ctrl-C.

            With --peers N it also starts the sample economy and N peers on loopback (`openledger node` processes: one
            seeder, or --seeders K, the rest inferencers), each with its data directory under DIR/peers, and prints
            the commands to chat with them, paying per answer, and to see the rewards. A peer that dies is started
            again on the same ports (docs/devnet-peers.md).
            """,
        options: [
            NodeOptions.dataDirectory("Where the chain is kept (default: ~/.local/share/openledger/node)."),
            OptionSpec(
                name: "rpc-port", valueName: "PORT", help: "JSON-RPC port (0 picks a free one).", defaultValue: "8545"),
            OptionSpec(
                name: "block-time", valueName: "DURATION",
                help: "Block interval, e.g. 250ms or 2s (default: the config's)."),
            OptionSpec(
                name: "peers", valueName: "N",
                help: "Also start N peers (seeders, then inferencers) and the sample Datanet and adapter (0: none).",
                defaultValue: "0"),
            OptionSpec(
                name: "seeders", valueName: "K",
                help: "How many of the peers are seeders, each holding the sample and attesting claims.",
                defaultValue: "1"),
            InferCommand.modelOption,
            NodeOptions.config,
        ] + NodeOptions.logging,
        action: { arguments, output throws(CLIError) in
            let port = try arguments.int("rpc-port", in: 0...65_535) ?? 8545
            let logging = try NodeOptions.logging(arguments, output)
            let configuration = try NodeOptions.configuration(arguments)
            var blockTime = configuration.network.blockTimeMilliseconds
            if let text = arguments.string("block-time") {
                guard let parsed = parseDuration(text), (10...60_000).contains(parsed) else {
                    throw .usage(
                        "option --block-time expects a duration from 10ms to 60s, got '\(text)'",
                        command: arguments.command)
                }
                blockTime = parsed
            }
            let dataDirectory = NodeOptions.dataDirectory(arguments)
            let logger = logging.logger("devnet")
            if arguments.string("data-dir") == nil {
                warnOfFormerChain(dataDirectory, former: DataDirectory(root: DataDirectory.formerDevnetRoot()), logger)
            }
            let peers = try arguments.int("peers", in: 0...16) ?? 0
            let seeders = try arguments.int("seeders", in: 1...16) ?? 1
            if peers > 0, seeders > peers {
                throw .usage(
                    "option --seeders expects at most the --peers count (\(peers)), got \(seeders)",
                    command: arguments.command)
            }
            var modelPath: String?
            if peers > seeders {
                let path = arguments.string("model") ?? InferCommand.defaultModelPath()
                guard FileManager.default.fileExists(atPath: path) else {
                    throw .failure("no model at \(path) for the inferencers (run `make model`, or pass --model PATH)")
                }
                modelPath = path
            }
            try run(
                configuration: configuration, dataDirectory: dataDirectory, port: port, blockTime: blockTime,
                peers: peers, seeders: seeders, modelPath: modelPath, logging: logging, logger: logger, output: output)
        }
    )

    /// Opens the chain, starts JSON-RPC and block production, prints the banner, and runs until SIGINT or
    /// SIGTERM; then stops the services in reverse and returns (exit 0).
    static func run(
        configuration: NodeConfiguration, dataDirectory: DataDirectory, port: Int, blockTime: UInt64, peers: Int = 0,
        seeders: Int = 1, modelPath: String? = nil, logging: NodeLogging? = nil, logger: Logger, output: CommandOutput
    ) throws(CLIError) {
        let signals = TerminationSignals()
        let devnet: DevnetServices
        do {
            devnet = try DevnetServices(
                configuration: configuration, dataDirectory: dataDirectory, rpcPort: port,
                blockTimeMilliseconds: blockTime, logger: logger)
        } catch {
            throw NodeOptions.failure(error)
        }
        let config = configuration.network
        let rpc = devnet.rpc
        let network =
            peers > 0
            ? DevnetPeers(
                count: peers, seeders: seeders, root: dataDirectory, configuration: configuration,
                modelPath: modelPath ?? InferCommand.defaultModelPath(), rpcURL: { "http://127.0.0.1:\(rpc.port)" },
                logger: logging?.logger("peers") ?? logger, progress: { output.errorLine("devnet: \($0)") }) : nil
        let group = ServiceGroup(devnet.services + (network.map { [$0] } ?? []), logger: logger)
        do {
            try group.run(
                started: {
                    let head = devnet.node.read { $0.head.number }
                    output.line("OpenLedger devnet")
                    output.line("RPC URL:     http://127.0.0.1:\(devnet.rpc.port)")
                    output.line("Chain id:    \(config.chainId)")
                    output.line("Block time:  \(blockTime) ms")
                    output.line("Sequencer:   \(config.sequencer)")
                    output.line("Data:        \(dataDirectory.root) (head \(head))")
                    output.line("")
                    output.line("Funded dev accounts (mnemonic \"\(config.devMnemonic ?? "")\"):")
                    for (index, account) in config.devAccounts.enumerated() {
                        output.line(
                            "(\(index)) \(account.address) \(account.balance / NetworkConfig.weiPerOpen) OPEN  key \(Hex.encode(account.privateKey))"
                        )
                    }
                    output.line("")
                    if let network {
                        // The commands name the config when it is not the one they would find by themselves.
                        let standard = try? ConfigLoader.standard().load(nil).path
                        banner(
                            network, rpcURL: "http://127.0.0.1:\(devnet.rpc.port)",
                            config: standard == configuration.path ? nil : configuration.path, output)
                    }
                    output.line("Listening. Ctrl-C stops the node.")
                }, until: signals)
        } catch {
            throw NodeOptions.failure(error)
        }
        logger.info("stopped", ["head": "\(devnet.node.read { $0.head.number })"])
    }

    /// The peers, the sample, and the commands to use them, each as it can be pasted.
    static func banner(_ network: DevnetPeers, rpcURL: String, config: String? = nil, _ output: CommandOutput) {
        let ledger =
            (rpcURL == "http://127.0.0.1:8545" ? "" : " --rpc \(rpcURL)") + (config.map { " --config \($0)" } ?? "")
        output.line("Peers:")
        for peer in network.peers {
            output.line(
                "  \(peer.name.padding(toLength: 13, withPad: " ", startingAt: 0)) API \(peer.api)  \(peer.multiaddr)")
            output.line("                account \(peer.account), data \(peer.directory)")
        }
        output.line("")
        if let sample = network.sample {
            output.line(
                "Sample Datanet \(sample.datanetID): \(sample.records) records, snapshot \(Hex.encode(sample.snapshotRoot))"
            )
            output.line(
                "Sample adapter: \(LedgerAdapterName.name(sample.adapterID)) (\(sample.adapterCID)), trained on that snapshot"
            )
        }
        let user = network.userDirectory
        output.line("User account: \(network.userAccount) (dev account \(DevnetPeers.userIndex)), wallet in \(user)")
        output.line("")
        // The program as it was started (`.build/release/openledger` under `make run`), so each line runs as pasted.
        let program = CommandLine.arguments.first.map { $0.contains("/") ? $0 : "openledger" } ?? "openledger"
        if let inferencer = network.peers.first(where: { $0.role == "inferencer" }), let sample = network.sample {
            output.line("Ask the sample adapter, paying per answer:")
            output.line(
                "  \(program) chat --endpoint \(inferencer.api) --model \(LedgerAdapterName.name(sample.adapterID)) --data-dir \(user)\(ledger) \"What is a Datanet?\""
            )
            output.line("See the serving peer's claims and rewards, and a contributor's:")
            output.line("  \(program) claims status --data-dir \(inferencer.directory)\(ledger)")
            output.line("  \(program) node status --endpoint \(inferencer.api)")
            output.line("  \(program) light rewards 0x90F79bf6EB2c4f870365E785982E1f101E93b906\(ledger)")
            output.line("")
        }
    }

    /// Warns when the default data directory has no chain but the devnet's former default (`…/openledger/devnet`)
    /// has one: this run starts a fresh chain, and the line says how to keep the old one instead.
    static func warnOfFormerChain(_ dataDirectory: DataDirectory, former: DataDirectory, _ logger: Logger) {
        guard dataDirectory.leavesBehindChain(in: former) else { return }
        logger.warning(
            "a chain is in the former default data directory; starting a fresh chain here",
            [
                "old": former.root, "new": dataDirectory.root,
                "fix":
                    "stop the devnet, mv \(former.root)/chain.sqlite* \(dataDirectory.root)/, or pass --data-dir \(former.root)",
            ])
    }

    /// "250ms", "2s", "1.5s" or a bare number of milliseconds.
    static func parseDuration(_ text: String) -> UInt64? {
        if text.hasSuffix("ms") { return UInt64(text.dropLast(2)) }
        if text.hasSuffix("s"), let seconds = Double(text.dropLast()), seconds.isFinite, seconds >= 0 {
            return UInt64((seconds * 1000).rounded())
        }
        return UInt64(text)
    }
}
