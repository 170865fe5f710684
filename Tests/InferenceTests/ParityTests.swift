import Foundation
import TestSupport
import Testing

@testable import Inference

/// llama.cpp (through llama-cpp-python, tools/interop/llama_reference.py) and our tokenizer agree on every
/// string of the mixed corpus — English, other scripts, code, emoji, whitespace runs, special tokens — with
/// special tokens parsed and not.
@Test(.timeLimit(.minutes(5))) func tokenizationMatchesLlamaCpp() throws {
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
