import Chain
import ChainNode
import Codec
import Crypto
import Foundation
import HTTP
import Node
import Synchronization

/// `openledger bench devnet`: a real devnet (SQLite, HTTP, JSON-RPC, block production) in this process, fed
/// pre-signed transfers over HTTP by concurrent clients; measures transfers/s from the first
/// eth_sendRawTransaction to the last receipt, then eth_getBalance requests/s.
enum BenchDevnet {
    static let command = CommandSpec(
        name: "devnet",
        summary: "End-to-end devnet throughput: transfers/s to receipts, eth_getBalance/s (JSON lines).",
        options: [
            OptionSpec(
                name: "transactions", valueName: "N", help: "Pre-signed transfers to send.", defaultValue: "20000"),
            OptionSpec(name: "clients", valueName: "N", help: "Concurrent JSON-RPC clients.", defaultValue: "4"),
            OptionSpec(
                name: "block-time", valueName: "MS", help: "Block interval in milliseconds.", defaultValue: "250"),
            OptionSpec(name: "seconds", valueName: "S", help: "Duration of the eth_getBalance run.", defaultValue: "2"),
            NodeOptions.config,
        ],
        action: { arguments, output throws(CLIError) in
            let count = try arguments.int("transactions", in: 100...1_000_000) ?? 20_000
            let clients = try arguments.int("clients", in: 1...64) ?? 4
            let blockTime = try arguments.int("block-time", in: 10...10_000) ?? 250
            let seconds = try arguments.double("seconds", in: 0.1...600) ?? 2
            let configuration = try NodeOptions.configuration(arguments)
            do {
                for figure in try run(
                    configuration: configuration, count: count, clients: clients, blockTime: UInt64(blockTime),
                    seconds: seconds)
                {
                    output.line(figure.jsonLine(references: []))
                }
            } catch let error as CLIError {
                throw error
            } catch {
                throw .failure("\(error)")
            }
        }
    )

    static let senders = 200

    static func run(configuration: NodeConfiguration, count: Int, clients: Int, blockTime: UInt64, seconds: Double)
        throws -> [BenchFigure]
    {
        guard var object = try JSONSerialization.jsonObject(with: configuration.contents) as? [String: Any] else {
            throw CLIError.failure("\(configuration.path): not a JSON object")
        }
        object["devAccountCount"] = senders  // enough senders that per-account pool limits never bind
        let patched = try NodeConfiguration(
            path: configuration.path, contents: try JSONSerialization.data(withJSONObject: object))
        let config = patched.network
        let sequencerKey = try patched.sequencerKey()
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("openledger-bench-\(getpid())")
            .path
        try? FileManager.default.removeItem(atPath: directory)
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let node = try DevnetNode(config: config, sequencerKey: sequencerKey, dataDirectory: directory)
        let rpc = JSONRPCServer(methods: EthereumRPC(node: node).methods)
        let server = try HTTPServer(port: 0) { rpc.handle($0) }
        defer { server.stop() }
        let producer = BlockProducer(node: node, intervalMilliseconds: blockTime) { _ in }
        defer { producer.stop() }

        let keys = try config.devAccounts.map { try Secp256k1PrivateKey(bytes: $0.privateKey) }
        var bodies: [[[UInt8]]] = Array(repeating: [], count: clients)
        for index in 0..<count {
            let sender = index % senders
            let transaction = try Transaction.dynamicFee(
                chainId: config.chainId, nonce: UInt64(index / senders), maxPriorityFeePerGas: 1_000_000_000,
                maxFeePerGas: 50_000_000_000, gasLimit: 21_000, to: config.devAccounts[(sender + 1) % senders].address,
                value: 1
            ).signed(with: keys[sender])
            let request =
                #"{"jsonrpc":"2.0","id":\#(index),"method":"eth_sendRawTransaction","params":["\#(Hex.encode(transaction.encoded))"]}"#
            bodies[sender % clients].append(Array(request.utf8))
        }
        let requestsByClient = bodies
        let errors = Atomic<Int>(0)
        let start = DispatchTime.now().uptimeNanoseconds
        concurrently(clients) { client in
            let http = HTTPClient(host: "127.0.0.1", port: server.port)
            for body in requestsByClient[client] {
                guard let response = try? http.post(body: body), response.status == 200,
                    succeeded(response.body)
                else {
                    errors.add(1, ordering: .relaxed)
                    continue
                }
            }
        }
        let sent = DispatchTime.now().uptimeNanoseconds
        let expected = UInt64((count + senders - 1) / senders)
        while true {
            let done = node.read { core in
                core.mempool.count == 0
                    && (0..<min(senders, count)).allSatisfy { sender in
                        let target = UInt64(count / senders) + (sender < count % senders ? 1 : 0)
                        return (try? core.state.account(config.devAccounts[sender].address).nonce)
                            == min(target, expected)
                    }
            }
            if done || errors.load(ordering: .relaxed) > 0 { break }
            usleep(2_000)
        }
        let included = DispatchTime.now().uptimeNanoseconds
        guard errors.load(ordering: .relaxed) == 0 else {
            throw CLIError.failure("\(errors.load(ordering: .relaxed)) transactions were refused")
        }
        let transferSeconds = Double(included - start) / 1e9

        let balanceRequest = Array(
            #"{"jsonrpc":"2.0","id":1,"method":"eth_getBalance","params":["\#(config.devAccounts[0].address.lowercaseHex)","latest"]}"#
                .utf8)
        let requests = Atomic<Int>(0)
        let balanceStart = DispatchTime.now().uptimeNanoseconds
        let deadline = balanceStart + UInt64(seconds * 1e9)
        concurrently(clients) { _ in
            let http = HTTPClient(host: "127.0.0.1", port: server.port)
            while DispatchTime.now().uptimeNanoseconds < deadline {
                if (try? http.post(body: balanceRequest))?.status == 200 { requests.add(1, ordering: .relaxed) }
            }
        }
        let balanceSeconds = Double(DispatchTime.now().uptimeNanoseconds - balanceStart) / 1e9
        return [
            BenchFigure(
                bench: "devnet_transfers_end_to_end", unit: .operationsPerSecond,
                value: Double(count) / transferSeconds,
                details: [
                    "transactions": "\(count)", "clients": "\(clients)", "block_time_ms": "\(blockTime)",
                    "send_seconds": String(format: "%.3f", Double(sent - start) / 1e9),
                    "seconds": String(format: "%.3f", transferSeconds),
                ]),
            BenchFigure(
                bench: "devnet_eth_getBalance", unit: .operationsPerSecond,
                value: Double(requests.load(ordering: .relaxed)) / balanceSeconds, details: ["clients": "\(clients)"]),
        ]
    }

    /// Whether a JSON-RPC response body is a response object without an `error` member.
    static func succeeded(_ body: [UInt8]) -> Bool {
        guard let object = try? JSONSerialization.jsonObject(with: Data(body)) as? [String: Any] else { return false }
        return object["error"] == nil
    }

    /// Runs `body(i)` for i in 0..<count on separate threads and waits for all.

    static func concurrently(_ count: Int, _ body: @escaping @Sendable (Int) -> Void) {
        let group = DispatchGroup()
        for index in 0..<count {
            group.enter()
            Thread {
                body(index)
                group.leave()
            }.start()
        }
        group.wait()
    }
}
