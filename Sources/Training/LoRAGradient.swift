import CInferenceKernels
import CTrainingKernels
import Foundation
import Inference

// The forward and backward pass of a llama-family transformer for its LoRA matrices only.
//
// Everything generic lives in this one file, with the concrete entry points at its end: a debug build compiles the
// module file by file, and only calls inside the same file are specialized.

/// The scalar a pass computes in: `Float` for training, `Double` for exact checks.
public protocol TrainingScalar: BinaryFloatingPoint, Sendable {
    /// C (+)= A · B (row-major, strides in elements).
    static func gemmNN(
        _ m: Int, _ n: Int, _ k: Int, _ a: UnsafePointer<Self>, _ lda: Int, _ b: UnsafePointer<Self>, _ ldb: Int,
        _ c: UnsafeMutablePointer<Self>, _ ldc: Int, accumulate: Bool)
    /// C (+)= A · Bᵀ, B given as n rows of k.
    static func gemmNT(
        _ m: Int, _ n: Int, _ k: Int, _ a: UnsafePointer<Self>, _ lda: Int, _ b: UnsafePointer<Self>, _ ldb: Int,
        _ c: UnsafeMutablePointer<Self>, _ ldc: Int, accumulate: Bool)
    /// C (+)= Aᵀ · B, A given as k rows of m.
    static func gemmTN(
        _ m: Int, _ n: Int, _ k: Int, _ a: UnsafePointer<Self>, _ lda: Int, _ b: UnsafePointer<Self>, _ ldb: Int,
        _ c: UnsafeMutablePointer<Self>, _ ldc: Int, accumulate: Bool)
    /// eˣ.
    static func exponential(_ x: Self) -> Self
    /// y[i] = exp(x[i] − shift) for n values (y may be x); returns Σ y in double precision.
    static func exponentials(
        _ x: UnsafePointer<Self>, _ n: Int, minus shift: Self, into y: UnsafeMutablePointer<Self>
    ) -> Double
    /// y[i] = silu(gate[i]) · up[i].
    static func swiglu(
        _ gate: UnsafePointer<Self>, _ up: UnsafePointer<Self>, _ n: Int, into y: UnsafeMutablePointer<Self>)
}

extension Float: TrainingScalar {
    /// C (+)= A · B.
    public static func gemmNN(
        _ m: Int, _ n: Int, _ k: Int, _ a: UnsafePointer<Float>, _ lda: Int, _ b: UnsafePointer<Float>, _ ldb: Int,
        _ c: UnsafeMutablePointer<Float>, _ ldc: Int, accumulate: Bool
    ) {
        otk_sgemm_nn(Int32(m), Int32(n), Int32(k), a, lda, b, ldb, c, ldc, accumulate ? 1 : 0)
    }
    /// C (+)= A · Bᵀ.
    public static func gemmNT(
        _ m: Int, _ n: Int, _ k: Int, _ a: UnsafePointer<Float>, _ lda: Int, _ b: UnsafePointer<Float>, _ ldb: Int,
        _ c: UnsafeMutablePointer<Float>, _ ldc: Int, accumulate: Bool
    ) {
        otk_sgemm_nt(Int32(m), Int32(n), Int32(k), a, lda, b, ldb, c, ldc, accumulate ? 1 : 0)
    }
    /// C (+)= Aᵀ · B.
    public static func gemmTN(
        _ m: Int, _ n: Int, _ k: Int, _ a: UnsafePointer<Float>, _ lda: Int, _ b: UnsafePointer<Float>, _ ldb: Int,
        _ c: UnsafeMutablePointer<Float>, _ ldc: Int, accumulate: Bool
    ) {
        otk_sgemm_tn(Int32(m), Int32(n), Int32(k), a, lda, b, ldb, c, ldc, accumulate ? 1 : 0)
    }
    /// eˣ.
    public static func exponential(_ x: Float) -> Float { expf(x) }
    /// exp(x − shift), vectorized (ggml's exp), with its sum.
    public static func exponentials(
        _ x: UnsafePointer<Float>, _ n: Int, minus shift: Float, into y: UnsafeMutablePointer<Float>
    ) -> Double {
        olk_softmax(Int32(n), y, x, shift)
    }
    /// silu(gate) · up, vectorized.
    public static func swiglu(
        _ gate: UnsafePointer<Float>, _ up: UnsafePointer<Float>, _ n: Int, into y: UnsafeMutablePointer<Float>
    ) {
        olk_swiglu(Int32(n), y, gate, up)
    }
}

