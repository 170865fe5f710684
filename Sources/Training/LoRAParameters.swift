import Inference

/// The trainable low-rank matrices of one adapted weight: ΔW = (alpha / rank) · B · A.
///
/// Row-major, in the base GGUF's layout (the q and k rows in llama.cpp's RoPE order): `a` is rank rows of `inputs`
/// values (PEFT's `lora_A.weight`, GGUF `lora_a`), `b` is `outputs` rows of rank values (`lora_B.weight`,
/// `lora_b`).
public struct LoRAPair: Sendable, Equatable {
    /// The transformer block.
    public var layer: Int
    /// The adapted map.
    public var target: LoRATarget
    /// Input width of the base weight.
    public var inputs: Int
    /// Output width of the base weight.
    public var outputs: Int
    /// A: rank × inputs.
    public var a: [Float]
    /// B: outputs × rank.
    public var b: [Float]

    /// A pair of zero matrices of rank `rank`.
    public init(layer: Int, target: LoRATarget, inputs: Int, outputs: Int, rank: Int) {
        self.layer = layer
        self.target = target
        self.inputs = inputs
        self.outputs = outputs
        a = [Float](repeating: 0, count: rank * inputs)
        b = [Float](repeating: 0, count: outputs * rank)
    }

    /// The GGUF base tensor name, `blk.N.attn_q.weight`.
    public var baseName: String { "blk.\(layer).\(target.ggufName).weight" }
}

/// A LoRA adapter being trained or written: every adapted weight's pair, the rank and alpha.
public struct LoRAParameters: Sendable, Equatable {
    /// The rank r.
    public var rank: Int
    /// The scale numerator: updates are multiplied by alpha / rank.
    public var alpha: Float
    /// The pairs, ordered by layer, then by target in `LoRATarget` order.
    public var pairs: [LoRAPair]

    /// Zero pairs for `targets` in every block of `base`.
    public init(base: LoRABase, rank: Int, alpha: Float, targets: [LoRATarget]) {
        self.rank = rank
        self.alpha = alpha
        let ordered = LoRATarget.allCases.filter { targets.contains($0) }
        var pairs: [LoRAPair] = []
        for layer in 0..<base.layers {
            for target in ordered {
                let shape = base.shape(of: target)
                pairs.append(
                    LoRAPair(layer: layer, target: target, inputs: shape.inputs, outputs: shape.outputs, rank: rank))
            }
        }
        self.pairs = pairs
    }

    /// Parameters from their parts.
    public init(rank: Int, alpha: Float, pairs: [LoRAPair]) {
        self.rank = rank
        self.alpha = alpha
        self.pairs = pairs
    }

    /// Trainable values of rank `rank` on `targets` in every block of `base`, without building the pairs.
    public static func parameterCount(base: LoRABase, rank: Int, targets: [LoRATarget]) -> Int {
        Set(targets).reduce(0) { sum, target in
            let shape = base.shape(of: target)
            return sum + base.layers * rank * (shape.inputs + shape.outputs)
        }
    }

    /// The multiplier of B · A.
    public var scale: Float { alpha / Float(rank) }

    /// The adapted targets, in `LoRATarget` order.
    public var targets: [LoRATarget] {
        LoRATarget.allCases.filter { target in pairs.contains { $0.target == target } }
    }

    /// Trainable values in all pairs.
    public var parameterCount: Int { pairs.reduce(0) { $0 + $1.a.count + $1.b.count } }
}
