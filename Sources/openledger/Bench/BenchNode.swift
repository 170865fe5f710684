import Chain
import Codec
import Crypto
import Foundation
import HTTP
import LightClient
import Node
import Synchronization

/// `openledger bench node`: the assembled peer, on real processes: `devnet --peers 3` on a fresh directory to the
/// first paid answer, the first answer with an adapter not yet cached, peak RSS per role (a light peer, the seeder,
/// an inferencer with 16 cached adapters), and paid answers per second through one inferencer with 16 concurrent
/// users against free serving of the same requests in the same run.
enum BenchNode {
    static let command = CommandSpec(
        name: "node",
        summary: "The assembled peer: startup to the first paid answer, a cold adapter, RSS per role, paid vs free.",
        options: [
            InferCommand.modelOption,
            OptionSpec(name: "users", valueName: "N", help: "Concurrent users.", defaultValue: "16"),
            OptionSpec(name: "requests", valueName: "N", help: "Answers per user.", defaultValue: "4"),
            OptionSpec(name: "tokens", valueName: "N", help: "Completion tokens per answer.", defaultValue: "16"),
        ],
        action: { arguments, output throws(CLIError) in try run(arguments, output) })

    /// A devnet with peers, as a child process, and what its banner says.
    final class Devnet {
        let process: Process
        let directory: String
        var banner = ""
        var rpc = ""
        var apis: [String: String] = [:]
        var multiaddrs: [String: String] = [:]

        init(directory: String, model: String) throws(CLIError) {
            self.directory = directory
            process = Process()
            process.executableURL = URL(fileURLWithPath: DevnetPeers.executable())
            process.arguments = [
                "devnet", "--peers", "3", "--data-dir", directory, "--rpc-port", "0", "--model", model,
                "--log-level", "warning",
            ]
            let pipe = Pipe()
            process.standardOutput = pipe
            process.standardError = FileHandle(forWritingAtPath: "/dev/null")
            let text = Mutex("")
            let ready = DispatchSemaphore(value: 0)
            pipe.fileHandleForReading.readabilityHandler = { handle in
                let data = handle.availableData
                if data.isEmpty {
                    handle.readabilityHandler = nil
                    ready.signal()
                    return
                }
                let done = text.withLock {
                    $0 += String(decoding: data, as: UTF8.self)
                    return $0.contains("Listening.")
                }
                if done { ready.signal() }
            }
            do { try process.run() } catch { throw .failure("cannot start the devnet: \(error)") }
            guard ready.wait(timeout: .now() + 300) == .success else { throw .failure("the devnet did not start") }
            banner = text.withLock { $0 }
            guard let url = banner.firstMatch(of: #/RPC URL:\s+(http://127\.0\.0\.1:\d+)/#)?.1 else {
                throw .failure("the devnet printed no RPC URL:\n\(banner)")
            }
            rpc = String(url)
            for match in banner.matches(of: #/\n  (\S+)\s+API (http://\S+)\s+(/ip4/\S+)/#) {
                apis[String(match.1)] = String(match.2)
                multiaddrs[String(match.1)] = String(match.3)
            }
        }

        func stop() {
            guard process.isRunning else { return }
            process.terminate()
            process.waitUntilExit()
        }
    }

    /// One paying user: a wallet, its store and a channel client.
    struct User {
        let client: PayingClient
        let light: LightClient

        /// Asks `model` one question of `tokens` completion tokens, paying; returns whether a receipt came back.
        func ask(_ model: String, tokens: Int, question: String) throws(CLIError) -> Bool {
            let offers = try paying { () throws(PayingClient.Failure) in try client.offers() }
            guard let offer = PayingClient.Offer.choose(model, in: offers) else {
                throw .failure("no offer for \(model)")
            }
            let body = Array(
                (try? JSONSerialization.data(
                    withJSONObject: [
                        "model": model, "messages": [["role": "user", "content": question]], "max_tokens": tokens,
                        "temperature": 0, "seed": 1,
                    ] as [String: Any], options: [.sortedKeys])) ?? Data())
            let channel = try paying { () throws(PayingClient.Failure) in
                try client.channel(to: offer.payee, chainId: offer.chainId)
            }
            let (payment, _) = try paying { () throws(PayingClient.Failure) in
                try client.pay(path: "/v1/chat/completions", body: body, channel: channel)
            }
            guard let payment else { return false }
            let response = try paying { () throws(PayingClient.Failure) in
                try client.send(path: "/v1/chat/completions", body: body, payment: payment)
            }
            return response.status == 200 && response.header(SignedReceipt.headerName) != nil
        }

