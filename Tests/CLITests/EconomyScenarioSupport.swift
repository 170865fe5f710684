import AttributionRules
import Chain
import ChainNode
import Codec
import Crypto
import Foundation
import LightClient
import Node
import Synchronization
import TestSupport
import Testing

#if canImport(Glibc)
    import Glibc
#endif

/// The devnet's mnemonic: dev accounts 0 … 9 and the derived accounts the tests give their own peers.
let economyMnemonic = "test test test test test test test test test test test junk"

/// A network config for the scenario: the devnet's, with a 60 s challenge window and a quorum of every attester's
/// stake (so a claim finalizes early only once every seeder attested), written to `directory`.
func scenarioConfig(in directory: String) throws -> String {
    let source = Fixtures.packageRoot.appendingPathComponent("netconfig/devnet.json")
    var json = try #require(try JSONSerialization.jsonObject(with: Data(contentsOf: source)) as? [String: Any])
    var parameters = try #require(json["parameters"] as? [String: Any])
    parameters["claimChallengeWindowSeconds"] = 60
    json["parameters"] = parameters
    json["economy"] = ["attestationQuorumBasisPoints": "10000"]
    let path = directory + "/network.json"
    try JSONSerialization.data(withJSONObject: json, options: [.prettyPrinted, .sortedKeys]).write(
        to: URL(fileURLWithPath: path))
    return path
}

/// A running `openledger devnet --peers N --seeders K`: the banner's RPC URL and peers.
final class EconomyDevnet: @unchecked Sendable {
    /// One peer as the banner prints it.
    struct Peer {
        var name: String
        var api: String
        var multiaddr: String
        var account: Address
        var directory: String
        var port: Int { Int(api.split(separator: ":").last ?? "") ?? 0 }
        /// The process id the devnet wrote for the peer's current process.
        var pid: Int32? {
            (try? String(contentsOfFile: directory + "/node.pid", encoding: .utf8)).flatMap {
                Int32($0.trimmingCharacters(in: .whitespacesAndNewlines))
            }
        }
    }

    let process: ChildProcess
    let root: String
    let config: String
    let rpc: String
    let rpcPort: Int
    let peers: [String: Peer]
    var user: String { root + "/user" }

    /// Starts the devnet in `root` with `config` and waits for its banner.
    init(root: String, config: String, peers: Int, seeders: Int, model: String) throws {
        self.root = root
        self.config = config
        let process = try ChildProcess(
            DevnetProcess.binary,
            [
                "devnet", "--peers", "\(peers)", "--seeders", "\(seeders)", "--data-dir", root, "--rpc-port", "0",
                "--block-time", "100ms", "--config", config, "--model", model,
            ])
        self.process = process
        let listening = poll(timeout: 300) { process.output.contains("Listening.") || !process.process.isRunning }
        let banner = process.output
        guard listening, process.process.isRunning else {
            throw ScenarioFailure("the devnet did not start: \(banner) \(process.errors.suffix(3_000))")
        }
        let lines = banner.split(separator: "\n").map(String.init)
        guard let rpcLine = lines.first(where: { $0.hasPrefix("RPC URL:") }),
            let url = rpcLine.split(separator: " ").last.map(String.init)
        else { throw ScenarioFailure("no RPC URL in \(banner)") }
        rpc = url
        rpcPort = Int(url.split(separator: ":").last ?? "") ?? 0
        var found: [String: Peer] = [:]
        for (index, line) in lines.enumerated() where line.contains(" API http://") && index + 1 < lines.count {
            let fields = line.split(separator: " ", omittingEmptySubsequences: true).map(String.init)
            let next = lines[index + 1].split(separator: " ", omittingEmptySubsequences: true).map(String.init)
            guard fields.count == 4, next.count == 4, next[0] == "account" else { continue }
            found[fields[0]] = Peer(
                name: fields[0], api: fields[2], multiaddr: fields[3],
                account: try Address(hex: String(next[1].dropLast())), directory: next[3])
        }
        self.peers = found
        guard found.count == peers else { throw ScenarioFailure("\(found.count) peers in \(banner)") }
    }