extension Double: TrainingScalar {
    /// C (+)= A · B.
    public static func gemmNN(
        _ m: Int, _ n: Int, _ k: Int, _ a: UnsafePointer<Double>, _ lda: Int, _ b: UnsafePointer<Double>, _ ldb: Int,
        _ c: UnsafeMutablePointer<Double>, _ ldc: Int, accumulate: Bool
    ) {
        otk_dgemm_nn(Int32(m), Int32(n), Int32(k), a, lda, b, ldb, c, ldc, accumulate ? 1 : 0)
    }
    /// C (+)= A · Bᵀ.
    public static func gemmNT(
        _ m: Int, _ n: Int, _ k: Int, _ a: UnsafePointer<Double>, _ lda: Int, _ b: UnsafePointer<Double>, _ ldb: Int,
        _ c: UnsafeMutablePointer<Double>, _ ldc: Int, accumulate: Bool
    ) {
        otk_dgemm_nt(Int32(m), Int32(n), Int32(k), a, lda, b, ldb, c, ldc, accumulate ? 1 : 0)
    }
    /// C (+)= Aᵀ · B.
    public static func gemmTN(
        _ m: Int, _ n: Int, _ k: Int, _ a: UnsafePointer<Double>, _ lda: Int, _ b: UnsafePointer<Double>, _ ldb: Int,
        _ c: UnsafeMutablePointer<Double>, _ ldc: Int, accumulate: Bool
    ) {
        otk_dgemm_tn(Int32(m), Int32(n), Int32(k), a, lda, b, ldb, c, ldc, accumulate ? 1 : 0)
    }
    /// eˣ.
    public static func exponential(_ x: Double) -> Double { Foundation.exp(x) }
    /// exp(x − shift) with its sum.
    public static func exponentials(
        _ x: UnsafePointer<Double>, _ n: Int, minus shift: Double, into y: UnsafeMutablePointer<Double>
    ) -> Double {
        var sum = 0.0
        for i in 0..<n {
            y[i] = Foundation.exp(x[i] - shift)
            sum += y[i]
        }
        return sum
    }
    /// silu(gate) · up.
    public static func swiglu(
        _ gate: UnsafePointer<Double>, _ up: UnsafePointer<Double>, _ n: Int, into y: UnsafeMutablePointer<Double>
    ) {
        for i in 0..<n { y[i] = gate[i] / (1 + Foundation.exp(-gate[i])) * up[i] }
    }
}

/// The shape of a llama-family transformer, as a pass needs it.
public struct TransformerShape: Sendable, Equatable {
    /// Width of the hidden state.
    public var embedding: Int
    /// Width of the feed-forward layer.
    public var feedForward: Int
    /// Transformer blocks.
    public var layers: Int
    /// Query heads.
    public var heads: Int
    /// Key and value heads.
    public var kvHeads: Int
    /// Tokens in the vocabulary.
    public var vocabulary: Int
    /// The rotary embedding's frequency base.
    public var ropeBase: Double
    /// Rotated dimensions of each head.
    public var ropeDimensions: Int
    /// RMSNorm's epsilon.
    public var rmsEpsilon: Double

    /// Width of one head.
    public var headDimension: Int { embedding / heads }
    /// Width of the keys and values of one position.
    public var kvDimension: Int { headDimension * kvHeads }

    /// A shape from its parts.
    public init(
        embedding: Int, feedForward: Int, layers: Int, heads: Int, kvHeads: Int, vocabulary: Int, ropeBase: Double,
        ropeDimensions: Int, rmsEpsilon: Double
    ) {
        self.embedding = embedding
        self.feedForward = feedForward
        self.layers = layers
        self.heads = heads
        self.kvHeads = kvHeads
        self.vocabulary = vocabulary
        self.ropeBase = ropeBase
        self.ropeDimensions = ropeDimensions
        self.rmsEpsilon = rmsEpsilon
    }

    /// The shape of a loaded model.
    public init(_ config: LlamaConfig) {
        self.init(
            embedding: config.embedding, feedForward: config.feedForward, layers: config.layers, heads: config.heads,
            kvHeads: config.kvHeads, vocabulary: config.vocabulary, ropeBase: Double(config.ropeBase),
            ropeDimensions: config.ropeDimensions, rmsEpsilon: Double(config.rmsEpsilon))
    }

    /// The adapter base of this shape.
    public var loraBase: LoRABase {
        LoRABase(
            layers: layers, embedding: embedding, feedForward: feedForward, kvDimension: kvDimension, heads: heads,
            kvHeads: kvHeads, vocabulary: vocabulary, hasOutputMatrix: false)
    }

    /// Input and output widths of a target's matrix.
    public func shape(of target: LoRATarget) -> (inputs: Int, outputs: Int) { loraBase.shape(of: target) }
}

/// Which RMSNorm weights.
public enum NormSite: Sendable {
    /// Before attention.
    case attention
    /// Before the feed-forward network.
    case feedForward
}

