import Codec
import Crypto
import Foundation
import P2P

/// `openledger p2p …`: the node's libp2p identity.
enum P2PCommand {
    static let command = CommandSpec(
        name: "p2p",
        summary: "libp2p identity, a host that answers ping, identify and echo, and a ping client.",
        subcommands: [
            CommandSpec(
                name: "id", summary: "Print the peer id (creating the identity key in the data directory if needed).",
                options: [
                    OptionSpec(
                        name: "data-dir", valueName: "DIR",
                        help: "Node data directory (default: ~/.local/share/openledger/node)."),
                    OptionSpec(
                        name: "key-type", valueName: "TYPE", help: "Key type for a new identity: ed25519 or secp256k1.",
                        defaultValue: "ed25519"),
                ],
                action: { arguments, output throws(CLIError) in
                    let directory = arguments.string("data-dir") ?? defaultDataDirectory()
                    let keyType = arguments.string("key-type") ?? "ed25519"
                    guard keyType == "ed25519" || keyType == "secp256k1" else {
                        throw .usage(
                            "option --key-type expects ed25519 or secp256k1, got '\(keyType)'",
                            command: arguments.command)
                    }
                    let identity = try loadOrCreateIdentity(directory: directory, keyType: keyType)
                    output.line(identity.peerID.description)
                }),
            CommandSpec(
                name: "listen",
                summary: "Run a libp2p host (TCP, Noise, Yamux) answering ping, identify and /openledger/echo/1.0.0.",
                discussion:
                    "Prints each full listen multiaddr (ending in /p2p/<peer id>) on its own line, then logs to standard error until Ctrl-C.",
                options: [
                    dataDirOption,
                    OptionSpec(
                        name: "listen", valueName: "MULTIADDR", help: "Address to listen on.",
                        defaultValue: "/ip4/127.0.0.1/tcp/4001"),
                    OptionSpec(
                        name: "max-connections", valueName: "N", help: "Connections at most.", defaultValue: "1024"),
                ],
                action: { arguments, output throws(CLIError) in
                    let identity = try loadOrCreateIdentity(
                        directory: arguments.string("data-dir") ?? defaultDataDirectory(), keyType: "ed25519")
                    let address = try multiaddr(arguments.string("listen") ?? "/ip4/127.0.0.1/tcp/4001", arguments)
                    var config = HostConfig()
                    config.maxConnections = try arguments.int("max-connections", in: 1...100_000) ?? 1_024
                    let log = output.errorLine
                    let host: P2PHost
                    do {
                        host = try P2PHost(identity: identity, config: config) { log("level=info msg=\"\($0)\"") }
                        host.handle(EchoProtocol.protocolID) { await EchoProtocol.serve($0) }
                        output.line(try host.listen(address).description)
                    } catch {
                        throw .failure("\(error)")
                    }
                    output.errorLine(
                        "level=info msg=\"listening\" peer=\(host.peerID) protocols=\(host.identifyMessage(observed: nil).protocols.joined(separator: ","))"
                    )
                    DevnetCommand.waitForTermination()
                    output.errorLine("level=info msg=\"shutting down\"")
                    host.close()
                }),
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
                        if let directory = arguments.string("data-dir") {
                            try loadOrCreateIdentity(directory: directory, keyType: "ed25519")
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

    static let dataDirOption = OptionSpec(
        name: "data-dir", valueName: "DIR",
        help: "Node data directory holding identity.key (default: ~/.local/share/openledger/node).")

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

    static func defaultDataDirectory() -> String {
        let environment = ProcessInfo.processInfo.environment
        return (environment["XDG_DATA_HOME"] ?? ((environment["HOME"] ?? ".") + "/.local/share")) + "/openledger/node"
    }

    /// DIR/identity.key (libp2p private-key protobuf, mode 0600), created with a fresh key when absent.
    static func loadOrCreateIdentity(directory: String, keyType: String) throws(CLIError) -> LibP2PIdentity {
        let path = directory + "/identity.key"
        if let data = FileManager.default.contents(atPath: path) {
            do {
                return try LibP2PIdentity(privateKeyProtobuf: Array(data))
            } catch {
                throw .failure("\(path): \(error)")
            }
        }
        let identity: LibP2PIdentity = keyType == "secp256k1" ? .secp256k1(.generate()) : .ed25519(.generate())
        do {
            try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        } catch {
            throw .failure("cannot create \(directory): \(error)")
        }
        let temporary = path + ".tmp-\(getpid())"
        guard
            FileManager.default.createFile(
                atPath: temporary, contents: Data(identity.privateKeyProtobuf), attributes: [.posixPermissions: 0o600])
        else { throw .failure("cannot write \(temporary)") }
        guard rename(temporary, path) == 0 else { throw .failure("cannot create \(path)") }
        return identity
    }
}

final class ResultBox<T: Sendable>: @unchecked Sendable {
    private let lock = NSLock()
    private var value: Result<T, any Error>?
    func set(_ result: Result<T, any Error>) { lock.withLock { value = result } }
    func get() -> Result<T, any Error>? { lock.withLock { value } }
}
