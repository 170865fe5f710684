import Foundation
import HTTP
import Inference
import Node
import Runtime

/// `openledger node`: one peer in one process, as `--role light|inferencer|seeder` says (composed by
/// `Node.PeerNode`), and `openledger node status`, a running node's summary.
///
/// The command reads the settings (the `--node-config` file, then the flags over it), loads what only the command line
/// may load (the model, the snapshot indexes), and runs the node until SIGINT or SIGTERM.
enum NodeCommand {
    static let command = CommandSpec(
        name: "node", summary: "Run a peer: light client, gossip, DHT, content exchange, and by role paid inference.",
        discussion:
            "Prints the role, the peer id, the libp2p address and the HTTP address (GET /metrics, GET /status, and "
            + "the OpenAI API of an inferencer), one a line, then logs to standard error until Ctrl-C. Every "
            + "setting is also a key of the --node-config JSON file; a flag wins over the file (docs/peer-node.md).",
        options: PeerNodeOption.all.map { option in
            OptionSpec(
                name: option.key, valueName: option.kind == .flag ? nil : option.valueName, help: option.help,
                repeatable: option.kind == .list)
        } + [OptionSpec(name: "node-config", valueName: "FILE", help: "Node settings as a JSON object of these keys.")],
        subcommands: [statusCommand],
        action: { arguments, output throws(CLIError) in try run(arguments, output) })

    static let statusCommand = CommandSpec(
        name: "status", summary: "Print a running node's role, peer, head, peers, mesh, content, adapters, payments.",
        options: [
            OptionSpec(
                name: "endpoint", valueName: "URL", help: "The node's HTTP address.",
                defaultValue: "http://127.0.0.1:\(PeerNodeConfiguration.defaultAPIPort)")
        ],
        action: { arguments, output throws(CLIError) in
            let endpoint = arguments.string("endpoint") ?? ""
            for line in try NodeStatus.summary(fetchStatus(endpoint)) { output.line(line) }
        })

    /// The settings the command line gives, each flag as its key.
    static func settings(_ arguments: ParsedArguments) throws(NodeError) -> PeerNodeSettings {
        var values: [String: PeerNodeSettings.Value] = [:]
        for option in PeerNodeOption.all {
            switch option.kind {
            case .value: if let text = arguments.string(option.key) { values[option.key] = .text(text) }
            case .list:
                let items = arguments.strings(option.key)
                if !items.isEmpty { values[option.key] = .list(items) }
            case .flag: if arguments.flag(option.key) { values[option.key] = .flag(true) }
            }
        }
        return try PeerNodeSettings(values)
    }

    /// `arguments` with the settings of `merged` in them, so that the options `serve` shares read them as theirs.
    static func mergedArguments(_ merged: PeerNodeSettings, command: [String]) -> ParsedArguments {
        var arguments = ParsedArguments(command: command)
        for (key, value) in merged.values {
            switch value {
            case .text(let text): arguments.values[key] = text
            case .list(let items):
                arguments.repeated[key] = items
                arguments.values[key] = items.last
            case .flag(let on): if on { arguments.flags.insert(key) }
            }
        }
        return arguments
    }

    static func run(_ given: ParsedArguments, _ output: CommandOutput) throws(CLIError) {
        let signals = TerminationSignals()
        let merged: PeerNodeSettings
        let configuration: PeerNodeConfiguration
        do throws(NodeError) {
            var file = try PeerNodeSettings()
            if let path = given.string("node-config") { file = try PeerNodeSettings.load(path: path) }
            merged = file.overridden(by: try settings(given))
            configuration = try PeerNodeConfiguration(settings: merged)
        } catch {
            throw NodeOptions.failure(error)
        }
        let arguments = mergedArguments(merged, command: given.command)
        let logging = try NodeOptions.logging(arguments, output)
        let network = try NodeOptions.configuration(arguments)
        let directory = NodeOptions.dataDirectory(arguments)
        let bootstrap = try DHTCommands.bootstrapPeers(arguments)
        let identity = try P2PCommand.loadOrCreateIdentity(directory, keyType: .ed25519)
        var serving: PeerNode.Serving?
        var snapshots: [AnswerAttribution.Snapshot] = []
        switch configuration.role {
        case .inferencer: serving = try self.serving(arguments, configuration, directory)
        case .seeder:
            for path in configuration.attribution {
                snapshots.append(AnswerAttribution.Snapshot(shards: try AttributeCommand.loadShards(path)))
            }
        case .light: break
        }
        do throws(NodeError) {
            let node = try PeerNode(
                configuration: configuration, network: network, directory: directory, identity: identity,
                bootstrap: bootstrap, logging: logging, serving: serving, attesterSnapshots: snapshots)
            try node.run(until: signals) {
                for line in node.startupLines { output.line(line) }
            }
        } catch {
            throw .failure("node: \(error.description)")
        }
    }

    /// The inferencer's model, engine, adapter cache, attribution and prices, from the options `serve` has.
    static func serving(
        _ arguments: ParsedArguments, _ configuration: PeerNodeConfiguration, _ directory: DataDirectory
    )
        throws(CLIError) -> PeerNode.Serving
    {
        let model = try InferCommand.loadModel(arguments)
        let engine = InferenceEngine(
            model: model, slots: try arguments.int("slots", in: 1...256) ?? 4,
            contextLength: try arguments.int("context", in: 16...1_048_576) ?? 2_048,
            threads: try arguments.int("threads", in: 1...256) ?? 2,
            queueLimit: try arguments.int("queue", in: 1...100_000) ?? 64)
        let adapterPath = arguments.string("adapters") ?? directory.adapterCache
        if arguments.string("adapters") == nil {
            try? FileManager.default.createDirectory(atPath: adapterPath, withIntermediateDirectories: true)
        }
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: adapterPath, isDirectory: &isDirectory), isDirectory.boolValue
        else {
            throw .failure("--adapters \(adapterPath) is not a directory")
        }
        let megabytes = try arguments.int("adapter-cache-mb", in: 1...1_048_576) ?? 512
        let modelPath = arguments.string("model") ?? InferCommand.defaultModelPath()
        let baseModelHash: [UInt8]
        do {
            baseModelHash = try AdapterPublisher.fileHash(modelPath)
        } catch {
            throw NodeOptions.failure(error)
        }
        let entries = try PaidServing.priceEntries(arguments)
        let pricing = configuration.free ? nil : try PaidServing.pricing(arguments, entries: entries)
        return PeerNode.Serving(
            engine: engine, modelName: ServeCommand.modelName(arguments), baseModelHash: baseModelHash,
            adapterDirectory: adapterPath, adapterBudgetBytes: megabytes << 20,
            attribution: try ServeCommand.attribution(arguments, entries: entries), pricing: pricing)
    }

    /// The figures of the node at `endpoint`, from its `/status`.
    static func fetchStatus(_ endpoint: String) throws(CLIError) -> NodeMetrics {
        let response: HTTPClient.Response
        do {
            let address = try HTTPClient(url: endpoint)
            let client = HTTPClient(
                host: address.host, port: address.port, maxResponseBytes: NodeStatus.maximumBytes, timeoutSeconds: 10)
            response = try client.send(method: "GET", path: "/status")
        } catch {
            throw .failure("cannot read the node's status at \(endpoint): \(error)")
        }
        guard response.status == 200 else {
            throw .failure("\(endpoint)/status answered HTTP \(response.status)")
        }
        guard let metrics = NodeStatus.decode(response.body) else {
            throw .failure("\(endpoint)/status is not a node's status")
        }
        return metrics
    }
}
