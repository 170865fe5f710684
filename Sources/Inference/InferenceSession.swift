import CInferenceKernels
import Dispatch
import Foundation

/// The keys and values of one sequence, f16 as llama.cpp keeps them: keys by position, values transposed (per
/// dimension, positions contiguous, padded to 64).
///
/// Allocated once for `capacity` positions.
public final class KVCache: @unchecked Sendable {
    /// Positions the cache holds.
    public let capacity: Int
    /// The next position to be written (the sequence's length so far).
    public internal(set) var position = 0
    let valueStride: Int
    let keys: UnsafeMutablePointer<UInt16>
    let values: UnsafeMutablePointer<UInt16>

    /// A zeroed cache for up to `capacity` positions of a model with `config`.
    public init(config: LlamaConfig, capacity: Int) {
        self.capacity = max(1, min(capacity, config.contextLength))
        valueStride = (self.capacity + 63) / 64 * 64
        let keyCount = config.layers * self.capacity * config.kvDimension
        let valueCount = config.layers * config.kvDimension * valueStride
        // calloc: zeroed pages that become resident only as positions are written.
        keys = calloc(keyCount, 2)!.assumingMemoryBound(to: UInt16.self)
        values = calloc(valueCount, 2)!.assumingMemoryBound(to: UInt16.self)
    }

    deinit {
        free(keys)
        free(values)
    }

    /// Forgets the sequence.
    public func reset() { position = 0 }
}

/// One sequence being generated: its KV cache (f16, as llama.cpp keeps it: keys by position, values transposed) and
/// scratch buffers allocated once for up to `maxBatch` tokens, so a decode step allocates nothing.
///
/// Prompts are evaluated in batches that read each weight row once for all their tokens; the per-token arithmetic is
/// the same as one token at a time, so batching never changes a result.
public final class InferenceSession: @unchecked Sendable {
    /// The model evaluated.
    public let model: LlamaModel
    /// Positions of the largest cache this session can evaluate into.
    public let capacity: Int
    /// Threads for the matrix products and attention.
    public let threads: Int
    /// Tokens evaluated in one forward pass at most.
    public let maxBatch: Int
    /// This session's own sequence.
    public let cache: KVCache
    /// The length of this session's own sequence.
    public var position: Int { cache.position }
    /// A copy of the next-token scores after the last evaluated token.
    public var logits: [Float] { withLogits { Array($0) } }

    /// Runs `body` on the next-token scores after the last evaluated token, without copying them; the buffer is
    /// overwritten by the next evaluation and must not escape `body`.
    public func withLogits<Result, Failure: Error>(
        _ body: (UnsafeBufferPointer<Float>) throws(Failure) -> Result
    ) throws(Failure) -> Result {
        try body(UnsafeBufferPointer(start: logitsBuffer, count: model.config.vocabulary))
    }

    private let valueStride: Int
    private let batchLogits: UnsafeMutablePointer<Float>
    private let x: UnsafeMutablePointer<Float>
    private let normed: UnsafeMutablePointer<Float>
    private let query: UnsafeMutablePointer<Float>
    private let key: UnsafeMutablePointer<Float>
    private let value: UnsafeMutablePointer<Float>
    private let attention: UnsafeMutablePointer<Float>
    private let projected: UnsafeMutablePointer<Float>
    private let gate: UnsafeMutablePointer<Float>
    private let up: UnsafeMutablePointer<Float>
    private let scores: UnsafeMutablePointer<Float>
    private let probabilities: UnsafeMutablePointer<UInt16>
    private let queryHalf: UnsafeMutablePointer<UInt16>
    private let valueHalves: UnsafeMutablePointer<UInt16>
    private let logitsBuffer: UnsafeMutablePointer<Float>
    private let activations: UnsafeMutableRawPointer
    private let activationStride: Int
    private let rope: UnsafeMutablePointer<Float>
    private var allocations: [UnsafeMutableRawPointer] = []
    let pool: WorkerPool
    /// The adapters this session's own evaluations apply (`evaluate`, `generate`), with their scales.
    public var adapters: [LoRAUse] = []
    /// The base model's shape, which every adapter used must have been checked against.
    let loraBase: LoRABase
    /// Room for one low-rank update per thread (grown to the largest adapter seen).
    var loraScratch: UnsafeMutablePointer<Float>?
    var loraScratchCount = 0
    /// The scaled low-rank products of the first stack position, added after the base product.
    var loraDeltas: UnsafeMutablePointer<Float>?
    var loraDeltaCount = 0
    /// The input of the next F32 matrix product (F32 weights read floats, not quantized activations).
    private var floatInput: UnsafeMutablePointer<Float>
    /// Whether this forward pass sums in the order of a batch of several tokens of one sequence.
    private var batchedOrder = false

