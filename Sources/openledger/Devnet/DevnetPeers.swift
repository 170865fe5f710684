import Attribution
import AttributionRules
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
/// each an `openledger node` process of its own (one seeder, the rest inferencers), with its own data directory and
/// dev-account wallet; stopped in reverse when the devnet stops (docs/devnet-peers.md).
final class DevnetPeers: Service, @unchecked Sendable {
    let name = "peers"

    /// One running peer.
    struct Peer {
        /// `seeder` or `inferencer-K`.
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
    }

    /// What the peers serve, once started.
    private(set) var sample: DevnetSample.Sample?
    private let state = Mutex<[Peer]>([])
    private let count: Int
    private let root: DataDirectory
    private let rpcURL: @Sendable () -> String
    private let configuration: NodeConfiguration
    private let modelPath: String
    private let logger: Logger
    private let progress: @Sendable (String) -> Void

    /// N peers for the devnet whose JSON-RPC `rpcURL` gives, under `root/peers`.
    init(
        count: Int, root: DataDirectory, configuration: NodeConfiguration, modelPath: String,
        rpcURL: @escaping @Sendable () -> String, logger: Logger, progress: @escaping @Sendable (String) -> Void
    ) {
        self.count = count
        self.root = root
        self.configuration = configuration
        self.modelPath = modelPath
        self.rpcURL = rpcURL
        self.logger = logger
        self.progress = progress
    }

    /// The peers running.
    var peers: [Peer] { state.withLock { $0 } }

    /// The directory of the user's wallet (dev account 1).
    var userDirectory: String { root.root + "/user" }

    /// The user's account.
    var userAccount: Address { configuration.network.devAccounts[Self.userIndex].address }

    /// The dev account of the user: 1.
    static let userIndex = 1

    /// The wallet key of peer `index`: dev account 2 for the seeder, 9 for the first inferencer, then accounts 10 and
    /// up of the dev mnemonic (funded by dev account 0 when they hold nothing).
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
        let names = (0..<count).map { $0 == 0 ? "seeder" : "inferencer-\($0)" }
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
        // The sample goes into the seeder's store before the seeder runs (the store is the node's while it runs).
        let sample: DevnetSample.Sample
        do {
            let store = try ContentStore(directory: DataDirectory(root: directories[0]).contentStore)
            sample = try DevnetSample.prepare(
                light: light, config: configuration.network, seederStore: store, modelPath: modelPath,
                work: peersRoot, logger: logger, progress: progress)
            let index = DataDirectory(root: directories[0]).attributionIndex(root: sample.snapshotRoot)
            if (try? SnapshotIndexFiles.load(index)) == nil {
                let contents = try WalletCommand.node { () throws(NodeError) in
                    try DatanetContents.read(sample.datanetID, client: light, store: store)
                }
                let shards = try AttributionIndexing.build(contents.records)
                _ = try WalletCommand.node { () throws(NodeError) in try SnapshotIndexFiles.write(shards, to: index) }
            }
        } catch let error as CLIError {
            throw error
        } catch {
            throw .failure("the seeder's content store: \(error)")
        }
        self.sample = sample
        let seederIndex = DataDirectory(root: directories[0]).attributionIndex(root: sample.snapshotRoot)
        var bootstrap: String?
        for (index, name) in names.enumerated() {
            let role = index == 0 ? "seeder" : "inferencer"
            var arguments = [
                "node", "--role", role, "--data-dir", directories[index], "--listen", "/ip4/127.0.0.1/tcp/0",
                "--api-port", "0", "--rpc", url, "--config", configuration.path, "--log-format", "json",
            ]
            if let bootstrap { arguments += ["--bootstrap", bootstrap] }
            if index == 0 {
                arguments += ["--attribution", seederIndex]
            } else {
                arguments += ["--model", modelPath, "--claim-batch", "20", "--claim-age", "60"]
            }
            let peer = try spawn(
                name: name, role: role, directory: directories[index], account: WalletKeyFile.address(of: keys[index]),
                arguments: arguments)
            if index == 0 { bootstrap = peer.multiaddr }
            state.withLock { $0.append(peer) }
        }
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

    /// Stakes 1,000 OPEN for each peer's role that holds none: the seeder attests, inferencers bond claims.
    private func stake(_ keys: [Secp256k1PrivateKey], light: LightClient) throws(CLIError) {
        let amount = UInt256(1_000) * NetworkConfig.weiPerOpen
        for (index, key) in keys.enumerated() {
            let role: Staking.Role = index == 0 ? .attester : .servingPeer
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

    /// Starts `openledger arguments` and waits for its four startup lines (role, peer, p2p, api).
    private func spawn(name: String, role: String, directory: String, account: Address, arguments: [String])
        throws(CLIError) -> Peer
    {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: Self.executable())
        process.arguments = arguments
        let output = Pipe()
        process.standardOutput = output
        let logPath = directory + "/node.log"
        _ = FileManager.default.createFile(atPath: logPath, contents: nil)
        guard let log = FileHandle(forWritingAtPath: logPath) else { throw .failure("cannot write \(logPath)") }
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
        let timedOut = ready.wait(timeout: .now() + 120) == .timedOut
        let printed = lines.withLock { $0 }
        func field(_ key: String) -> String? {
            printed.first { $0.hasPrefix(key + ": ") }.map { String($0.dropFirst(key.count + 2)) }
        }
        guard !timedOut, let p2p = field("p2p"), let api = field("api") else {
            if process.isRunning { process.terminate() }
            throw .failure("\(name) did not start (see \(logPath))")
        }
        logger.info("peer started", ["peer": name, "p2p": p2p, "api": api])
        return Peer(
            name: name, role: role, directory: directory, account: account, multiaddr: p2p, api: api, process: process)
    }

    /// Stops the peers in reverse: SIGTERM, then SIGKILL after 10 s.
    func stop() {
        let running = state.withLock { peers -> [Peer] in
            defer { peers = [] }
            return peers
        }
        for peer in running.reversed() where peer.process.isRunning {
            peer.process.terminate()
            let deadline = Date().addingTimeInterval(10)
            while peer.process.isRunning, Date() < deadline { usleep(20_000) }
            if peer.process.isRunning { kill(peer.process.processIdentifier, SIGKILL) }
        }
    }

    /// This binary.
    static func executable() -> String {
        (try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe")) ?? CommandLine.arguments[0]
    }
}

/// Building a snapshot's attribution index on every core.
enum AttributionIndexing {
    /// The index of `records`.
    static func build(_ records: [Record]) throws(CLIError) -> [AttributionIndex] {
        do {
            return try AttributionIndex.build(
                records: records, maxShardBytes: 64 << 20, threads: ProcessInfo.processInfo.activeProcessorCount)
        } catch {
            throw .failure("indexing the snapshot: \(error)")
        }
    }
}
