import Attribution
import Chain
import Codec
import Content
import Crypto
import Foundation
import LightClient
import Node
import Runtime
import Synchronization

/// `openledger devnet --peers N`: after the sequencer, the sample economy (`DevnetSample`) and N peers on loopback,
/// each an `openledger node` process of its own (K seeders, the rest inferencers), with its own data directory and
/// dev-account wallet; a peer that dies is started again on the same ports; stopped in reverse when the devnet stops
/// (docs/devnet-peers.md).
final class DevnetPeers: Service, @unchecked Sendable {
    let name = "peers"

    /// One running peer.
    struct Peer {
        /// `seeder`, `seeder-K` or `inferencer-K`.
        var name: String
        /// Its role.
        var role: String
        /// Its data directory.
        var directory: String
        /// Its wallet's account.
        var account: Address
        /// The peer's libp2p address.
        var multiaddr: String
        /// Its HTTP address (metrics, status, and the OpenAI API of an inferencer).
        var api: String
        /// The process.
        var process: Process
        /// The command line it runs with (the listen and API ports fixed once it first started).
        var arguments: [String]
        /// How many times it was started again after it died.
        var restarts: Int
    }

    /// What the peers serve, once started.
    private(set) var sample: DevnetSample.Sample?
    private let state = Mutex<(peers: [Peer], stopping: Bool, restarting: Int)>(([], false, 0))
    private let count: Int
    private let seeders: Int
    private let root: DataDirectory
    private let rpcURL: @Sendable () -> String
    private let configuration: NodeConfiguration
    private let modelPath: String
    private let logger: Logger
    private let progress: @Sendable (String) -> Void
    private let clock = SystemClock()

    /// N peers for the devnet whose JSON-RPC `rpcURL` gives, under `root/peers`: the first `seeders` of them seeders.
    init(
        count: Int, seeders: Int = 1, root: DataDirectory, configuration: NodeConfiguration, modelPath: String,
        rpcURL: @escaping @Sendable () -> String, logger: Logger, progress: @escaping @Sendable (String) -> Void
    ) {
        self.count = count
        self.seeders = max(1, min(seeders, count))
        self.root = root
        self.configuration = configuration
        self.modelPath = modelPath
        self.rpcURL = rpcURL
        self.logger = logger
        self.progress = progress
    }

    /// The peers running.
    var peers: [Peer] { state.withLock { $0.peers } }

    /// The directory of the user's wallet (dev account 1).
    var userDirectory: String { root.root + "/user" }

    /// The user's account.
    var userAccount: Address { configuration.network.devAccounts[Self.userIndex].address }

    /// The dev account of the user: 1.
    static let userIndex = 1

    /// The peers' names: `seeder` (whose store the sample is prepared in), `seeder-2` … `seeder-K`, then
    /// `inferencer-1` ….
    static func names(count: Int, seeders: Int) -> [String] {
        (0..<count).map { index in
            index == 0 ? "seeder" : index < seeders ? "seeder-\(index + 1)" : "inferencer-\(index - seeders + 1)"
        }
    }

    /// The wallet key of peer `index`: dev account 2 for the first peer, 9 for the second, then accounts 11 and up
    /// of the dev mnemonic (funded by dev account 0 when they hold nothing).
    func key(_ index: Int) throws(CLIError) -> Secp256k1PrivateKey {
        let config = configuration.network
        let position = index == 0 ? 2 : index == 1 ? 9 : 9 + index
        if position < config.devAccounts.count {
            do {
                return try Secp256k1PrivateKey(bytes: config.devAccounts[position].privateKey)
            } catch {
                throw .failure("dev account \(position): \(error)")
            }
        }
        guard let mnemonic = config.devMnemonic else {
            throw .failure("the network config has no dev mnemonic for peer \(index)")
        }
        do {
            return try HDWallet.ethereumKeys(mnemonic: mnemonic, count: position + 1)[position]
        } catch {
            throw .failure("deriving dev account \(position): \(error)")
        }
    }

    func start() throws(NodeError) {
        do throws(CLIError) {
            try launch()
        } catch {
            stop()
            throw .serviceFailed(service: name, reason: error)
        }
    }

