import Foundation
import Synchronization

/// Serves many generations on one model with continuous batching: requests wait in a bounded queue, up to
/// `slots` run at once, and each round the engine thread prefills newly admitted prompts, then advances every
/// running sequence by one token in a single batched step (each weight row read once for all of them). A new
/// request joins at the next round instead of waiting for the others to finish. Each slot keeps its own KV cache
/// and logits, allocated once.
public final class InferenceEngine: Sendable {
    public struct Request: Sendable {
        public var prompt: [Int32]
        public var maxTokens: Int
        public var sampler: Sampler
        public var stop: [String]
        /// Generate exactly `maxTokens` tokens, end-of-generation tokens included (llama.cpp's ignore_eos).
        public var ignoreEndOfGeneration: Bool

        public init(
            prompt: [Int32], maxTokens: Int, sampler: Sampler, stop: [String] = [], ignoreEndOfGeneration: Bool = false
        ) {
            self.prompt = prompt
            self.maxTokens = maxTokens
            self.sampler = sampler
            self.stop = stop
            self.ignoreEndOfGeneration = ignoreEndOfGeneration
        }
    }

    public enum Event: Sendable {
        /// New text (may be empty while a multi-byte character is incomplete); return false to cancel.
        case text(String)
        case finished(Generation)
        case failed(ModelError)
    }

    public enum SubmitError: Error, Equatable, Sendable {
        case busy(Int)
        case tooLong(String)
    }

    public let model: LlamaModel
    public let slots: Int
    public let contextLength: Int
    public let queueLimit: Int
    private let state = Mutex<(waiting: [Pending], running: Int)>(([], 0))
    private let wake = DispatchSemaphore(value: 0)
    private let compute: InferenceSession
    private let caches: [KVCache]

    struct Pending: @unchecked Sendable {
        let request: Request
        let onEvent: @Sendable (Event) -> Bool
    }

    public init(model: LlamaModel, slots: Int = 4, contextLength: Int = 2_048, threads: Int = 2, queueLimit: Int = 64) {
        self.model = model
        self.slots = max(1, slots)
        self.contextLength = min(contextLength, model.config.contextLength)
        self.queueLimit = queueLimit
        let capacity = min(contextLength, model.config.contextLength)
        compute = InferenceSession(
            model: model, capacity: capacity, threads: threads, maxBatch: max(64, slots), cacheCapacity: 1)
        caches = (0..<max(1, slots)).map { _ in KVCache(config: model.config, capacity: capacity) }
        let thread = Thread { [self] in run() }
        thread.name = "inference-engine"
        thread.start()
    }

    /// Queues a generation; `onEvent` is called on the engine thread.
    public func submit(_ request: Request, onEvent: @escaping @Sendable (Event) -> Bool) throws(SubmitError) {
        guard request.prompt.count + request.maxTokens <= contextLength else {
            throw .tooLong(
                "prompt of \(request.prompt.count) tokens + max_tokens \(request.maxTokens) exceeds the context of \(contextLength)"
            )
        }
        try state.withLock { state throws(SubmitError) in
            guard state.waiting.count < queueLimit else { throw .busy(state.waiting.count) }
            state.waiting.append(Pending(request: request, onEvent: onEvent))
        }
        wake.signal()
    }

    /// Requests waiting and running (for limits and metrics).
    public var load: (waiting: Int, running: Int) { state.withLock { ($0.waiting.count, $0.running) } }

    private final class Sequence {
        let pending: Pending
        let cache: KVCache
        var logits: [Float] = []
        /// The token sampled this round, to be evaluated in the batched step.
        var next: Int32?
        var sampler: Sampler
        var result = Generation()
        var history: [Int32]
        var bytes: [UInt8] = []
        var emitted = 0
        var prefilled = false
        var done = false
        var started = DispatchTime.now().uptimeNanoseconds

        init(_ pending: Pending, cache: KVCache) {
            self.pending = pending
            self.cache = cache
            sampler = pending.request.sampler
            history = pending.request.prompt
            result.promptTokens = pending.request.prompt
        }
    }

    private func run() {
        var active: [Sequence] = []
        var free = Array(caches.indices)
        var owner: [ObjectIdentifier: Int] = [:]
        while true {
            if active.isEmpty { wake.wait() }
            let admitted = state.withLock { state -> [Pending] in
                let count = min(free.count, state.waiting.count)
                defer {
                    state.waiting.removeFirst(count)
                    state.running += count
                }
                return Array(state.waiting.prefix(count))
            }
            for pending in admitted {
                let index = free.removeLast()
                let sequence = Sequence(pending, cache: caches[index])
                owner[ObjectIdentifier(sequence)] = index
                active.append(sequence)
            }
            for sequence in active where !sequence.prefilled { prefill(sequence) }
            let sampling = active.filter { !$0.done }
            for (sequence, token) in zip(sampling, sample(sampling)) { accept(sequence, token) }
            let stepping = active.filter { !$0.done && $0.next != nil }
            if !stepping.isEmpty {
                do {
                    let rows = try compute.decode(stepping.map { ($0.cache, $0.next!) })
                    let vocabulary = model.config.vocabulary
                    for (index, sequence) in stepping.enumerated() {
                        sequence.logits = Array(rows[(index * vocabulary)..<((index + 1) * vocabulary)])
                        sequence.next = nil
                    }
                } catch {
                    for sequence in stepping {
                        sequence.done = true
                        _ = sequence.pending.onEvent(.failed(error))
                    }
                }
            }
            for sequence in active where sequence.done {
                free.append(owner.removeValue(forKey: ObjectIdentifier(sequence))!)
                state.withLock { $0.running -= 1 }
            }
            active.removeAll { $0.done }
        }
    }

