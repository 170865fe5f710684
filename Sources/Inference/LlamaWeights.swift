/// A read-only view of one weight matrix of a mapped model, in its ggml block format.
///
/// The training module multiplies with these blocks directly; the view stays valid while its model is alive.
public struct WeightView: @unchecked Sendable {
    /// The first byte of row 0.
    public let data: UnsafeRawPointer
    /// The block format.
    public let type: GGMLType
    /// Output rows.
    public let rows: Int
    /// Values per row (inputs).
    public let columns: Int
    /// Bytes per row.
    public var rowBytes: Int { columns / type.blockSize * type.blockBytes }

    init(_ matrix: Matrix) {
        data = matrix.data
        type = matrix.type
        rows = matrix.rows
        columns = matrix.columns
    }
}

extension LlamaModel {
    /// The weight matrix a LoRA target adapts in block `layer`.
    public func weight(layer: Int, _ target: LoRATarget) -> WeightView {
        let block = layers[layer]
        switch target {
        case .query: return WeightView(block.query)
        case .key: return WeightView(block.key)
        case .value: return WeightView(block.value)
        case .attentionOutput: return WeightView(block.attentionOutput)
        case .gate: return WeightView(block.gate)
        case .up: return WeightView(block.up)
        case .down: return WeightView(block.down)
        }
    }

    /// The token embeddings (`token_embd.weight`).
    public var embeddingWeights: WeightView { WeightView(embeddings) }
    /// The output projection (the embeddings themselves when the model ties them).
    public var outputWeights: WeightView { WeightView(output) }
    /// The final RMSNorm's weights.
    public var outputNormWeights: [Float] { outputNorm }
    /// The RMSNorm weights before attention in block `layer`.
    public func attentionNormWeights(layer: Int) -> [Float] { layers[layer].attentionNorm }
    /// The RMSNorm weights before the feed-forward network in block `layer`.
    public func feedForwardNormWeights(layer: Int) -> [Float] { layers[layer].feedForwardNorm }

    /// Row `index` of a weight matrix as floats.
    public static func dequantize(_ weight: WeightView, row index: Int) -> [Float] {
        var out = [Float](repeating: 0, count: weight.columns)
        out.withUnsafeMutableBufferPointer {
            Kernels.dequantizeRow(
                weight.data + index * weight.rowBytes, type: weight.type, count: weight.columns, into: $0.baseAddress!)
        }
        return out
    }
}
