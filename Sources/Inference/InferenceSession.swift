import Dispatch
import Foundation

/// One sequence being generated: its KV cache (f16, as llama.cpp keeps it) and scratch buffers allocated once,
/// so a decode step allocates nothing.
public final class InferenceSession: @unchecked Sendable {
    public let model: LlamaModel
    public let capacity: Int
    public let threads: Int
    public private(set) var position = 0
    private var keys: [Float16]
    private var values: [Float16]
    private var x: [Float]
    private var normed: [Float]
    private var query: [Float]
    private var key: [Float]
    private var value: [Float]
    private var attention: [Float]
    private var projected: [Float]
    private var gate: [Float]
    private var up: [Float]
    private var scores: [Float]
    public private(set) var logits: [Float]
    private var activation: Kernels.QuantizedActivation
    private var wideActivation: Kernels.QuantizedActivation
    private var ropeCos: [Float]
    private var ropeSin: [Float]

    public init(model: LlamaModel, capacity: Int? = nil, threads: Int = 1) {
        let config = model.config
        self.model = model
        self.capacity = min(capacity ?? config.contextLength, config.contextLength)
        self.threads = max(1, threads)
        let cache = config.layers * self.capacity * config.kvDimension
        keys = [Float16](repeating: 0, count: cache)
        values = [Float16](repeating: 0, count: cache)
        x = [Float](repeating: 0, count: config.embedding)
        normed = x
        query = x
        attention = x
        projected = x
        key = [Float](repeating: 0, count: config.kvDimension)
        value = key
        gate = [Float](repeating: 0, count: config.feedForward)
        up = gate
        scores = [Float](repeating: 0, count: self.capacity)
        logits = [Float](repeating: 0, count: config.vocabulary)
        activation = Kernels.QuantizedActivation(blocks: config.embedding / 32)
        wideActivation = Kernels.QuantizedActivation(blocks: config.feedForward / 32)
        ropeCos = [Float](repeating: 0, count: config.ropeDimensions / 2)
        ropeSin = ropeCos
    }

    /// Forgets the sequence.
    public func reset() { position = 0 }

    /// Feeds `token` at the next position; `logits` then holds the next-token scores.
    public func evaluate(_ token: Int32, computeLogits: Bool = true) throws(ModelError) {
        let config = model.config
        guard token >= 0, Int(token) < config.vocabulary else { throw .malformed("token \(token) out of range") }
        guard position < capacity else { throw .unsupported("context of \(capacity) tokens is full") }
        x.withUnsafeMutableBufferPointer {
            Kernels.dequantizeRow(
                model.embeddings.row(Int(token)), type: model.embeddings.type, count: config.embedding,
                into: $0.baseAddress!)
        }
        prepareRope()
        for (index, layer) in model.layers.enumerated() {
            rmsNorm(x, layer.attentionNorm, into: &normed)
            matvec(layer.query, normed, into: &query)
            matvec(layer.key, normed, into: &key)
            matvec(layer.value, normed, into: &value)
            rope(&query, heads: config.heads)
            rope(&key, heads: config.kvHeads)
            let base = (index * capacity + position) * config.kvDimension
            for i in 0..<config.kvDimension {
                keys[base + i] = Float16(key[i])
                values[base + i] = Float16(value[i])
            }
            attend(layer: index)
            matvec(layer.attentionOutput, attention, into: &projected)
            for i in 0..<config.embedding { x[i] += projected[i] }
            rmsNorm(x, layer.feedForwardNorm, into: &normed)
            matvec(layer.gate, normed, into: &gate)
            matvec(layer.up, normed, into: &up)
            for i in 0..<config.feedForward {
                let g = gate[i]
                gate[i] = g / (1 + expf(-g)) * up[i]
            }
            matvec(layer.down, gate, into: &projected)
            for i in 0..<config.embedding { x[i] += projected[i] }
        }
        position += 1
        guard computeLogits else { return }
        rmsNorm(x, model.outputNorm, into: &normed)
        matvec(model.output, normed, into: &logits)
    }

    /// RMSNorm as ggml computes it: Σx² in double, mean and scale in float, then the weight.
    private func rmsNorm(_ input: [Float], _ weight: [Float], into out: inout [Float]) {
        var sum: Double = 0
        for value in input { sum += Double(value * value) }
        let mean = Float(sum / Double(input.count))
        let scale = 1 / (mean + model.config.rmsEpsilon).squareRoot()
        for i in 0..<input.count { out[i] = input[i] * scale * weight[i] }
    }

