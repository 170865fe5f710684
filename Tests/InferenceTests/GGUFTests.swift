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
    for (key, value) in file.metadata.sorted(by: { $0.key < $1.key }) {
        let text: String
        if case .array(let items) = value {
            text = "array[\(items.count)] \(items.prefix(3))"
        } else {
            text = "\(value)"
        }
        print(key, text.prefix(200))
    }
    for name in file.tensorOrder.prefix(12) {
        let tensor = file.tensors[name]!
        print(name, tensor.shape, tensor.type)
    }
}

@Test func greedyGenerationSaysSomethingSensible() throws {
    guard let path = defaultModelPath() else { return }
    let model = try LlamaModel(path: path)
    let session = InferenceSession(model: model, capacity: 512, threads: 2)
    let prompt = model.tokenizer.encode(
        "<|im_start|>user\nWhat is the capital of France?<|im_end|>\n<|im_start|>assistant\n")
    print("prompt tokens", prompt)
    let start = Date()
    for token in prompt { try session.evaluate(token) }
    var generated: [Int32] = []
    for _ in 0..<24 {
        let next = Int32(session.logits.indices.max { session.logits[$0] < session.logits[$1] }!)
        generated.append(next)
        if next == model.tokenizer.eos { break }
        try session.evaluate(next)
    }
    print("generated", generated, model.tokenizer.decode(generated), Date().timeIntervalSince(start))
    #expect(model.tokenizer.decode(generated).contains("Paris"))
}
