import Foundation
import Inference

/// `openledger infer` and `openledger tokenize`: the base model on the command line.
enum InferCommand {
    static let modelOption = OptionSpec(
        name: "model", valueName: "PATH",
        help: "GGUF model (default: $OPENLEDGER_MODEL, else the SmolLM2-135M-Instruct Q4_1 fetched by make).")

    static func defaultModelPath() -> String {
        let environment = ProcessInfo.processInfo.environment
        if let path = environment["OPENLEDGER_MODEL"] { return path }
        let cache =
            environment["OPENLEDGER_MODEL_DIR"]
            ?? ((environment["XDG_CACHE_HOME"] ?? ((environment["HOME"] ?? ".") + "/.cache")) + "/openledger/models")
        return cache + "/SmolLM2-135M-Instruct.Q4_1.gguf"
    }

    static func loadModel(_ arguments: ParsedArguments) throws(CLIError) -> LlamaModel {
        let path = arguments.string("model") ?? defaultModelPath()
        guard FileManager.default.fileExists(atPath: path) else {
            throw .failure("no model at \(path) (run tools/setup/fetch-model.sh, or pass --model PATH)")
        }
        do {
            return try LlamaModel(path: path)
        } catch {
            throw .failure("\(path): \(error)")
        }
    }

    static let infer = CommandSpec(
        name: "infer", summary: "Generate text with a GGUF model on the CPU.",
        options: [
            modelOption,
            OptionSpec(name: "prompt", valueName: "TEXT", help: "Raw prompt text (BOS as the model's metadata says)."),
            OptionSpec(
                name: "chat", valueName: "TEXT", help: "One user message, wrapped in the model's chat template."),
            OptionSpec(name: "max-tokens", valueName: "N", help: "Tokens to generate at most.", defaultValue: "128"),
            OptionSpec(name: "temperature", valueName: "T", help: "0 is greedy.", defaultValue: "0"),
            OptionSpec(name: "top-k", valueName: "K", help: "Keep the K most likely tokens.", defaultValue: "40"),
            OptionSpec(
                name: "top-p", valueName: "P", help: "Keep the most likely tokens up to mass P.", defaultValue: "0.95"),
            OptionSpec(name: "seed", valueName: "S", help: "Sampler seed.", defaultValue: "0"),
            OptionSpec(name: "threads", valueName: "N", help: "Threads for the matrix products.", defaultValue: "2"),
            OptionSpec(name: "json", help: "Print tokens, text, counts and speeds as JSON."),
            OptionSpec(
                name: "lora", valueName: "FILE[:SCALE]",
                help: "A LoRA adapter (GGUF-LoRA file or PEFT folder) at SCALE (default 1); repeat to stack adapters.",
                repeatable: true),
        ],
        action: { arguments, output throws(CLIError) in
            let prompt = arguments.string("prompt")
            let chat = arguments.string("chat")
            guard (prompt == nil) != (chat == nil) else {
                throw .usage("give exactly one of --prompt and --chat", command: arguments.command)
            }
            let maxTokens = try arguments.int("max-tokens", in: 1...1_000_000) ?? 128
            let sampler = Sampler(
                temperature: Float(try arguments.double("temperature", in: 0...100) ?? 0),
                topK: try arguments.int("top-k", in: 0...1_000_000) ?? 40,
                topP: Float(try arguments.double("top-p", in: 0...1) ?? 0.95),
                seed: UInt64(try arguments.int("seed", in: 0...Int.max) ?? 0))
            let threads = try arguments.int("threads", in: 1...256) ?? 2
            let model = try loadModel(arguments)
            let adapters = try loadAdapters(arguments.strings("lora"), model: model)
            let tokens: [Int32]
            if let chat {
                do {
                    let template = try ChatTemplate(template: model.chatTemplate)
                    tokens = model.tokenizer.encode(
                        template.render([.init(role: "user", content: chat)]), addSpecial: true, parseSpecial: true)
                } catch {
                    throw .failure("\(error)")
                }
            } else {
                tokens = model.tokenizer.encode(prompt!, addSpecial: true, parseSpecial: false)
            }
            let session = InferenceSession(
                model: model, capacity: min(model.config.contextLength, tokens.count + maxTokens), threads: threads)
            let json = arguments.flag("json")
            let printer = output
            let result: Generation
            do {
                result = try session.generate(
                    GenerationRequest(prompt: tokens, maxTokens: maxTokens, sampler: sampler, adapters: adapters)
                ) { delta in
                    if !json { printer.write(delta) }
                    return true
                }
            } catch {
                throw .failure("\(error)")
            }
            if json {
                let object: [String: Any] = [
                    "tokens": result.tokens.map(Int.init), "text": result.text, "prompt_tokens": tokens.count,
                    "completion_tokens": result.tokens.count,
                    "prefill_tok_s": (result.prefillTokensPerSecond * 10).rounded() / 10,
                    "decode_tok_s": (result.decodeTokensPerSecond * 10).rounded() / 10,
                ]
                let data = try? JSONSerialization.data(
                    withJSONObject: object, options: [.sortedKeys, .withoutEscapingSlashes])
                output.line(String(decoding: data ?? Data(), as: UTF8.self))
            } else {
                output.line("")
            }
        })

    /// Reads each `FILE[:SCALE]` of `--lora` for `model`.
    static func loadAdapters(_ specs: [String], model: LlamaModel) throws(CLIError) -> [LoRAUse] {
        let base = LoRABase(model: model)
        var uses: [LoRAUse] = []
        for spec in specs {
            var path = spec
            var scale: Float = 1
            if let colon = spec.lastIndex(of: ":"), let value = Float(spec[spec.index(after: colon)...]) {
                guard value.isFinite else { throw .failure("--lora \(spec): scale \(value)") }
                path = String(spec[..<colon])
                scale = value
            }
            do {
                uses.append(LoRAUse(try LoRAAdapter.load(path: path, base: base), scale: scale))
            } catch {
                throw .failure("\(error)")
            }
        }
        return uses
    }

    static let tokenize = CommandSpec(
        name: "tokenize", summary: "Print the token ids of a text (special tokens in the text are parsed).",
        arguments: [ArgumentSpec(name: "text", help: "The text (omit with --stdin).", optional: true)],
        options: [
            modelOption, OptionSpec(name: "json", help: "Print a JSON array (the default form)."),
            OptionSpec(
                name: "stdin",
                help:
                    "Read a JSON array of texts from standard input; print {\"special\": [[ids]…], \"plain\": [[ids]…]} (special tokens parsed, and not)."
            ),
        ],
        action: { arguments, output throws(CLIError) in
            func json(_ ids: [Int32]) -> String { "[" + ids.map(String.init).joined(separator: ",") + "]" }
            if arguments.flag("stdin") {
                let data = FileHandle.standardInput.readDataToEndOfFile()
                guard let texts = try? JSONSerialization.jsonObject(with: data) as? [String] else {
                    throw .usage("--stdin expects a JSON array of strings", command: arguments.command)
                }
                let model = try loadModel(arguments)
                let special = texts.map { json(model.tokenizer.encode($0, parseSpecial: true)) }
                let plain = texts.map { json(model.tokenizer.encode($0, parseSpecial: false)) }
                output.line(
                    "{\"special\":[" + special.joined(separator: ",") + "],\"plain\":[" + plain.joined(separator: ",")
                        + "]}")
                return
            }
            guard let text = arguments.positionals.first else {
                throw .usage("give a text, or --stdin", command: arguments.command)
            }
            let model = try loadModel(arguments)
            output.line(json(model.tokenizer.encode(text, addSpecial: false, parseSpecial: true)))
        })
}