    /// cos and sin of θ_i = position · base^(−2i/d), θ accumulated by repeated multiplication as ggml does.
    private func prepareRope() {
        let dimensions = model.config.ropeDimensions
        let thetaScale = powf(model.config.ropeBase, -2 / Float(dimensions))
        var theta = Float(position)
        for i in 0..<(dimensions / 2) {
            ropeCos[i] = cosf(theta)
            ropeSin[i] = sinf(theta)
            theta *= thetaScale
        }
    }

    /// llama's "normal" RoPE: adjacent pairs (x₂ᵢ, x₂ᵢ₊₁) rotated within each head.
    private func rope(_ vector: inout [Float], heads: Int) {
        let headDimension = model.config.headDimension
        for head in 0..<heads {
            let base = head * headDimension
            for i in 0..<(model.config.ropeDimensions / 2) {
                let a = vector[base + 2 * i]
                let b = vector[base + 2 * i + 1]
                vector[base + 2 * i] = a * ropeCos[i] - b * ropeSin[i]
                vector[base + 2 * i + 1] = a * ropeSin[i] + b * ropeCos[i]
            }
        }
    }

    /// Grouped-query attention over the cache, with f16 keys, values, query and weights as in llama.cpp.
    private func attend(layer: Int) {
        let config = model.config
        let headDimension = config.headDimension
        let group = config.heads / config.kvHeads
        let scale = 1 / Float(headDimension).squareRoot()
        let count = position + 1
        keys.withUnsafeBufferPointer { keys in
            values.withUnsafeBufferPointer { values in
                for head in 0..<config.heads {
                    let kvHead = head / group
                    let q = (0..<headDimension).map { Float(Float16(query[head * headDimension + $0])) }
                    var maximum = -Float.infinity
                    for t in 0..<count {
                        let base = (layer * capacity + t) * config.kvDimension + kvHead * headDimension
                        var dot: Float = 0
                        for i in 0..<headDimension { dot += Float(keys[base + i]) * q[i] }
                        scores[t] = dot * scale
                        maximum = max(maximum, scores[t])
                    }
                    var sum: Double = 0
                    for t in 0..<count {
                        scores[t] = expf(scores[t] - maximum)
                        sum += Double(scores[t])
                    }
                    let inverse = Float(1 / sum)
                    for t in 0..<count { scores[t] = Float(Float16(scores[t] * inverse)) }
                    for i in 0..<headDimension {
                        var total: Float = 0
                        for t in 0..<count {
                            total +=
                                scores[t]
                                * Float(
                                    values[(layer * capacity + t) * config.kvDimension + kvHead * headDimension + i])
                        }
                        attention[head * headDimension + i] = total
                    }
                }
            }
        }
    }

    /// out = W · input, with the input quantized the way ggml pairs it with W's type; rows split over threads.
    private func matvec(_ matrix: Matrix, _ input: [Float], into out: inout [Float]) {
        let blocks = matrix.columns / 32
        var quantized = matrix.columns == model.config.embedding ? activation : wideActivation
        input.withUnsafeBufferPointer { quantized.quantize($0.baseAddress!, count: matrix.columns) }
        let rows = matrix.rows
        let activationCopy = quantized
        out.withUnsafeMutableBufferPointer { out in
            let result = SendablePointer(out.baseAddress!)
            let work = { @Sendable (start: Int, end: Int) in
                let quantized = activationCopy
                let result = result.pointer
                switch matrix.type {
                case .q4_1:
                    for r in start..<end { result[r] = Kernels.dotQ4_1(matrix.row(r), quantized, blocks: blocks) }
                case .q8_0:
                    for r in start..<end { result[r] = Kernels.dotQ8_0(matrix.row(r), quantized, blocks: blocks) }
                case .q4_0:
                    for r in start..<end { result[r] = Kernels.dotQ4_0(matrix.row(r), quantized, blocks: blocks) }
                case .f32, .f16: break
                }
            }
            if threads == 1 || rows < 256 {
                work(0, rows)
            } else {
                let chunk = (rows + threads - 1) / threads
                DispatchQueue.concurrentPerform(iterations: threads) { index in
                    work(index * chunk, min(rows, (index + 1) * chunk))
                }
            }
        }
        if matrix.columns == model.config.embedding { activation = quantized } else { wideActivation = quantized }
    }
}

struct SendablePointer: @unchecked Sendable {
    let pointer: UnsafeMutablePointer<Float>
    init(_ pointer: UnsafeMutablePointer<Float>) { self.pointer = pointer }
}