/// The frozen base model a pass multiplies with.
///
/// Products are row-major over `count` token rows: `forward` writes y = x · Wᵀ, `backward` adds or writes dx = dy · W.
public protocol FrozenModel: Sendable {
    /// The scalar of the products.
    associatedtype Scalar: TrainingScalar
    /// The shape.
    var shape: TransformerShape { get }
    /// Threads the products spread over.
    var threads: Int { get }
    /// The same model with products on `threads` threads.
    func withThreads(_ threads: Int) -> Self
    /// Writes token `token`'s embedding.
    func embed(_ token: Int32, into out: UnsafeMutablePointer<Scalar>)
    /// RMSNorm weights of block `layer` (`layer == shape.layers`: the final norm; `site` is then ignored).
    func norm(layer: Int, _ site: NormSite) -> [Scalar]
    /// y = x · Wᵀ for the target's weight of block `layer`.
    func forward(
        layer: Int, _ target: LoRATarget, _ x: UnsafePointer<Scalar>, count: Int, into y: UnsafeMutablePointer<Scalar>)
    /// dx (+)= dy · W.
    func backward(
        layer: Int, _ target: LoRATarget, _ dy: UnsafePointer<Scalar>, count: Int,
        into dx: UnsafeMutablePointer<Scalar>, accumulate: Bool)
    /// logits = x · Eᵀ with the output matrix.
    func outputForward(_ x: UnsafePointer<Scalar>, count: Int, into logits: UnsafeMutablePointer<Scalar>)
    /// dx (+)= dlogits · E.
    func outputBackward(
        _ dlogits: UnsafePointer<Scalar>, count: Int, into dx: UnsafeMutablePointer<Scalar>, accumulate: Bool)
}

/// LoRA matrices (or their gradients) in the scalar of a pass, indexed by block and target.
public struct LoRATensors<Scalar: TrainingScalar>: Sendable {
    /// The rank.
    public let rank: Int
    /// The update's multiplier, alpha / rank.
    public let scale: Scalar
    /// A per pair (rank × inputs), in the order of `LoRAParameters.pairs`.
    public var a: [[Scalar]]
    /// B per pair (outputs × rank).
    public var b: [[Scalar]]
    /// `index[layer][target.rawValue]`: the pair, if the target is adapted.
    public let index: [[Int?]]

    /// The parameters converted.
    public init(_ parameters: LoRAParameters, layers: Int) {
        rank = parameters.rank
        scale = Scalar(parameters.scale)
        a = parameters.pairs.map { $0.a.map { Scalar($0) } }
        b = parameters.pairs.map { $0.b.map { Scalar($0) } }
        var index = [[Int?]](repeating: [Int?](repeating: nil, count: LoRATarget.allCases.count), count: layers)
        for (position, pair) in parameters.pairs.enumerated() { index[pair.layer][pair.target.rawValue] = position }
        self.index = index
    }

    /// Zeros of the same shapes.
    public func zeros() -> LoRATensors {
        var copy = self
        copy.a = a.map { [Scalar](repeating: 0, count: $0.count) }
        copy.b = b.map { [Scalar](repeating: 0, count: $0.count) }
        return copy
    }

    /// Adds `other` (of the same shapes) in place.
    public mutating func add(_ other: LoRATensors) {
        for p in a.indices {
            for i in a[p].indices { a[p][i] += other.a[p][i] }
            for i in b[p].indices { b[p][i] += other.b[p][i] }
        }
    }

    /// Adds `other` times `weight` in place.
    public mutating func add(_ other: LoRATensors, scaledBy weight: Scalar) {
        for p in a.indices {
            for i in a[p].indices { a[p][i] += other.a[p][i] * weight }
            for i in b[p].indices { b[p][i] += other.b[p][i] * weight }
        }
    }
}

/// One training sequence: its tokens and which of them the loss predicts.
public struct TrainingSequence: Sendable, Equatable {
    /// The tokens.
    public var tokens: [Int32]
    /// `targets[t]`: token t is predicted from the tokens before it and counts in the loss (never token 0).
    public var targets: [Bool]

    /// A sequence; `targets` must have one entry per token.
    public init(tokens: [Int32], targets: [Bool]) {
        self.tokens = tokens
        self.targets = targets
    }

    /// Tokens the loss counts.
    public var targetCount: Int { targets.dropFirst().count { $0 } }
}

/// The loss and LoRA gradients of a batch.
public struct BatchGradient<Scalar: TrainingScalar>: Sendable {
    /// Mean cross-entropy over every target token of the batch.
    public var loss: Double
    /// Target tokens in the batch.
    public var targets: Int
    /// d loss / d LoRA matrices.
    public var gradients: LoRATensors<Scalar>
}

/// Storage for one pass, freed with it.
final class Scratch<S: TrainingScalar> {
    private var blocks: [UnsafeMutablePointer<S>] = []

    func take(_ count: Int) -> UnsafeMutablePointer<S> {
        let pointer = UnsafeMutablePointer<S>.allocate(capacity: max(count, 1))
        pointer.initialize(repeating: 0, count: max(count, 1))
        blocks.append(pointer)
        return pointer
    }

