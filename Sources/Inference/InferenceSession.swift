import CInferenceKernels
import Dispatch
import Foundation

/// One sequence being generated: its KV cache (f16, as llama.cpp keeps it) and scratch buffers allocated once,
/// so a decode step allocates nothing.
public final class InferenceSession: @unchecked Sendable {
    public let model: LlamaModel
    public let capacity: Int
    public let threads: Int
    public private(set) var position = 0
    private var keys: [UInt16]
    private var values: [UInt16]
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
    private var activation: [UInt8]
    private var queryHalf: [UInt16]
    private var probabilities: [UInt16]
    private var ropeCos: [Float]
    private var ropeSin: [Float]

    public init(model: LlamaModel, capacity: Int? = nil, threads: Int = 1) {
        let config = model.config
        self.model = model
        self.capacity = min(capacity ?? config.contextLength, config.contextLength)
        self.threads = max(1, threads)
        let cache = config.layers * self.capacity * config.kvDimension
        keys = [UInt16](repeating: 0, count: cache)
        // Values are kept transposed (per dimension, positions contiguous, padded to 16) as llama.cpp does.
        values = [UInt16](repeating: 0, count: config.layers * config.kvDimension * ((self.capacity + 15) / 16 * 16))
        x = [Float](repeating: 0, count: config.embedding)
        normed = x
        query = x
        attention = x
        projected = x
        key = [Float](repeating: 0, count: config.kvDimension)
        value = key
        gate = [Float](repeating: 0, count: config.feedForward)
        up = gate
        scores = [Float](repeating: 0, count: (self.capacity + 15) / 16 * 16)
        logits = [Float](repeating: 0, count: config.vocabulary)
        activation = [UInt8](repeating: 0, count: max(config.embedding, config.feedForward) / 32 * 36)
        queryHalf = [UInt16](repeating: 0, count: config.headDimension)
        probabilities = [UInt16](repeating: 0, count: (self.capacity + 15) / 16 * 16)
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
            let stride = (capacity + 15) / 16 * 16
            for i in 0..<config.kvDimension {
                keys[base + i] = Float16(key[i]).bitPattern
                values[(index * config.kvDimension + i) * stride + position] = Float16(value[i]).bitPattern
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

    /// Grouped-query attention over the cache: q·k in f16 (query rounded to f16), softmax in f32, weights
    /// rounded to f16 and dotted with the transposed f16 values, as llama.cpp's CPU path computes it.
    private func attend(layer: Int) {
        let config = model.config
        let headDimension = config.headDimension
        let group = config.heads / config.kvHeads
        let scale = 1 / Float(headDimension).squareRoot()
        let count = position + 1
        let padded = (count + 15) / 16 * 16
        let stride = (capacity + 15) / 16 * 16
        keys.withUnsafeBufferPointer { keys in
            values.withUnsafeBufferPointer { values in
                for head in 0..<config.heads {
                    let kvHead = head / group
                    query.withUnsafeBufferPointer {
                        olk_f32_to_f16($0.baseAddress! + head * headDimension, &queryHalf, Int32(headDimension))
                    }
                    var maximum = -Float.infinity
                    for t in 0..<count {
                        let base = (layer * capacity + t) * config.kvDimension + kvHead * headDimension
                        let dot = olk_dot_f16(keys.baseAddress! + base, queryHalf, Int32(headDimension))
                        scores[t] = dot * scale
                        maximum = max(maximum, scores[t])
                    }
                    var sum: Double = 0
                    for t in 0..<count {
                        scores[t] = expf(scores[t] - maximum)
                        sum += Double(scores[t])
                    }
                    let inverse = Float(1 / sum)
                    for t in 0..<count { scores[t] *= inverse }
                    for t in count..<padded { scores[t] = 0 }
                    olk_f32_to_f16(scores, &probabilities, Int32(padded))
                    for i in 0..<headDimension {
                        let row = (layer * config.kvDimension + kvHead * headDimension + i) * stride
                        attention[head * headDimension + i] = olk_dot_f16(
                            values.baseAddress! + row, probabilities, Int32(padded))
                    }
                }
            }
        }
    }

    /// out = W · input, with the input quantized the way ggml pairs it with W's type; rows split over threads.
    private func matvec(_ matrix: Matrix, _ input: [Float], into out: inout [Float]) {
        let type = Int32(matrix.type.rawValue)
        let columns = Int32(matrix.columns)
        input.withUnsafeBufferPointer { olk_quantize_activation(type, $0.baseAddress!, columns, &activation) }
        let rows = matrix.rows
        let rowBytes = matrix.rowBytes
        let weights = SendableRaw(matrix.data)
        activation.withUnsafeBytes { activationBytes in
            let act = SendableRaw(activationBytes.baseAddress!)
            out.withUnsafeMutableBufferPointer { out in
                let result = SendablePointer(out.baseAddress!)
                let parts = threads == 1 || rows < 512 ? 1 : threads
                let chunk = (rows + parts - 1) / parts
                let work = { @Sendable (index: Int) in
                    let start = index * chunk
                    let end = min(rows, start + chunk)
                    guard start < end else { return }
                    olk_matvec(
                        type, weights.pointer, rowBytes, Int32(start), Int32(end), act.pointer, columns,
                        result.pointer + start)
                }
                if parts == 1 { work(0) } else { DispatchQueue.concurrentPerform(iterations: parts, execute: work) }
            }
        }
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
