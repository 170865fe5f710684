import Foundation
import Inference
import Synchronization

/// `openledger bench inference`: prefill and decode throughput at 1 and 2 threads, against a reference.
///
/// Prefill tok/s on a 512-token prompt and decode tok/s over 128 tokens, at 1 and 2 threads, on the same GGUF
/// file as llama.cpp (llama-cpp-python, tools/interop/llama_reference.py) measured in the same run when
/// `--python` is given. Best of three, as the reference does.
enum BenchInference {
    /// The best of three: seconds to prefill `prompt` (512 tokens) into a reset `session`, and to decode 128 tokens
    /// after it.
    static func bestPrefillAndDecode(_ session: InferenceSession, _ prompt: [Int32]) throws(CLIError) -> (
        prefill: Double, decode: Double
    ) {
        var prefill = Double.infinity
        var decode = Double.infinity
        for _ in 0..<3 {
            session.reset()
            var start = DispatchTime.now().uptimeNanoseconds
            do {
                try session.evaluate(prompt)
                prefill = min(prefill, Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9)
                start = DispatchTime.now().uptimeNanoseconds
                for i in 0..<128 { try session.evaluate(prompt[i]) }
            } catch {
                throw .failure("\(error)")
            }
            decode = min(decode, Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9)
        }
        return (prefill, decode)
    }

    static let command = CommandSpec(
        name: "inference",
        summary: "Inference: prefill and decode tok/s at 1 and 2 threads against llama.cpp (JSON lines).",
        options: [
            InferCommand.modelOption,
            OptionSpec(
                name: "python", valueName: "PATH",
                help: "Python with llama-cpp-python: runs the llama.cpp reference in the same run."),
            OptionSpec(name: "threads", valueName: "LIST", help: "Thread counts.", defaultValue: "1,2"),
            OptionSpec(
                name: "only", valueName: "PART", help: "batching (16 streams against one) or speed (prefill, decode)."),
        ],
        action: { arguments, output throws(CLIError) in
            let model = try InferCommand.loadModel(arguments)
            let modelPath = arguments.string("model") ?? InferCommand.defaultModelPath()
            let threadCounts = (arguments.string("threads") ?? "1,2").split(separator: ",").compactMap { Int($0) }
            guard !threadCounts.isEmpty, threadCounts.allSatisfy({ (1...64).contains($0) }) else {
                throw .usage("--threads expects a list such as 1,2", command: arguments.command)
            }
            let text = String(
                repeating: "The ledger records every inference, every payment and every attribution proof. ", count: 64)
            let prompt = Array(model.tokenizer.encode(text, parseSpecial: false).prefix(512))
            guard prompt.count == 512 else { throw .failure("bench prompt too short") }
            let only = arguments.string("only")
            guard only == nil || only == "batching" || only == "speed" else {
                throw .usage("--only expects batching or speed", command: arguments.command)
            }
            if only != "speed" { try batching(model: model, threads: threadCounts.max() ?? 2, output: output) }
            for threads in threadCounts where only != "batching" {
                var reference: [String: Double] = [:]
                if let python = arguments.string("python") {
                    reference = try runReference(python: python, model: modelPath, threads: threads)
                }
                let session = InferenceSession(model: model, capacity: 1024, threads: threads)
                let (prefill, decode) = try bestPrefillAndDecode(session, prompt)
                for (name, value, key) in [
                    ("inference_prefill_512", 512 / prefill, "prefill_tok_s"),
                    ("inference_decode_128", 128 / decode, "decode_tok_s"),
                ] {
                    var references: [BenchFigure] = []
                    if let theirs = reference[key] {
                        references.append(
                            BenchFigure(
                                bench: name, unit: .operationsPerSecond, value: theirs, implementation: "llama.cpp",
                                details: ["threads": "\(threads)", "unit": "tok/s"]))
                        output.line(references[0].jsonLine(references: []))
                    }
                    output.line(
                        BenchFigure(
                            bench: name, unit: .operationsPerSecond, value: value,
                            details: ["threads": "\(threads)", "unit": "tok/s"]
                        ).jsonLine(references: references))
                }
            }
        })

