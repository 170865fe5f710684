import Chain
import Codec
import Foundation
import LightClient
import Node

/// `openledger light …`: reads of the L2 that are verified locally, each saying what it checked against which
/// block.
enum LightCommand {
    static let common = [
        OptionSpec(
            name: "rpc", valueName: "URL", help: "JSON-RPC server to read from.", defaultValue: "http://127.0.0.1:8545"),
        NodeOptions.config,
        OptionSpec(name: "checkpoint", valueName: "BLOCKHASH", help: "Trust this block instead of genesis."),
        NodeOptions.dataDirectory("Keep verified headers in DIR/light-headers.sqlite."),
        OptionSpec(name: "json", help: "Print JSON."),
    ]

    static let command = CommandSpec(
        name: "light",
        summary: "Verified reads of the L2: heads, balances, channels, Datanets, adapters.",
        subcommands: [
            CommandSpec(
                name: "head", summary: "Verify and print the signed head.", options: common,
                action: { arguments, output throws(CLIError) in
                    let client = try makeClient(arguments)
                    let head = try run { () throws(LightClientError) in try client.syncHead() }
                    report(arguments, output, head: head, client: client, fields: [:], lines: [])
                }),
            CommandSpec(
                name: "follow", summary: "Follow the signed head: print each newly verified head until Ctrl-C.",
                discussion:
                    "Verifies the head every --interval, as `light head` does, and prints each new one; failed polls are logged to standard error and retried. SIGINT or SIGTERM stops it (exit 0).",
                options: common + [
                    OptionSpec(
                        name: "interval", valueName: "DURATION", help: "Poll interval, e.g. 500ms or 2s.",
                        defaultValue: "1s")
                ] + NodeOptions.logging,
                action: { arguments, output throws(CLIError) in
                    let text = arguments.string("interval") ?? "1s"
                    guard let interval = DevnetCommand.parseDuration(text), (10...3_600_000).contains(interval) else {
                        throw .usage(
                            "option --interval expects a duration from 10ms to 1h, got '\(text)'",
                            command: arguments.command)
                    }
                    let logger = try NodeOptions.logging(arguments, output).logger("light")
                    let client = try makeClient(arguments)
                    let signals = TerminationSignals()
                    let json = arguments.flag("json")
                    let printer = output
                    let follower = HeadFollowService(client: client, intervalMilliseconds: interval, logger: logger) {
                        head in
                        if json {
                            printer.line(jsonLine(headFields(head, client)))
                        } else {
                            printer.line(headLine(head))
                        }
                    }
                    let group = ServiceGroup([follower], logger: logger)
                    do throws(NodeError) {
                        try group.run(until: signals)
                    } catch {
                        throw NodeOptions.failure(error)
                    }
                }),
            CommandSpec(
                name: "balance", summary: "An account's balance and nonce, proven against the verified head.",
                arguments: [ArgumentSpec(name: "address", help: "0x-address.")], options: common,
                action: { arguments, output throws(CLIError) in
                    let address = try parseAddress(arguments.positionals[0], arguments)
                    let client = try makeClient(arguments)
                    let (account, head) = try run { () throws(LightClientError) in
                        try client.account(address, at: try client.syncHead())
                    }
                    report(
                        arguments, output, head: head, client: client,
                        fields: [
                            "address": address.checksummed, "balanceWei": account.balance.description,
                            "nonce": account.nonce, "codeHash": Hex.encode(account.codeHash),
                        ],
                        lines: [
                            "\(address.checksummed): \(openText(account.balance)) OPEN (\(account.balance) wei), nonce \(account.nonce)",
                            "verified: account proof against state root \(Hex.encode(head.header.stateRoot))",
                        ])
                }),
            CommandSpec(
                name: "channel", summary: "A payment channel from proven PaymentChannels storage.",
                arguments: [ArgumentSpec(name: "channel-id", help: "32-byte channel id.")], options: common,
                action: { arguments, output throws(CLIError) in
                    let id = try parseBytes32(arguments.positionals[0], arguments)
                    let client = try makeClient(arguments)
                    let (channel, head) = try run { () throws(LightClientError) in
                        try client.read(PaymentChannels.ChannelLayout.self, id, at: try client.syncHead())
                    }
                    guard let channel else {
                        throw .failure("no channel \(Hex.encode(id)) at block \(head.number) (proven absent)")
                    }
                    let status = ["none", "open", "closing", "closed"][Int(channel.status.rawValue)]
                    report(
                        arguments, output, head: head, client: client,
                        fields: [
                            "channelId": Hex.encode(id), "payer": channel.payer.checksummed,
                            "payee": channel.payee.checksummed,
                            "depositWei": channel.deposit.description, "redeemedWei": channel.redeemed.description,
                            "settleDelay": channel.settleDelay, "closesAt": channel.closesAt, "status": status,
                        ],
                        lines: [
                            "channel \(Hex.encode(id))", "  payer \(channel.payer) → payee \(channel.payee)",
                            "  deposit \(channel.deposit) wei, redeemed \(channel.redeemed) wei, \(status), settle delay \(channel.settleDelay) s",
                            "verified: storage proofs of PaymentChannels against state root \(Hex.encode(head.header.stateRoot))",
                        ])
                }),
            CommandSpec(
                name: "datanet", summary: "A Datanet's snapshot root and size from proven DatanetRegistry storage.",
                arguments: [ArgumentSpec(name: "datanet-id", help: "Datanet number.")], options: common,
                action: { arguments, output throws(CLIError) in
                    let id = try parseNumber(arguments.positionals[0], arguments)
                    let client = try makeClient(arguments)
                    let (snapshot, head) = try run { () throws(LightClientError) in
                        try client.read(DatanetRegistry.SnapshotLayout.self, id, at: try client.syncHead())
                    }
                    report(
                        arguments, output, head: head, client: client,
                        fields: [
                            "datanetId": id.description, "snapshotRoot": Hex.encode(snapshot.snapshotRoot),
                            "size": snapshot.count,
                        ],
                        lines: [
                            "Datanet \(id): snapshot root \(Hex.encode(snapshot.snapshotRoot)), \(snapshot.count) records",
                            "verified: storage proofs of DatanetRegistry against state root \(Hex.encode(head.header.stateRoot)); root recomputed from the proven tree branch",
                        ])
                }),
            CommandSpec(
                name: "rewards", summary: "The rewards an account may withdraw, from proven AttributionClaims storage.",
                arguments: [ArgumentSpec(name: "address", help: "0x-address.")], options: common,
                action: { arguments, output throws(CLIError) in
                    let address = try parseAddress(arguments.positionals[0], arguments)
                    let client = try makeClient(arguments)
                    let (owed, head) = try run { () throws(LightClientError) in
                        try client.read(AttributionClaims.RewardLayout.self, address, at: try client.syncHead())
                    }
                    report(
                        arguments, output, head: head, client: client,
                        fields: ["address": address.checksummed, "rewardsWei": owed.description],
                        lines: [
                            "\(address.checksummed): \(openText(owed)) OPEN (\(owed) wei) of rewards to withdraw",
                            "verified: storage proof of AttributionClaims against state root \(Hex.encode(head.header.stateRoot))",
                        ])
                }),
            CommandSpec(
                name: "adapter", summary: "An adapter record from proven ModelRegistry storage.",
                arguments: [ArgumentSpec(name: "adapter-id", help: "Adapter number.")], options: common,
                action: { arguments, output throws(CLIError) in
                    let id = try parseNumber(arguments.positionals[0], arguments)
                    let client = try makeClient(arguments)
                    let (adapter, provenance, head) = try run { () throws(LightClientError) in
                        let head = try client.syncHead()
                        return (
                            try client.read(ModelRegistry.AdapterLayout.self, id, at: head).value,
                            try client.read(ModelRegistry.ProvenanceLayout.self, id, at: head).value, head
                        )
                    }
                    guard let adapter else {
                        throw .failure("no adapter \(id) at block \(head.number) (proven absent)")
                    }
                    let cid = String(validating: adapter.cid, as: UTF8.self) ?? Hex.encode(adapter.cid)
                    var fields: [String: Any] = [
                        "adapterId": id.description, "cid": cid, "baseModelId": adapter.baseModelID.description,
                        "owner": adapter.owner.checksummed,
                        "pricePer1kTokensWei": adapter.pricePer1kTokens.description,
                        "deprecated": adapter.deprecated,
                        "datanetRoots": adapter.datanetRoots.map { Hex.encode($0) },
                    ]
                    var lines = [
                        "adapter \(id): \(cid) on base model \(adapter.baseModelID), owner \(adapter.owner)",
                        "  price \(adapter.pricePer1kTokens) wei per 1,000 tokens\(adapter.deprecated ? ", deprecated" : "")",
                        "  trained on \(adapter.datanetRoots.map { Hex.encode($0) }.joined(separator: ", "))",
                    ]
                    if let provenance {
                        let document = String(decoding: provenance.document, as: UTF8.self)
                        fields["provenance"] = [
                            "trainingLogRoot": Hex.encode(provenance.trainingLogRoot),
                            "trainingDataHash": Hex.encode(provenance.trainingDataHash), "document": document,
                        ]
                        lines += [
                            "  training log root \(Hex.encode(provenance.trainingLogRoot)), training data \(Hex.encode(provenance.trainingDataHash))",
                            "  provenance \(document)",
                        ]
                    } else {
                        lines.append("  no training provenance recorded")
                    }
                    report(
                        arguments, output, head: head, client: client, fields: fields,
                        lines: lines + [
                            "verified: storage proofs of ModelRegistry against state root \(Hex.encode(head.header.stateRoot))"
                        ])
                }),
        ])

