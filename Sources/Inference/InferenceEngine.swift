import Foundation
import Synchronization

/// Serves many generations on one model with continuous batching: requests wait in a bounded queue, up to `slots` run
/// at once, and each round the engine thread prefills newly admitted prompts, then advances every running sequence by
/// one token in a single batched step (each weight row read once for all of them).
///
/// A new request joins at the next round instead of waiting for the others to finish. Each slot keeps its own KV cache
/// and logits, allocated once.
public final class InferenceEngine: Sendable {
    /// What to generate (the one request type of the generation loop).
    public typealias Request = GenerationRequest

    /// What a request's callback hears, on the engine thread.
    public enum Event: Sendable {
        /// New text (never empty, never a split UTF-8 sequence); return false to cancel.
        case text(String)
        /// The generation ended (its text, tokens, timings and reason).
        case finished(Generation)
        /// The model failed; nothing more follows.
        case failed(ModelError)
    }

    /// Why a request was refused.
    public enum SubmitError: Error, Equatable, Sendable {
        /// The queue is full; the number of requests waiting.
        case busy(Int)
        /// The prompt and the tokens asked for do not fit the context (the reason).
        case tooLong(String)
    }

    /// The model served.
    public let model: LlamaModel
    /// Generations running at once.
    public let slots: Int
    /// Positions per generation (prompt and generated tokens).
    public let contextLength: Int
    /// Requests waiting at most.
    public let queueLimit: Int
    private let state = Mutex<(waiting: [Pending], running: Int)>(([], 0))
    private let wake = DispatchSemaphore(value: 0)
    private let compute: InferenceSession
    private let caches: [KVCache]

    struct Pending: @unchecked Sendable {
        let request: Request
        let onEvent: @Sendable (Event) -> Bool
    }

    /// Starts the engine thread; each slot's cache is allocated now.
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
        /// The scores to draw the next token from.
        var logits: [Float] = []
        /// The token sampled this round, to be evaluated in the batched step.
        var next: Int32?
        var generator: Generator
        var prefillSeconds: Double = 0
        var prefilled = false
        var done = false
        var started = DispatchTime.now().uptimeNanoseconds

        init(_ pending: Pending, cache: KVCache, tokenizer: Tokenizer) {
            self.pending = pending
            self.cache = cache
            generator = Generator(pending.request, tokenizer: tokenizer)
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
                let sequence = Sequence(pending, cache: caches[index], tokenizer: model.tokenizer)
                owner[ObjectIdentifier(sequence)] = index
                active.append(sequence)
            }
            for sequence in active where !sequence.prefilled { prefill(sequence) }
            let sampling = active.filter { !$0.done }
            for (sequence, token) in zip(sampling, sample(sampling)) { accept(sequence, token) }
            let stepping = active.filter { !$0.done && $0.next != nil }
            if !stepping.isEmpty {
                do {
                    let vocabulary = model.config.vocabulary
                    try compute.decode(
                        stepping.map { ($0.cache, $0.next!) }, adapters: stepping.map(\.pending.request.adapters)
                    ) { rows in
                        for (index, sequence) in stepping.enumerated() {
                            let row = UnsafeBufferPointer(
                                rebasing: rows[(index * vocabulary)..<((index + 1) * vocabulary)])
                            if sequence.logits.count == vocabulary {
                                sequence.logits.withUnsafeMutableBufferPointer { _ = $0.update(fromContentsOf: row) }
                            } else {
                                sequence.logits = Array(row)
                            }
                            sequence.next = nil
                        }
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
            try compute.evaluate(
                sequence.pending.request.prompt, into: sequence.cache, adapters: sequence.pending.request.adapters)
            sequence.logits = compute.logits
            sequence.prefillSeconds = Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9
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
        if parts <= 1 { return sequences.map { $0.generator.sample($0.logits) } }
        let tokens = UnsafeMutableBufferPointer<Int32>.allocate(capacity: count)
        defer { tokens.deallocate() }
        let shared = SharedSequences(sequences: sequences, tokens: tokens)
        DispatchQueue.concurrentPerform(iterations: parts) { part in
            for index in stride(from: part, to: count, by: parts) {
                let sequence = shared.sequences[index]
                shared.tokens[index] = sequence.generator.sample(sequence.logits)
            }
        }
        return Array(tokens)
    }

    private struct SharedSequences: @unchecked Sendable {
        let sequences: [Sequence]
        let tokens: UnsafeMutableBufferPointer<Int32>
    }

    /// One round for one sequence after its token is drawn: the generator decides (text, stop conditions, limits)
    /// and the engine carries it out, the token being queued for the batched step.
    private func accept(_ sequence: Sequence, _ token: Int32) {
        for action in sequence.generator.accept(token) {
            switch action {
            case .text(let text):
                guard sequence.pending.onEvent(.text(text)) else {
                    sequence.generator.cancel()
                    finish(sequence)
                    return
                }
            case .evaluate(let token): sequence.next = token
            case .finish: finish(sequence)
            }
        }
    }

    private func finish(_ sequence: Sequence) {
        sequence.done = true
        var result = sequence.generator.result
        result.prefillSeconds = sequence.prefillSeconds
        result.decodeSeconds = Double(DispatchTime.now().uptimeNanoseconds - sequence.started) / 1e9
        _ = sequence.pending.onEvent(.finished(result))
    }
}
