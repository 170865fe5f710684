import CTrainingKernels
import Foundation
import Inference
import Runtime

/// A uniform draw in [0, 1) with 53 random bits.
func unitDouble(_ random: inout SeededRandom) -> Double { Double(random.next() >> 11) / Double(UInt64(1) << 53) }

/// The frozen base as the GGUF file holds it: products read from its quantized blocks, spread over threads.
///
/// Each product is split into disjoint output ranges, one per thread; the kernels sum every output in one fixed
/// order, so the result does not depend on the thread count.
public final class QuantizedModel: FrozenModel, @unchecked Sendable {
    /// The scalar of the products.
    public typealias Scalar = Float
    /// The mapped model.
    public let model: LlamaModel
    /// The shape.
    public let shape: TransformerShape
    /// Threads per product.
    public let threads: Int
    private let norms: [[Float]]
    private let finalNorm: [Float]
    private let weights: [[WeightView]]
    private let output: WeightView
    private let embeddings: WeightView

    /// The same base with products on `threads` threads (it shares the mapping and the norms).
    public func withThreads(_ threads: Int) -> QuantizedModel {
        threads == self.threads ? self : QuantizedModel(self, threads: threads)
    }

    private init(_ other: QuantizedModel, threads: Int) {
        model = other.model
        shape = other.shape
        self.threads = max(1, threads)
        norms = other.norms
        weights = other.weights
        finalNorm = other.finalNorm
        output = other.output
        embeddings = other.embeddings
    }

    /// The base of `model`, computing with `threads` threads.
    public init(_ model: LlamaModel, threads: Int = 2) {
        self.model = model
        shape = TransformerShape(model.config)
        self.threads = max(1, threads)
        var norms: [[Float]] = []
        var weights: [[WeightView]] = []
        for layer in 0..<model.config.layers {
            norms.append(model.attentionNormWeights(layer: layer))
            norms.append(model.feedForwardNormWeights(layer: layer))
            weights.append(LoRATarget.allCases.map { model.weight(layer: layer, $0) })
        }
        self.norms = norms
        self.weights = weights
        finalNorm = model.outputNormWeights
        output = model.outputWeights
        embeddings = model.embeddingWeights
    }

    /// Writes token `token`'s embedding.
    public func embed(_ token: Int32, into out: UnsafeMutablePointer<Float>) {
        let row = LlamaModel.dequantize(embeddings, row: Int(token))
        out.update(from: row, count: row.count)
    }

    /// RMSNorm weights.
    public func norm(layer: Int, _ site: NormSite) -> [Float] {
        layer == shape.layers ? finalNorm : norms[2 * layer + (site == .attention ? 0 : 1)]
    }

    /// y = x · Wᵀ.
    public func forward(
        layer: Int, _ target: LoRATarget, _ x: UnsafePointer<Float>, count: Int, into y: UnsafeMutablePointer<Float>
    ) {
        product(weights[layer][target.rawValue], x, count: count, into: y)
    }

    /// dx (+)= dy · W.
    public func backward(
        layer: Int, _ target: LoRATarget, _ dy: UnsafePointer<Float>, count: Int,
        into dx: UnsafeMutablePointer<Float>, accumulate: Bool
    ) {
        transposedProduct(weights[layer][target.rawValue], dy, count: count, into: dx, accumulate: accumulate)
    }

    /// logits = x · Eᵀ.
    public func outputForward(_ x: UnsafePointer<Float>, count: Int, into logits: UnsafeMutablePointer<Float>) {
        product(output, x, count: count, into: logits)
    }

    /// dx (+)= dlogits · E.
    public func outputBackward(
        _ dlogits: UnsafePointer<Float>, count: Int, into dx: UnsafeMutablePointer<Float>, accumulate: Bool
    ) {
        transposedProduct(output, dlogits, count: count, into: dx, accumulate: accumulate)
    }

    private struct Pointers: @unchecked Sendable {
        let input: UnsafePointer<Float>
        let output: UnsafeMutablePointer<Float>
    }

    private func product(_ w: WeightView, _ x: UnsafePointer<Float>, count: Int, into y: UnsafeMutablePointer<Float>) {
        let pointers = Pointers(input: x, output: y)
        split(w.rows, w) { o0, o1, scratch in
            otk_weight_forward(
                Int32(w.type.rawValue), w.data, w.rowBytes, Int32(w.columns), Int32(o0), Int32(o1), pointers.input,
                w.columns, Int32(count), pointers.output + o0, w.rows, 0, scratch)
        }
    }

    private func transposedProduct(
        _ w: WeightView, _ dy: UnsafePointer<Float>, count: Int, into dx: UnsafeMutablePointer<Float>, accumulate: Bool
    ) {
        let pointers = Pointers(input: dy, output: dx)
        split(w.columns, w) { i0, i1, scratch in
            otk_weight_backward(
                Int32(w.type.rawValue), w.data, w.rowBytes, Int32(w.columns), Int32(w.rows), Int32(i0), Int32(i1),
                pointers.input, w.rows, Int32(count), pointers.output + i0, w.columns, accumulate ? 1 : 0, scratch)
        }
    }