    deinit { for block in blocks { block.deallocate() } }
}

/// What the backward pass needs from one block's forward pass.
struct SavedBlock<S: TrainingScalar> {
    var input: UnsafeMutablePointer<S>  // n × d, the residual stream entering the block
    var inverseRMS1: UnsafeMutablePointer<S>  // n
    var query: UnsafeMutablePointer<S>  // n × d, after RoPE
    var key: UnsafeMutablePointer<S>  // n × kv, after RoPE
    var value: UnsafeMutablePointer<S>  // n × kv
    var logSumExp: UnsafeMutablePointer<S>  // heads × n, of the scaled, masked scores
    var attention: UnsafeMutablePointer<S>  // n × d, attention's output before its projection
    var middle: UnsafeMutablePointer<S>  // n × d, the residual stream after attention
    var inverseRMS2: UnsafeMutablePointer<S>  // n
    var gate: UnsafeMutablePointer<S>  // n × ff
    var up: UnsafeMutablePointer<S>  // n × ff
    var lowRank: [UnsafeMutablePointer<S>?]  // per target: n × rank, x · Aᵀ
}

/// The pass over one sequence.
struct SequencePass<M: FrozenModel> {
    typealias S = M.Scalar
    let model: M
    let lora: LoRATensors<S>
    let shape: TransformerShape
    let count: Int
    let scratch = Scratch<S>()
    var cosines: UnsafeMutablePointer<S>
    var sines: UnsafeMutablePointer<S>

    init(model: M, lora: LoRATensors<S>, count: Int) {
        self.model = model
        self.lora = lora
        shape = model.shape
        self.count = count
        let half = shape.ropeDimensions / 2
        cosines = scratch.take(count * half)
        sines = scratch.take(count * half)
        for t in 0..<count {
            for i in 0..<half {
                let theta = Double(t) * Foundation.pow(shape.ropeBase, -2 * Double(i) / Double(shape.ropeDimensions))
                cosines[t * half + i] = S(Foundation.cos(theta))
                sines[t * half + i] = S(Foundation.sin(theta))
            }
        }
    }

    // MARK: Pieces

    /// out = x / rms(x) ⊙ g per row; writes 1 / rms per row.
    func rmsNorm(
        _ x: UnsafePointer<S>, _ g: [S], _ out: UnsafeMutablePointer<S>, _ inverse: UnsafeMutablePointer<S>
    ) {
        let d = shape.embedding
        g.withUnsafeBufferPointer { g in
            for t in 0..<count {
                var sum = 0.0
                for i in 0..<d {
                    let v = Double(x[t * d + i])
                    sum += v * v
                }
                let r = 1 / (sum / Double(d) + shape.rmsEpsilon).squareRoot()
                inverse[t] = S(r)
                let rs = S(r)
                for i in 0..<d { out[t * d + i] = x[t * d + i] * rs * g[i] }
            }
        }
    }

    /// dx (+)= the gradient through out = x / rms(x) ⊙ g, given dout.
    func rmsNormBackward(
        _ x: UnsafePointer<S>, _ g: [S], _ inverse: UnsafePointer<S>, _ dout: UnsafePointer<S>,
        _ dx: UnsafeMutablePointer<S>
    ) {
        let d = shape.embedding
        g.withUnsafeBufferPointer { g in
            for t in 0..<count {
                let r = inverse[t]
                var dot = 0.0
                for i in 0..<d { dot += Double(dout[t * d + i] * g[i]) * Double(x[t * d + i] * r) }
                let mean = S(dot / Double(d))
                for i in 0..<d {
                    let n = x[t * d + i] * r
                    dx[t * d + i] += r * (dout[t * d + i] * g[i] - n * mean)
                }
            }
        }
    }

    /// Rotates pairs (2i, 2i+1) of each head by the position's angles (by their negatives when `inverse`).
    func rope(_ v: UnsafeMutablePointer<S>, width: Int, heads: Int, inverse: Bool) {
        let hd = shape.headDimension
        let half = shape.ropeDimensions / 2
        for t in 0..<count {
            for h in 0..<heads {
                let base = v + t * width + h * hd
                for i in 0..<half {
                    let c = cosines[t * half + i]
                    let s = inverse ? -sines[t * half + i] : sines[t * half + i]
                    let x0 = base[2 * i]
                    let x1 = base[2 * i + 1]
                    base[2 * i] = x0 * c - x1 * s
                    base[2 * i + 1] = x0 * s + x1 * c
                }
            }
        }
    }

