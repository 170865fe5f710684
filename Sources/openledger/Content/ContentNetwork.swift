import Codec
import Content
import Crypto
import Foundation
import Node
import P2P
import Runtime
import Synchronization

/// `content get` and `content serve`: the store on the network, over Bitswap, with providers from the DHT.
enum ContentNetwork {
    static let peer = OptionSpec(
        name: "peer", valueName: "MULTIADDR", help: "Fetch from this peer (/…/p2p/<peer id>).", repeatable: true)

    static let get = CommandSpec(
        name: "get", summary: "Fetch a file by CID from peers into the store, verifying every block, and write it out.",
        discussion:
            "Peers come from --peer and from the DHT's providers of the CID (joined through --bootstrap and the "
            + "network config's list). Blocks already in the store are not fetched again, so an interrupted get "
            + "resumes. The root is pinned. On a terminal, standard error shows bytes, rate, peers and ETA.",
        arguments: [ContentCommand.cidArgument],
        options: [
            OptionSpec(
                name: "output", valueName: "FILE", help: "Write to FILE (also -o FILE); without it, standard output.",
                short: "o"),
            peer, DHTCommands.bootstrap, NodeOptions.config,
            OptionSpec(name: "timeout", valueName: "SECONDS", help: "Give up after this long.", defaultValue: "300"),
            OptionSpec(name: "no-output", help: "Only fetch into the store."),
            ContentCommand.dataDirectory,
        ] + DHTCommands.quietLogging,
        action: { arguments, output throws(CLIError) in try fetch(arguments, output) })

    static let serve = CommandSpec(
        name: "serve", summary: "Serve the store over Bitswap and provide its pins on the DHT.",
        discussion:
            "Prints each full listen multiaddr (ending in /p2p/<peer id>) on its own line, then logs to standard "
            + "error until Ctrl-C. The store belongs to this process while it runs.",
        options: [
            PP.dataDirOption,
            OptionSpec(
                name: "listen", valueName: "MULTIADDR", help: "Address to listen on.",
                defaultValue: "/ip4/127.0.0.1/tcp/4001"),
            DHTCommands.bootstrap, DHTCommands.dhtMode, NodeOptions.config,
        ] + NodeOptions.logging,
        action: { arguments, output throws(CLIError) in try serve(arguments, output) })

    private typealias PP = P2PCommand

    static func serve(_ arguments: ParsedArguments, _ output: CommandOutput) throws(CLIError) {
        let logging = try NodeOptions.logging(arguments, output)
        let address = try P2PCommand.multiaddr(arguments.string("listen") ?? "/ip4/127.0.0.1/tcp/4001", arguments)
        let bootstrap = try DHTCommands.bootstrapPeers(arguments)
        var dhtConfig = KademliaConfig()
        dhtConfig.mode = try DHTCommands.mode(arguments)
        let store = try ContentCommand.open(arguments)
        let roots = try ContentCommand.run { () throws(ContentError) in try store.pins().map(\.root) }
        let identity = try P2PCommand.loadOrCreateIdentity(NodeOptions.dataDirectory(arguments), keyType: .ed25519)
        let logger = logging.logger("p2p")
        let host = P2PHostService(identity: identity, config: HostConfig(), listen: address, logger: logger)
        let dht = DHTService(
            host: host, config: dhtConfig, bootstrap: bootstrap, provide: roots, logger: logging.logger("dht"))
        let content = ContentService(host: host, store: store, logger: logging.logger("content"))
        let group = ServiceGroup([host, dht, content], logger: logger)
        do throws(NodeError) {
            try group.run(
                started: {
                    output.line(host.listenAddress?.description ?? "")
                    logger.info(
                        "listening",
                        ["peer": identity.peerID.description, "protocols": host.protocols.joined(separator: ",")])
                }, until: TerminationSignals())
        } catch {
            throw NodeOptions.failure(error)
        }
    }