    /// A new sequence's prompt, which gives the scores for its first token.
    private func prefill(_ sequence: Sequence) {
        do {
            sequence.cache.reset()
            let start = DispatchTime.now().uptimeNanoseconds
            try compute.evaluate(sequence.pending.request.prompt, into: sequence.cache)
            sequence.logits = Array(compute.logits)
            sequence.result.prefillSeconds = Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9
            sequence.prefilled = true
            sequence.started = DispatchTime.now().uptimeNanoseconds
        } catch {
            sequence.done = true
            _ = sequence.pending.onEvent(.failed(error))
        }
    }

    /// Every sequence's next token; sequences are independent, so many are sampled on all cores at once.
    private func sample(_ sequences: [Sequence]) -> [Int32] {
        let count = sequences.count
        let parts = min(count / 4, ProcessInfo.processInfo.activeProcessorCount)
        if parts <= 1 { return sequences.map { $0.sampler.sample($0.logits, history: $0.history) } }
        let tokens = UnsafeMutableBufferPointer<Int32>.allocate(capacity: count)
        defer { tokens.deallocate() }
        let shared = SharedSequences(sequences: sequences, tokens: tokens)
        DispatchQueue.concurrentPerform(iterations: parts) { part in
            for index in stride(from: part, to: count, by: parts) {
                let sequence = shared.sequences[index]
                shared.tokens[index] = sequence.sampler.sample(sequence.logits, history: sequence.history)
            }
        }
        return Array(tokens)
    }

    private struct SharedSequences: @unchecked Sendable {
        let sequences: [Sequence]
        let tokens: UnsafeMutableBufferPointer<Int32>
    }

    /// One round for one sequence after its token is drawn: end of generation, text, stop strings, limits; or the
    /// token is queued for the batched step.
    private func accept(_ sequence: Sequence, _ token: Int32) {
        let request = sequence.pending.request
        if !request.ignoreEndOfGeneration && model.tokenizer.endOfGeneration.contains(token) {
            finish(sequence, reason: "stop")
            return
        }
        sequence.result.tokens.append(token)
        sequence.history.append(token)
        sequence.bytes += model.tokenizer.bytes(of: token)
        let text = String(decoding: sequence.bytes, as: UTF8.self)
        if let hit = request.stop.compactMap({ text.range(of: $0) }).min(by: { $0.lowerBound < $1.lowerBound }) {
            sequence.result.text = String(text[..<hit.lowerBound])
            emit(sequence, upTo: sequence.result.text)
            finish(sequence, reason: "stop", textSet: true)
            return
        }
        // Hold back an incomplete UTF-8 sequence and anything that could still become a stop string.
        var safe = text
        if text.hasSuffix("\u{FFFD}") { safe = String(text.dropLast()) }
        let holdBack =
            request.stop.map { stop in
                (1..<max(1, stop.count)).reversed().first { safe.hasSuffix(stop.prefix($0)) } ?? 0
            }.max() ?? 0
        if holdBack > 0 { safe = String(safe.dropLast(holdBack)) }
        guard emit(sequence, upTo: safe) else {
            finish(sequence, reason: "cancelled")
            return
        }
        if sequence.result.tokens.count >= request.maxTokens {
            finish(sequence, reason: "length")
            return
        }
        sequence.next = token
    }

    @discardableResult
    private func emit(_ sequence: Sequence, upTo text: String) -> Bool {
        let scalars = text.unicodeScalars
        guard scalars.count > sequence.emitted else { return true }
        let delta = String(String.UnicodeScalarView(scalars.dropFirst(sequence.emitted)))
        sequence.emitted = scalars.count
        return sequence.pending.onEvent(.text(delta))
    }

    private func finish(_ sequence: Sequence, reason: String, textSet: Bool = false) {
        sequence.done = true
        if !textSet { sequence.result.text = String(decoding: sequence.bytes, as: UTF8.self) }
        if reason != "cancelled" { emit(sequence, upTo: sequence.result.text) }
        sequence.result.finishReason = reason
        sequence.result.decodeSeconds = Double(DispatchTime.now().uptimeNanoseconds - sequence.started) / 1e9
        _ = sequence.pending.onEvent(.finished(sequence.result))
    }
}