    /// y = x · Wᵀ + scale · (x · Aᵀ) · Bᵀ; keeps x · Aᵀ.
    func linear(
        layer: Int, _ target: LoRATarget, _ x: UnsafePointer<S>, _ y: UnsafeMutablePointer<S>
    ) -> UnsafeMutablePointer<S>? {
        model.forward(layer: layer, target, x, count: count, into: y)
        guard let pair = lora.index[layer][target.rawValue] else { return nil }
        let (inputs, outputs) = shape.shape(of: target)
        let r = lora.rank
        let u = scratch.take(count * r)
        lora.a[pair].withUnsafeBufferPointer { a in
            S.gemmNT(count, r, inputs, x, inputs, a.baseAddress!, inputs, u, r, accumulate: false)
        }
        let scaled = scratch.take(count * r)
        for i in 0..<(count * r) { scaled[i] = u[i] * lora.scale }
        lora.b[pair].withUnsafeBufferPointer { b in
            S.gemmNT(count, outputs, r, scaled, r, b.baseAddress!, r, y, outputs, accumulate: true)
        }
        return u
    }

    /// Given dy for y = linear(x): adds the LoRA gradients and adds or writes dx.
    func linearBackward(
        layer: Int, _ target: LoRATarget, _ x: UnsafePointer<S>, _ u: UnsafePointer<S>?, _ dy: UnsafePointer<S>,
        _ dx: UnsafeMutablePointer<S>, accumulate: Bool, _ gradients: inout LoRATensors<S>
    ) {
        model.backward(layer: layer, target, dy, count: count, into: dx, accumulate: accumulate)
        guard let pair = lora.index[layer][target.rawValue], let u else { return }
        let (inputs, outputs) = shape.shape(of: target)
        let r = lora.rank
        // dB += scale · dyᵀ · u; du = scale · dy · B; dA += duᵀ · x; dx += du · A.
        let scaledU = scratch.take(count * r)
        for i in 0..<(count * r) { scaledU[i] = u[i] * lora.scale }
        gradients.b[pair].withUnsafeMutableBufferPointer { gb in
            S.gemmTN(outputs, r, count, dy, outputs, scaledU, r, gb.baseAddress!, r, accumulate: true)
        }
        let du = scratch.take(count * r)
        lora.b[pair].withUnsafeBufferPointer { b in
            S.gemmNN(count, r, outputs, dy, outputs, b.baseAddress!, r, du, r, accumulate: false)
        }
        for i in 0..<(count * r) { du[i] *= lora.scale }
        gradients.a[pair].withUnsafeMutableBufferPointer { ga in
            S.gemmTN(r, inputs, count, du, r, x, inputs, ga.baseAddress!, inputs, accumulate: true)
        }
        lora.a[pair].withUnsafeBufferPointer { a in
            S.gemmNN(count, inputs, r, du, r, a.baseAddress!, inputs, dx, inputs, accumulate: true)
        }
    }

    /// Causal attention of every head; writes the output and each row's log-sum-exp.
    func attend(_ saved: SavedBlock<S>) {
        let n = count
        let d = shape.embedding
        let kv = shape.kvDimension
        let hd = shape.headDimension
        let group = shape.heads / shape.kvHeads
        let scale = S(1 / Double(hd).squareRoot())
        let scores = scratch.take(n * n)
        for h in 0..<shape.heads {
            let g = h / group
            S.gemmNT(n, n, hd, saved.query + h * hd, d, saved.key + g * hd, kv, scores, n, accumulate: false)
            for t in 0..<n {
                let row = scores + t * n
                var maximum = -S.infinity
                for j in 0...t {
                    row[j] *= scale
                    if row[j] > maximum { maximum = row[j] }
                }
                let sum = S.exponentials(row, t + 1, minus: maximum, into: row)
                saved.logSumExp[h * n + t] = S(Double(maximum) + Foundation.log(sum))
                let inverse = S(1 / sum)
                for j in 0...t { row[j] *= inverse }
                for j in (t + 1)..<n { row[j] = 0 }
            }
            S.gemmNN(n, hd, n, scores, n, saved.value + g * hd, kv, saved.attention + h * hd, d, accumulate: false)
        }
    }

