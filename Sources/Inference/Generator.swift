import Foundation

/// Why a generation ended.
public enum FinishReason: String, Equatable, Sendable {
    /// `maxTokens` tokens were generated.
    case length
    /// An end-of-generation token was drawn, or a stop string appeared.
    case stop
    /// The reader of the text stopped it.
    case cancelled
}

/// What to generate: the prompt's tokens, the token limit, the sampler and the stop strings.
public struct GenerationRequest: Sendable {
    /// The prompt, already tokenized.
    public var prompt: [Int32]
    /// Tokens to generate at most.
    public var maxTokens: Int
    /// Token selection, with its seed.
    public var sampler: Sampler
    /// Texts that end the generation; the text returned stops before the first one.
    public var stop: [String]
    /// Generate exactly `maxTokens` tokens, end-of-generation tokens included (llama.cpp's ignore_eos).
    public var ignoreEndOfGeneration: Bool
    /// The LoRA adapters applied, stacked in this order, with their scales (none: the base model).
    public var adapters: [LoRAUse]

    /// A request for up to `maxTokens` tokens after `prompt`.
    public init(
        prompt: [Int32], maxTokens: Int, sampler: Sampler, stop: [String] = [], ignoreEndOfGeneration: Bool = false,
        adapters: [LoRAUse] = []
    ) {
        self.adapters = adapters
        self.prompt = prompt
        self.maxTokens = maxTokens
        self.sampler = sampler
        self.stop = stop
        self.ignoreEndOfGeneration = ignoreEndOfGeneration
    }
}

/// A generation's outcome: prompt and generated tokens, the text, timings and why it ended.
public struct Generation: Sendable {
    /// The prompt's tokens.
    public var promptTokens: [Int32] = []
    /// The generated tokens (an end-of-generation token that ended it is not among them).
    public var tokens: [Int32] = []
    /// The generated text, cut before a stop string.
    public var text = ""
    /// Seconds spent evaluating the prompt.
    public var prefillSeconds: Double = 0
    /// Seconds from the end of the prompt to the end of the generation.
    public var decodeSeconds: Double = 0
    /// Why the generation ended.
    public var finishReason: FinishReason = .length

    /// Prompt tokens per second.
    public var prefillTokensPerSecond: Double { prefillSeconds > 0 ? Double(promptTokens.count) / prefillSeconds : 0 }
    /// Generated tokens per second.
    public var decodeTokensPerSecond: Double { decodeSeconds > 0 ? Double(tokens.count) / decodeSeconds : 0 }
}

/// The generation loop's decisions for one sequence, apart from the model: it draws each token from the scores, applies
/// the stop conditions (max tokens, end-of-generation, stop strings) and turns the tokens' bytes into text deltas that
/// never split a UTF-8 sequence nor show the start of a stop string too early.
///
/// The single-sequence loop (`InferenceSession.generate`) and the batched engine (`InferenceEngine`) both drive it and
/// carry out its actions, so `infer` and `serve` produce the same tokens and the same text.
public struct Generator: Sendable {
    /// What the driver does next, in order.
    public enum Action: Equatable, Sendable {
        /// Pass this new text on to the reader.
        case text(String)
        /// Evaluate this token, then sample the next one from the scores it gives.
        case evaluate(Int32)
        /// The generation is over; `result` is final.
        case finish
    }

    /// What is being generated.
    public let request: GenerationRequest
    /// The generation so far: its tokens as they come, its text and reason once finished (timings are the
    /// driver's to fill in).
    public private(set) var result = Generation()
    /// True once `finish` was returned or `cancel()` called.
    public private(set) var isFinished = false
    private let tokenizer: Tokenizer
    private var sampler: Sampler
    private var history: [Int32]
    private var bytes: [UInt8] = []
    /// Unicode scalars of the text already handed out as deltas.
    private var emitted = 0

    /// A generator for `request`, reading token bytes and end-of-generation tokens from `tokenizer`.
    public init(_ request: GenerationRequest, tokenizer: Tokenizer) {
        self.request = request
        self.tokenizer = tokenizer
        sampler = request.sampler
        history = request.prompt
        result.promptTokens = request.prompt
    }

    /// Draws the next token from the scores after the last evaluated token.
    public mutating func sample(_ logits: UnsafeBufferPointer<Float>) -> Int32 {
        sampler.sample(logits, history: history)
    }

    /// Draws the next token from scores held in an array.
    public mutating func sample(_ logits: [Float]) -> Int32 { sampler.sample(logits, history: history) }

