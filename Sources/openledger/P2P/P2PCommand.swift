import Codec
import Content
import Crypto
import Foundation
import Node
import P2P

/// `openledger p2p …`: the node's libp2p identity.
enum P2PCommand {
    static let command = CommandSpec(
        name: "p2p",
        summary: "libp2p identity, a host that answers ping, identify, echo and the DHT, and clients for them.",
        subcommands: [
            CommandSpec(
                name: "id", summary: "Print the peer id (creating the identity key in the data directory if needed).",
                options: [
                    NodeOptions.dataDirectory("Node data directory (default: ~/.local/share/openledger/node)."),
                    OptionSpec(
                        name: "key-type", valueName: "TYPE", help: "Key type for a new identity: ed25519 or secp256k1.",
                        defaultValue: "ed25519"),
                ],
                action: { arguments, output throws(CLIError) in
                    let text = arguments.string("key-type") ?? "ed25519"
                    guard let keyType = IdentityKeyType(rawValue: text) else {
                        throw .usage(
                            "option --key-type expects ed25519 or secp256k1, got '\(text)'", command: arguments.command)
                    }
                    let identity = try loadOrCreateIdentity(NodeOptions.dataDirectory(arguments), keyType: keyType)
                    output.line(identity.peerID.description)
                }),
            CommandSpec(
                name: "listen",
                summary:
                    "Run a libp2p host (TCP, Noise, Yamux) answering ping, identify, /openledger/echo/1.0.0 and the "
                    + "Kademlia DHT.",
                discussion:
                    "Prints each full listen multiaddr (ending in /p2p/<peer id>) on its own line, then logs to standard error until Ctrl-C.",
                options: [
                    dataDirOption,
                    OptionSpec(
                        name: "listen", valueName: "MULTIADDR", help: "Address to listen on.",
                        defaultValue: "/ip4/127.0.0.1/tcp/4001"),
                    OptionSpec(
                        name: "max-connections", valueName: "N", help: "Connections at most.", defaultValue: "1024"),
                    OptionSpec(
                        name: "conn-low", valueName: "N", help: "Connection manager: trim down to N connections.",
                        defaultValue: "160"),
                    OptionSpec(
                        name: "conn-high", valueName: "N", help: "Connection manager: trim when over N connections.",
                        defaultValue: "192"),
                    OptionSpec(
                        name: "conn-grace", valueName: "SECONDS",
                        help: "Connection manager: a new connection is never trimmed this young.", defaultValue: "20"),
                    OptionSpec(
                        name: "max-per-ip", valueName: "N",
                        help: "Connection manager: inbound connections per remote IP (loopback exempt).",
                        defaultValue: "8"),
                    OptionSpec(
                        name: "topic", valueName: "TOPIC",
                        help:
                            "Subscribe to TOPIC by gossipsub and print each message as a JSON line; lines read from "
                            + "standard input are published to the first topic.",
                        repeatable: true),
                    DHTCommands.bootstrap, DHTCommands.dhtMode, DHTCommands.provide, NodeOptions.config,
                    OptionSpec(
                        name: "content",
                        help: "Serve the data directory's content store over Bitswap and provide its pins on the DHT."),
                ] + NodeOptions.logging,
                action: { arguments, output throws(CLIError) in try listen(arguments, output) }),
            DHTCommands.findProviders, DHTCommands.findPeer,
            CommandSpec(
                name: "ping", summary: "Ping a peer over libp2p and print round-trip times.",
                arguments: [ArgumentSpec(name: "multiaddr", help: "The peer: /ip4/…/tcp/…/p2p/<peer id>.")],
                options: [
                    dataDirOption,
                    OptionSpec(name: "count", valueName: "N", help: "Pings to send.", defaultValue: "4"),
                    OptionSpec(
                        name: "timeout", valueName: "SECONDS", help: "Give up after this long.", defaultValue: "10"),
                ],
                action: { arguments, output throws(CLIError) in
                    let address = try multiaddr(arguments.positionals[0], arguments)
                    guard let peer = address.peerID else {
                        throw .usage("the address must end in /p2p/<peer id>", command: arguments.command)
                    }
                    let count = try arguments.int("count", in: 1...100_000) ?? 4
                    let timeout = try arguments.double("timeout", in: 0.1...3_600) ?? 10
                    let identity: LibP2PIdentity =
                        if arguments.string("data-dir") != nil {
                            try loadOrCreateIdentity(NodeOptions.dataDirectory(arguments), keyType: .ed25519)
                        } else {
                            .ed25519(.generate())
                        }
                    let printer = output
                    let result = runBlocking(timeout: timeout) { () async throws -> [Double] in
                        let host = try P2PHost(identity: identity)
                        defer { host.close() }
                        try await host.connect(address)
                        printer.line("PING \(address)")
                        var times: [Double] = []
                        for sequence in 1...count {
                            let time = try await host.ping(peer, count: 1)[0]
                            times.append(time)
                            printer.line(
                                String(format: "pong from %@: seq=%d time=%.3f ms", "\(peer)", sequence, time * 1000))
                        }
                        return times
                    }
                    switch result {
                    case .success(let times):
                        let sorted = times.sorted()
                        output.line(
                            String(
                                format: "%d pings, rtt min/median/max = %.3f/%.3f/%.3f ms", times.count,
                                sorted[0] * 1000, sorted[sorted.count / 2] * 1000, sorted[sorted.count - 1] * 1000))
                    case .failure(let error):
                        throw .failure("ping \(address): \(error)")
                    }
                }),
        ])

