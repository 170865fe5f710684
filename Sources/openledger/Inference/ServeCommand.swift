import Chain
import Codec
import Foundation
import Inference
import LightClient
import Node
import Runtime

/// `openledger serve`: the OpenAI-compatible HTTP API of `Node` (`OpenAIServer`) over the inference engine.
///
/// The command parses its options, builds the engine and the server, runs it as a service until SIGINT or SIGTERM, and
/// prints where it listens. Serving is paid unless `--free`: then it follows the ledger at `--rpc` through the light
/// client, signs receipts with the data directory's wallet key, and keeps its books in `serving.sqlite` there.
enum ServeCommand {
    static let command = CommandSpec(
        name: "serve", summary: "Serve the model over an OpenAI-compatible HTTP API.",
        options: [
            InferCommand.modelOption,
            OptionSpec(name: "host", valueName: "ADDRESS", help: "Address to listen on.", defaultValue: "127.0.0.1"),
            OptionSpec(name: "port", valueName: "PORT", help: "Port (0 picks one).", defaultValue: "8080"),
            OptionSpec(name: "slots", valueName: "N", help: "Generations running at once.", defaultValue: "4"),
            OptionSpec(name: "context", valueName: "N", help: "Context length per generation.", defaultValue: "2048"),
            OptionSpec(name: "threads", valueName: "N", help: "Threads for the matrix products.", defaultValue: "2"),
            OptionSpec(name: "queue", valueName: "N", help: "Requests waiting at most (then 429).", defaultValue: "64"),
            OptionSpec(
                name: "adapters", valueName: "DIR",
                help: "LoRA adapters a request may name: every *.gguf GGUF-LoRA file and PEFT folder of DIR."),
            OptionSpec(
                name: "adapter-cache-mb", valueName: "MB", help: "Memory for loaded adapters (least recently used go).",
                defaultValue: "512"),
            OptionSpec(name: "free", help: "Serve without payment (no vouchers, no receipts, no ledger)."),
            OptionSpec(
                name: "attribution", valueName: "DIR",
                help:
                    "Attribute every answer against this snapshot's indexes (`attribute index --out DIR`); --prices entries may name their own."
            ),
            OptionSpec(
                name: "rpc", valueName: "URL",
                help: "The ledger's JSON-RPC endpoint, followed through the light client.",
                defaultValue: "http://127.0.0.1:8545"),
            OptionSpec(
                name: "prompt-price", valueName: "AMOUNT",
                help: "Price per prompt token: wei, or OPEN as '0.000001 OPEN'.",
                defaultValue: PaidServing.defaultPromptPrice),
            OptionSpec(
                name: "completion-price", valueName: "AMOUNT", help: "Price per completion token: wei, or OPEN.",
                defaultValue: PaidServing.defaultCompletionPrice),
            OptionSpec(
                name: "prices", valueName: "FILE",
                help:
                    "JSON prices by model or adapter: {\"NAME\": {\"prompt\": AMOUNT, \"completion\": AMOUNT, \"adapterId\": N}}."
            ),
            OptionSpec(
                name: "claim-batch", valueName: "N", help: "Claim once this many receipts wait.", defaultValue: "100"),
            OptionSpec(
                name: "claim-age", valueName: "SECONDS", help: "Claim once the oldest waiting receipt is this old.",
                defaultValue: "600"),
            OptionSpec(
                name: "no-claims", help: "Keep receipts without claiming them (`openledger claims submit` later)."),
            NodeOptions.config,
            NodeOptions.dataDirectory("Holds the wallet key and the serving ledger (vouchers, receipts)."),
        ] + NodeOptions.logging,
        action: { arguments, output throws(CLIError) in
            let logging = try NodeOptions.logging(arguments, output)
            let logger = logging.logger("openai")
            let model = try InferCommand.loadModel(arguments)
            let port = try arguments.int("port", in: 0...65_535) ?? 8_080
            let engine = InferenceEngine(
                model: model, slots: try arguments.int("slots", in: 1...256) ?? 4,
                contextLength: try arguments.int("context", in: 16...1_048_576) ?? 2_048,
                threads: try arguments.int("threads", in: 1...256) ?? 2,
                queueLimit: try arguments.int("queue", in: 1...100_000) ?? 64)
            var cache: AdapterCache?
            if let directory = arguments.string("adapters") {
                var isDirectory: ObjCBool = false
                guard FileManager.default.fileExists(atPath: directory, isDirectory: &isDirectory),
                    isDirectory.boolValue
                else {
                    throw .failure("--adapters \(directory) is not a directory")
                }
                let megabytes = try arguments.int("adapter-cache-mb", in: 1...1_048_576) ?? 512
                cache = AdapterCache(
                    source: AdapterDirectory(path: directory), base: LoRABase(model: model), budget: megabytes << 20)
            }
            let priceEntries = try PaidServing.priceEntries(arguments)
            var services: [any Service] = []
            var payments: PaymentGate?
            if !arguments.flag("free") {
                let paid = try PaidServing.make(
                    arguments, output, entries: priceEntries, logger: logging.logger("payments"))
                payments = paid.gate
                services.append(paid.follower)
                if let claims = paid.claims { services.append(claims) }
            }
            let attribution = try attribution(arguments, entries: priceEntries)
            let api = OpenAIAPI(
                engine: engine, modelName: modelName(arguments), clock: SystemClock(), logger: logger, adapters: cache,
                payments: payments, attribution: attribution)
            let server = OpenAIServer(api: api, host: arguments.string("host") ?? "127.0.0.1", port: port)
            services.append(server)
            let signals = TerminationSignals()
            do throws(NodeError) {
                try ServiceGroup(services, logger: logger).run(
                    started: {
                        output.line("OpenAI-compatible API on \(server.baseURL)")
                        output.line(
                            "Model: \(api.modelName) (\(model.config.layers) layers, context \(engine.contextLength))")
                        if let cache {
                            output.line("Adapters: \(cache.known.count) in \(arguments.string("adapters") ?? "")")
                        }
                        if let attribution, let snapshot = attribution.snapshot(for: api.modelName) {
                            output.line(
                                "Attribution: snapshot \(Hex.encode(snapshot.root)) (\(snapshot.recordCount) records), L = \(attribution.minSpan), K = \(attribution.maxRecords)"
                            )
                        }
                        if let payments {
                            let price = payments.terms.defaultPrice
                            output.line(
                                "Paid: payee \(payments.terms.payee), chain \(payments.terms.chainId), \(price.promptWei) wei per prompt token, \(price.completionWei) wei per completion token"
                            )
                        } else {
                            output.line("Free: no payment asked")
                        }
                    }, until: signals)
            } catch {
                throw NodeOptions.failure(error)
            }
        })

