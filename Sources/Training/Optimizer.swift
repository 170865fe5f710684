import Foundation
import Inference
import Runtime

/// The hyper-parameters of a LoRA training run.
public struct TrainingConfig: Sendable, Equatable, Codable {
    /// The adapter's rank r.
    public var rank = 8
    /// The scale numerator (updates are multiplied by alpha / rank).
    public var alpha: Float = 16
    /// Adapted maps, by their short names (q, k, v, o, gate, up, down).
    public var targets: [String] = ["q", "k", "v", "o", "gate", "up", "down"]
    /// Passes over the training records.
    public var epochs = 1
    /// The peak learning rate.
    public var learningRate = 2e-4
    /// Sequences per micro-batch.
    public var batch = 4
    /// Micro-batches whose gradients are summed before each optimizer step.
    public var accumulation = 1
    /// Tokens per sequence (longer records are cut).
    public var sequenceLength = 256
    /// The run's seed: initialization, split, order.
    public var seed: UInt64 = 1
    /// AdamW's decoupled weight decay.
    public var weightDecay = 0.01
    /// AdamW's first-moment decay.
    public var beta1 = 0.9
    /// AdamW's second-moment decay.
    public var beta2 = 0.999
    /// AdamW's epsilon.
    public var epsilon = 1e-8
    /// The largest global gradient norm; larger gradients are scaled down to it (0: no clipping).
    public var clipNorm = 1.0
    /// Steps of linear warmup (nil: a tenth of the run).
    public var warmupSteps: Int?
    /// The share of records held out for validation.
    public var validationFraction = 0.1
    /// Steps between checkpoints.
    public var checkpointEvery = 10

    /// The defaults.
    public init() {}

    /// The targets as `LoRATarget`s, or why a name is unknown.
    public func loraTargets() throws(TrainingError) -> [LoRATarget] {
        var out: [LoRATarget] = []
        for name in targets {
            guard let target = LoRATarget.short(name) else {
                throw .configuration("unknown target \(name) (q, k, v, o, gate, up, down)")
            }
            if !out.contains(target) { out.append(target) }
        }
        guard !out.isEmpty else { throw .configuration("no targets") }
        return out
    }

    /// Checks every value's range.
    public func validate() throws(TrainingError) {
        _ = try loraTargets()
        guard (1...256).contains(rank) else { throw .configuration("rank \(rank) outside 1…256") }
        guard alpha.isFinite, alpha > 0 else { throw .configuration("alpha must be positive") }
        guard (1...10_000).contains(epochs) else { throw .configuration("epochs \(epochs) outside 1…10000") }
        guard learningRate.isFinite, learningRate > 0, learningRate < 1 else {
            throw .configuration("learning rate \(learningRate) outside (0, 1)")
        }
        guard (1...256).contains(batch) else { throw .configuration("batch \(batch) outside 1…256") }
        guard (1...256).contains(accumulation) else {
            throw .configuration("accumulation \(accumulation) outside 1…256")
        }
        guard (2...4096).contains(sequenceLength) else {
            throw .configuration("sequence length \(sequenceLength) outside 2…4096")
        }
        guard weightDecay >= 0, weightDecay < 1, beta1 >= 0, beta1 < 1, beta2 >= 0, beta2 < 1, epsilon > 0 else {
            throw .configuration("AdamW parameters out of range")
        }
        guard clipNorm >= 0, clipNorm.isFinite else { throw .configuration("clip norm must be ≥ 0") }
        guard validationFraction >= 0, validationFraction < 1 else {
            throw .configuration("validation fraction outside [0, 1)")
        }
        guard (1...1_000_000).contains(checkpointEvery) else { throw .configuration("checkpoint interval") }
        if let warmupSteps, warmupSteps < 0 { throw .configuration("warmup steps must be ≥ 0") }
    }

    /// The learning rate of step `step` (0-based) of `total`: linear warmup, then a cosine decay to zero.
    public func learningRate(step: Int, total: Int) -> Double {
        let warmup = warmupSteps ?? max(1, total / 10)
        if step < warmup { return learningRate * Double(step + 1) / Double(warmup) }
        let span = max(1, total - warmup)
        let progress = min(1, Double(step - warmup) / Double(span))
        return learningRate * 0.5 * (1 + Foundation.cos(Double.pi * progress))
    }
}