    /// `cacheCapacity`: positions of the session's own cache (default: `capacity`); a session that only computes
    /// for other caches (a server's) keeps a token-sized one.
    public init(
        model: LlamaModel, capacity: Int? = nil, threads: Int = 1, maxBatch: Int = 64, cacheCapacity: Int? = nil
    ) {
        let config = model.config
        self.model = model
        loraBase = LoRABase(model: model)
        self.capacity = max(1, min(capacity ?? config.contextLength, config.contextLength))
        self.threads = max(1, threads)
        self.maxBatch = max(1, maxBatch)
        pool = WorkerPool(size: max(1, threads))
        cache = KVCache(config: config, capacity: min(self.capacity, cacheCapacity ?? self.capacity))
        valueStride = (self.capacity + 63) / 64 * 64
        var allocations: [UnsafeMutableRawPointer] = []
        func floats(_ count: Int) -> UnsafeMutablePointer<Float> {
            let pointer = UnsafeMutablePointer<Float>.allocate(capacity: count)
            pointer.initialize(repeating: 0, count: count)
            allocations.append(UnsafeMutableRawPointer(pointer))
            return pointer
        }
        func halves(_ count: Int) -> UnsafeMutablePointer<UInt16> {
            let pointer = UnsafeMutablePointer<UInt16>.allocate(capacity: count)
            pointer.initialize(repeating: 0, count: count)
            allocations.append(UnsafeMutableRawPointer(pointer))
            return pointer
        }
        let batch = self.maxBatch
        x = floats(batch * config.embedding)
        normed = floats(batch * config.embedding)
        query = floats(batch * config.embedding)
        attention = floats(batch * config.embedding)
        projected = floats(batch * config.embedding)
        key = floats(batch * config.kvDimension)
        value = floats(batch * config.kvDimension)
        gate = floats(batch * config.feedForward)
        up = floats(batch * config.feedForward)
        scores = floats(valueStride * self.threads)
        probabilities = halves(valueStride * self.threads)
        queryHalf = halves(config.headDimension * self.threads)
        valueHalves = halves(config.kvDimension)
        logitsBuffer = floats(config.vocabulary)
        floatInput = logitsBuffer
        batchLogits = floats(batch * config.vocabulary)
        rope = floats(batch * config.ropeDimensions)
        activationStride = max(config.embedding, config.feedForward) / 32 * 36
        let activationBytes = UnsafeMutableRawPointer.allocate(byteCount: batch * activationStride, alignment: 64)
        activationBytes.initializeMemory(as: UInt8.self, repeating: 0, count: batch * activationStride)
        allocations.append(activationBytes)
        activations = activationBytes
        self.allocations = allocations
    }

    deinit {
        for pointer in allocations { pointer.deallocate() }
        loraScratch?.deallocate()
        loraDeltas?.deallocate()
    }

    /// Forgets the sequence.
    public func reset() { cache.reset() }