    /// The snapshots of `--attribution DIR` and of the `attribution` entries of `--prices`, under the network
    /// config's L and K; nil when none is named.
    static func attribution(_ arguments: ParsedArguments, entries: [String: [String: Any]]) throws(CLIError)
        -> AnswerAttribution?
    {
        var byModel: [String: AnswerAttribution.Snapshot] = [:]
        for (name, directory) in try PaidServing.attributionDirectories(
            entries, path: arguments.string("prices") ?? "")
        {
            byModel[name] = AnswerAttribution.Snapshot(shards: try AttributeCommand.loadShards(directory))
        }
        let fallback = try arguments.string("attribution").map { directory throws(CLIError) in
            AnswerAttribution.Snapshot(shards: try AttributeCommand.loadShards(directory))
        }
        guard fallback != nil || !byModel.isEmpty else { return nil }
        let parameters = try NodeOptions.configuration(arguments).network.parameters
        return AnswerAttribution(
            fallback: fallback, byModel: byModel, minSpan: parameters.attributionMinSpan,
            maxRecords: parameters.attributionMaxRecords)
    }

    static func modelName(_ arguments: ParsedArguments) -> String {
        modelName(path: arguments.string("model") ?? InferCommand.defaultModelPath())
    }

    /// The name the API serves a model file under: its file name without `.gguf`.
    static func modelName(path: String) -> String {
        URL(fileURLWithPath: path).deletingPathExtension().lastPathComponent
    }
}