extension LoRATarget {
    /// The target named by its short name: q, k, v, o, gate, up, down.
    public static func short(_ name: String) -> LoRATarget? {
        switch name {
        case "q", "q_proj", "attn_q": .query
        case "k", "k_proj", "attn_k": .key
        case "v", "v_proj", "attn_v": .value
        case "o", "o_proj", "attn_output": .attentionOutput
        case "gate", "gate_proj", "ffn_gate": .gate
        case "up", "up_proj", "ffn_up": .up
        case "down", "down_proj", "ffn_down": .down
        default: nil
        }
    }
}

extension LoRAParameters {
    /// PEFT's initialization, seeded: A Kaiming-uniform (bound 1/√inputs, PEFT's a = √5), B zero.
    public mutating func initialize(seed: UInt64) {
        var random = SeededRandom(seed: seed ^ 0x4c4f_5241_494e_4954)
        for p in pairs.indices {
            let bound = 1 / Double(pairs[p].inputs).squareRoot()
            for i in pairs[p].a.indices { pairs[p].a[i] = Float((unitDouble(&random) * 2 - 1) * bound) }
            for i in pairs[p].b.indices { pairs[p].b[i] = 0 }
        }
    }
}

/// AdamW over the LoRA matrices, with its moments.
public struct AdamW: Sendable, Equatable {
    /// First moments, per pair: A's then B's.
    public var firstA: [[Float]]
    /// First moments of B.
    public var firstB: [[Float]]
    /// Second moments of A.
    public var secondA: [[Float]]
    /// Second moments of B.
    public var secondB: [[Float]]
    /// Steps taken.
    public var steps: Int

    /// Zero moments for `parameters`.
    public init(_ parameters: LoRAParameters) {
        firstA = parameters.pairs.map { [Float](repeating: 0, count: $0.a.count) }
        firstB = parameters.pairs.map { [Float](repeating: 0, count: $0.b.count) }
        secondA = firstA
        secondB = firstB
        steps = 0
    }

    /// The global L2 norm of `gradients`.
    public static func norm(_ gradients: LoRATensors<Float>) -> Double {
        var sum = 0.0
        for p in gradients.a.indices {
            for g in gradients.a[p] { sum += Double(g) * Double(g) }
            for g in gradients.b[p] { sum += Double(g) * Double(g) }
        }
        return sum.squareRoot()
    }

    /// One step: clips `gradients` to the configured norm, then updates `parameters` with learning rate `rate`.
    ///
    /// Returns the gradient norm before clipping.
    @discardableResult
    public mutating func step(
        _ parameters: inout LoRAParameters, _ gradients: LoRATensors<Float>, rate: Double, config: TrainingConfig
    ) -> Double {
        let norm = Self.norm(gradients)
        let clip: Float = config.clipNorm > 0 && norm > config.clipNorm ? Float(config.clipNorm / norm) : 1
        steps += 1
        let beta1 = Float(config.beta1)
        let beta2 = Float(config.beta2)
        let correction1 = Float(1 - Foundation.pow(config.beta1, Double(steps)))
        let correction2 = Float(1 - Foundation.pow(config.beta2, Double(steps)))
        let lr = Float(rate)
        let decay = Float(config.weightDecay)
        let epsilon = Float(config.epsilon)
        func update(_ p: inout [Float], _ g: [Float], _ m: inout [Float], _ v: inout [Float]) {
            for i in p.indices {
                let gi = g[i] * clip
                m[i] = beta1 * m[i] + (1 - beta1) * gi
                v[i] = beta2 * v[i] + (1 - beta2) * gi * gi
                let mHat = m[i] / correction1
                let vHat = v[i] / correction2
                p[i] -= lr * (mHat / (vHat.squareRoot() + epsilon) + decay * p[i])
            }
        }
        for p in parameters.pairs.indices {
            update(&parameters.pairs[p].a, gradients.a[p], &firstA[p], &secondA[p])
            update(&parameters.pairs[p].b, gradients.b[p], &firstB[p], &secondB[p])
        }
        return norm
    }
}