        func paying<R>(_ body: () throws(PayingClient.Failure) -> R) throws(CLIError) -> R {
            do {
                return try body()
            } catch {
                throw .failure("\(error)")
            }
        }
    }

    static func run(_ arguments: ParsedArguments, _ output: CommandOutput) throws(CLIError) {
        let model = arguments.string("model") ?? InferCommand.defaultModelPath()
        let users = try arguments.int("users", in: 1...64) ?? 16
        let requests = try arguments.int("requests", in: 1...100) ?? 4
        let tokens = try arguments.int("tokens", in: 1...256) ?? 16
        let root = FileManager.default.temporaryDirectory.appendingPathComponent("openledger-bench-node-\(getpid())")
            .path
        try? FileManager.default.removeItem(atPath: root)
        defer { try? FileManager.default.removeItem(atPath: root) }
        let configuration = try NodeOptions.configuration(arguments)

        // 1. A fresh devnet with three peers to the first paid answer.
        let start = Date()
        let devnet = try Devnet(directory: root + "/devnet", model: model)
        defer { devnet.stop() }
        let started = Date().timeIntervalSince(start)
        guard let first = devnet.apis["inferencer-1"], let second = devnet.apis["inferencer-2"],
            let seeder = devnet.multiaddrs["seeder"]
        else { throw .failure("the banner lists no inferencers:\n\(devnet.banner)") }
        let light = try makeLight(configuration, devnet.rpc)
        let user = try makeUser(
            key: try key(configuration.network.devAccounts[1].privateKey), endpoint: first, light: light,
            directory: root + "/user")
        guard try user.ask("adapter-1", tokens: tokens, question: "What is a Datanet?") else {
            throw .failure("the first paid answer failed")
        }
        let firstAnswer = Date().timeIntervalSince(start)
        output.line(
            BenchFigure(
                bench: "node_run_to_first_paid_answer", unit: .milliseconds, value: firstAnswer * 1000,
                details: ["devnet_and_peers_ms": String(format: "%.0f", started * 1000), "target_ms": "30000"]
            ).jsonLine(references: []))

        // 2. A cold adapter: the second inferencer has not loaded it (fetch, check, load, prefill), then warm.
        let coldUser = try makeUser(
            key: try key(configuration.network.devAccounts[1].privateKey), endpoint: second, light: light,
            directory: root + "/user")
        _ = try coldUser.ask(ServeCommand.modelName(path: model), tokens: 1, question: "Hello")  // opens the channel
        var clock = Date()
        guard try coldUser.ask("adapter-1", tokens: 1, question: "What is a Datanet?") else {
            throw .failure("the cold adapter's answer failed")
        }
        let cold = Date().timeIntervalSince(clock)
        clock = Date()
        _ = try coldUser.ask("adapter-1", tokens: 1, question: "What is a Datanet?")
        let warm = Date().timeIntervalSince(clock)
        output.line(
            BenchFigure(
                bench: "node_first_answer_uncached_adapter", unit: .milliseconds, value: cold * 1000,
                details: ["target_ms": "2000"]
            ).jsonLine(references: [
                BenchFigure(bench: "", unit: .milliseconds, value: warm * 1000, implementation: "same adapter cached")
            ]))

        // 3. Peak RSS per role: a light peer joining the devnet, the seeder, an inferencer with 16 adapters.
        let lightNode = Process()
        lightNode.executableURL = URL(fileURLWithPath: DevnetPeers.executable())
        lightNode.arguments = [
            "node", "--role", "light", "--data-dir", root + "/light", "--rpc", devnet.rpc, "--bootstrap", seeder,
            "--listen", "/ip4/127.0.0.1/tcp/0", "--api-port", "0", "--config", configuration.path,
        ]
        lightNode.standardOutput = FileHandle(forWritingAtPath: "/dev/null")
        lightNode.standardError = FileHandle(forWritingAtPath: "/dev/null")
        do { try lightNode.run() } catch { throw .failure("cannot start a light node: \(error)") }
        try publishCopies(16, of: 1, configuration: configuration, light: light)
        for id in 2...17 {
            _ = try coldUser.ask("adapter-\(id)", tokens: 1, question: "Hello")
        }
        Thread.sleep(forTimeInterval: 5)
        let lightRSS = peakRSS(lightNode.processIdentifier)
        lightNode.terminate()
        lightNode.waitUntilExit()
        let seederRSS = peakRSS(pid(of: devnet.directory + "/peers/seeder"))
        let inferencerRSS = peakRSS(pid(of: devnet.directory + "/peers/inferencer-2"))
        for (role, rss, target) in [
            ("light", lightRSS, "64"), ("seeder", seederRSS, ""), ("inferencer_16_adapters", inferencerRSS, "300"),
        ] {
            var details = ["role": role]
            if !target.isEmpty { details["target_mb"] = target }
            output.line(
                BenchFigure(bench: "node_peak_rss_\(role)", unit: .megabytes, value: rss, details: details)
                    .jsonLine(references: []))
        }

        // 4. Paid answers per second, `users` at once through the first inferencer, against free serving.
        let funded = try fundUsers(users, configuration: configuration, light: light)
        var paying: [User] = []
        for (index, key) in funded.enumerated() {
            paying.append(
                try makeUser(key: key, endpoint: first, light: light, directory: root + "/users/\(index)"))
        }
        for user in paying { _ = try user.ask("adapter-1", tokens: 1, question: "warm up") }
        let everyone = paying
        let paid = try throughput(users: users, requests: requests) { index, request throws(CLIError) in
            try everyone[index].ask("adapter-1", tokens: tokens, question: "Question \(request) of user \(index)")
        }
        let free = try freeThroughput(
            users: users, requests: requests, tokens: tokens, model: model, seeder: seeder, rpc: devnet.rpc,
            configuration: configuration, root: root)
        output.line(
            BenchFigure(
                bench: "node_paid_answers_per_second", unit: .operationsPerSecond, value: paid,
                details: ["users": "\(users)", "tokens": "\(tokens)"]
            ).jsonLine(references: [
                BenchFigure(bench: "", unit: .operationsPerSecond, value: free, implementation: "free serving")
            ]))
    }

