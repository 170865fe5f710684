import CInferenceKernels
import Foundation
import Runtime

/// Token selection: greedy, or top-k → top-p → min-p → temperature → a draw from a seeded generator, with an optional
/// repetition penalty over the recent tokens.
///
/// The same seed and logits always give the same token.
public struct Sampler: Sendable {
    /// Softmax temperature; 0 or less is greedy.
    public var temperature: Float = 0
    /// Keep the K most likely tokens (0: all).
    public var topK = 40
    /// Keep the most likely tokens up to this probability mass (1: all).
    public var topP: Float = 0.95
    /// Drop tokens less likely than this fraction of the most likely one (0: none).
    public var minP: Float = 0.05
    /// Divides positive (multiplies negative) scores of recent tokens; 1 is none.
    public var repetitionPenalty: Float = 1
    /// How many recent tokens the repetition penalty looks at.
    public var repetitionWindow = 64
    /// The seed the draws started from (receipts name it, so an answer can be recomputed).
    public let seed: UInt64
    /// The draws: the one seeded source, so a seed replays the same tokens.
    private var random: SeededRandom

    /// A sampler with these settings, drawing from a generator seeded with `seed`.
    public init(
        temperature: Float = 0, topK: Int = 40, topP: Float = 0.95, minP: Float = 0.05, repetitionPenalty: Float = 1,
        seed: UInt64 = 0
    ) {
        self.temperature = temperature
        self.topK = topK
        self.topP = topP
        self.minP = minP
        self.repetitionPenalty = repetitionPenalty
        self.seed = seed
        random = SeededRandom(seed: seed)
    }

    /// The next token for these scores, `history` being the tokens so far (for the repetition penalty).
    public mutating func sample(_ logits: [Float], history: [Int32] = []) -> Int32 {
        logits.withUnsafeBufferPointer { sample($0, history: history) }
    }

    /// The same for scores in a buffer (no copy unless the repetition penalty applies).
    public mutating func sample(_ logits: UnsafeBufferPointer<Float>, history: [Int32] = []) -> Int32 {
        guard repetitionPenalty != 1 else { return draw(logits) }
        var logits = Array(logits)
        for token in Set(history.suffix(repetitionWindow)) where Int(token) < logits.count {
            let value = logits[Int(token)]
            logits[Int(token)] = value > 0 ? value / repetitionPenalty : value * repetitionPenalty
        }
        return logits.withUnsafeBufferPointer { draw($0) }
    }

    private mutating func draw(_ logits: UnsafeBufferPointer<Float>) -> Int32 {
        if temperature <= 0 {
            var best = 0
            for index in 1..<logits.count where logits[index] > logits[best] { best = index }
            return Int32(best)
        }
        // Without top-k, top-p or min-p the draw is over the whole distribution, in token order: no sorting.
        if (topK <= 0 || topK >= logits.count) && topP >= 1 && minP <= 0 {
            let maximum = logits.max() ?? 0
            // exp((logit − max) / T) for every token at once (ggml's vectorised exp), then one walk.
            var weights = logits.map { ($0 - maximum) / temperature }
            let total = weights.withUnsafeMutableBufferPointer { buffer in
                Float(olk_softmax(Int32(buffer.count), buffer.baseAddress, buffer.baseAddress, 0))
            }
            var draw = random.nextUnitFloat() * total
            for index in weights.indices {
                draw -= weights[index]
                if draw < 0 { return Int32(index) }
            }
            return Int32(logits.count - 1)
        }
        var candidates: [(index: Int, logit: Float)]
        if topK > 0 && topK < logits.count {
            // The k best in one pass: a small sorted list, entered only by values above its current minimum.
            candidates = []
            candidates.reserveCapacity(topK + 1)
            for (index, value) in logits.enumerated() {
                if candidates.count == topK, let last = candidates.last,
                    value < last.logit || (value == last.logit && index > last.index)
                {
                    continue
                }
                let position =
                    candidates.firstIndex { value > $0.logit || (value == $0.logit && index < $0.index) }
                    ?? candidates.count
                candidates.insert((index, value), at: position)
                if candidates.count > topK { candidates.removeLast() }
            }
        } else {
            candidates = logits.indices.map { (index: $0, logit: logits[$0]) }
            candidates.sort { $0.logit > $1.logit || ($0.logit == $1.logit && $0.index < $1.index) }
        }
        let maximum = candidates[0].logit
        var probabilities = candidates.map { expf(($0.logit - maximum) / temperature) }
        var total = probabilities.reduce(0, +)
        if topP < 1 {
            var cumulative: Float = 0
            var keep = probabilities.count
            for (index, probability) in probabilities.enumerated() {
                cumulative += probability / total
                if cumulative >= topP {
                    keep = index + 1
                    break
                }
            }
            probabilities = Array(probabilities.prefix(keep))
            candidates = Array(candidates.prefix(keep))
        }
        if minP > 0 {
            let threshold = probabilities[0] * minP
            let keep = max(1, probabilities.prefix { $0 >= threshold }.count)
            probabilities = Array(probabilities.prefix(keep))
            candidates = Array(candidates.prefix(keep))
        }
        total = probabilities.reduce(0, +)
        var draw = random.nextUnitFloat() * total
        for (index, probability) in probabilities.enumerated() {
            draw -= probability
            if draw < 0 { return Int32(candidates[index].index) }
        }
        return Int32(candidates[candidates.count - 1].index)
    }
}
