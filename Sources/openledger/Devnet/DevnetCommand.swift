import Chain
import ChainNode
import Codec
import Crypto
import Foundation
import HTTP

/// `openledger devnet`: the embedded L2 — a sequencer producing signed blocks and serving Ethereum JSON-RPC.
enum DevnetCommand {
    static let command = CommandSpec(
        name: "devnet",
        summary: "Run a local devnet: sequencer, SQLite chain store and Ethereum JSON-RPC.",
        discussion: """
            Starts the devnet of netconfig/devnet.json (chain id 16120033) and serves JSON-RPC on 127.0.0.1.
            Funded dev accounts are the standard test mnemonic's ("test test … junk"), as in anvil and Hardhat.
            Data survives restarts, including kill -9. Stop with Ctrl-C.
            """,
        options: [
            OptionSpec(
                name: "data-dir", valueName: "DIR",
                help: "Where the chain is kept (default: ~/.local/share/openledger/devnet)."),
            OptionSpec(
                name: "rpc-port", valueName: "PORT", help: "JSON-RPC port (0 picks a free one).", defaultValue: "8545"),
            OptionSpec(
                name: "block-time", valueName: "DURATION",
                help: "Block interval, e.g. 250ms or 2s (default: the config's)."),
            OptionSpec(name: "config", valueName: "FILE", help: "Network config (default: netconfig/devnet.json)."),
        ],
        action: { arguments, output throws(CLIError) in
            let port = try arguments.int("rpc-port", in: 0...65_535) ?? 8545
            let configPath = arguments.string("config") ?? locateDefaultConfig()
            guard let data = FileManager.default.contents(atPath: configPath) else {
                throw .failure("cannot read network config \(configPath)")
            }
            let config: NetworkConfig
            let sequencerKey: Secp256k1PrivateKey
            do {
                config = try NetworkConfig.parse(data)
                sequencerKey = try sequencerPrivateKey(data)
            } catch {
                throw .failure("\(configPath): \(error)")
            }
            var blockTime = config.blockTimeMilliseconds
            if let text = arguments.string("block-time") {
                guard let parsed = parseDuration(text), (10...60_000).contains(parsed) else {
                    throw .usage(
                        "option --block-time expects a duration from 10ms to 60s, got '\(text)'",
                        command: arguments.command)
                }
                blockTime = parsed
            }
            let dataDirectory = arguments.string("data-dir") ?? defaultDataDirectory()
            try run(
                config: config, sequencerKey: sequencerKey, dataDirectory: dataDirectory, port: port,
                blockTime: blockTime, output: output)
        }
    )

    static func run(
        config: NetworkConfig, sequencerKey: Secp256k1PrivateKey, dataDirectory: String, port: Int, blockTime: UInt64,
        output: CommandOutput
    ) throws(CLIError) {
        let node: DevnetNode
        do {
            node = try DevnetNode(config: config, sequencerKey: sequencerKey, dataDirectory: dataDirectory)
        } catch {
            throw .failure("cannot open the chain in \(dataDirectory): \(error)")
        }
        let rpc = JSONRPCServer(methods: EthereumRPC(node: node).methods)
        let server: HTTPServer
        do {
            server = try HTTPServer(host: "127.0.0.1", port: port) { rpc.handle($0) }
        } catch {
            throw .failure("\(error)")
        }
        let producer = BlockProducer(node: node, intervalMilliseconds: blockTime) { error in
            output.errorLine("level=error msg=\"block production failed\" error=\"\(error)\"")
        }
        let head = node.read { $0.head.number }
        output.line("OpenLedger devnet")
        output.line("RPC URL:     http://127.0.0.1:\(server.port)")
        output.line("Chain id:    \(config.chainId)")
        output.line("Block time:  \(blockTime) ms")
        output.line("Sequencer:   \(config.sequencer)")
        output.line("Data:        \(dataDirectory) (head \(head))")
        output.line("")
        output.line("Funded dev accounts (mnemonic \"\(config.devMnemonic ?? "")\"):")
        for (index, account) in config.devAccounts.enumerated() {
            output.line(
                "(\(index)) \(account.address) \(account.balance / NetworkConfig.weiPerOpen) OPEN  key \(Hex.encode(account.privateKey))"
            )
        }
        output.line("")
        output.line("Listening. Ctrl-C stops the node.")
        waitForTermination()
        output.errorLine("level=info msg=\"shutting down\"")
        producer.stop()
        server.stop()
        output.errorLine("level=info msg=\"stopped\" head=\(node.read { $0.head.number })")
    }

    /// Blocks until SIGINT or SIGTERM.
    static func waitForTermination() {
        let semaphore = DispatchSemaphore(value: 0)
        signal(SIGINT, SIG_IGN)
        signal(SIGTERM, SIG_IGN)
        let sources = [SIGINT, SIGTERM].map { number in
            let source = DispatchSource.makeSignalSource(signal: number, queue: .global())
            source.setEventHandler { semaphore.signal() }
            source.resume()
            return source
        }
        semaphore.wait()
        withExtendedLifetime(sources) {}
    }

    /// "250ms", "2s", "1.5s" or a bare number of milliseconds.
    static func parseDuration(_ text: String) -> UInt64? {
        if text.hasSuffix("ms") { return UInt64(text.dropLast(2)) }
        if text.hasSuffix("s"), let seconds = Double(text.dropLast()), seconds.isFinite, seconds >= 0 {
            return UInt64((seconds * 1000).rounded())
        }
        return UInt64(text)
    }

    static func defaultDataDirectory() -> String {
        let environment = ProcessInfo.processInfo.environment
        let base = environment["XDG_DATA_HOME"] ?? ((environment["HOME"] ?? ".") + "/.local/share")
        return base + "/openledger/devnet"
    }

    /// netconfig/devnet.json in the working directory, else beside the source tree the binary was built in.
    static func locateDefaultConfig() -> String {
        let candidates = [
            "netconfig/devnet.json",
            URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent()
                .appendingPathComponent("../../netconfig/devnet.json").standardized.path,
        ]
        return candidates.first { FileManager.default.fileExists(atPath: $0) } ?? candidates[0]
    }

    /// The devnet config carries its sequencer key (public on purpose; a devnet has nothing to protect).
    static func sequencerPrivateKey(_ data: Data) throws -> Secp256k1PrivateKey {
        guard let object = try JSONSerialization.jsonObject(with: data) as? [String: Any],
            let text = object["sequencerPrivateKey"] as? String
        else { throw ChainError.malformed(what: "network config", why: "devnet needs sequencerPrivateKey") }
        return try Secp256k1PrivateKey(bytes: try Hex.decode(text))
    }
}
