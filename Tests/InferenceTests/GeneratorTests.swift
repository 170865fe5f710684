import Foundation
import Runtime
import TestSupport
import Testing

@testable import Inference

/// The tiny model's tokenizer: token b (0…255) is byte b; then five merges and three special tokens.
private let tinyTokenizer: Tokenizer = {
    let path = writeTemporary(GGUFWriter.tinyLlama().build(), name: "generator")
    defer { try? FileManager.default.removeItem(atPath: path) }
    return try! LlamaModel(path: path).tokenizer
}()

/// Feeds `tokens` one by one; returns every text delta and whether the last accept finished the generation.
private func run(_ generator: inout Generator, _ tokens: [Int32]) -> (deltas: [String], finished: Bool) {
    var deltas: [String] = []
    var finished = false
    for token in tokens {
        for action in generator.accept(token) {
            switch action {
            case .text(let text): deltas.append(text)
            case .evaluate(let evaluated): #expect(evaluated == token)
            case .finish: finished = true
            }
        }
    }
    return (deltas, finished)
}

private func bytes(_ text: String) -> [Int32] { text.utf8.map { Int32($0) } }

private func request(maxTokens: Int = 100, stop: [String] = [], ignoreEnd: Bool = false) -> GenerationRequest {
    GenerationRequest(
        prompt: [1], maxTokens: maxTokens, sampler: Sampler(), stop: stop, ignoreEndOfGeneration: ignoreEnd)
}