    private func launch() throws(CLIError) {
        let url = rpcURL()
        let light: LightClient
        do {
            light = try LightClientFactory.client(
                configuration: configuration, rpcURL: url, checkpoint: nil, dataDirectory: nil)
        } catch {
            throw NodeOptions.failure(error)
        }
        let peersRoot = root.root + "/peers"
        let names = Self.names(count: count, seeders: seeders)
        let directories = names.map { peersRoot + "/" + $0 }
        for directory in directories {
            try? FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        }
        let keys = try (0..<count).map { index throws(CLIError) in try key(index) }
        for (key, directory) in zip(keys, directories) {
            try WalletCommand.node { () throws(NodeError) in
                try WalletKeyFile.importKey(key, at: DataDirectory(root: directory).walletKey, overwrite: true)
            }
        }
        let userKey: Secp256k1PrivateKey
        do {
            userKey = try Secp256k1PrivateKey(bytes: configuration.network.devAccounts[Self.userIndex].privateKey)
        } catch {
            throw .failure("dev account 1: \(error)")
        }
        try WalletCommand.node { () throws(NodeError) in
            try WalletKeyFile.importKey(userKey, at: DataDirectory(root: userDirectory).walletKey, overwrite: true)
        }
        try fund(keys, light: light)
        try stake(keys, light: light)
        // The sample goes into the seeders' stores before the seeders run (a store is its node's while it runs).
        let sample: DevnetSample.Sample
        do {
            let store = try ContentStore(directory: DataDirectory(root: directories[0]).contentStore)
            sample = try DevnetSample.prepare(
                light: light, config: configuration.network, seederStore: store, modelPath: modelPath,
                work: peersRoot, logger: logger, progress: progress)
            var shards: [AttributionIndex]?
            for directory in directories.prefix(seeders) {
                let index = DataDirectory(root: directory).attributionIndex(root: sample.snapshotRoot)
                guard (try? SnapshotIndexFiles.load(index)) == nil else { continue }
                if shards == nil {
                    let contents = try WalletCommand.node { () throws(NodeError) in
                        try DatanetContents.read(sample.datanetID, client: light, store: store)
                    }
                    shards = try WalletCommand.node { () throws(NodeError) in
                        try SnapshotIndexFiles.build(contents.records, root: sample.snapshotRoot)
                    }
                }
                _ = try WalletCommand.node { () throws(NodeError) in try SnapshotIndexFiles.write(shards!, to: index) }
            }
            for directory in directories.prefix(seeders).dropFirst() {
                try Self.replicatePins(
                    from: store, to: try ContentStore(directory: DataDirectory(root: directory).contentStore))
            }
        } catch let error as CLIError {
            throw error
        } catch {
            throw .failure("the seeders' content stores: \(error)")
        }
        self.sample = sample
        var seederAddresses: [String] = []
        for (index, name) in names.enumerated() {
            let isSeeder = index < seeders
            let role = isSeeder ? "seeder" : "inferencer"
            var arguments = [
                "node", "--role", role, "--data-dir", directories[index], "--listen", "/ip4/127.0.0.1/tcp/0",
                "--api-port", "0", "--rpc", url, "--config", configuration.path, "--log-format", "json",
            ]
            // Seeders join through the first one; inferencers through every seeder.
            for address in isSeeder ? Array(seederAddresses.prefix(1)) : seederAddresses {
                arguments += ["--bootstrap", address]
            }
            if isSeeder {
                arguments += [
                    "--attribution",
                    DataDirectory(root: directories[index]).attributionIndex(root: sample.snapshotRoot),
                ]
            } else {
                arguments += ["--model", modelPath, "--claim-batch", "20", "--claim-age", "60"]
            }
            var peer = try spawn(
                name: name, role: role, directory: directories[index], account: WalletKeyFile.address(of: keys[index]),
                arguments: arguments)
            // A restart reuses the ports the peer got, so that every address printed stays valid.
            peer.arguments = Self.pinningPorts(arguments, multiaddr: peer.multiaddr, api: peer.api)
            if isSeeder { seederAddresses.append(peer.multiaddr) }
            let started = peer
            state.withLock { $0.peers.append(started) }
            supervise(started)
        }
    }