    /// `p2p listen`: the host, and gossip on it when topics or bootstrap peers are given.
    static func listen(_ arguments: ParsedArguments, _ output: CommandOutput) throws(CLIError) {
        let logging = try NodeOptions.logging(arguments, output)
        let address = try multiaddr(arguments.string("listen") ?? "/ip4/127.0.0.1/tcp/4001", arguments)
        var config = HostConfig()
        config.maxConnections = try arguments.int("max-connections", in: 1...100_000) ?? 1_024
        config.connectionManager.lowWater = try arguments.int("conn-low", in: 0...100_000) ?? 160
        config.connectionManager.highWater = try arguments.int("conn-high", in: 1...100_000) ?? 192
        config.connectionManager.gracePeriod = try arguments.double("conn-grace", in: 0...86_400) ?? 20
        config.connectionManager.maxConnectionsPerIP = try arguments.int("max-per-ip", in: 1...100_000) ?? 8
        guard config.connectionManager.lowWater < config.connectionManager.highWater else {
            throw .usage("option --conn-low must be below --conn-high", command: arguments.command)
        }
        let topics = arguments.strings("topic")
        for topic in topics where topic.isEmpty || topic.utf8.count > 1_024 {
            throw .usage("option --topic expects a name of 1 to 1024 bytes", command: arguments.command)
        }
        let bootstrap = try DHTCommands.bootstrapPeers(arguments)
        var dhtConfig = KademliaConfig()
        dhtConfig.mode = try DHTCommands.mode(arguments)
        var provide = try arguments.strings("provide").map { text throws(CLIError) in
            try DHTCommands.parseCID(text, arguments)
        }
        let store = arguments.flag("content") ? try ContentCommand.open(arguments) : nil
        if let store { provide += try ContentCommand.run { () throws(ContentError) in try store.pins().map(\.root) } }
        let identity = try loadOrCreateIdentity(NodeOptions.dataDirectory(arguments), keyType: .ed25519)
        let logger = logging.logger("p2p")
        let signals = TerminationSignals()
        let host = P2PHostService(identity: identity, config: config, listen: address, logger: logger)
        // The DHT dials the bootstrap peers (gossip meets them there) and joins through them.
        var services: [any Service] = [
            host,
            DHTService(
                host: host, config: dhtConfig, bootstrap: bootstrap, provide: provide, logger: logging.logger("dht")),
        ]
        if let store { services.append(ContentService(host: host, store: store, logger: logging.logger("content"))) }
        var gossip: GossipService?
        if !topics.isEmpty {
            let printer = output
            let service = GossipService(
                host: host, topics: topics, bootstrap: [], logger: logging.logger("gossip"),
                onDeliver: { printer.line(GossipLines.line($0)) })
            services.append(service)
            gossip = service
        }
        let group = ServiceGroup(services, logger: logger)
        do throws(NodeError) {
            try group.run(
                started: {
                    output.line(host.listenAddress?.description ?? "")
                    logger.info(
                        "listening",
                        [
                            "peer": identity.peerID.description,
                            "protocols": host.protocols.joined(separator: ","),
                        ])
                    if let gossip, let topic = topics.first {
                        publishStandardInput(gossip, topic: topic, output: output)
                    }
                }, until: signals)
        } catch {
            throw NodeOptions.failure(error)
        }
    }

