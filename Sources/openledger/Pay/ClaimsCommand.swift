import AttributionRules
import Chain
import Codec
import Crypto
import Foundation
import Inference
import LightClient
import Node
import Runtime
import SQLite

/// `openledger claims …` and `openledger stake`: the serving peer's claims from DIR/serving.sqlite, and the stake
/// that bonds them.
enum ClaimsCommand {
    static let common =
        [NodeOptions.dataDirectory("The wallet key and the serving ledger are in DIR.")] + WalletCommand.ledger

    static let command = CommandSpec(
        name: "claims", summary: "The serving peer's reward claims: status, submit now, withdraw rewards.",
        subcommands: [
            CommandSpec(
                name: "status", summary: "Every claim of the serving ledger, and the rewards owed on the ledger.",
                options: common,
                action: { arguments, output throws(CLIError) in
                    let (ledger, light, key) = try open(arguments)
                    let rows = try sql { () throws(SQLiteError) in try ledger.claims() }
                    let (waiting, _) = try sql { () throws(SQLiteError) in try ledger.unclaimedSummary() }
                    output.line("\(waiting) receipts waiting, \(rows.count) claims")
                    for row in rows {
                        let id = row.claimID.map { " claim \($0)" } ?? ""
                        let reason = row.reason.map { ": \($0)" } ?? ""
                        output.line(
                            "  #\(row.local) \(row.kind)\(id) \(row.state.rawValue), \(row.items) receipts, \(row.fees) wei\(reason)"
                        )
                    }
                    let (rewards, head) = try LightCommand.run { () throws(LightClientError) in
                        try light.read(
                            AttributionClaims.RewardLayout.self, WalletKeyFile.address(of: key),
                            at: try light.syncHead())
                    }
                    output.line(
                        "rewards owed to \(WalletKeyFile.address(of: key)): \(LightCommand.openText(rewards)) OPEN (\(rewards) wei), proven at block \(head.number)"
                    )
                }),
            CommandSpec(
                name: "submit", summary: "Claim every waiting receipt now, and finalize what can be.", options: common,
                action: { arguments, output throws(CLIError) in
                    let (ledger, light, key) = try open(arguments)
                    let service = ClaimService(ledger: ledger, light: light, key: key, logger: .discarding)
                    let pass = service.pass(force: true)
                    output.line(
                        "submitted \(pass.submitted) claims, redeemed \(pass.redeemed) channels directly, finalized \(pass.finalized), refused \(pass.refused)"
                    )
                    for row in try sql({ () throws(SQLiteError) in try ledger.claims(in: [.refused]) }) {
                        output.line("  #\(row.local) refused: \(row.reason ?? "")")
                    }
                }),
            CommandSpec(
                name: "watch",
                summary: "Attest: judge every claim the chain submits against these snapshots; attest or challenge.",
                discussion:
                    "Runs until Ctrl-C. Needs the wallet staked as an attester (`openledger stake --role attester`). Claims over a snapshot not given are logged and left alone.",
                options: [
                    OptionSpec(
                        name: "attribution", valueName: "DIR", help: "A snapshot's indexes (repeatable).",
                        repeatable: true),
                    OptionSpec(
                        name: "from-block", valueName: "N",
                        help: "Judge from this block (default: where it stopped, else the head)."),
                    OptionSpec(
                        name: "model", valueName: "PATH",
                        help: "Re-execute each answer on this model (with --serving-peer to fetch the requests)."),
                    OptionSpec(
                        name: "adapters", valueName: "DIR", help: "The adapters answers may name, for re-execution."),
                    OptionSpec(
                        name: "serving-peer", valueName: "URL",
                        help: "Where claimed requests are fetched (GET /v1/requests/<hash>) for re-execution."),
                ] + common + NodeOptions.logging,
                action: { arguments, output throws(CLIError) in
                    let directories = arguments.strings("attribution")
                    guard !directories.isEmpty else {
                        throw .usage("claims watch needs --attribution DIR", command: arguments.command)
                    }
                    var snapshots: [AnswerAttribution.Snapshot] = []
                    for directory in directories {
                        snapshots.append(AnswerAttribution.Snapshot(shards: try AttributeCommand.loadShards(directory)))
                    }
                    let logger = try NodeOptions.logging(arguments, output).logger("attester")
                    let key = try WalletCommand.loadKey(arguments)
                    let parameters = try NodeOptions.configuration(arguments).network.parameters
                    let directory = NodeOptions.dataDirectory(arguments)
                    let first = try arguments.int("from-block", in: 0...Int(Int64.max)).map { UInt64($0) }
                    let light = try LightCommand.makeClient(arguments)
                    var reexecution: Reexecution?
                    if let path = arguments.string("model") {
                        guard let peer = arguments.string("serving-peer") else {
                            throw .usage("--model needs --serving-peer URL", command: arguments.command)
                        }
                        let model = try InferCommand.loadModel(arguments)
                        let engine = InferenceEngine(model: model, slots: 2, contextLength: 2_048, threads: 2)
                        var cache: AdapterCache?
                        if let directory = arguments.string("adapters") {
                            cache = AdapterCache(
                                source: AdapterDirectory(path: directory), base: LoRABase(model: model),
                                budget: 512 << 20)
                        }
                        let name = ServeCommand.modelName(path: path)
                        let api = OpenAIAPI(
                            engine: engine, modelName: name, clock: SystemClock(), logger: .discarding, adapters: cache)
                        reexecution = Reexecution(api: api, endpoint: { _ in peer })
                    }
                    let attester = try sql { () throws(SQLiteError) in
                        try ClaimAttester(
                            light: light, key: key, snapshots: snapshots,
                            parameters: AttributionParameters(
                                minSpan: parameters.attributionMinSpan, maxRecords: parameters.attributionMaxRecords),
                            path: directory.attesterStore, logger: logger, reexecution: reexecution)
                    }
                    if let first { attester.pass(fromBlock: first) }
                    do throws(NodeError) {
                        try ServiceGroup([attester], logger: logger).run(
                            started: {
                                output.line(
                                    "attesting as \(WalletKeyFile.address(of: key)) over \(snapshots.count) snapshots: \(snapshots.map { Hex.encode($0.root) }.joined(separator: ", "))"
                                )
                            }, until: TerminationSignals())
                    } catch {
                        throw NodeOptions.failure(error)
                    }
                }),
            CommandSpec(
                name: "attest", summary: "Attest a claim as a staked attester (after checking it yourself).",
                arguments: [ArgumentSpec(name: "claim", help: "The ledger's claim id.")], options: common,
                action: { arguments, output throws(CLIError) in
                    guard let id = UInt256(decimal: arguments.positionals[0]) else {
                        throw .usage("the claim id must be a decimal number", command: arguments.command)
                    }
                    let key = try WalletCommand.loadKey(arguments)
                    let caller = ContractCaller(
                        client: try LightCommand.makeClient(arguments), key: key,
                        contract: AttributionClaims.defaultAddress,
                        signature: { AttributionClaims.method(named: $0)?.signature })
                    let (_, header, _) = try WalletCommand.node { () throws(NodeError) in
                        try caller.submit("attest", data: try caller.calldata("attest", [.uint(id)]))
                    }
                    output.line("attested claim \(id) in block \(header.number)")
                }),
            CommandSpec(
                name: "withdraw", summary: "Withdraw the rewards finalized claims credited to the wallet.",
                options: common,
                action: { arguments, output throws(CLIError) in
                    let (_, light, key) = try open(arguments)
                    let caller = ContractCaller(
                        client: light, key: key, contract: AttributionClaims.defaultAddress,
                        signature: { AttributionClaims.method(named: $0)?.signature })
                    let (owed, _) = try LightCommand.run { () throws(LightClientError) in
                        try light.read(AttributionClaims.RewardLayout.self, WalletKeyFile.address(of: key))
                    }
                    guard owed > .zero else { throw .failure("no rewards owed to \(WalletKeyFile.address(of: key))") }
                    let (_, header, _) = try WalletCommand.node { () throws(NodeError) in
                        try caller.submit("withdraw rewards", data: try caller.calldata("withdrawRewards", []))
                    }
                    output.line(
                        "withdrew \(LightCommand.openText(owed)) OPEN (\(owed) wei) in block \(header.number)")
                }),
        ])