    /// One decode step for several sequences at once (continuous batching): each cache gets its token at its next
    /// position, every weight row is read once for all of them, and `body` runs on the scores, row i holding cache i's
    /// next-token scores (the buffer is reused by the next step and must not escape `body`).
    ///
    /// The arithmetic per sequence is that of `evaluate(_:)`.
    public func decode<Result>(
        _ items: [(cache: KVCache, token: Int32)], _ body: (UnsafeBufferPointer<Float>) -> Result
    ) throws(ModelError) -> Result {
        try decode(items, adapters: [], body)
    }

    /// The same with adapters: row i applies `adapters[i]` (none when the list is empty or shorter).
    ///
    /// The base products run once for all rows; then each adapter's low-rank update runs for the rows that use it.
    public func decode<Result>(
        _ items: [(cache: KVCache, token: Int32)], adapters: [[LoRAUse]],
        _ body: (UnsafeBufferPointer<Float>) -> Result
    ) throws(ModelError) -> Result {
        let config = model.config
        try checkAdapters(adapters.flatMap { $0 })
        guard items.count <= maxBatch else {
            throw .unsupported("\(items.count) sequences exceed the batch of \(maxBatch)")
        }
        for item in items {
            guard item.token >= 0, Int(item.token) < config.vocabulary else {
                throw .malformed("token \(item.token) out of range")
            }
            guard item.cache.capacity <= capacity, item.cache.position < item.cache.capacity else {
                throw .unsupported("context of \(item.cache.capacity) tokens is full")
            }
        }
        let plan = LoRAPlan(rows: items.indices.map { $0 < adapters.count ? adapters[$0] : [] })
        forward(
            items.map(\.token)[...], rows: items.map { ($0.cache, $0.cache.position) }, logits: .all, prompt: false,
            lora: plan)
        for item in items { item.cache.position += 1 }
        return body(UnsafeBufferPointer(start: batchLogits, count: items.count * config.vocabulary))
    }

    /// Feeds one token at the next position; `logits` then holds the next-token scores.
    public func evaluate(_ token: Int32, computeLogits: Bool = true) throws(ModelError) {
        try evaluate([token], computeLogits: computeLogits)
    }

    /// Feeds tokens at the next positions (in batches of `maxBatch`); with `computeLogits`, `logits` then holds
    /// the scores after the last one.
    public func evaluate(_ tokens: [Int32], computeLogits: Bool = true) throws(ModelError) {
        try evaluate(tokens, computeLogits: computeLogits, into: cache, adapters: adapters)
    }

    /// The same into another sequence's cache (no larger than this session's), such as one slot of a server, with
    /// `adapters` applied to every token.
    public func evaluate(
        _ tokens: [Int32], computeLogits: Bool = true, into target: KVCache, adapters: [LoRAUse] = []
    ) throws(ModelError) {
        let config = model.config
        try checkAdapters(adapters)
        for token in tokens where token < 0 || Int(token) >= config.vocabulary {
            throw .malformed("token \(token) out of range")
        }
        guard target.capacity <= capacity else { throw .unsupported("a cache larger than the session") }
        guard target.position + tokens.count <= target.capacity else {
            throw .unsupported("\(target.position + tokens.count) tokens exceed the context of \(target.capacity)")
        }
        var start = 0
        while start < tokens.count {
            let end = min(tokens.count, start + maxBatch)
            let rows = (start..<end).map { (target, target.position + $0 - start) }
            forward(
                tokens[start..<end], rows: rows, logits: computeLogits && end == tokens.count ? .last : .none,
                prompt: tokens.count > 1, lora: LoRAPlan(rows: Array(repeating: adapters, count: end - start)))
            target.position += end - start
            start = end
        }
    }

    enum Logits { case none, last, all }

