import Foundation
import Synchronization
import TestSupport
import Testing

@testable import Inference

func writeTemporary(_ bytes: [UInt8], name: String) -> String {
    let path = FileManager.default.temporaryDirectory.appendingPathComponent(
        "openledger-\(name)-\(getpid())-\(UInt32.random(in: 0...UInt32.max)).gguf"
    ).path
    _ = FileManager.default.createFile(atPath: path, contents: Data(bytes))
    return path
}

@Test func aTinyModelLoadsTokenizesAndGeneratesTheSameTokensInBatchesAndOneByOne() throws {
    let path = writeTemporary(GGUFWriter.tinyLlama().build(), name: "tiny")
    defer { try? FileManager.default.removeItem(atPath: path) }
    let model = try LlamaModel(path: path)
    #expect(model.config.layers == 2 && model.config.heads == 4 && model.config.kvHeads == 2)
    let tokens = model.tokenizer.encode("the thin<|im_start|>a")
    #expect(model.tokenizer.decode(tokens, special: true) == "the thin<|im_start|>a")
    #expect(tokens.contains(Int32(model.tokenizer.tokens.firstIndex(of: "<|im_start|>")!)))
    #expect(model.tokenizer.encode("the thin<|im_start|>a", parseSpecial: false).count > tokens.count)

    let prompt = model.tokenizer.encode("the theme in a thin thread ", addSpecial: false)
    let batched = InferenceSession(model: model, capacity: 64, threads: 2, maxBatch: 4)
    try batched.evaluate(prompt)
    let single = InferenceSession(model: model, capacity: 64, threads: 1, maxBatch: 1)
    for token in prompt { try single.evaluate(token) }
    #expect(Array(batched.logits) == Array(single.logits))
    let first = try batched.generate(prompt: prompt, maxTokens: 16, sampler: Sampler())
    let second = try single.generate(prompt: prompt, maxTokens: 16, sampler: Sampler())
    #expect(first.tokens == second.tokens && first.tokens.count == 16)
    // Sampling is reproducible from the seed.
    let a = try batched.generate(prompt: prompt, maxTokens: 16, sampler: Sampler(temperature: 0.9, seed: 5))
    let b = try single.generate(prompt: prompt, maxTokens: 16, sampler: Sampler(temperature: 0.9, seed: 5))
    #expect(a.tokens == b.tokens)
    #expect(throws: ModelError.self) { try single.generate(prompt: prompt, maxTokens: 100, sampler: Sampler()) }
}

@Test func brokenModelFilesGiveClearErrors() throws {
    let good = GGUFWriter.tinyLlama().build()
    func expectError(_ bytes: [UInt8], _ text: String, sourceLocation: SourceLocation = #_sourceLocation) {
        let path = writeTemporary(bytes, name: "bad")
        defer { try? FileManager.default.removeItem(atPath: path) }
        do {
            _ = try LlamaModel(path: path)
            Issue.record("loaded a broken model", sourceLocation: sourceLocation)
        } catch {
            #expect("\(error)".contains(text), "\(error)", sourceLocation: sourceLocation)
        }
    }
    expectError(Array(good.prefix(good.count / 2)), "outside the file")
    expectError(Array(good.prefix(100)), "truncated")
    expectError([0x47, 0x47, 0x55, 0x47] + good.dropFirst(4), "bad magic")
    expectError(GGUFWriter.tinyLlama(architecture: "mamba").build(), "architecture mamba")
    expectError(GGUFWriter.tinyLlama(weightType: 12).build(), "ggml type 12")
    expectError([], "too short")
    var random = SeededRandom(seed: 77)
    for _ in 0..<300 {
        let path = writeTemporary(random.mutate(good), name: "fuzz")
        _ = try? LlamaModel(path: path)
        try? FileManager.default.removeItem(atPath: path)
    }
    #expect(throws: ModelError.self) { try GGUFFile(path: "/nonexistent/model.gguf") }
}