    /// The peer named `name`.
    func peer(_ name: String) throws -> Peer { try #require(peers[name], "no peer \(name)") }

    /// SIGTERM, as Ctrl-C would stop it; its exit status.
    func stop() -> Int32 {
        process.process.terminate()
        return process.wait(timeout: patientSeconds)
    }

    /// `openledger` with `arguments`, then `--rpc` and `--config` of this devnet.
    func run(_ arguments: [String]) throws -> (status: Int32, stdout: String, stderr: String) {
        try DevnetProcess.run(arguments + ["--rpc", rpc, "--config", config])
    }

    /// A light client of this devnet, trusting its config's genesis.
    func lightClient() throws -> LightClient {
        let configuration = try NodeConfiguration(
            path: config, contents: Data(contentsOf: URL(fileURLWithPath: config)))
        return try LightClientFactory.client(configuration: configuration, rpcURL: rpc)
    }

    /// The network config the devnet runs.
    func network() throws -> NetworkConfig {
        try NetworkConfig.parse(Data(contentsOf: URL(fileURLWithPath: config)))
    }

    /// The withdrawable rewards of `address`, as `openledger light rewards` proves them.
    func rewards(_ address: Address) throws -> UInt256 {
        let result = try run(["light", "rewards", address.checksummed, "--json"])
        let object = try #require(
            try JSONSerialization.jsonObject(with: Data(result.stdout.utf8)) as? [String: Any], "\(result.stderr)")
        return try #require((object["rewardsWei"] as? String).flatMap { UInt256(decimal: $0) })
    }
}

/// A failure of the scenario's set-up, with what was seen.
struct ScenarioFailure: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
}

/// The text of GET `path` on 127.0.0.1:`port`, nil when nothing answers.
func httpGet(_ port: Int, _ path: String) -> String? {
    guard let client = HTTPTestClient(port: port, timeoutSeconds: 10),
        client.send(Array("GET \(path) HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n".utf8)),
        let response = client.readResponse(), response.status == 200
    else { return nil }
    return String(decoding: response.body, as: UTF8.self)
}

/// The value of the sample `name` (with its labels, if any, as written) in a Prometheus text; nil when absent.
func metric(_ text: String, _ name: String) -> Double? {
    for line in text.split(separator: "\n") where line.hasPrefix(name + " ") {
        return Double(line.dropFirst(name.count + 1))
    }
    return nil
}

/// The value of metric `name` of the node whose API listens on `port` (0 when it cannot be read).
func nodeMetric(_ port: Int, _ name: String) -> Double { httpGet(port, "/metrics").flatMap { metric($0, name) } ?? 0 }

/// Peak resident memory of `pid` in kB (VmHWM).
func peakResidentKilobytes(_ pid: Int32) -> Int? {
    guard let text = try? String(contentsOfFile: "/proc/\(pid)/status", encoding: .utf8) else { return nil }
    for line in text.split(separator: "\n") where line.hasPrefix("VmHWM:") {
        return Int(line.split(separator: " ", omittingEmptySubsequences: true)[1])
    }
    return nil
}

/// The value after `prefix` on the first line of `process`'s output that starts with it, waiting for it.
func printedLine(_ process: ChildProcess, _ prefix: String) throws -> String {
    var value: String?
    poll {
        value = process.output.split(separator: "\n").first { $0.hasPrefix(prefix) }.map {
            String($0.dropFirst(prefix.count))
        }
        return value != nil || !process.process.isRunning
    }
    guard let value else { throw ScenarioFailure("no '\(prefix)' line in: \(process.output) \(process.errors)") }
    return value
}

/// Questions whose answers repeat a sentence of the sample Datanet's records, so that they are attributed: the first
/// sentence (at most 160 bytes) of every `stride`-th record, `count` of them from `offset`.
func sampleQuestions(count: Int, offset: Int = 0, stride: Int = 13) throws -> [String] {
    let text = try String(
        contentsOf: Fixtures.packageRoot.appendingPathComponent("netconfig/sample-datanet/records.jsonl"),
        encoding: .utf8)
    let records = text.split(separator: "\n").compactMap { line -> String? in
        guard let object = try? JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any] else {
            return nil
        }
        return (object["text"] as? String) ?? (object["response"] as? String)
    }
    return (0..<count).map { index in
        let record = records[(offset + index * stride) % records.count]
        var sentence = record.split(separator: ".").first.map(String.init) ?? record
        while sentence.utf8.count > 160 { sentence.removeLast() }
        return "Repeat exactly: \"\(sentence).\""
    }
}

/// The accounts of the dev mnemonic up to `count`, with their keys.
func mnemonicKeys(count: Int) throws -> [Secp256k1PrivateKey] {
    try HDWallet.ethereumKeys(mnemonic: economyMnemonic, count: count)
}

// MARK: Supply

