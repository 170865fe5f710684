import Foundation

/// Prompt in, tokens out: prefill, then decode with a sampler until max tokens, end of sequence or a stop
/// sequence, with timings.
public struct Generation: Sendable {
    public var promptTokens: [Int32] = []
    public var tokens: [Int32] = []
    public var text = ""
    public var prefillSeconds: Double = 0
    public var decodeSeconds: Double = 0
    public var finishReason = "length"

    public var prefillTokensPerSecond: Double { prefillSeconds > 0 ? Double(promptTokens.count) / prefillSeconds : 0 }
    public var decodeTokensPerSecond: Double { decodeSeconds > 0 ? Double(tokens.count) / decodeSeconds : 0 }
}

extension InferenceSession {
    /// Generates from `prompt`; `onToken` sees each new token's text as it is produced (return false to stop).
    public func generate(
        prompt: [Int32], maxTokens: Int, sampler: Sampler, stop: [String] = [],
        onToken: (Int32, String) -> Bool = { _, _ in true }
    ) throws(ModelError) -> Generation {
        var sampler = sampler
        var result = Generation()
        result.promptTokens = prompt
        guard !prompt.isEmpty else { throw .malformed("empty prompt") }
        guard prompt.count + maxTokens <= capacity else {
            throw .unsupported("prompt of \(prompt.count) tokens + \(maxTokens) new exceeds the context of \(capacity)")
        }
        reset()
        var start = DispatchTime.now().uptimeNanoseconds
        try evaluate(prompt)
        result.prefillSeconds = Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9
        start = DispatchTime.now().uptimeNanoseconds
        var bytes: [UInt8] = []
        var history = prompt
        while result.tokens.count < maxTokens {
            let token = sampler.sample(Array(logits), history: history)
            if model.tokenizer.endOfGeneration.contains(token) {
                result.finishReason = "stop"
                break
            }
            result.tokens.append(token)
            history.append(token)
            bytes += model.tokenizer.bytes(of: token)
            let text = String(decoding: bytes, as: UTF8.self)
            if let hit = stop.compactMap({ text.range(of: $0) }).min(by: { $0.lowerBound < $1.lowerBound }) {
                result.text = String(text[..<hit.lowerBound])
                result.finishReason = "stop"
                result.decodeSeconds = Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9
                return result
            }
            guard onToken(token, model.tokenizer.decode([token])) else { break }
            if result.tokens.count < maxTokens { try evaluate(token) }
        }
        result.decodeSeconds = Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9
        result.text = String(decoding: bytes, as: UTF8.self)
        return result
    }
}