    static let stake = CommandSpec(
        name: "stake", summary: "Stake OPEN as a serving peer (it bonds claims) or an attester.",
        options: [
            OptionSpec(
                name: "role", valueName: "ROLE", help: "serving-peer or attester.", defaultValue: "serving-peer"),
            OptionSpec(name: "amount", valueName: "AMOUNT", help: "OPEN to stake, e.g. 200 OPEN."),
        ] + common,
        action: { arguments, output throws(CLIError) in
            let roles: [String: Staking.Role] = ["serving-peer": .servingPeer, "attester": .attester]
            guard let role = roles[arguments.string("role") ?? "serving-peer"] else {
                throw .usage("option --role expects serving-peer or attester", command: arguments.command)
            }
            let amount = try ChannelCommand.amount("amount", arguments)
            let key = try WalletCommand.loadKey(arguments)
            let light = try LightCommand.makeClient(arguments)
            let caller = ContractCaller(
                client: light, key: key, contract: Staking.defaultAddress,
                signature: { Staking.method(named: $0)?.signature })
            let (_, header, _) = try WalletCommand.node { () throws(NodeError) in
                try caller.submit(
                    "stake", value: amount, data: try caller.calldata("stake", [.uint(UInt256(role.rawValue))]))
            }
            output.line(
                "staked \(LightCommand.openText(amount)) OPEN as \(arguments.string("role") ?? "serving-peer") in block \(header.number)"
            )
        })

    static func open(_ arguments: ParsedArguments) throws(CLIError) -> (ServingLedger, LightClient, Secp256k1PrivateKey)
    {
        let key = try WalletCommand.loadKey(arguments)
        let directory = NodeOptions.dataDirectory(arguments)
        let ledger = try sql { () throws(SQLiteError) in try ServingLedger(path: directory.servingStore) }
        return (ledger, try LightCommand.makeClient(arguments), key)
    }

    static func sql<R>(_ body: () throws(SQLiteError) -> R) throws(CLIError) -> R {
        do {
            return try body()
        } catch {
            throw .failure("the serving ledger: \(error)")
        }
    }
}