    /// Row t of the batch is `tokens[t]` at `rows[t].position` of `rows[t].cache`.
    private func forward(
        _ tokens: ArraySlice<Int32>, rows: [(cache: KVCache, position: Int)], logits: Logits, prompt: Bool,
        lora: LoRAPlan
    ) {
        let config = model.config
        let count = tokens.count
        let d = config.embedding
        let kv = config.kvDimension
        batchedOrder = prompt
        for (t, token) in tokens.enumerated() {
            Kernels.dequantizeRow(
                model.embeddings.row(Int(token)), type: model.embeddings.type, count: d, into: x + t * d)
            prepareRope(position: rows[t].position, into: rope + t * config.ropeDimensions)
        }
        for (index, layer) in model.layers.enumerated() {
            for t in 0..<count { rmsNorm(x + t * d, layer.attentionNorm, into: normed + t * d) }
            // One quantization serves every matrix of the same type that reads the same input.
            // Each adapted product's first low-rank updates run in the base product's parallel pass.
            func adapted(
                _ matrix: Matrix, _ target: LoRATarget, input: UnsafeMutablePointer<Float>,
                into out: UnsafeMutablePointer<Float>
            ) {
                let pass =
                    lora.isEmpty ? nil : loraPass(lora, layer: index, target: target, input: input, prompt: prompt)
                matmul(matrix, count: count, into: out, lora: pass)
                if !lora.isEmpty {
                    finishLoRA(pass, lora, layer: index, target: target, input: input, output: out, prompt: prompt)
                }
            }
            quantize(normed, width: d, count: count, for: layer.query.type)
            adapted(layer.query, .query, input: normed, into: query)
            if layer.key.type != layer.query.type { quantize(normed, width: d, count: count, for: layer.key.type) }
            adapted(layer.key, .key, input: normed, into: key)
            if layer.value.type != layer.key.type { quantize(normed, width: d, count: count, for: layer.value.type) }
            adapted(layer.value, .value, input: normed, into: value)
            for t in 0..<count {
                let angles = rope + t * config.ropeDimensions
                olk_rope(
                    query + t * d, Int32(config.heads), Int32(config.headDimension), Int32(config.ropeDimensions),
                    angles)
                olk_rope(
                    key + t * kv, Int32(config.kvHeads), Int32(config.headDimension), Int32(config.ropeDimensions),
                    angles)
                let target = rows[t].cache
                let slot = rows[t].position
                olk_f32_to_f16(key + t * kv, target.keys + (index * target.capacity + slot) * kv, Int32(kv))
                // Values are stored transposed: convert the row at once, then place each value in its column.
                olk_f32_to_f16(value + t * kv, valueHalves, Int32(kv))
                for i in 0..<kv { target.values[(index * kv + i) * target.valueStride + slot] = valueHalves[i] }
            }
            attendAll(layer: index, rows: rows, batched: prompt)
            quantize(attention, width: d, count: count, for: layer.attentionOutput.type)
            adapted(layer.attentionOutput, .attentionOutput, input: attention, into: projected)
            for i in 0..<(count * d) { x[i] += projected[i] }
            for t in 0..<count { rmsNorm(x + t * d, layer.feedForwardNorm, into: normed + t * d) }
            quantize(normed, width: d, count: count, for: layer.gate.type)
            adapted(layer.gate, .gate, input: normed, into: gate)
            if layer.up.type != layer.gate.type { quantize(normed, width: d, count: count, for: layer.up.type) }
            adapted(layer.up, .up, input: normed, into: up)
            olk_swiglu(Int32(count * config.feedForward), gate, gate, up)
            quantize(gate, width: config.feedForward, count: count, for: layer.down.type)
            adapted(layer.down, .down, input: gate, into: projected)
            for i in 0..<(count * d) { x[i] += projected[i] }
        }
        switch logits {
        case .none:
            return
        case .last:
            rmsNorm(x + (count - 1) * d, model.outputNorm, into: normed)
            quantize(normed, width: d, count: 1, for: model.output.type)
            matmul(model.output, count: 1, into: logitsBuffer)
            if !lora.isEmpty {
                applyLoRA(lora.lastRow, layer: nil, target: nil, input: normed, output: logitsBuffer, prompt: prompt)
            }
        case .all:
            for t in 0..<count { rmsNorm(x + t * d, model.outputNorm, into: normed + t * d) }
            quantize(normed, width: d, count: count, for: model.output.type)
            matmul(model.output, count: count, into: batchLogits)
            if !lora.isEmpty {
                applyLoRA(lora, layer: nil, target: nil, input: normed, output: batchLogits, prompt: prompt)
            }
        }
    }