    /// Given d(attention output): writes dq, dk, dv (before the inverse RoPE).
    func attendBackward(
        _ saved: SavedBlock<S>, _ dout: UnsafePointer<S>, _ dq: UnsafeMutablePointer<S>,
        _ dk: UnsafeMutablePointer<S>, _ dv: UnsafeMutablePointer<S>
    ) {
        let n = count
        let d = shape.embedding
        let kv = shape.kvDimension
        let hd = shape.headDimension
        let group = shape.heads / shape.kvHeads
        let scale = S(1 / Double(hd).squareRoot())
        let p = scratch.take(n * n)
        let dp = scratch.take(n * n)
        for i in 0..<(n * kv) {
            dk[i] = 0
            dv[i] = 0
        }
        for h in 0..<shape.heads {
            let g = h / group
            S.gemmNT(n, n, hd, saved.query + h * hd, d, saved.key + g * hd, kv, p, n, accumulate: false)
            for t in 0..<n {
                let row = p + t * n
                let lse = saved.logSumExp[h * n + t]
                for j in 0...t { row[j] *= scale }
                _ = S.exponentials(row, t + 1, minus: lse, into: row)
                for j in (t + 1)..<n { row[j] = 0 }
            }
            // dV_g += Pᵀ · dO_h; dP = dO_h · V_gᵀ.
            S.gemmTN(n, hd, n, p, n, dout + h * hd, d, dv + g * hd, kv, accumulate: true)
            S.gemmNT(n, n, hd, dout + h * hd, d, saved.value + g * hd, kv, dp, n, accumulate: false)
            // dS = P ⊙ (dP − Σ P·dP), times the score scale.
            for t in 0..<n {
                let row = p + t * n
                let drow = dp + t * n
                var dot = 0.0
                for j in 0...t { dot += Double(row[j] * drow[j]) }
                let sum = S(dot)
                for j in 0...t { drow[j] = row[j] * (drow[j] - sum) * scale }
                for j in (t + 1)..<n { drow[j] = 0 }
            }
            // dQ_h = dS · K_g; dK_g += dSᵀ · Q_h.
            S.gemmNN(n, hd, n, dp, n, saved.key + g * hd, kv, dq + h * hd, d, accumulate: false)
            S.gemmTN(n, hd, n, dp, n, saved.query + h * hd, d, dk + g * hd, kv, accumulate: true)
        }
    }

    // MARK: The pass