    /// The light client `--config`, `--rpc`, `--checkpoint` and `--data-dir` ask for (`LightClientFactory` decides
    /// what it trusts and where it keeps headers).
    static func makeClient(_ arguments: ParsedArguments) throws(CLIError) -> LightClient {
        let configuration = try NodeOptions.configuration(arguments)
        let checkpointText = arguments.string("checkpoint")
        let checkpoint = try checkpointText.map { text throws(CLIError) in try parseBytes32(text, arguments) }
        do {
            return try LightClientFactory.client(
                configuration: configuration, rpcURL: arguments.string("rpc") ?? "http://127.0.0.1:8545",
                checkpoint: checkpoint,
                dataDirectory: arguments.string("data-dir") != nil ? NodeOptions.dataDirectory(arguments) : nil)
        } catch .unknownCheckpoint {
            // The text as the user typed it, as before the policy moved into Node.
            throw .failure("the server does not know checkpoint \(checkpointText ?? "")")
        } catch {
            throw NodeOptions.failure(error)
        }
    }

    static func run<R>(_ body: () throws(LightClientError) -> R) throws(CLIError) -> R {
        do {
            return try body()
        } catch {
            throw .failure("\(error)")
        }
    }

    static func report(
        _ arguments: ParsedArguments, _ output: CommandOutput, head: VerifiedHeader, client: LightClient,
        fields: [String: Any], lines: [String]
    ) {
        if arguments.flag("json") {
            output.line(
                jsonLine(fields.merging(["verifiedAgainst": headFields(head, client)]) { current, _ in current }))
            return
        }
        for line in lines { output.line(line) }
        output.line(headLine(head))
        output.line(
            "verified: signed by sequencer \(client.trust.sequencer) for chain \(client.trust.chainId); trust anchor block \(client.trust.anchorNumber) \(Hex.encode(client.trust.anchorHash))"
        )
    }

