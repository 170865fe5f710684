import Foundation
import Inference
import Training

/// `openledger bench train`: LoRA training throughput and memory against torch + PEFT in the same run, and the
/// cost of gradient attribution.
///
/// Each configuration runs in a process of its own (`--worker`), so its peak resident set is its own: rank 8 on all
/// seven targets, batches of B sequences of 256 real text tokens (this package's docs, tokenized), full steps of
/// forward, backward and AdamW. The reference is tools/bench/torch_lora.py on the same tokens with the model's
/// weights dequantized to F32 (torch cannot compute from the quantized blocks), eager and with torch.compile.
enum BenchTrain {
    static let command = CommandSpec(
        name: "train",
        summary: "LoRA training: tokens/s and peak RSS against torch + PEFT; gradient sketches and influence queries.",
        options: [
            InferCommand.modelOption,
            OptionSpec(
                name: "python", valueName: "PATH",
                help: "Python of the interop venv (dequantizes the model to F32 for the reference)."),
            OptionSpec(
                name: "torch-python", valueName: "PATH",
                help: "Python with torch, transformers and peft (tools/bench/torch-venv.sh): the reference."),
            OptionSpec(name: "batches", valueName: "LIST", help: "Batch sizes.", defaultValue: "4,8"),
            OptionSpec(name: "length", valueName: "T", help: "Tokens per sequence.", defaultValue: "256"),
            OptionSpec(name: "steps", valueName: "N", help: "Timed steps (the median is kept).", defaultValue: "5"),
            OptionSpec(name: "warmup", valueName: "N", help: "Untimed steps first.", defaultValue: "2"),
            OptionSpec(name: "threads", valueName: "N", help: "Threads.", defaultValue: "2"),
            OptionSpec(name: "no-compile", help: "Skip the torch.compile reference (it compiles for about 2 min)."),
            OptionSpec(name: "worker", help: "Run one configuration and print its JSON (used by the bench itself)."),
            OptionSpec(name: "tokens", valueName: "FILE", help: "Token rows (JSON) for --worker."),
        ],
        action: { arguments, output throws(CLIError) in
            if arguments.flag("worker") {
                try worker(arguments, &output)
            } else {
                try run(arguments, &output)
            }
        })

