import Foundation
import Inference
import TestSupport
import Testing

@testable import Training

/// Runs an interop script with the venv's Python: exit status, standard output, standard error (kept in a file
/// beside the output, so neither pipe can fill while the other is read).
func runInterop(_ python: URL, _ script: String, _ arguments: [String]) throws -> (Int32, String, String) {
    let process = Process()
    process.executableURL = python
    process.arguments = [Fixtures.packageRoot.appendingPathComponent("tools/interop/\(script)").path] + arguments
    let output = Pipe()
    let errorPath = FileManager.default.temporaryDirectory.appendingPathComponent("interop-\(UUID().uuidString)").path
    _ = FileManager.default.createFile(atPath: errorPath, contents: nil)
    defer { try? FileManager.default.removeItem(atPath: errorPath) }
    process.standardOutput = output
    process.standardError = FileHandle(forWritingAtPath: errorPath)
    try process.run()
    let data = output.fileHandleForReading.readDataToEndOfFile()
    process.waitUntilExit()
    let errors = FileManager.default.contents(atPath: errorPath) ?? Data()
    return (
        process.terminationStatus, String(decoding: data, as: UTF8.self), String(decoding: errors, as: UTF8.self)
    )
}

/// The values of a safetensors tensor of F32 or F64 as doubles.
func doubles(_ file: SafetensorsFile, _ name: String) throws -> [Double] {
    let tensor = try #require(file.tensors[name], "missing \(name)")
    let pointer = file.data(tensor)
    switch tensor.dtype {
    case "F64":
        return (0..<(tensor.byteCount / 8)).map {
            Double(bitPattern: UInt64(littleEndian: pointer.loadUnaligned(fromByteOffset: 8 * $0, as: UInt64.self)))
        }
    case "F32":
        return (0..<(tensor.byteCount / 4)).map {
            Double(
                Float(
                    bitPattern: UInt32(littleEndian: pointer.loadUnaligned(fromByteOffset: 4 * $0, as: UInt32.self))))
        }
    default:
        Issue.record("\(name): unexpected dtype \(tensor.dtype)")
        return []
    }
}

@Suite(.serialized) struct ReferenceGradientTests {
    /// On the default model dequantized to F32, one fixed 4 × 256 batch (64 prompt tokens masked per row) and a
    /// fixed nonzero LoRA on all seven targets: our float32 loss and gradients against JAX's float64 ones, from a
    /// plain Hugging Face-layout llama written independently (tools/interop/lora_grad_reference.py).
    @Test(.integration, .timeLimit(.minutes(30))) func gradientsAgreeWithAnIndependentFloat64Autodiff() throws {
        guard let modelPath = trainingModelPath(), let python = Fixtures.python() else { return }
        let folder = DevnetProcess.temporaryDirectory("train-reference")
        defer { try? FileManager.default.removeItem(atPath: folder) }
        let f32 = folder + "/model-f32.gguf"
        let dequantized = try runInterop(python, "lora_parity.py", ["dequantize", "--model", modelPath, "--out", f32])
        try #require(dequantized.0 == 0, "dequantize: \(dequantized.2)")

        // Real text: this package's architecture page, tokenized by our tokenizer.
        let model = try LlamaModel(path: f32)
        let text = try String(
            contentsOf: Fixtures.packageRoot.appendingPathComponent("docs/architecture.md"), encoding: .utf8)
        let all = model.tokenizer.encode(text)
        try #require(all.count >= 4 * 256)
        let rows = (0..<4).map { Array(all[($0 * 256)..<(($0 + 1) * 256)]) }
        let masks = rows.map { row in row.indices.map { $0 >= 64 ? 1 : 0 } }
        let tokensJSON = try JSONSerialization.data(withJSONObject: [
            "tokens": rows.map { $0.map { Int($0) } }, "mask": masks,
        ])
        try tokensJSON.write(to: URL(fileURLWithPath: folder + "/tokens.json"))

        // The reference's own check: its float32 forward against llama.cpp's F32 logits.
        let logits = try runInterop(
            python, "lora_grad_reference.py",
            ["logits", "--model", f32, "--tokens", folder + "/tokens.json", "--out", folder + "/logits.json"])
        #expect(logits.0 == 0, "the JAX forward disagrees with llama.cpp: \(logits.1) \(logits.2)")

        let fixturePath = folder + "/fixture.safetensors"
        let reference = try runInterop(
            python, "lora_grad_reference.py",
            ["fixture", "--model", f32, "--tokens", folder + "/tokens.json", "--out", fixturePath])
        try #require(reference.0 == 0, "fixture: \(reference.2)")
        let fixture = try SafetensorsFile(path: fixturePath)

        let frozen = QuantizedModel(model, threads: 2)
        var parameters = LoRAParameters(
            base: frozen.shape.loraBase, rank: 8, alpha: 16, targets: LoRATarget.allCases)
        for p in parameters.pairs.indices {
            let name = parameters.pairs[p].baseName
            parameters.pairs[p].a = try doubles(fixture, name + ".lora_a").map { Float($0) }
            parameters.pairs[p].b = try doubles(fixture, name + ".lora_b").map { Float($0) }
            #expect(parameters.pairs[p].a.count == 8 * parameters.pairs[p].inputs)
        }
        let batch = zip(rows, masks).map { TrainingSequence(tokens: $0, targets: $1.map { $0 == 1 }) }
        let ours = lossAndGradients(
            model: frozen, lora: LoRATensors<Float>(parameters, layers: frozen.shape.layers), batch: batch)
        let referenceLoss = try doubles(fixture, "loss")[0]
        #expect(ours.targets == 4 * 192)
        #expect(abs(ours.loss - referenceLoss) < 1e-6, "loss \(ours.loss) against \(referenceLoss)")

        var errorSum = 0.0
        var normSum = 0.0
        var worst = (0.0, "")
        for (p, pair) in parameters.pairs.enumerated() {
            for (half, ourValues) in [("lora_a", ours.gradients.a[p]), ("lora_b", ours.gradients.b[p])] {
                let name = "grad.\(pair.baseName).\(half)"
                let theirs = try doubles(fixture, name)
                try #require(theirs.count == ourValues.count, "\(name)")
                var error = 0.0
                var norm = 0.0
                for (x, y) in zip(ourValues, theirs) {
                    error += (Double(x) - y) * (Double(x) - y)
                    norm += y * y
                }
                errorSum += error
                normSum += norm
                let relative = (error / max(norm, 1e-300)).squareRoot()
                if relative > worst.0 { worst = (relative, name) }
            }
        }
        let global = (errorSum / normSum).squareRoot()
        print("reference gradients: loss \(ours.loss) vs \(referenceLoss), global rel L2 \(global), worst \(worst)")
        #expect(global < 1e-5, "global relative L2 error \(global)")
        #expect(worst.0 < 5e-5, "worst tensor \(worst.1): \(worst.0)")
    }
}