    /// Forward and backward over `sequence`, every target weighted by `weight`; adds to `gradients` and returns the
    /// summed (unweighted) cross-entropy of the targets.
    func run(
        _ sequence: TrainingSequence, weight: Double, _ gradients: inout LoRATensors<S>, backward: Bool = true
    ) -> Double {
        let n = count
        let d = shape.embedding
        let kv = shape.kvDimension
        let ff = shape.feedForward
        let blocks = shape.layers
        var x = scratch.take(n * d)
        for t in 0..<n { model.embed(sequence.tokens[t], into: x + t * d) }
        var saved: [SavedBlock<S>] = []
        let normed = scratch.take(n * d)
        // Per-block temporaries, reused by every block (what the backward pass needs is in `saved`).
        let projected = scratch.take(n * d)
        let activation = scratch.take(n * ff)
        let down = scratch.take(n * d)
        for layer in 0..<blocks {
            var block = SavedBlock<S>(
                input: x, inverseRMS1: scratch.take(n), query: scratch.take(n * d), key: scratch.take(n * kv),
                value: scratch.take(n * kv), logSumExp: scratch.take(shape.heads * n), attention: scratch.take(n * d),
                middle: scratch.take(n * d), inverseRMS2: scratch.take(n), gate: scratch.take(n * ff),
                up: scratch.take(n * ff), lowRank: [UnsafeMutablePointer<S>?](repeating: nil, count: 7))
            rmsNorm(x, model.norm(layer: layer, .attention), normed, block.inverseRMS1)
            block.lowRank[LoRATarget.query.rawValue] = linear(layer: layer, .query, normed, block.query)
            block.lowRank[LoRATarget.key.rawValue] = linear(layer: layer, .key, normed, block.key)
            block.lowRank[LoRATarget.value.rawValue] = linear(layer: layer, .value, normed, block.value)
            rope(block.query, width: d, heads: shape.heads, inverse: false)
            rope(block.key, width: kv, heads: shape.kvHeads, inverse: false)
            attend(block)
            block.lowRank[LoRATarget.attentionOutput.rawValue] = linear(
                layer: layer, .attentionOutput, block.attention, projected)
            for i in 0..<(n * d) { block.middle[i] = x[i] + projected[i] }
            rmsNorm(block.middle, model.norm(layer: layer, .feedForward), normed, block.inverseRMS2)
            block.lowRank[LoRATarget.gate.rawValue] = linear(layer: layer, .gate, normed, block.gate)
            block.lowRank[LoRATarget.up.rawValue] = linear(layer: layer, .up, normed, block.up)
            S.swiglu(block.gate, block.up, n * ff, into: activation)
            block.lowRank[LoRATarget.down.rawValue] = linear(layer: layer, .down, activation, down)
            let next = scratch.take(n * d)
            for i in 0..<(n * d) { next[i] = block.middle[i] + down[i] }
            saved.append(block)
            x = next
        }

        // The loss: logits only at the positions whose next token is a target.
        let positions = (0..<(n - 1)).filter { sequence.targets[$0 + 1] }
        let finalNorm = model.norm(layer: blocks, .attention)
        let inverseFinal = scratch.take(n)
        let final = scratch.take(n * d)
        rmsNorm(x, finalNorm, final, inverseFinal)
        let dFinal = scratch.take(n * d)
        var lossSum = 0.0
        let vocabulary = shape.vocabulary
        let chunk = 128
        let rows = scratch.take(chunk * d)
        let logits = scratch.take(chunk * vocabulary)
        let dRows = scratch.take(chunk * d)
        var start = 0
        while start < positions.count {
            let part = Array(positions[start..<min(start + chunk, positions.count)])
            for (r, t) in part.enumerated() { (rows + r * d).update(from: final + t * d, count: d) }
            model.outputForward(rows, count: part.count, into: logits)
            for (r, t) in part.enumerated() {
                let row = logits + r * vocabulary
                var maximum = -S.infinity
                for v in 0..<vocabulary where row[v] > maximum { maximum = row[v] }
                let target = Int(sequence.tokens[t + 1])
                let logit = Double(row[target])
                let sum = S.exponentials(row, vocabulary, minus: maximum, into: row)
                lossSum += Double(maximum) + Foundation.log(sum) - logit
                guard backward else { continue }
                let factor = S(weight / sum)
                for v in 0..<vocabulary { row[v] *= factor }
                row[target] -= S(weight)
            }
            start += chunk
            guard backward else { continue }
            model.outputBackward(logits, count: part.count, into: dRows, accumulate: false)
            for (r, t) in part.enumerated() { (dFinal + t * d).update(from: dRows + r * d, count: d) }
        }
        guard backward else { return lossSum }
        let dx = scratch.take(n * d)
        rmsNormBackward(x, finalNorm, inverseFinal, dFinal, dx)

        // Backward through the blocks.
        let dNormed = scratch.take(n * d)
        let dGate = scratch.take(n * ff)
        let dUp = scratch.take(n * ff)
        let dActivation = scratch.take(n * ff)
        let dAttention = scratch.take(n * d)
        let dq = scratch.take(n * d)
        let dk = scratch.take(n * kv)
        let dv = scratch.take(n * kv)
        for layer in stride(from: blocks - 1, through: 0, by: -1) {
            let block = saved[layer]
            // The feed-forward network: x_next = middle + down(silu(gate) ⊙ up).
            S.swiglu(block.gate, block.up, n * ff, into: activation)
            linearBackward(
                layer: layer, .down, activation, block.lowRank[LoRATarget.down.rawValue], dx, dActivation,
                accumulate: false, &gradients)
            for i in 0..<(n * ff) {
                let g = block.gate[i]
                let sigmoid = 1 / (1 + S.exponential(-g))
                let silu = g * sigmoid
                dUp[i] = dActivation[i] * silu
                dGate[i] = dActivation[i] * block.up[i] * sigmoid * (1 + g * (1 - sigmoid))
            }
            let ffNorm = model.norm(layer: layer, .feedForward)
            // The normed input of gate and up, again.
            for t in 0..<n {
                let r = block.inverseRMS2[t]
                ffNorm.withUnsafeBufferPointer { g in
                    for i in 0..<d { normed[t * d + i] = block.middle[t * d + i] * r * g[i] }
                }
            }
            linearBackward(
                layer: layer, .gate, normed, block.lowRank[LoRATarget.gate.rawValue], dGate, dNormed,
                accumulate: false, &gradients)
            linearBackward(
                layer: layer, .up, normed, block.lowRank[LoRATarget.up.rawValue], dUp, dNormed, accumulate: true,
                &gradients)
            // dx (the stream after attention) = dx_next + the norm's backward.
            rmsNormBackward(block.middle, ffNorm, block.inverseRMS2, dNormed, dx)
            // Attention: middle = input + o(attention).
            linearBackward(
                layer: layer, .attentionOutput, block.attention, block.lowRank[LoRATarget.attentionOutput.rawValue],
                dx, dAttention, accumulate: false, &gradients)
            attendBackward(block, dAttention, dq, dk, dv)
            rope(dq, width: d, heads: shape.heads, inverse: true)
            rope(dk, width: kv, heads: shape.kvHeads, inverse: true)
            let attentionNorm = model.norm(layer: layer, .attention)
            for t in 0..<n {
                let r = block.inverseRMS1[t]
                attentionNorm.withUnsafeBufferPointer { g in
                    for i in 0..<d { normed[t * d + i] = block.input[t * d + i] * r * g[i] }
                }
            }
            linearBackward(
                layer: layer, .query, normed, block.lowRank[LoRATarget.query.rawValue], dq, dNormed,
                accumulate: false, &gradients)
            linearBackward(
                layer: layer, .key, normed, block.lowRank[LoRATarget.key.rawValue], dk, dNormed, accumulate: true,
                &gradients)
            linearBackward(
                layer: layer, .value, normed, block.lowRank[LoRATarget.value.rawValue], dv, dNormed, accumulate: true,
                &gradients)
            rmsNormBackward(block.input, attentionNorm, block.inverseRMS1, dNormed, dx)
        }
        return lossSum
    }
}