    /// Answers per second of `users` threads each doing `requests` answers through `ask`.
    static func throughput(
        users: Int, requests: Int, ask: @escaping @Sendable (Int, Int) throws(CLIError) -> Bool
    )
        throws(CLIError) -> Double
    {
        let failures = Atomic<Int>(0)
        let start = Date()
        DispatchQueue.concurrentPerform(iterations: users) { index in
            for request in 0..<requests {
                do {
                    if try !ask(index, request) { failures.add(1, ordering: .relaxed) }
                } catch {
                    failures.add(1, ordering: .relaxed)
                }
            }
        }
        let seconds = Date().timeIntervalSince(start)
        guard failures.load(ordering: .relaxed) == 0 else {
            throw .failure("\(failures.load(ordering: .relaxed)) of \(users * requests) answers failed")
        }
        return Double(users * requests) / seconds
    }

    /// The same requests against a free inferencer started for the purpose (same model, same adapter).
    static func freeThroughput(
        users: Int, requests: Int, tokens: Int, model: String, seeder: String, rpc: String,
        configuration: NodeConfiguration, root: String
    ) throws(CLIError) -> Double {
        let node = Process()
        node.executableURL = URL(fileURLWithPath: DevnetPeers.executable())
        node.arguments = [
            "node", "--role", "inferencer", "--free", "--data-dir", root + "/free", "--rpc", rpc, "--bootstrap",
            seeder, "--listen", "/ip4/127.0.0.1/tcp/0", "--api-port", "0", "--model", model, "--config",
            configuration.path, "--log-level", "warning",
        ]
        let pipe = Pipe()
        node.standardOutput = pipe
        node.standardError = FileHandle(forWritingAtPath: "/dev/null")
        do { try node.run() } catch { throw .failure("cannot start a free inferencer: \(error)") }
        defer {
            node.terminate()
            node.waitUntilExit()
        }
        var printed = ""
        while !printed.contains("api: ") || !printed.hasSuffix("\n") {
            let data = pipe.fileHandleForReading.availableData
            if data.isEmpty { throw .failure("the free inferencer did not start") }
            printed += String(decoding: data, as: UTF8.self)
        }
        guard let api = printed.firstMatch(of: #/api: http://127\.0\.0\.1:(\d+)/#), let port = Int(api.1) else {
            throw .failure("the free inferencer printed no API")
        }
        @Sendable func ask(_ question: String, _ count: Int) -> Bool {
            let body = Array(
                (try? JSONSerialization.data(
                    withJSONObject: [
                        "model": "adapter-1", "messages": [["role": "user", "content": question]],
                        "max_tokens": count, "temperature": 0, "seed": 1,
                    ] as [String: Any])) ?? Data())
            let response = try? HTTPClient(host: "127.0.0.1", port: port, timeoutSeconds: 300).send(
                method: "POST", path: "/v1/chat/completions", headers: [("Content-Type", "application/json")],
                body: body)
            return response?.status == 200
        }
        guard ask("warm up", 1) else { throw .failure("the free inferencer does not answer") }
        return try throughput(users: users, requests: requests) { index, request in
            ask("Question \(request) of user \(index)", tokens)
        }
    }