    /// Publishes each line of standard input (its bytes as they are, without the newline) to `topic`, from a
    /// thread of its own; a line longer than `maxLine` is dropped with a message on standard error.
    static func publishStandardInput(
        _ gossip: GossipService, topic: String, output: CommandOutput, maxLine: Int = (1 << 20) - 4_096
    ) {
        let thread = Thread {
            var line: [UInt8] = []
            var overlong = false
            var chunk = [UInt8](repeating: 0, count: 1 << 16)
            while true {
                let count = chunk.withUnsafeMutableBytes { read(0, $0.baseAddress, $0.count) }
                if count < 0 && errno == EINTR { continue }
                guard count > 0 else { break }
                for byte in chunk[..<count] {
                    if byte == UInt8(ascii: "\n") {
                        if overlong {
                            output.errorLine("error: a line of standard input over \(maxLine) bytes was not published")
                        } else {
                            gossip.publish(topic: topic, data: line)
                        }
                        line.removeAll(keepingCapacity: true)
                        overlong = false
                    } else if line.count < maxLine {
                        line.append(byte)
                    } else {
                        overlong = true
                    }
                }
            }
        }
        thread.start()
    }

    static let dataDirOption = NodeOptions.dataDirectory(
        "Node data directory holding identity.key (default: ~/.local/share/openledger/node).")

    static func multiaddr(_ text: String, _ arguments: ParsedArguments) throws(CLIError) -> Multiaddr {
        do {
            return try Multiaddr(text)
        } catch {
            throw .usage("invalid multiaddr '\(text)': \(error)", command: arguments.command)
        }
    }

    /// Runs `operation` to completion or until `timeout` seconds pass, blocking the calling thread.
    static func runBlocking<T: Sendable>(
        timeout: Double, _ operation: @escaping @Sendable () async throws -> T
    ) -> Result<T, any Error> {
        let semaphore = DispatchSemaphore(value: 0)
        let box = ResultBox<T>()
        let task = Task {
            let result: Result<T, any Error>
            do {
                result = .success(try await operation())
            } catch {
                result = .failure(error)
            }
            box.set(result)
            semaphore.signal()
        }
        guard semaphore.wait(timeout: .now() + timeout) == .success else {
            task.cancel()
            return .failure(P2PError.timeout("no answer within \(timeout) s"))
        }
        return box.get()!
    }

    /// The identity in `directory` (DIR/identity.key), created with a fresh key of `keyType` when absent.
    static func loadOrCreateIdentity(_ directory: DataDirectory, keyType: IdentityKeyType) throws(CLIError)
        -> LibP2PIdentity
    {
        do {
            return try IdentityKeyFile.loadOrCreate(in: directory, newKeyType: keyType)
        } catch {
            throw NodeOptions.failure(error)
        }
    }
}

final class ResultBox<T: Sendable>: @unchecked Sendable {
    private let lock = NSLock()
    private var value: Result<T, any Error>?
    func set(_ result: Result<T, any Error>) { lock.withLock { value = result } }
    func get() -> Result<T, any Error>? { lock.withLock { value } }
}
