import Foundation
import Inference

/// `openledger bench inference`: prefill tok/s on a 512-token prompt and decode tok/s over 128 tokens, at 1 and
/// 2 threads, on the same GGUF file as llama.cpp (llama-cpp-python, tools/interop/llama_reference.py) measured
/// in the same run when `--python` is given. Best of three, as the reference does.
enum BenchInference {
    static let command = CommandSpec(
        name: "inference",
        summary: "Inference: prefill and decode tok/s at 1 and 2 threads against llama.cpp (JSON lines).",
        options: [
            InferCommand.modelOption,
            OptionSpec(
                name: "python", valueName: "PATH",
                help: "Python with llama-cpp-python: runs the llama.cpp reference in the same run."),
            OptionSpec(name: "threads", valueName: "LIST", help: "Thread counts.", defaultValue: "1,2"),
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
            for threads in threadCounts {
                var reference: [String: Double] = [:]
                if let python = arguments.string("python") {
                    reference = try runReference(python: python, model: modelPath, threads: threads)
                }
                let session = InferenceSession(model: model, capacity: 1024, threads: threads)
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