    /// Runs `body(start, end, scratch)` over disjoint ranges of `extent` outputs, one per thread, cut at multiples
    /// of 32 (the blocks' width), each with a scratch of its own.
    private func split(
        _ extent: Int, _ w: WeightView, _ body: @escaping @Sendable (Int, Int, UnsafeMutablePointer<Float>) -> Void
    ) {
        let parts = min(threads, max(1, extent / 32))
        let scratchCount = otk_weight_scratch_floats(Int32(w.columns))
        DispatchQueue.concurrentPerform(iterations: parts) { part in
            let start = extent * part / parts / 32 * 32
            let end = part == parts - 1 ? extent : extent * (part + 1) / parts / 32 * 32
            let scratch = UnsafeMutablePointer<Float>.allocate(capacity: scratchCount)
            defer { scratch.deallocate() }
            body(start, end, scratch)
        }
    }
}

/// A base model held in memory in the pass's scalar: seeded tiny models for exact checks, or any dense weights.
public struct DenseModel<Scalar: TrainingScalar>: FrozenModel {
    /// The shape.
    public let shape: TransformerShape
    /// Embeddings, vocabulary × embedding (also the output matrix: tied).
    public var embeddings: [Scalar]
    /// Per block, per target (`LoRATarget` order): outputs × inputs.
    public var weights: [[[Scalar]]]
    /// Per block: the attention and feed-forward norm weights; then the final norm.
    public var norms: [[Scalar]]
    /// The final norm's weights.
    public var finalNorm: [Scalar]
    /// Threads: one (the products of a dense model are single-threaded).
    public var threads: Int { 1 }

    /// The same model.
    public func withThreads(_ threads: Int) -> DenseModel { self }

    /// A model of `shape` with seeded weights: uniform in ±1/√inputs, norms around 1.
    public init(shape: TransformerShape, seed: UInt64) {
        self.shape = shape
        var random = SeededRandom(seed: seed)
        func uniform(_ count: Int, _ bound: Double) -> [Scalar] {
            (0..<count).map { _ in Scalar((unitDouble(&random) * 2 - 1) * bound) }
        }
        embeddings = uniform(shape.vocabulary * shape.embedding, 1)
        var weights: [[[Scalar]]] = []
        var norms: [[Scalar]] = []
        for _ in 0..<shape.layers {
            weights.append(
                LoRATarget.allCases.map { target in
                    let (inputs, outputs) = shape.shape(of: target)
                    return uniform(inputs * outputs, 1 / Double(inputs).squareRoot())
                })
            norms.append(uniform(shape.embedding, 0.2).map { 1 + $0 })
            norms.append(uniform(shape.embedding, 0.2).map { 1 + $0 })
        }
        self.weights = weights
        self.norms = norms
        finalNorm = uniform(shape.embedding, 0.2).map { 1 + $0 }
    }

    /// Writes token `token`'s embedding.
    public func embed(_ token: Int32, into out: UnsafeMutablePointer<Scalar>) {
        let d = shape.embedding
        embeddings.withUnsafeBufferPointer { out.update(from: $0.baseAddress! + Int(token) * d, count: d) }
    }

    /// RMSNorm weights.
    public func norm(layer: Int, _ site: NormSite) -> [Scalar] {
        layer == shape.layers ? finalNorm : norms[2 * layer + (site == .attention ? 0 : 1)]
    }

    /// y = x · Wᵀ.
    public func forward(
        layer: Int, _ target: LoRATarget, _ x: UnsafePointer<Scalar>, count: Int,
        into y: UnsafeMutablePointer<Scalar>
    ) {
        let (inputs, outputs) = shape.shape(of: target)
        weights[layer][target.rawValue].withUnsafeBufferPointer {
            Scalar.gemmNT(count, outputs, inputs, x, inputs, $0.baseAddress!, inputs, y, outputs, accumulate: false)
        }
    }

    /// dx (+)= dy · W.
    public func backward(
        layer: Int, _ target: LoRATarget, _ dy: UnsafePointer<Scalar>, count: Int,
        into dx: UnsafeMutablePointer<Scalar>, accumulate: Bool
    ) {
        let (inputs, outputs) = shape.shape(of: target)
        weights[layer][target.rawValue].withUnsafeBufferPointer {
            Scalar.gemmNN(
                count, inputs, outputs, dy, outputs, $0.baseAddress!, inputs, dx, inputs, accumulate: accumulate)
        }
    }

    /// logits = x · Eᵀ.
    public func outputForward(_ x: UnsafePointer<Scalar>, count: Int, into logits: UnsafeMutablePointer<Scalar>) {
        let d = shape.embedding
        let v = shape.vocabulary
        embeddings.withUnsafeBufferPointer {
            Scalar.gemmNT(count, v, d, x, d, $0.baseAddress!, d, logits, v, accumulate: false)
        }
    }

    /// dx (+)= dlogits · E.
    public func outputBackward(
        _ dlogits: UnsafePointer<Scalar>, count: Int, into dx: UnsafeMutablePointer<Scalar>, accumulate: Bool
    ) {
        let d = shape.embedding
        let v = shape.vocabulary
        embeddings.withUnsafeBufferPointer {
            Scalar.gemmNN(count, d, v, dlogits, v, $0.baseAddress!, d, dx, d, accumulate: accumulate)
        }
    }
}