    /// RMSNorm as ggml computes it: Σx² in double, mean and scale in float, then the weight.
    private func rmsNorm(_ input: UnsafeMutablePointer<Float>, _ weight: [Float], into out: UnsafeMutablePointer<Float>)
    {
        let n = weight.count
        var sum: Double = 0
        for i in 0..<n { sum += Double(input[i] * input[i]) }
        let mean = Float(sum / Double(n))
        let scale = 1 / (mean + model.config.rmsEpsilon).squareRoot()
        weight.withUnsafeBufferPointer { weight in
            for i in 0..<n { out[i] = input[i] * scale * weight[i] }
        }
    }

    /// cos and sin of θ_i = position · base^(−2i/d), θ accumulated by repeated multiplication as ggml does.
    private func prepareRope(position: Int, into out: UnsafeMutablePointer<Float>) {
        let dimensions = model.config.ropeDimensions
        let thetaScale = powf(model.config.ropeBase, -2 / Float(dimensions))
        var theta = Float(position)
        for i in 0..<(dimensions / 2) {
            out[2 * i] = cosf(theta)
            out[2 * i + 1] = sinf(theta)
            theta *= thetaScale
        }
    }

    /// Attention for every (token, head) of the batch, spread over the worker threads.
    private func attendAll(layer: Int, rows: [(cache: KVCache, position: Int)], batched: Bool) {
        let heads = model.config.heads
        let count = rows.count
        let items = count * heads
        let parts = min(threads, items)
        let session = SendableSession(self)
        let targets = SendableRows(rows)
        let d = model.config.embedding
        let work = { @Sendable (part: Int) in
            var item = part
            while item < items {
                let t = item / heads
                session.value.attend(
                    layer: layer, cache: targets.rows[t].cache, position: targets.rows[t].position, head: item % heads,
                    query: session.value.query + t * d,
                    out: session.value.attention + t * d, batched: batched, scratch: part)
                item += parts
            }
        }
        if parts <= 1 { work(0) } else { pool.run { part in if part < parts { work(part) } } }
    }

    /// One head of grouped-query attention for the token at `position`, as llama.cpp computes it: q·k in f16
    /// (query rounded to f16), softmax with ggml's vectorized exp over 16-value chunks, weights rounded to f16
    /// and dotted with the transposed f16 values; dots summed in llama.cpp's batched or single-token order.
    private func attend(
        layer: Int, cache: KVCache, position: Int, head: Int, query: UnsafeMutablePointer<Float>,
        out: UnsafeMutablePointer<Float>,
        batched: Bool, scratch: Int
    ) {
        let config = model.config
        let headDimension = config.headDimension
        let group = config.heads / config.kvHeads
        let scale = 1 / Float(headDimension).squareRoot()
        let count = position + 1
        let padded = (count + 15) / 16 * 16
        let valueLength = batched ? padded : (count + 63) / 64 * 64
        let scores = self.scores + scratch * valueStride
        let probabilities = self.probabilities + scratch * valueStride
        let queryHalf = self.queryHalf + scratch * headDimension
        let kvHead = head / group
        olk_f32_to_f16(query + head * headDimension, queryHalf, Int32(headDimension))
        var maximum = -Float.infinity
        olk_attention_scores(
            cache.keys + layer * cache.capacity * config.kvDimension + kvHead * headDimension, config.kvDimension,
            Int32(count), queryHalf, Int32(headDimension), scale, batched ? 1 : 0, scores, &maximum)
        for t in count..<padded { scores[t] = -.infinity }
        let sum = olk_softmax(Int32(padded), scores, scores, maximum)
        let inverse = Float(1 / sum)
        for t in 0..<padded { scores[t] *= inverse }
        for t in padded..<valueLength { scores[t] = 0 }
        olk_f32_to_f16(scores, probabilities, Int32(valueLength))
        let rows = cache.values + (layer * config.kvDimension + kvHead * headDimension) * cache.valueStride
        olk_attention_values(
            rows, cache.valueStride, probabilities, Int32(valueLength), Int32(headDimension), batched ? 1 : 0,
            out + head * headDimension)
    }