/// Multi-byte characters whose bytes arrive in separate tokens come out whole: no delta holds part of one.
@Test func textDeltasNeverSplitAMultiByteCharacter() {
    var generator = Generator(request(), tokenizer: tinyTokenizer)
    let text = "aé€😀z"
    var deltas: [String] = []
    for token in bytes(text) {
        let step = run(&generator, [token])
        #expect(!step.finished)
        deltas += step.deltas
    }
    #expect(deltas == ["a", "é", "€", "😀", "z"])
    #expect(!deltas.joined().contains("\u{FFFD}"))
    #expect(deltas.joined() == text)
    #expect(generator.result.tokens.count == text.utf8.count)

    // Nothing shows while the emoji's four bytes arrive; all of it with the last.
    var emoji = Generator(request(), tokenizer: tinyTokenizer)
    let parts = bytes("😀")
    for token in parts.dropLast() { #expect(run(&emoji, [token]).deltas.isEmpty) }
    #expect(run(&emoji, [parts.last!]).deltas == ["😀"])

    // Bytes no continuation can make valid are shown (replaced) at once rather than held back.
    var invalid = Generator(request(), tokenizer: tinyTokenizer)
    #expect(run(&invalid, [0xFF]).deltas == ["\u{FFFD}"])
    #expect(run(&invalid, [0x62]).deltas == ["b"])
}

/// The bytes that begin an unfinished UTF-8 sequence, by lead byte and the second byte's narrower ranges.
@Test(arguments: [
    ([UInt8](), 0), ([0x61], 0), ([0xC3], 1), ([0xC3, 0xA9], 0), ([0xE2, 0x82], 2), ([0xE2, 0x82, 0xAC], 0),
    ([0xF0, 0x9F, 0x98], 3), ([0xF0, 0x9F, 0x98, 0x80], 0), ([0x80], 0), ([0xFF], 0), ([0xC0], 0),
    ([0xE0, 0x80], 0), ([0xED, 0xA0], 0), ([0xF0, 0x80], 0), ([0xF4, 0x90], 0), ([0x61, 0xE0, 0xA0], 2),
])
func incompleteUTF8Suffixes(bytes: [UInt8], expected: Int) {
    #expect(Generator.incompleteSuffix(bytes) == expected, "\(bytes)")
}

/// A stop string ends the generation and is cut from the text; its first characters are held back until it is
/// clear they do not start it, and a near miss is shown in full.
@Test func stopStringsEndTheGenerationAndNeverShowEarly() {
    var generator = Generator(request(stop: ["END"]), tokenizer: tinyTokenizer)
    let before = run(&generator, bytes("ab E"))
    #expect(!before.finished)
    #expect(before.deltas.joined() == "ab ")
    let miss = run(&generator, bytes("Nx"))
    #expect(miss.deltas.joined() == "ENx")
    let hit = run(&generator, bytes(" EN") + bytes("D tail"))
    #expect(hit.finished)
    #expect((before.deltas + miss.deltas + hit.deltas).joined() == "ab ENx ")
    #expect(generator.result.text == "ab ENx ")
    #expect(generator.result.finishReason == .stop)
    #expect(generator.isFinished)
    #expect(generator.accept(0x61).isEmpty)

    // The earliest of several stop strings wins.
    var two = Generator(request(stop: ["yz", "x"]), tokenizer: tinyTokenizer)
    #expect(run(&two, bytes("wxyz")).finished)
    #expect(two.result.text == "w")
}

/// `maxTokens` ends the generation after that many tokens (text held back is shown at the end); an
/// end-of-generation token ends it without being counted, unless it is to be ignored; a reader that leaves
/// cancels it.
@Test func maxTokensEndOfGenerationAndCancellationEndAGeneration() throws {
    var limited = Generator(request(maxTokens: 3), tokenizer: tinyTokenizer)
    #expect(!run(&limited, bytes("ab")).finished)
    let last = limited.accept(0xC3)
    #expect(last == [.text("\u{FFFD}"), .finish])
    #expect(limited.result.tokens == bytes("ab") + [0xC3])
    #expect(limited.result.text == "ab\u{FFFD}")
    #expect(limited.result.finishReason == .length)

    let end = try #require(tinyTokenizer.eos)
    #expect(tinyTokenizer.endOfGeneration.contains(end))
    var ended = Generator(request(), tokenizer: tinyTokenizer)
    _ = run(&ended, bytes("hi"))
    #expect(ended.accept(end) == [.finish])
    #expect(ended.result.tokens == bytes("hi"))
    #expect(ended.result.text == "hi")
    #expect(ended.result.finishReason == .stop)

    var ignoring = Generator(request(maxTokens: 2, ignoreEnd: true), tokenizer: tinyTokenizer)
    #expect(ignoring.accept(end) == [.evaluate(end)])
    #expect(ignoring.accept(end) == [.finish])
    #expect(ignoring.result.tokens == [end, end])
    #expect(ignoring.result.finishReason == .length)

    var cancelled = Generator(request(), tokenizer: tinyTokenizer)
    _ = run(&cancelled, bytes("abc"))
    cancelled.cancel()
    #expect(cancelled.isFinished && cancelled.result.finishReason == .cancelled && cancelled.result.text == "abc")
}

/// The single-sequence loop hands out deltas that add up to the text, and stops when its reader says so.
@Test func theSessionLoopStreamsTheTextItReturns() throws {
    let path = writeTemporary(GGUFWriter.tinyLlama(seed: 9).build(), name: "loop")
    defer { try? FileManager.default.removeItem(atPath: path) }
    let model = try LlamaModel(path: path)
    let session = InferenceSession(model: model, capacity: 64)
    let prompt = model.tokenizer.encode("the theme")
    var deltas: [String] = []
    let result = try session.generate(
        GenerationRequest(prompt: prompt, maxTokens: 40, sampler: Sampler(temperature: 1, seed: 2))
    ) { delta in
        deltas.append(delta)
        return true
    }
    #expect(!deltas.contains(""))
    #expect(deltas.joined() == result.text)
    #expect(result.promptTokens == prompt)
    var heard = 0
    let stopped = try session.generate(
        GenerationRequest(prompt: prompt, maxTokens: 40, sampler: Sampler(temperature: 1, seed: 2))
    ) { _ in
        heard += 1
        return heard < 2
    }
    #expect(stopped.finishReason == .cancelled)
    #expect(heard == 2)
}

/// The sampler draws from `Runtime.SeededRandom`, whose unit floats are SplitMix64's top 24 bits (the values
/// below were computed apart from Swift), so a seed gives the tokens it always gave.
@Test func theSamplerDrawsTheSeededSplitMix64Floats() {
    var random = SeededRandom(seed: 5)
    let expected: [Float] = [
        0.38676804304122925, 0.7523069977760315, 0.2327091097831726, 0.09933936595916748, 0.18796008825302124,
        0.3806089162826538,
    ]
    #expect(expected.map { _ in random.nextUnitFloat() } == expected)
    // Over the whole distribution (no top-k, top-p, min-p) a draw u picks the first token whose cumulative
    // weight passes u·total: with four equal scores, token ⌊4u⌋.
    var sampler = Sampler(temperature: 1, topK: 0, topP: 1, minP: 0, seed: 5)
    let drawn = expected.map { _ in sampler.sample([0, 0, 0, 0]) }
    #expect(drawn == expected.map { Int32(($0 * 4).rounded(.down)) })
}