    static func run(_ arguments: ParsedArguments, _ output: inout CommandOutput) throws(CLIError) {
        let model = try InferCommand.loadModel(arguments)
        let modelPath = arguments.string("model") ?? InferCommand.defaultModelPath()
        let length = try arguments.int("length", in: 16...2048) ?? 256
        let steps = try arguments.int("steps", in: 1...100) ?? 5
        let warmup = try arguments.int("warmup", in: 0...100) ?? 2
        let threads = try arguments.int("threads", in: 1...64) ?? 2
        let batches = (arguments.string("batches") ?? "4,8").split(separator: ",").compactMap { Int($0) }
        guard !batches.isEmpty, batches.allSatisfy({ (1...64).contains($0) }) else {
            throw .usage("--batches is a list of batch sizes in 1…64", command: arguments.command)
        }
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent(
            "openledger-bench-train-\(getpid())"
        ).path
        try? FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: directory) }

        // Real text tokens: the package's docs, in name order.
        let docs = (try? FileManager.default.contentsOfDirectory(atPath: "docs").sorted()) ?? []
        let text = docs.filter { $0.hasSuffix(".md") }.compactMap {
            try? String(contentsOfFile: "docs/" + $0, encoding: .utf8)
        }.joined(separator: "\n")
        let all = model.tokenizer.encode(text)
        let most = batches.max()!
        guard all.count >= most * length else {
            throw .failure("docs/ holds \(all.count) tokens; \(most * length) needed (run from the package root)")
        }
        let tokensPath = directory + "/tokens.json"
        let rows = (0..<most).map { Array(all[($0 * length)..<(($0 + 1) * length)]).map { Int($0) } }
        guard let json = try? JSONSerialization.data(withJSONObject: rows) else {
            throw .failure("cannot encode the tokens")
        }
        guard FileManager.default.createFile(atPath: tokensPath, contents: json) else {
            throw .failure("cannot write \(tokensPath)")
        }

        var f32Path: String?
        if let python = arguments.string("python"), arguments.string("torch-python") != nil {
            let path = directory + "/model-f32.gguf"
            _ = try BenchLoRA.runScript(python, ["dequantize", "--model", modelPath, "--out", path])
            f32Path = path
        }
        let executable = CommandLine.arguments[0]
        for batch in batches {
            let details = ["batch": "\(batch)", "length": "\(length)", "threads": "\(threads)", "rank": "8"]
            let ours = try BenchFigure.runForJSON(
                executable,
                [
                    "bench", "train", "--worker", "--model", modelPath, "--tokens", tokensPath, "--batches",
                    "\(batch)", "--length", "\(length)", "--steps", "\(steps)", "--warmup", "\(warmup)", "--threads",
                    "\(threads)",
                ], what: "the training worker at batch \(batch)")
            var references: [BenchFigure] = []
            var memory: [BenchFigure] = []
            if let torch = arguments.string("torch-python"), let f32Path {
                for compile in arguments.flag("no-compile") ? [false] : [true, false] {
                    var script = [
                        "tools/bench/torch_lora.py", "--model", f32Path, "--batch", "\(batch)", "--length",
                        "\(length)", "--steps", "\(steps)", "--warmup", "\(warmup)", "--threads", "\(threads)",
                        "--tokens", tokensPath,
                    ]
                    if compile { script.append("--compile") }
                    let result = try BenchFigure.runForJSON(
                        torch, script, what: "tools/bench/torch_lora.py at batch \(batch)")
                    let name = compile ? "torch+peft compile" : "torch+peft eager"
                    references.append(
                        BenchFigure(
                            bench: "train_tokens", unit: .operationsPerSecond,
                            value: result["tokens_per_second"] as? Double ?? 0, implementation: name))
                    memory.append(
                        BenchFigure(
                            bench: "train_peak_rss", unit: .megabytes,
                            value: (result["peak_rss_bytes"] as? Double ?? 0) / 1e6, implementation: name))
                }
            }
            let speed = BenchFigure(
                bench: "train_tokens", unit: .operationsPerSecond, value: ours["tokens_per_second"] as? Double ?? 0,
                details: details)
            output.line(speed.jsonLine(references: references))
            let rss = BenchFigure(
                bench: "train_peak_rss", unit: .megabytes, value: (ours["peak_rss_bytes"] as? Double ?? 0) / 1e6,
                details: details)
            output.line(rss.jsonLine(references: memory))
        }

        // Gradient attribution: one record's sketch (forward, backward, projection), and a query over 10,000 stored
        // sketches at 5 checkpoints.
        let frozen = QuantizedModel(model, threads: threads)
        var parameters = LoRAParameters(
            base: frozen.shape.loraBase, rank: 8, alpha: 16, targets: LoRATarget.allCases)
        parameters.initialize(seed: 1)
        for p in parameters.pairs.indices {
            parameters.pairs[p].b = parameters.pairs[p].b.indices.map { Float(($0 % 13) - 6) * 1e-3 }
        }
        let checkpoints = (1...5).map { TracedCheckpoint(step: $0 * 10, learningRate: 1e-4, parameters: parameters) }
        let attribution: GradientAttribution
        do { attribution = try GradientAttribution(model: frozen, checkpoints: checkpoints, dimension: 2048) } catch {
            throw .failure("\(error)")
        }
        let records = (0..<16).map { i in
            let row = Array(all[(i * 128)..<((i + 1) * 128)])
            return TrainingSequence(tokens: row, targets: row.indices.map { $0 > 0 })
        }
        var start = DispatchTime.now().uptimeNanoseconds
        _ = attribution.sketches(records, checkpoint: 0)
        let perRecord = Double(DispatchTime.now().uptimeNanoseconds - start) / 1e6 / Double(records.count)
        output.line(
            BenchFigure(
                bench: "train_sketch_per_record", unit: .milliseconds, value: perRecord,
                details: ["tokens": "128", "dimension": "2048", "threads": "\(threads)"]
            ).jsonLine(references: []))
        var seed: UInt64 = 7
        func next() -> Float {
            seed = seed &* 6_364_136_223_846_793_005 &+ 1_442_695_040_888_963_407
            return Float(Int64(bitPattern: seed >> 11) % 2001 - 1000) / 1000
        }
        let stored = (0..<5).map { _ in (0..<10_000).map { _ in (0..<2048).map { _ in next() } } }
        let answer = (0..<5).map { _ in (0..<2048).map { _ in next() } }
        start = DispatchTime.now().uptimeNanoseconds
        let influence = GradientAttribution.influences(
            learningRates: checkpoints.map { $0.learningRate }, records: stored, answer: answer)
        let ranked = influence.indices.sorted { influence[$0] > influence[$1] }
        let query = Double(DispatchTime.now().uptimeNanoseconds - start) / 1e6
        output.line(
            BenchFigure(
                bench: "train_influence_query", unit: .milliseconds, value: query,
                details: ["records": "10000", "checkpoints": "5", "dimension": "2048", "top": "\(ranked[0])"]
            ).jsonLine(references: []))
    }

    /// One configuration in this process: the median seconds per full step, and the peak resident set.
    static func worker(_ arguments: ParsedArguments, _ output: inout CommandOutput) throws(CLIError) {
        let model = try InferCommand.loadModel(arguments)
        let batch = Int(arguments.string("batches") ?? "4") ?? 4
        let length = try arguments.int("length", in: 16...2048) ?? 256
        let steps = try arguments.int("steps", in: 1...100) ?? 5
        let warmup = try arguments.int("warmup", in: 0...100) ?? 2
        let threads = try arguments.int("threads", in: 1...64) ?? 2
        guard let path = arguments.string("tokens"), let data = FileManager.default.contents(atPath: path),
            let rows = try? JSONSerialization.jsonObject(with: data) as? [[Int]], rows.count >= batch
        else { throw .failure("--tokens FILE with at least \(batch) rows is required") }
        let sequences = rows.prefix(batch).map { row in
            TrainingSequence(
                tokens: row.prefix(length).map { Int32($0) }, targets: row.prefix(length).indices.map { $0 > 0 })
        }
        let frozen = QuantizedModel(model, threads: threads)
        var parameters = LoRAParameters(
            base: frozen.shape.loraBase, rank: 8, alpha: 16, targets: LoRATarget.allCases)
        parameters.initialize(seed: 1)
        var optimizer = AdamW(parameters)
        let config = TrainingConfig()
        var times: [Double] = []
        for step in 0..<(warmup + steps) {
            let start = DispatchTime.now().uptimeNanoseconds
            let tensors = LoRATensors<Float>(parameters, layers: frozen.shape.layers)
            let result = lossAndGradients(model: frozen, lora: tensors, batch: sequences)
            optimizer.step(&parameters, result.gradients, rate: 1e-4, config: config)
            if step >= warmup { times.append(Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9) }
        }
        times.sort()
        let median = times[times.count / 2]
        var peak = 0.0
        if let text = try? String(contentsOfFile: "/proc/self/status", encoding: .utf8),
            let line = text.split(separator: "\n").first(where: { $0.hasPrefix("VmHWM:") }),
            let kb = Double(line.split(separator: " ").dropFirst().first ?? "")
        {
            peak = kb * 1024
        }
        output.line(
            "{\"tokens_per_second\": \(Double(batch * length) / median), \"seconds_per_step\": \(median), "
                + "\"peak_rss_bytes\": \(peak)}")
    }
}