/// The engine's batched steps give each request exactly what it would get alone.
@Test(.timeLimit(.minutes(2))) func batchedGenerationsEqualSeparateOnes() throws {
    let path = writeTemporary(GGUFWriter.tinyLlama(seed: 4).build(), name: "engine")
    defer { try? FileManager.default.removeItem(atPath: path) }
    let model = try LlamaModel(path: path)
    let prompts = ["the theme", "a thin thread in", "in the", "the the the", "hello"].map {
        model.tokenizer.encode($0)
    }
    let alone = InferenceSession(model: model, capacity: 64)
    let expected = try prompts.map {
        try alone.generate(prompt: $0, maxTokens: 12, sampler: Sampler(temperature: 0.7, seed: 3)).tokens
    }
    let engine = InferenceEngine(model: model, slots: 3, contextLength: 64, threads: 2)
    let results = Mutex<[Int: [Int32]]>([:])
    let done = DispatchSemaphore(value: 0)
    for (index, prompt) in prompts.enumerated() {
        try engine.submit(.init(prompt: prompt, maxTokens: 12, sampler: Sampler(temperature: 0.7, seed: 3))) { event in
            if case .finished(let generation) = event {
                results.withLock { $0[index] = generation.tokens }
                done.signal()
            }
            return true
        }
    }
    for _ in prompts { done.wait() }
    for index in prompts.indices { #expect(results.withLock { $0[index] } == expected[index], "request \(index)") }
    #expect(throws: InferenceEngine.SubmitError.self) {
        try engine.submit(.init(prompt: prompts[0], maxTokens: 100, sampler: Sampler())) { _ in true }
    }
}

/// Sixteen sequences and more at once (the 16-row products, tokens sampled on several threads), generating
/// exactly max_tokens when end-of-generation is ignored, give what each gives alone.
@Test(.timeLimit(.minutes(2)), arguments: [UInt32(8), 3])  // Q8_0 and Q4_1 weights
func sixteenBatchedGenerationsEqualSeparateOnes(weightType: UInt32) throws {
    let path = writeTemporary(
        GGUFWriter.tinyLlama(seed: 5, weightType: weightType).build(), name: "engine16-\(weightType)")
    defer { try? FileManager.default.removeItem(atPath: path) }
    let model = try LlamaModel(path: path)
    let requests = (0..<20).map { index in
        InferenceEngine.Request(
            prompt: model.tokenizer.encode(["the theme", "a thin thread in", "in the", "hello"][index % 4]),
            maxTokens: 10 + index % 3, sampler: Sampler(temperature: 0.8, seed: UInt64(index)),
            ignoreEndOfGeneration: true)
    }
    let alone = InferenceSession(model: model, capacity: 64)
    let engine = InferenceEngine(model: model, slots: 16, contextLength: 64, threads: 2)
    let results = Mutex<[Int: [Int32]]>([:])
    let done = DispatchSemaphore(value: 0)
    for (index, request) in requests.enumerated() {
        try engine.submit(request) { event in
            if case .finished(let generation) = event {
                results.withLock { $0[index] = generation.tokens }
                done.signal()
            }
            return true
        }
    }
    for _ in requests { done.wait() }
    for (index, request) in requests.enumerated() {
        // Alone: prompt, then one token at a time, end-of-generation tokens kept.
        alone.reset()
        try alone.evaluate(request.prompt)
        var sampler = request.sampler
        var history = request.prompt
        var tokens: [Int32] = []
        while tokens.count < request.maxTokens {
            let token = sampler.sample(Array(alone.logits), history: history)
            tokens.append(token)
            history.append(token)
            if tokens.count < request.maxTokens { try alone.evaluate(token) }
        }
        #expect(results.withLock { $0[index] } == tokens, "request \(index)")
        #expect(tokens.count == request.maxTokens)
    }
}