    /// What a verified head is, as JSON fields.
    static func headFields(_ head: VerifiedHeader, _ client: LightClient) -> [String: Any] {
        [
            "block": head.number, "blockHash": Hex.encode(head.hash), "stateRoot": Hex.encode(head.header.stateRoot),
            "timestamp": head.header.timestamp, "chainId": client.trust.chainId,
            "sequencer": client.trust.sequencer.checksummed,
        ]
    }

    /// `head: block N 0x… (timestamp T)`.
    static func headLine(_ head: VerifiedHeader) -> String {
        "head: block \(head.number) \(Hex.encode(head.hash)) (timestamp \(head.header.timestamp))"
    }

    /// `object` as one line of JSON with sorted keys.
    static func jsonLine(_ object: [String: Any]) -> String {
        let data =
            (try? JSONSerialization.data(withJSONObject: object, options: [.sortedKeys, .withoutEscapingSlashes]))
            ?? Data()
        return String(decoding: data, as: UTF8.self)
    }

    static func openText(_ wei: UInt256) -> String {
        let (whole, fraction) = wei.quantityAndFraction(NetworkConfig.weiPerOpen)
        guard fraction != .zero else { return whole.description }
        var digits = fraction.description
        digits = String(repeating: "0", count: 18 - digits.count) + digits
        while digits.hasSuffix("0") { digits.removeLast() }
        return "\(whole).\(digits)"
    }

    static func parseAddress(_ text: String, _ arguments: ParsedArguments) throws(CLIError) -> Address {
        do {
            return try Address(hex: text)
        } catch {
            throw .usage("\(error)", command: arguments.command)
        }
    }

    static func parseBytes32(_ text: String, _ arguments: ParsedArguments) throws(CLIError) -> [UInt8] {
        guard let bytes = try? Hex.decode(text), bytes.count == 32, text.hasPrefix("0x") else {
            throw .usage("'\(text)' is not a 0x-prefixed 32-byte hex value", command: arguments.command)
        }
        return bytes
    }

    static func parseNumber(_ text: String, _ arguments: ParsedArguments) throws(CLIError) -> UInt256 {
        guard let number = UInt256(decimal: text) else {
            throw .usage("'\(text)' is not a decimal number", command: arguments.command)
        }
        return number
    }
}

extension UInt256 {
    fileprivate func quantityAndFraction(_ unit: UInt256) -> (UInt256, UInt256) {
        let (quotient, remainder) = quotientAndRemainder(dividingBy: unit)
        return (quotient, remainder)
    }
}
