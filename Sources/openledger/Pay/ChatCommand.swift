import AttributionRules
import Chain
import Codec
import Foundation
import HTTP
import Node

/// `openledger chat`: one paid chat completion from a serving peer, with its receipt checked.
///
/// It finds the peer's price and payee in /v1/models, uses (or opens) the wallet's channel to it, asks the quote,
/// signs the voucher, sends the request, prints the answer, and checks the receipt: the payee's signature, the
/// request and response hashes, and the price against the voucher.
enum ChatCommand {
    static let command = CommandSpec(
        name: "chat", summary: "Ask a serving peer one question, pay for it, and check its receipt.",
        arguments: [ArgumentSpec(name: "message", help: "The user message.")],
        options: [
            OptionSpec(
                name: "endpoint", valueName: "URL", help: "The serving peer's API.",
                defaultValue: "http://127.0.0.1:8080"),
            OptionSpec(name: "model", valueName: "ID", help: "The model or adapter (default: the peer's first)."),
            OptionSpec(name: "max-tokens", valueName: "N", help: "Tokens to generate at most.", defaultValue: "128"),
            OptionSpec(name: "temperature", valueName: "T", help: "Sampling temperature.", defaultValue: "0"),
            OptionSpec(name: "seed", valueName: "S", help: "The sampler's seed (default: a fresh one)."),
            OptionSpec(
                name: "deposit", valueName: "AMOUNT", help: "Deposit of a channel opened for this peer.",
                defaultValue: "1 OPEN"),
            OptionSpec(name: "verbose", help: "Show what was paid and checked."),
            OptionSpec(name: "json", help: "Print the whole response and the checks as JSON."),
            NodeOptions.dataDirectory("The wallet key and the payer's store are in DIR."),
        ] + WalletCommand.ledger,
        action: { arguments, output throws(CLIError) in
            let message = arguments.positionals[0]
            let maxTokens = try arguments.int("max-tokens", in: 1...1_000_000) ?? 128
            guard let temperature = Double(arguments.string("temperature") ?? "0"), (0...2).contains(temperature) else {
                throw .usage("option --temperature expects a number in 0...2", command: arguments.command)
            }
            let seed: UInt64
            if let text = arguments.string("seed") {
                guard let value = UInt64(text), value < 1 << 53 else {
                    throw .usage("option --seed expects an integer below 2^53", command: arguments.command)
                }
                seed = value
            } else {
                seed = UInt64.random(in: 0..<(1 << 53))
            }
            guard let deposit = OpenAmount.parse(arguments.string("deposit") ?? "1 OPEN"), deposit > .zero else {
                throw .usage("option --deposit expects an amount such as 1 OPEN", command: arguments.command)
            }
            let (channels, store) = try ChannelCommand.channelClient(arguments)
            let endpoint = arguments.string("endpoint") ?? "http://127.0.0.1:8080"
            let client = try paying {
                () throws(PayingClient.Failure) in
                try PayingClient(
                    endpoint: endpoint, key: channels.key, store: store, channels: channels, deposit: deposit)
            }
            let offers = try paying { () throws(PayingClient.Failure) in try client.offers() }
            let requested = arguments.string("model")
            guard let offer = PayingClient.Offer.choose(requested, in: offers) else {
                throw .failure(
                    requested.map { "the peer offers no paid model '\($0)'" }
                        ?? "the peer at \(endpoint) offers no paid model (is it serving with --free?)")
            }
            let request: [String: Any] = [
                "model": offer.model, "messages": [["role": "user", "content": message]], "max_tokens": maxTokens,
                "temperature": temperature, "seed": seed,
            ]
            let body = Array(
                (try? JSONSerialization.data(withJSONObject: request, options: [.sortedKeys])) ?? Data())
            let channel = try paying { () throws(PayingClient.Failure) in
                try client.channel(to: offer.payee, chainId: offer.chainId)
            }
            let (payment, free) = try paying { () throws(PayingClient.Failure) in
                try client.pay(path: "/v1/chat/completions", body: body, channel: channel)
            }
            guard let payment else {
                output.line(answer(free?.body ?? []) ?? "")
                return
            }
            let response = try paying { () throws(PayingClient.Failure) in
                try client.send(path: "/v1/chat/completions", body: body, payment: payment)
            }
            guard response.status == 200 else {
                throw .failure(
                    "the peer refused the paid request (\(response.status)): \(PayingClient.refusal(response.body).message)"
                )
            }
            guard let text = answer(response.body) else { throw .failure("the peer's answer does not parse") }
            guard let header = response.header(SignedReceipt.headerName),
                let receipt = SignedReceipt(headerValue: header)
            else { throw .failure("the answer carries no receipt (\(SignedReceipt.headerName))") }
            var check = PayingClient.check(
                receipt, payment: payment, payee: offer.payee, chainId: offer.chainId, body: body, response: text)
            let answered = (try? JSONSerialization.jsonObject(with: Data(response.body))) as? [String: Any]
            var credited: [String] = []
            if (answered?["openledger"] as? [String: Any])?["attribution"] != nil {
                let parameters = try NodeOptions.configuration(arguments).network.parameters
                let attribution = client.checkAttribution(
                    requestHash: receipt.receipt.requestHash, response: text, light: channels.client,
                    parameters: AttributionParameters(
                        minSpan: parameters.attributionMinSpan, maxRecords: parameters.attributionMaxRecords),
                    receiptRoot: receipt.receipt.attributionRoot)
                check.checks += attribution.checks
                for contributor in attribution.proof?.contributors ?? [] {
                    let percent = Double(contributor.weight) / 1e16
                    credited.append("\(contributor.address.checksummed) \(String(format: "%.2f", percent)) %")
                }
            }
            if arguments.flag("json") {
                var object = (try? JSONSerialization.jsonObject(with: Data(response.body))) as? [String: Any] ?? [:]
                object["checks"] = check.checks.map { ["check": $0.name, "passed": $0.passed] }
                let data = (try? JSONSerialization.data(withJSONObject: object, options: [.sortedKeys])) ?? Data()
                output.line(String(decoding: data, as: UTF8.self))
            } else {
                output.line(text)
                if !credited.isEmpty {
                    output.line("")
                    output.line("credited: " + credited.joined(separator: ", "))
                }
                if arguments.flag("verbose") {
                    let cost = (payment.quote["maximumCost"]).map { " (at most \($0) wei)" } ?? ""
                    output.line("")
                    output.line("model \(offer.model) at \(endpoint), payee \(offer.payee)")
                    output.line(
                        "channel \(Hex.encode(channel.id)): voucher \(payment.voucher.voucher.cumulativeAmount) wei cumulative, \(receipt.receipt.price) wei for this request\(cost)"
                    )
                    output.line(
                        "tokens: \(receipt.receipt.promptTokens) prompt, \(receipt.receipt.completionTokens) completion; seed \(receipt.receipt.seed)"
                    )
                    let body = (try? JSONSerialization.jsonObject(with: Data(response.body))) as? [String: Any]
                    if let payment = (body?["openledger"] as? [String: Any])?["payment"] as? [String: String],
                        let spent = payment["spent"].flatMap({ UInt256(decimal: $0) }),
                        let authorized = payment["authorized"].flatMap({ UInt256(decimal: $0) })
                    {
                        output.line(
                            "the answer cost \(payment["cost"] ?? "?") wei; the channel spent \(spent) of \(authorized) wei authorized (\(authorized - spent) wei credit)"
                        )
                    }
                    for (name, passed) in check.checks { output.line("  \(passed ? "✓" : "✗") \(name)") }
                }
            }
            guard check.passed else {
                throw .failure(
                    "the receipt does not check: \(check.checks.filter { !$0.passed }.map(\.name).joined(separator: ", "))"
                )
            }
        })

    /// The assistant message of a chat completion body.
    static func answer(_ body: [UInt8]) -> String? {
        guard let object = (try? JSONSerialization.jsonObject(with: Data(body))) as? [String: Any],
            let choices = object["choices"] as? [[String: Any]],
            let message = choices.first?["message"] as? [String: Any]
        else { return nil }
        return message["content"] as? String
    }

    /// Runs a paying step; its failure becomes the command's.
    static func paying<R>(_ body: () throws(PayingClient.Failure) -> R) throws(CLIError) -> R {
        do {
            return try body()
        } catch {
            throw .failure(error.description)
        }
    }
}