/// Slots that concurrent workers fill, each slot by one worker.
final class Slots<Value>: @unchecked Sendable {
    private let storage: UnsafeMutableBufferPointer<Value?>

    init(_ count: Int) {
        storage = .allocate(capacity: max(1, count))
        storage.initialize(repeating: nil)
    }

    deinit {
        _ = storage.deinitialize()
        storage.deallocate()
    }

    /// Slot `index`; each is written by one worker only, never resized.
    subscript(index: Int) -> Value? {
        get { storage[index] }
        set { storage[index] = newValue }
    }

    /// Every slot, in order.
    var values: [Value?] { Array(storage) }
}

/// Runs `body(i)` for every sequence index: whole rounds of one sequence per worker in parallel, each worker's
/// products on its own thread, then the rest one at a time with the products spread over the threads.
func eachSequence<M: FrozenModel>(
    _ count: Int, model: M, _ body: @escaping @Sendable (Int, M) -> Void
) {
    let workers = model.threads
    let parallel = workers > 1 ? count / workers * workers : 0
    if parallel > 0 {
        let single = model.withThreads(1)
        DispatchQueue.concurrentPerform(iterations: workers) { worker in
            var index = worker
            while index < parallel {
                body(index, single)
                index += workers
            }
        }
    }
    for index in parallel..<count { body(index, model) }
}

/// The mean loss of `batch` without gradients, and its target count.
func batchLoss<M: FrozenModel>(model: M, lora: LoRATensors<M.Scalar>, batch: [TrainingSequence]) -> (Double, Int) {
    let targets = batch.reduce(0) { $0 + $1.targetCount }
    guard targets > 0 else { return (0, 0) }
    let used = batch.filter { $0.tokens.count >= 2 && $0.targetCount > 0 }
    let losses = Slots<Double>(used.count)
    eachSequence(used.count, model: model) { index, model in
        var unused = lora
        let pass = SequencePass(model: model, lora: lora, count: used[index].tokens.count)
        losses[index] = pass.run(used[index], weight: 0, &unused, backward: false)
    }
    return (losses.values.reduce(0) { $0 + ($1 ?? 0) } / Double(targets), targets)
}

/// The mean loss and the LoRA gradients of `batch`.
///
/// Each sequence's gradient is computed on its own (sequences run in parallel, one per thread), then the
/// gradients are added in the batch's order: the result does not depend on the thread count.
func batchGradient<M: FrozenModel>(
    model: M, lora: LoRATensors<M.Scalar>, batch: [TrainingSequence]
) -> BatchGradient<M.Scalar> {
    let targets = batch.reduce(0) { $0 + $1.targetCount }
    var gradients = lora.zeros()
    guard targets > 0 else { return BatchGradient(loss: 0, targets: 0, gradients: gradients) }
    let weight = 1 / Double(targets)
    let used = batch.filter { $0.tokens.count >= 2 && $0.targetCount > 0 }
    let results = Slots<(Double, LoRATensors<M.Scalar>)>(used.count)
    eachSequence(used.count, model: model) { index, model in
        var own = lora.zeros()
        let pass = SequencePass(model: model, lora: lora, count: used[index].tokens.count)
        let loss = pass.run(used[index], weight: weight, &own)
        results[index] = (loss, own)
    }
    var lossSum = 0.0
    for case (let loss, let own)? in results.values {
        lossSum += loss
        gradients.add(own)
    }
    return BatchGradient(loss: lossSum / Double(targets), targets: targets, gradients: gradients)
}

/// The mean loss and LoRA gradients of a batch on the quantized model.
public func lossAndGradients(
    model: QuantizedModel, lora: LoRATensors<Float>, batch: [TrainingSequence]
) -> BatchGradient<Float> {
    batchGradient(model: model, lora: lora, batch: batch)
}

/// The same on a dense model in float64.
public func lossAndGradients(
    model: DenseModel<Double>, lora: LoRATensors<Double>, batch: [TrainingSequence]
) -> BatchGradient<Double> {
    batchGradient(model: model, lora: lora, batch: batch)
}

/// The same on a dense model in float32.
public func lossAndGradients(
    model: DenseModel<Float>, lora: LoRATensors<Float>, batch: [TrainingSequence]
) -> BatchGradient<Float> {
    batchGradient(model: model, lora: lora, batch: batch)
}

/// The mean loss of a batch on the quantized model, and its target count (no gradients).
public func loss(model: QuantizedModel, lora: LoRATensors<Float>, batch: [TrainingSequence]) -> (Double, Int) {
    batchLoss(model: model, lora: lora, batch: batch)
}

/// The same on a dense model in float64.
public func loss(model: DenseModel<Double>, lora: LoRATensors<Double>, batch: [TrainingSequence]) -> (Double, Int) {
    batchLoss(model: model, lora: lora, batch: batch)
}
