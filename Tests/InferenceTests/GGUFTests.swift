import Foundation
import TestSupport
import Testing

@testable import Inference

/// The default model file, when the setup has fetched it (`OPENLEDGER_MODEL`).
func defaultModelPath(sourceLocation: SourceLocation = #_sourceLocation) -> String? {
    if let path = ProcessInfo.processInfo.environment["OPENLEDGER_MODEL"], FileManager.default.fileExists(atPath: path)
    {
        return path
    }
    Fixtures.reportMissing(
        "missing the default model (set OPENLEDGER_MODEL; `make test` fetches it)", sourceLocation: sourceLocation)
    return nil
}

@Test func theDefaultModelFileReads() throws {
    guard let path = defaultModelPath() else { return }
    let file = try GGUFFile(path: path)
    #expect(file.version == 3)
    #expect(file.metadata["general.architecture"]?.string == "llama")
    #expect(file.metadata["tokenizer.ggml.pre"]?.string == "smollm")
    #expect(file.metadata["tokenizer.ggml.tokens"]?.array?.count == 49_152)
    #expect(file.tensors["blk.0.attn_q.weight"]?.type == .q4_1)
    #expect(file.tensors["blk.0.attn_q.weight"]?.shape == [576, 576])
    #expect(file.tensors["token_embd.weight"]?.type == .q8_0)
    #expect(file.tensorOrder.count == file.tensors.count && file.tensors.count == 30 * 9 + 2)
    let model = try LlamaModel(file: file)
    #expect(model.config.headDimension == 64 && model.config.kvHeads == 3 && model.config.ropeBase == 100_000)
}

@Test func greedyGenerationSaysSomethingSensible() throws {
    guard let path = defaultModelPath() else { return }
    let model = try LlamaModel(path: path)
    let session = InferenceSession(model: model, capacity: 512, threads: 2)
    let prompt = model.tokenizer.encode(
        "<|im_start|>user\nWhat is the capital of France?<|im_end|>\n<|im_start|>assistant\n")
    for token in prompt { try session.evaluate(token) }
    var generated: [Int32] = []
    for _ in 0..<24 {
        let next = session.withLogits { logits in Int32(logits.indices.max { logits[$0] < logits[$1] }!) }
        generated.append(next)
        if next == model.tokenizer.eos { break }
        try session.evaluate(next)
    }
    #expect(model.tokenizer.decode(generated).contains("Paris"))
}