    static func makeLight(_ configuration: NodeConfiguration, _ rpc: String) throws(CLIError) -> LightClient {
        do {
            return try LightClientFactory.client(
                configuration: configuration, rpcURL: rpc, checkpoint: nil, dataDirectory: nil)
        } catch {
            throw NodeOptions.failure(error)
        }
    }

    static func key(_ bytes: [UInt8]) throws(CLIError) -> Secp256k1PrivateKey {
        do { return try Secp256k1PrivateKey(bytes: bytes) } catch { throw .failure("\(error)") }
    }

    static func makeUser(key: Secp256k1PrivateKey, endpoint: String, light: LightClient, directory: String)
        throws(CLIError) -> User
    {
        try? FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        let store = try WalletCommand.node { () throws(NodeError) in
            try PayerStore(path: DataDirectory(root: directory).payerStore)
        }
        let channels = ChannelClient(client: light, key: key, store: store)
        do {
            let client = try PayingClient(
                endpoint: endpoint, key: key, store: store, channels: channels,
                deposit: UInt256(1) * NetworkConfig.weiPerOpen)
            return User(client: client, light: light)
        } catch {
            throw .failure("\(error)")
        }
    }

    /// `count` keys of the dev mnemonic from index 40, each given 10 OPEN by dev account 0.
    static func fundUsers(_ count: Int, configuration: NodeConfiguration, light: LightClient) throws(CLIError)
        -> [Secp256k1PrivateKey]
    {
        guard let mnemonic = configuration.network.devMnemonic else { throw .failure("no dev mnemonic") }
        let keys: [Secp256k1PrivateKey]
        do {
            keys = Array(try HDWallet.ethereumKeys(mnemonic: mnemonic, count: 40 + count).suffix(count))
        } catch {
            throw .failure("\(error)")
        }
        let funder = try key(configuration.network.devAccounts[0].privateKey)
        try LightCommand.run { () throws(LightClientError) in
            var hashes: [[UInt8]] = []
            for key in keys {
                hashes.append(
                    try light.send(
                        from: funder, to: WalletKeyFile.address(of: key), value: UInt256(10) * NetworkConfig.weiPerOpen)
                )
            }
            for hash in hashes { _ = try light.waitForInclusion(hash, timeoutSeconds: 60) }
        }
        return keys
    }

    /// Publishes `count` more adapters with adapter `id`'s file (its CID) on its base model, from dev account 0.
    static func publishCopies(
        _ count: Int, of id: UInt256, configuration: NodeConfiguration, light: LightClient
    ) throws(CLIError) {
        let owner = try key(configuration.network.devAccounts[0].privateKey)
        let (record, _) = try LightCommand.run { () throws(LightClientError) in
            try light.read(ModelRegistry.AdapterLayout.self, id, at: try light.syncHead())
        }
        guard let record else { throw .failure("no adapter \(id)") }
        let caller = ContractCaller(
            client: light, key: owner, contract: ModelRegistry.defaultAddress,
            signature: { ModelRegistry.method(named: $0)?.signature })
        for _ in 0..<count {
            _ = try WalletCommand.node { () throws(NodeError) in
                try caller.submit(
                    "publishAdapter",
                    data: try caller.calldata(
                        "publishAdapter",
                        [
                            .bytes(record.cid), .uint(record.baseModelID),
                            .array(record.datanetRoots.map { .fixedBytes($0) }), .uint(.zero),
                        ]))
            }
        }
    }

    /// The pid of the `openledger node` whose `--data-dir` is `directory`.
    static func pid(of directory: String) -> Int32 {
        for entry in (try? FileManager.default.contentsOfDirectory(atPath: "/proc")) ?? [] {
            guard let pid = Int32(entry),
                let data = FileManager.default.contents(atPath: "/proc/\(entry)/cmdline")
            else { continue }
            let parts = data.split(separator: 0).map { String(decoding: $0, as: UTF8.self) }
            if parts.contains("node"), let index = parts.firstIndex(of: "--data-dir"), index + 1 < parts.count,
                parts[index + 1] == directory
            {
                return pid
            }
        }
        return -1
    }

    /// VmHWM of `pid` in MB (0 when it cannot be read).
    static func peakRSS(_ pid: Int32) -> Double {
        guard let text = try? String(contentsOfFile: "/proc/\(pid)/status", encoding: .utf8),
            let line = text.split(separator: "\n").first(where: { $0.hasPrefix("VmHWM:") }),
            let kilobytes = Double(line.split(separator: " ").dropFirst().first ?? "")
        else { return 0 }
        return kilobytes / 1024
    }
}