    /// Quantizes `count` rows of `width` values into the activation format paired with weights of `type`.
    private func quantize(_ input: UnsafeMutablePointer<Float>, width: Int, count: Int, for type: GGMLType) {
        if type == .f32 {
            floatInput = input
            return
        }
        for t in 0..<count {
            olk_quantize_activation(
                Int32(type.rawValue), input + t * width, Int32(width), activations + t * activationStride)
        }
    }

    /// out[t][r] = W row r · activation t for the quantized activations; rows split over threads.
    ///
    /// `lora`: low-rank updates that each part runs after its share of the product.
    private func matmul(_ matrix: Matrix, count: Int, into out: UnsafeMutablePointer<Float>, lora: LoRAJobs? = nil) {
        let type = Int32(matrix.type.rawValue)
        let columns = Int32(matrix.columns)
        let rows = matrix.rows
        let rowBytes = matrix.rowBytes
        let weights = SendableRaw(matrix.data)
        let act = SendableRaw(activations)
        let result = SendablePointer(out)
        let stride = activationStride
        let parts = threads == 1 || rows * count < 512 ? 1 : threads
        let chunk = ((rows + parts - 1) / parts + 15) / 16 * 16
        if matrix.type == .f32 {
            let input = SendablePointer(floatInput)
            let batched = batchedOrder
            let work = { @Sendable (index: Int) in
                defer { lora?.run(part: index, parts: parts) }
                let start = index * chunk
                let end = min(rows, start + chunk)
                guard start < end else { return }
                olk_matmul_f32(
                    weights.pointer.assumingMemoryBound(to: Float.self), Int32(start), Int32(end), columns,
                    input.pointer, Int32(count), batched ? 1 : 0, result.pointer, rows)
            }
            if parts == 1 { work(0) } else { pool.run(work) }
            return
        }
        let work = { @Sendable (index: Int) in
            defer { lora?.run(part: index, parts: parts) }
            let start = index * chunk
            let end = min(rows, start + chunk)
            guard start < end else { return }
            if count == 1 {
                olk_matvec(
                    type, weights.pointer, rowBytes, Int32(start), Int32(end), act.pointer, columns,
                    result.pointer + start)
            } else {
                olk_matmul(
                    type, weights.pointer, rowBytes, Int32(start), Int32(end), act.pointer, stride, Int32(count),
                    columns,
                    result.pointer, rows)
            }
        }
        if parts == 1 { work(0) } else { pool.run(work) }
    }
}

struct SendableRaw: @unchecked Sendable {
    let pointer: UnsafeRawPointer
    init(_ pointer: UnsafeRawPointer) { self.pointer = pointer }
}

struct SendablePointer: @unchecked Sendable {
    let pointer: UnsafeMutablePointer<Float>
    init(_ pointer: UnsafeMutablePointer<Float>) { self.pointer = pointer }
}

struct SendableSession: @unchecked Sendable {
    let value: InferenceSession
    init(_ value: InferenceSession) { self.value = value }
}

struct SendableRows: @unchecked Sendable {
    let rows: [(cache: KVCache, position: Int)]
    init(_ rows: [(cache: KVCache, position: Int)]) { self.rows = rows }
}