/// Σ of every account's balance in the state at the chain store's head, the burned total, and how many accounts.
///
/// Walks the whole state trie (every leaf is an account), so no account can be left out of the sum.
func supplyAtHead(chainStore path: String) throws -> (balances: UInt256, burned: UInt256, accounts: Int, block: UInt64)
{
    let store = try ChainStore(path: path)
    let head = try #require(try store.headNumber())
    let block = try #require(try store.block(number: head)).block
    let root = block.header.stateRoot
    func load(_ hash: [UInt8]) throws -> RLPItem {
        let encoding = try #require(try store.node(hash: hash), "state node \(Hex.encode(hash)) missing")
        return try RLP.decode(encoding)
    }
    func child(_ reference: RLPItem) throws -> RLPItem? {
        switch reference {
        case .bytes(let bytes) where bytes.count == 32: return try load(bytes)
        case .bytes: return nil
        case .list: return reference
        }
    }
    var total = UInt256.zero
    var accounts = 0
    var pending = [try load(root)]
    while let node = pending.popLast() {
        guard case .list(let items) = node else { continue }
        if items.count == 17 {
            for reference in items.prefix(16) { if let next = try child(reference) { pending.append(next) } }
        } else if items.count == 2, case .bytes(let path) = items[0] {
            if (path.first ?? 0) >> 4 >= 2 {
                guard case .bytes(let value) = items[1] else { throw ScenarioFailure("a leaf without a value") }
                total += try Account(encoded: value).balance
                accounts += 1
            } else if let next = try child(items[1]) {
                pending.append(next)
            }
        }
    }
    let state = WorldState(stateRoot: root, source: store)
    return (total, try StateTransition.burned(state), accounts, head)
}

// MARK: A cuttable TCP relay

/// A TCP relay on 127.0.0.1 to a local port, for cutting a client off its server: `cut()` closes the listener and
/// every connection, as a failed link would.
final class TCPRelay: @unchecked Sendable {
    /// The relay's port.
    let port: Int
    private let listener: Int32
    private let target: Int
    private let sockets = Mutex<(open: Set<Int32>, cut: Bool)>(([], false))

    /// A relay to 127.0.0.1:`target`, accepting at once.
    init(to target: Int) throws {
        self.target = target
        let listener = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        self.listener = listener
        var one: Int32 = 1
        setsockopt(listener, SOL_SOCKET, SO_REUSEADDR, &one, socklen_t(MemoryLayout<Int32>.size))
        var address = Self.loopback(port: 0)
        let bound = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                bind(listener, $0, socklen_t(MemoryLayout<sockaddr_in>.size))
            }
        }
        guard bound == 0, listen(listener, 64) == 0 else { throw ScenarioFailure("relay: cannot listen") }
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        _ = withUnsafeMutablePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(listener, $0, &length) }
        }
        port = Int(UInt16(bigEndian: address.sin_port))
        let thread = Thread { [self] in acceptLoop() }
        thread.start()
    }

    deinit { cut() }

    /// Closes the listener and every relayed connection; nothing is relayed after it.
    func cut() {
        let (open, first) = sockets.withLock { state -> (Set<Int32>, Bool) in
            guard !state.cut else { return ([], false) }
            state.cut = true
            defer { state.open = [] }
            return (state.open, true)
        }
        guard first else { return }
        shutdown(listener, Int32(SHUT_RDWR))
        close(listener)
        for fd in open {
            shutdown(fd, Int32(SHUT_RDWR))
            close(fd)
        }
    }

    private static func loopback(port: Int) -> sockaddr_in {
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = in_port_t(UInt16(port).bigEndian)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        return address
    }

    private func acceptLoop() {
        while true {
            let client = accept(listener, nil, nil)
            guard client >= 0 else { return }
            let upstream = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
            var address = Self.loopback(port: target)
            let connected = withUnsafePointer(to: &address) {
                $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                    connect(upstream, $0, socklen_t(MemoryLayout<sockaddr_in>.size))
                }
            }
            let kept = sockets.withLock { state -> Bool in
                guard !state.cut, connected == 0 else { return false }
                state.open.formUnion([client, upstream])
                return true
            }
            guard kept else {
                close(client)
                close(upstream)
                continue
            }
            for (from, to) in [(client, upstream), (upstream, client)] {
                let pump = Thread { [self] in relay(from, to) }
                pump.start()
            }
        }
    }

    private func relay(_ from: Int32, _ to: Int32) {
        var buffer = [UInt8](repeating: 0, count: 65_536)
        while true {
            let count = buffer.withUnsafeMutableBytes { recv(from, $0.baseAddress, $0.count, 0) }
            guard count > 0 else { break }
            var offset = 0
            while offset < count {
                let sent = buffer[offset..<count].withUnsafeBytes {
                    send(to, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL))
                }
                guard sent > 0 else { break }
                offset += sent
            }
            guard offset == count else { break }
        }
        // Either side ending ends both directions.
        let mine = sockets.withLock { state -> Bool in
            state.open.remove(from) != nil
        }
        if mine {
            shutdown(from, Int32(SHUT_RDWR))
            shutdown(to, Int32(SHUT_RDWR))
            close(from)
        }
    }
}
