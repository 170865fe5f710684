import Codec
import Crypto
import Foundation
import Node
import P2P
import Runtime

/// `p2p find-providers` and `p2p find-peer`: one-shot DHT lookups from a client-mode host, and the DHT options of
/// `p2p listen`.
enum DHTCommands {
    static let dhtMode = OptionSpec(
        name: "dht", valueName: "MODE",
        help: "DHT mode: server (answers /ipfs/kad/1.0.0 and advertises it) or client (only asks).",
        defaultValue: "server")
    static let provide = OptionSpec(
        name: "provide", valueName: "CID", help: "Announce this host on the DHT as a provider of CID.",
        repeatable: true)
    static let bootstrap = OptionSpec(
        name: "bootstrap", valueName: "MULTIADDR",
        help: "Join the DHT through this peer (/…/p2p/<peer id>); the network config's list is used too.",
        repeatable: true)
    /// One-shot lookups log warnings and errors only, unless told otherwise.
    static let quietLogging = [
        NodeOptions.logFormat,
        OptionSpec(
            name: "log-level", valueName: "LEVEL",
            help: "Least severe level logged: trace, debug, info, warning, error.", defaultValue: "warning"),
    ]
    static let timeout = OptionSpec(
        name: "timeout", valueName: "SECONDS", help: "Give up after this long.", defaultValue: "30")

    static let findProviders = CommandSpec(
        name: "find-providers", summary: "Look up the providers of a CID on the DHT.",
        discussion:
            "Prints each provider on its own line as it is found: its peer id, then its multiaddrs separated by "
            + "spaces. Exits nonzero when none is found within the timeout.",
        arguments: [ArgumentSpec(name: "cid", help: "The content id (CIDv0 or CIDv1, any multibase).")],
        options: [
            PP.dataDirOption, NodeOptions.config, bootstrap,
            OptionSpec(name: "count", valueName: "N", help: "Stop after N providers.", defaultValue: "20"), timeout,
        ] + quietLogging,
        action: { arguments, output throws(CLIError) in
            let cid = try parseCID(arguments.positionals[0], arguments)
            let count = try arguments.int("count", in: 1...1_000) ?? 20
            let printer = output
            let found = try lookup(arguments, output) { dht in
                let outcome = await dht.findProviders(cid.multihash.bytes, count: count) { provider in
                    printer.line(line(provider))
                }
                return !outcome.providers.isEmpty
            }
            guard found else { throw .failure("no provider of \(cid) found") }
        })

    static let findPeer = CommandSpec(
        name: "find-peer", summary: "Look up a peer's multiaddrs on the DHT.",
        discussion:
            "Prints each multiaddr on its own line. Exits nonzero when the peer is not found within the timeout.",
        arguments: [ArgumentSpec(name: "peer-id", help: "The peer id (base58 or CIDv1).")],
        options: [PP.dataDirOption, NodeOptions.config, bootstrap, timeout] + quietLogging,
        action: { arguments, output throws(CLIError) in
            let text = arguments.positionals[0]
            let peer: PeerID
            do {
                peer = try PeerID(string: text)
            } catch {
                throw .usage("invalid peer id '\(text)': \(error)", command: arguments.command)
            }
            let printer = output
            let found = try lookup(arguments, output) { dht in
                let outcome = await dht.findPeer(peer)
                guard let info = outcome.peer, !info.addresses.isEmpty else { return false }
                for address in info.addresses { printer.line(address.description) }
                return true
            }
            guard found else { throw .failure("peer \(peer) not found") }
        })

    private typealias PP = P2PCommand

    /// A provider's line: its peer id, then its multiaddrs.
    static func line(_ provider: KademliaPeerInfo) -> String {
        ([provider.id.description] + provider.addresses.map(\.description)).joined(separator: " ")
    }

    static func parseCID(_ text: String, _ arguments: ParsedArguments) throws(CLIError) -> CID {
        do {
            return try CID(string: text)
        } catch {
            throw .usage("invalid CID '\(text)': \(error)", command: arguments.command)
        }
    }

    /// `--dht`'s mode.
    static func mode(_ arguments: ParsedArguments) throws(CLIError) -> KademliaConfig.Mode {
        switch arguments.string("dht") ?? "server" {
        case "server": return .server
        case "client": return .client
        case let other:
            throw .usage("option --dht expects server or client, got '\(other)'", command: arguments.command)
        }
    }

    /// The bootstrap peers: the network config's list (from `--config`, or the default config when there is
    /// one), then each `--bootstrap`; every address must end in /p2p/<peer id>.
    static func bootstrapPeers(_ arguments: ParsedArguments) throws(CLIError) -> [Multiaddr] {
        var peers: [Multiaddr] = []
        if arguments.string("config") != nil {
            peers += try NodeOptions.configuration(arguments).network.bootstrap
        } else if let configuration = try? ConfigLoader.standard().load(nil) {
            peers += configuration.network.bootstrap
        }
        for text in arguments.strings("bootstrap") {
            let address = try P2PCommand.multiaddr(text, arguments)
            guard address.peerID != nil else {
                throw .usage("bootstrap address '\(text)' must end in /p2p/<peer id>", command: arguments.command)
            }
            peers.append(address)
        }
        return peers
    }

    /// Runs `body` on a client-mode DHT joined through the bootstrap peers, within `--timeout`; returns what
    /// `body` returned, or false when the time ran out.
    static func lookup(
        _ arguments: ParsedArguments, _ output: CommandOutput,
        _ body: @escaping @Sendable (Kademlia) async -> Bool
    ) throws(CLIError) -> Bool {
        let logging = try NodeOptions.logging(arguments, output)
        let timeout = try arguments.double("timeout", in: 0.1...3_600) ?? 30
        let peers = try bootstrapPeers(arguments)
        guard !peers.isEmpty else {
            throw .usage("no bootstrap peer: give --bootstrap MULTIADDR", command: arguments.command)
        }
        let identity: LibP2PIdentity =
            if arguments.string("data-dir") != nil {
                try P2PCommand.loadOrCreateIdentity(NodeOptions.dataDirectory(arguments), keyType: .ed25519)
            } else {
                .ed25519(.generate())
            }
        let logger = logging.logger("dht")
        var config = KademliaConfig()
        config.mode = .client
        config.lookupTimeout = timeout
        config.queryTimeout = min(config.queryTimeout, timeout)
        let dhtConfig = config
        let result = P2PCommand.runBlocking(timeout: timeout) { () async throws -> Bool in
            let host = try P2PHost(identity: identity, logger: logger)
            defer { host.close() }
            let dht = Kademlia(
                host: host, config: dhtConfig, random: SeededRandom(seed: SecureRandom.seed()), logger: logger)
            defer { dht.close() }
            let joined = await dht.join(DHTService.peerInfos(peers), identifyWithin: min(10, timeout))
            logger.debug("bootstrapped", ["queried": "\(joined.result.queried)", "table": "\(dht.dht.table.count)"])
            return await body(dht)
        }
        switch result {
        case .success(let found): return found
        case .failure(let error):
            if let error = error as? P2PError, case .timeout = error { return false }
            throw .failure("\(error)")
        }
    }
}
