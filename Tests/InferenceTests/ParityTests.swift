import Foundation
import TestSupport
import Testing

@testable import Inference

/// llama.cpp (through llama-cpp-python, tools/interop/llama_reference.py) and our tokenizer agree on every
/// string of the mixed corpus — English, other scripts, code, emoji, whitespace runs, special tokens — with
/// special tokens parsed and not.
@Test(.integration, .timeLimit(.minutes(5))) func tokenizationMatchesLlamaCpp() throws {
    guard let path = defaultModelPath(), let python = Fixtures.python() else { return }
    let corpusURL = Fixtures.packageRoot.appendingPathComponent("tools/interop/tokenizer_corpus.json")
    let corpusData = try Data(contentsOf: corpusURL)
    let corpus = try #require(try JSONSerialization.jsonObject(with: corpusData) as? [String])
    #expect(corpus.count >= 50)
    let process = Process()
    process.executableURL = python
    process.arguments = [
        Fixtures.packageRoot.appendingPathComponent("tools/interop/llama_reference.py").path, "tokenize", "--model",
        path,
    ]
    let input = Pipe()
    let output = Pipe()
    process.standardInput = input
    process.standardOutput = output
    try process.run()
    input.fileHandleForWriting.write(corpusData)
    try input.fileHandleForWriting.close()
    let data = output.fileHandleForReading.readDataToEndOfFile()
    process.waitUntilExit()
    #expect(process.terminationStatus == 0)
    let reference = try #require(try JSONSerialization.jsonObject(with: data) as? [String: [[Int]]])
    let model = try LlamaModel(path: path)
    for (mode, parseSpecial) in [("special", true), ("plain", false)] {
        let expected = try #require(reference[mode])
        #expect(expected.count == corpus.count)
        for (text, ids) in zip(corpus, expected) {
            let ours = model.tokenizer.encode(text, parseSpecial: parseSpecial).map(Int.init)
            #expect(ours == ids, "\(mode) tokenization of \(text.debugDescription)")
        }
    }
}

/// tools/interop/llama_parity.py: `openledger tokenize` and `openledger infer` (this build) against llama.cpp on
/// the same GGUF — the corpus tokenizes identically, and greedy generation of 64 tokens is identical token for
/// token on every one of its 22 chat prompts (the script names the first divergence and llama.cpp's logit gap).
@Test(.integration, .timeLimit(.minutes(10))) func greedyGenerationMatchesLlamaCppTokenForToken() throws {
    guard let path = defaultModelPath(), let python = Fixtures.python() else { return }
    let process = try ChildProcess(
        python,
        [
            Fixtures.packageRoot.appendingPathComponent("tools/interop/llama_parity.py").path, "--model", path,
            "--openledger", DevnetProcess.binary.path, "--max-tokens", "64",
        ])
    let status = process.wait(timeout: 540)
    let summary = process.output.split(separator: "\n").last.map(String.init) ?? ""
    #expect(status == 0, "parity: \(summary.prefix(3_000)) \(process.errors.suffix(3_000))")
    let report = try Fixtures.json(Data(summary.utf8)) as? [String: Any]
    #expect(report?["tokenize_mismatches"] as? Int == 0)
    #expect((report?["prompts"] as? Int ?? 0) >= 20)
    #expect(report?["identical_generations"] as? Int == report?["prompts"] as? Int)
}