    /// Copies every pinned DAG of `source` that `target` lacks, block by block (each verified by both stores), and
    /// pins it there for the same reason.
    static func replicatePins(from source: ContentStore, to target: ContentStore) throws {
        for pin in try source.pins() {
            if try target.missing(pin.root, limit: 1).isEmpty {
                _ = try target.pin(pin.root, reason: pin.reason)
                continue
            }
            var pending = [pin.root]
            var seen: Set<CID> = []
            while let cid = pending.popLast() {
                guard seen.insert(cid).inserted, let block = try source.get(cid) else { continue }
                if !(try target.has(cid)) { _ = try target.put([block]) }
                pending += ContentDAG.links(cid, block.bytes)
            }
            _ = try target.pin(pin.root, reason: pin.reason)
        }
    }

    /// `arguments` listening on the ports of `multiaddr` and `api` instead of port 0.
    static func pinningPorts(_ arguments: [String], multiaddr: String, api: String) -> [String] {
        var pinned = arguments
        let p2pPort = multiaddr.split(separator: "/").dropFirst(3).first.map(String.init)
        let apiPort = api.split(separator: ":").last.map(String.init)
        for index in pinned.indices.dropLast() {
            if pinned[index] == "--listen", let p2pPort { pinned[index + 1] = "/ip4/127.0.0.1/tcp/\(p2pPort)" }
            if pinned[index] == "--api-port", let apiPort { pinned[index + 1] = apiPort }
        }
        return pinned
    }

    /// Starts `peer` again when its process ends while the devnet runs (a crash, a kill -9), on the same ports and
    /// data directory; a peer that cannot start five times in a row is left stopped.
    private func supervise(_ peer: Peer) {
        peer.process.terminationHandler = { [weak self] process in
            guard let self, !self.state.withLock({ $0.stopping }) else { return }
            self.logger.warning(
                "peer exited",
                ["peer": peer.name, "status": "\(process.terminationStatus)", "pid": "\(process.processIdentifier)"])
            DispatchQueue.global().async { self.restart(peer) }
        }
    }

    private func restart(_ peer: Peer) {
        state.withLock { $0.restarting += 1 }
        defer { state.withLock { $0.restarting -= 1 } }
        for attempt in 1...5 {
            guard !state.withLock({ $0.stopping }) else { return }
            clock.sleep(seconds: 0.2 * Double(attempt))
            do {
                var again = try spawn(
                    name: peer.name, role: peer.role, directory: peer.directory, account: peer.account,
                    arguments: peer.arguments)
                again.arguments = peer.arguments
                again.restarts = peer.restarts + 1
                let restarted = again
                let kept = state.withLock { state -> Bool in
                    guard !state.stopping, let index = state.peers.firstIndex(where: { $0.name == peer.name }) else {
                        return false
                    }
                    state.peers[index] = restarted
                    return true
                }
                guard kept else {
                    Self.terminate(restarted.process)
                    return
                }
                logger.info("peer restarted", ["peer": peer.name, "restarts": "\(restarted.restarts)"])
                supervise(restarted)
                return
            } catch {
                logger.warning(
                    "peer restart failed", ["peer": peer.name, "attempt": "\(attempt)", "error": "\(error)"])
            }
        }
        logger.error("peer left stopped", ["peer": peer.name, "log": peer.directory + "/node.log"])
    }

    /// Gives peers without OPEN 10,000 OPEN from dev account 0 (the accounts beyond the genesis dev accounts).
    private func fund(_ keys: [Secp256k1PrivateKey], light: LightClient) throws(CLIError) {
        let funder: Secp256k1PrivateKey
        do {
            funder = try Secp256k1PrivateKey(bytes: configuration.network.devAccounts[0].privateKey)
        } catch {
            throw .failure("dev account 0: \(error)")
        }
        let amount = UInt256(10_000) * NetworkConfig.weiPerOpen
        for key in keys {
            let address = WalletKeyFile.address(of: key)
            try LightCommand.run { () throws(LightClientError) in
                guard try light.account(address, at: try light.syncHead()).account.balance == .zero else { return }
                let hash = try light.send(from: funder, to: address, value: amount)
                _ = try light.waitForInclusion(hash, timeoutSeconds: 60)
            }
        }
    }