    /// Aggregate decode throughput of 16 concurrent generations (continuous batching) against one alone.
    ///
    /// Every stream generates exactly 128 tokens (end-of-generation ignored, as llama.cpp's ignore_eos), so all 16
    /// stay in the batch to the end; the clock runs from the moment the last stream has its prompt evaluated
    /// (every stream is then decoding) to the last stream's end.
    static func batching(model: LlamaModel, threads: Int, output: CommandOutput) throws(CLIError) {
        let engine = InferenceEngine(model: model, slots: 16, contextLength: 512, threads: threads)
        let prompt = model.tokenizer.encode(
            "<|im_start|>user\nTell me about the sea.<|im_end|>\n<|im_start|>assistant\n")
        func run(_ streams: Int) throws(CLIError) -> Double {
            let done = DispatchSemaphore(value: 0)
            // Per stream: tokens decoded, and when its decoding started and ended.
            let finished = Mutex<[(tokens: Int, start: Double, end: Double)]>([])
            for index in 0..<streams {
                let request = InferenceEngine.Request(
                    prompt: prompt, maxTokens: 128,
                    sampler: Sampler(temperature: 1, topK: 0, topP: 1, minP: 0, seed: UInt64(index)),
                    ignoreEndOfGeneration: true)
                do {
                    try engine.submit(request) { event in
                        if case .finished(let result) = event {
                            let end = Double(DispatchTime.now().uptimeNanoseconds) / 1e9
                            // The first token comes from the prompt's scores; the decode steps make the rest.
                            finished.withLock {
                                $0.append((result.tokens.count - 1, end - result.decodeSeconds, end))
                            }
                            done.signal()
                        } else if case .failed = event {
                            done.signal()
                        }
                        return true
                    }
                } catch {
                    throw .failure("\(error)")
                }
            }
            for _ in 0..<streams { done.wait() }
            let runs = finished.withLock { $0 }
            guard runs.count == streams, let start = runs.map(\.start).max(), let end = runs.map(\.end).max() else {
                throw .failure("a stream failed")
            }
            return Double(runs.reduce(0) { $0 + $1.tokens }) / (end - start)
        }
        // The median of three runs each, after one warm-up run.
        func median(_ streams: Int) throws(CLIError) -> (Double, String) {
            var rates: [Double] = []
            for _ in 0..<3 { rates.append(try run(streams)) }
            return (rates.sorted()[1], rates.map { String(format: "%.1f", $0) }.joined(separator: " "))
        }
        _ = try run(1)
        let (one, oneRuns) = try median(1)
        let single = BenchFigure(
            bench: "inference_aggregate_decode", unit: .operationsPerSecond, value: one,
            implementation: "openledger, 1 stream",
            details: ["threads": "\(threads)", "unit": "tok/s", "runs": oneRuns])
        output.line(single.jsonLine(references: []))
        let (many, manyRuns) = try median(16)
        output.line(
            BenchFigure(
                bench: "inference_aggregate_decode", unit: .operationsPerSecond, value: many,
                details: ["streams": "16", "threads": "\(threads)", "unit": "tok/s", "runs": manyRuns]
            ).jsonLine(references: [single]))
    }

    static func runReference(python: String, model: String, threads: Int) throws(CLIError) -> [String: Double] {
        let script = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent().deletingLastPathComponent().appendingPathComponent(
                "tools/interop/llama_reference.py")
        let path =
            FileManager.default.fileExists(atPath: script.path) ? script.path : "tools/interop/llama_reference.py"
        let process = Process()
        process.executableURL = URL(fileURLWithPath: python)
        process.arguments = [path, "bench", "--model", model, "--threads", "\(threads)"]
        let pipe = Pipe()
        process.standardOutput = pipe
        do {
            try process.run()
        } catch {
            throw .failure("cannot run \(python): \(error)")
        }
        let data = pipe.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        guard process.terminationStatus == 0,
            let object = try? JSONSerialization.jsonObject(with: data) as? [String: Any],
            let prefill = object["prefill_tok_s"] as? Double, let decode = object["decode_tok_s"] as? Double
        else { throw .failure("the llama.cpp reference failed (status \(process.terminationStatus))") }
        return ["prefill_tok_s": prefill, "decode_tok_s": decode]
    }
}