    /// Takes the drawn token: returns the text to show, then either the token to evaluate or the end.
    public mutating func accept(_ token: Int32) -> [Action] {
        guard !isFinished else { return [] }
        guard result.tokens.count < request.maxTokens else { return finish(.length) }
        if !request.ignoreEndOfGeneration && tokenizer.endOfGeneration.contains(token) { return finish(.stop) }
        result.tokens.append(token)
        history.append(token)
        bytes += tokenizer.bytes(of: token)
        let text = String(decoding: bytes, as: UTF8.self)
        if let hit = request.stop.compactMap({ text.range(of: $0) }).min(by: { $0.lowerBound < $1.lowerBound }) {
            return finish(.stop, text: String(text[..<hit.lowerBound]))
        }
        // Hold back an incomplete UTF-8 sequence and anything that could still become a stop string.
        let incomplete = Self.incompleteSuffix(bytes)
        var safe = incomplete == 0 ? text : String(decoding: bytes.dropLast(incomplete), as: UTF8.self)
        let holdBack =
            request.stop.map { stop in
                (1..<max(1, stop.count)).reversed().first { safe.hasSuffix(stop.prefix($0)) } ?? 0
            }.max() ?? 0
        if holdBack > 0 { safe = String(safe.dropLast(holdBack)) }
        var actions = delta(upTo: safe)
        if result.tokens.count >= request.maxTokens { return actions + finish(.length) }
        actions.append(.evaluate(token))
        return actions
    }

    /// Ends the generation because its reader has gone: the text is everything generated, nothing more is shown.
    public mutating func cancel() {
        guard !isFinished else { return }
        isFinished = true
        result.text = String(decoding: bytes, as: UTF8.self)
        result.finishReason = .cancelled
    }

    private mutating func finish(_ reason: FinishReason, text: String? = nil) -> [Action] {
        isFinished = true
        result.text = text ?? String(decoding: bytes, as: UTF8.self)
        result.finishReason = reason
        return delta(upTo: result.text) + [.finish]
    }

    /// The scalars of `text` not yet handed out, as a text action (none when there are none).
    private mutating func delta(upTo text: String) -> [Action] {
        let scalars = text.unicodeScalars
        guard scalars.count > emitted else { return [] }
        let delta = String(String.UnicodeScalarView(scalars.dropFirst(emitted)))
        emitted = scalars.count
        return [.text(delta)]
    }

    /// How many bytes at the end of `bytes` begin a UTF-8 sequence that later bytes can still complete (0 when
    /// the bytes end on a character boundary, or in bytes no continuation can make valid).
    static func incompleteSuffix(_ bytes: [UInt8]) -> Int {
        var index = bytes.count - 1
        var continuations = 0
        while index >= 0, continuations < 3, bytes[index] & 0xC0 == 0x80 {
            continuations += 1
            index -= 1
        }
        guard index >= 0 else { return 0 }
        let lead = bytes[index]
        let length =
            switch lead {
            case 0xC2...0xDF: 2
            case 0xE0...0xEF: 3
            case 0xF0...0xF4: 4
            default: 0
            }
        guard length > continuations + 1 else { return 0 }
        if continuations > 0 {
            // The second byte's narrower ranges (no overlong forms, surrogates or code points past U+10FFFF).
            let second = bytes[index + 1]
            switch lead {
            case 0xE0 where second < 0xA0, 0xED where second > 0x9F, 0xF0 where second < 0x90,
                0xF4 where second > 0x8F:
                return 0
            default: break
            }
        }
        return continuations + 1
    }
}

extension InferenceSession {
    /// Generates for `request` in this session's own cache, one token at a time; `onText` sees each text delta
    /// as it is produced (return false to stop).
    public func generate(
        _ request: GenerationRequest, onText: (String) -> Bool = { _ in true }
    ) throws(ModelError) -> Generation {
        guard !request.prompt.isEmpty else { throw .malformed("empty prompt") }
        guard request.prompt.count + request.maxTokens <= capacity else {
            throw .unsupported(
                "prompt of \(request.prompt.count) tokens + \(request.maxTokens) new exceeds the context of \(capacity)"
            )
        }
        reset()
        let saved = adapters
        adapters = request.adapters
        defer { adapters = saved }
        var generator = Generator(request, tokenizer: model.tokenizer)
        let start = DispatchTime.now().uptimeNanoseconds
        try evaluate(request.prompt)
        let decodeStart = DispatchTime.now().uptimeNanoseconds
        generation: while !generator.isFinished {
            let token = withLogits { generator.sample($0) }
            for action in generator.accept(token) {
                switch action {
                case .text(let text):
                    if !onText(text) {
                        generator.cancel()
                        break generation
                    }
                case .evaluate(let token): try evaluate(token)
                case .finish: break generation
                }
            }
        }
        var result = generator.result
        result.prefillSeconds = Double(decodeStart - start) / 1e9
        result.decodeSeconds = Double(DispatchTime.now().uptimeNanoseconds - decodeStart) / 1e9
        return result
    }

    /// Generates up to `maxTokens` tokens after `prompt`; `onText` sees each text delta (return false to stop).
    public func generate(
        prompt: [Int32], maxTokens: Int, sampler: Sampler, stop: [String] = [],
        onText: (String) -> Bool = { _ in true }
    ) throws(ModelError) -> Generation {
        try generate(
            GenerationRequest(prompt: prompt, maxTokens: maxTokens, sampler: sampler, stop: stop), onText: onText)
    }
}