    /// Stakes 1,000 OPEN for each peer's role that holds none: seeders attest, inferencers bond claims.
    private func stake(_ keys: [Secp256k1PrivateKey], light: LightClient) throws(CLIError) {
        let amount = UInt256(1_000) * NetworkConfig.weiPerOpen
        for (index, key) in keys.enumerated() {
            let role: Staking.Role = index < seeders ? .attester : .servingPeer
            let address = WalletKeyFile.address(of: key)
            let held = try LightCommand.run { () throws(LightClientError) in
                try light.read(Staking.StakeLayout.self, (address, role), at: try light.syncHead()).value.staked
            }
            guard held == .zero else { continue }
            let caller = ContractCaller(
                client: light, key: key, contract: Staking.defaultAddress,
                signature: { Staking.method(named: $0)?.signature })
            _ = try WalletCommand.node { () throws(NodeError) in
                try caller.submit(
                    "stake", value: amount, data: try caller.calldata("stake", [.uint(UInt256(role.rawValue))]))
            }
        }
    }
    /// Starts `openledger arguments` and waits for its four startup lines (role, peer, p2p, api); its standard error
    /// goes to the end of `DIR/node.log` and its process id to `DIR/node.pid`.
    private func spawn(name: String, role: String, directory: String, account: Address, arguments: [String])
        throws(CLIError) -> Peer
    {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: Self.executable())
        process.arguments = arguments
        let output = Pipe()
        process.standardOutput = output
        let logPath = directory + "/node.log"
        if !FileManager.default.fileExists(atPath: logPath) {
            _ = FileManager.default.createFile(atPath: logPath, contents: nil)
        }
        guard let log = FileHandle(forWritingAtPath: logPath) else { throw .failure("cannot write \(logPath)") }
        _ = try? log.seekToEnd()
        process.standardError = log
        let lines = Mutex<[String]>([])
        let ready = DispatchSemaphore(value: 0)
        let buffer = Mutex<[UInt8]>([])
        output.fileHandleForReading.readabilityHandler = { handle in
            let data = handle.availableData
            guard !data.isEmpty else {
                handle.readabilityHandler = nil
                ready.signal()
                return
            }
            let complete = buffer.withLock { bytes -> [String] in
                bytes += data
                var out: [String] = []
                while let newline = bytes.firstIndex(of: 0x0A), bytes.count < 1 << 16 {
                    out.append(String(decoding: bytes[..<newline], as: UTF8.self))
                    bytes.removeSubrange(...newline)
                }
                return out
            }
            let count = lines.withLock { all -> Int in
                all += complete
                return all.count
            }
            if count >= 4, !complete.isEmpty { ready.signal() }
        }
        do {
            try process.run()
        } catch {
            throw .failure("cannot start \(name): \(error)")
        }
        try? log.close()
        try? "\(process.processIdentifier)\n".write(toFile: directory + "/node.pid", atomically: true, encoding: .utf8)
        let timedOut = ready.wait(timeout: .now() + 120) == .timedOut
        let printed = lines.withLock { $0 }
        func field(_ key: String) -> String? {
            printed.first { $0.hasPrefix(key + ": ") }.map { String($0.dropFirst(key.count + 2)) }
        }
        guard !timedOut, let p2p = field("p2p"), let api = field("api") else {
            if process.isRunning { process.terminate() }
            throw .failure("\(name) did not start (see \(logPath))")
        }
        logger.info("peer started", ["peer": name, "p2p": p2p, "api": api, "pid": "\(process.processIdentifier)"])
        return Peer(
            name: name, role: role, directory: directory, account: account, multiaddr: p2p, api: api, process: process,
            arguments: arguments, restarts: 0)
    }

    /// Stops the peers in reverse (none is started again from then on): SIGTERM, then SIGKILL after 10 s.
    ///
    /// A restart under way is waited for (at most 30 s): it stops the peer it started itself.
    func stop() {
        let running = state.withLock { state -> [Peer] in
            state.stopping = true
            defer { state.peers = [] }
            return state.peers
        }
        for peer in running.reversed() { Self.terminate(peer.process) }
        let deadline = clock.now().advanced(bySeconds: 30)
        while state.withLock({ $0.restarting }) > 0, clock.now() < deadline { clock.sleep(seconds: 0.02) }
    }

    /// SIGTERM, then SIGKILL once `process` is still running 10 s later.
    private static func terminate(_ process: Process) {
        guard process.isRunning else { return }
        process.terminate()
        let clock = SystemClock()
        let deadline = clock.now().advanced(bySeconds: 10)
        while process.isRunning, clock.now() < deadline { clock.sleep(seconds: 0.02) }
        if process.isRunning { kill(process.processIdentifier, SIGKILL) }
    }

    /// This binary.
    static func executable() -> String {
        (try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe")) ?? CommandLine.arguments[0]
    }
}