    static func fetch(_ arguments: ParsedArguments, _ output: CommandOutput) throws(CLIError) {
        let logging = try NodeOptions.logging(arguments, output)
        let root = try ContentCommand.cid(arguments.positionals[0], arguments)
        let timeout = try arguments.double("timeout", in: 0.1...86_400) ?? 300
        var peers: [Multiaddr] = []
        for text in arguments.strings("peer") {
            let address = try P2PCommand.multiaddr(text, arguments)
            guard address.peerID != nil else {
                throw .usage("peer address '\(text)' must end in /p2p/<peer id>", command: arguments.command)
            }
            peers.append(address)
        }
        let bootstrap = try DHTCommands.bootstrapPeers(arguments)
        guard !peers.isEmpty || !bootstrap.isEmpty else {
            throw .usage("no peer to fetch from: give --peer or --bootstrap MULTIADDR", command: arguments.command)
        }
        let target = arguments.flag("no-output") ? nil : (arguments.string("output") ?? "-")
        let store = try ContentCommand.open(arguments)
        _ = try ContentCommand.run { () throws(ContentError) in try store.pin(root, reason: .user) }
        let identity = LibP2PIdentity.ed25519(.generate())
        let logger = logging.logger("content")
        let progress = Progress(enabled: isatty(2) == 1, output: output, root: root, store: store)
        let addresses = peers
        let result = P2PCommand.runBlocking(timeout: timeout) { () async throws -> Bitswap.FetchResult in
            let host = try P2PHost(identity: identity, logger: logger)
            defer { host.close() }
            let bitswap = Bitswap(host: host, store: ContentBlockSource(store: store), logger: logger)
            defer { bitswap.close() }
            var direct: [PeerID] = []
            for address in addresses {
                do {
                    direct.append(try await host.connect(address))
                } catch {
                    logger.warning("peer unreachable", ["address": "\(address)", "reason": "\(error)"])
                }
            }
            progress.peers(direct.count)
            guard !direct.isEmpty || !bootstrap.isEmpty else { throw P2PError.dialFailed("no peer was reachable") }
            let finder =
                bootstrap.isEmpty ? nil : Task { await findProviders(root, host, bitswap, bootstrap, progress) }
            defer { finder?.cancel() }
            return await withTaskCancellationHandler {
                await bitswap.fetch(
                    [root], from: direct, expand: ContentDAG.links,
                    progress: { cid, bytes, _ in progress.block(cid, bytes) })
            } onCancel: {
            }
        }
        progress.finish()
        let fetched: Bitswap.FetchResult
        switch result {
        case .success(let value) where value.complete: fetched = value
        case .failure(let error as P2PError):
            if case .timeout = error { fallthrough }
            throw .failure("\(root): \(error)")
        case .success, .failure:
            let held = (try? store.missing(root, limit: 1).isEmpty) ?? false
            guard held else {
                throw .failure(
                    "\(root) could not be fetched within \(timeout) s (\(progress.summary)); run again to resume")
            }
            fetched = Bitswap.FetchResult(blocks: 0, bytes: 0, alreadyHeld: 0, complete: true)
        }
        logger.info(
            "fetched",
            [
                "cid": "\(root)", "blocks": "\(fetched.blocks)", "bytes": "\(fetched.bytes)",
                "held": "\(fetched.alreadyHeld)",
            ])
        guard let target else { return }
        let descriptor = target == "-" ? 1 : Glibc.open(target, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o644)
        guard descriptor >= 0 else { throw .failure("cannot create \(target): \(String(cString: strerror(errno)))") }
        defer { if descriptor != 1 { close(descriptor) } }
        var stream = store.openFile(root)
        while let piece = try ContentCommand.run({ () throws(ContentError) in try stream.next() }) {
            guard ContentCommand.writeAll(descriptor, piece) else {
                throw .failure("cannot write \(target): \(String(cString: strerror(errno)))")
            }
        }
    }

    /// Providers of `root` from the DHT, each connected and added to the fetch as it is found.
    static func findProviders(
        _ root: CID, _ host: P2PHost, _ bitswap: Bitswap, _ bootstrap: [Multiaddr], _ progress: Progress
    ) async {
        var config = KademliaConfig()
        config.mode = .client
        let dht = Kademlia(host: host, config: config, random: SeededRandom(seed: SecureRandom.seed()))
        defer { dht.close() }
        _ = await dht.join(DHTService.peerInfos(bootstrap))
        await ContentFetcher.addProviders(of: root, dht: dht, host: host, bitswap: bitswap) { progress.addPeer() }
    }

    /// The progress line on a terminal's standard error: bytes, rate, peers and ETA (the file's size is read from
    /// its root block once it is held).
    final class Progress: @unchecked Sendable {
        private let enabled: Bool
        private let output: CommandOutput
        private let root: CID
        private let store: ContentStore
        private let start = Date()
        private let state = Mutex<(bytes: Int, blocks: Int, peers: Int, total: UInt64?, drawn: Date)>(
            (0, 0, 0, nil, .distantPast))

        init(enabled: Bool, output: CommandOutput, root: CID, store: ContentStore) {
            self.enabled = enabled
            self.output = output
            self.root = root
            self.store = store
        }

        /// The file's size as its root block says (a raw root is the whole file).
        private func fileSize() -> UInt64? {
            guard let block = (try? store.get(root)) ?? nil else { return nil }
            guard root.codec == CID.Codec.dagProtobuf.rawValue else { return UInt64(block.bytes.count) }
            guard let node = try? PBNode(decoding: block.bytes), let data = node.data else { return nil }
            return (try? UnixFSData(decoding: data))?.fileSize
        }

        func peers(_ count: Int) { state.withLock { $0.peers = count } }
        func addPeer() { state.withLock { $0.peers += 1 } }

        func block(_ cid: CID, _ bytes: Int) {
            guard enabled else { return }
            let total = cid == root ? fileSize() : nil
            let line = state.withLock { state -> String? in
                state.bytes += bytes
                state.blocks += 1
                if let total { state.total = total }
                guard Date().timeIntervalSince(state.drawn) >= 0.2 else { return nil }
                state.drawn = Date()
                return render(state.bytes, state.peers, state.total)
            }
            if let line { output.writeError("\r" + line) }
        }

        private func render(_ bytes: Int, _ peers: Int, _ total: UInt64?) -> String {
            let seconds = max(Date().timeIntervalSince(start), 0.001)
            let rate = Double(bytes) / seconds
            var line = String(format: "%.1f", Double(bytes) / 1e6)
            if let total { line += String(format: " / %.1f", Double(total) / 1e6) }
            line += String(format: " MB  %.1f MB/s  %d peer%@", rate / 1e6, peers, peers == 1 ? "" : "s")
            if let total, rate > 0 {
                let left = max(0, Double(total) - Double(bytes)) / rate
                line += String(format: "  ETA %.0f s", left)
            }
            return line + "    "
        }

        var summary: String {
            state.withLock { "\($0.blocks) blocks, \($0.bytes) bytes received from \($0.peers) peer(s)" }
        }

        func finish() {
            let line = state.withLock { enabled ? render($0.bytes, $0.peers, $0.total) : nil }
            if let line { output.errorLine("\r" + line) }
        }
    }
}
