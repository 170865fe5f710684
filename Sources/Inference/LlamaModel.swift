import Foundation

/// Hyper-parameters of a llama-family model, read from GGUF metadata.
public struct LlamaConfig: Sendable, Equatable {
    /// Width of the hidden state.
    public var embedding: Int
    /// Width of the feed-forward layer.
    public var feedForward: Int
    /// Transformer blocks.
    public var layers: Int
    /// Attention heads (query).
    public var heads: Int
    /// Key and value heads (grouped-query attention).
    public var kvHeads: Int
    /// Tokens in the vocabulary.
    public var vocabulary: Int
    /// Positions the model was trained for.
    public var contextLength: Int
    /// The rotary embedding's frequency base.
    public var ropeBase: Float
    /// Dimensions of each head that are rotated.
    public var ropeDimensions: Int
    /// RMSNorm's epsilon.
    public var rmsEpsilon: Float

    /// Width of one head.
    public var headDimension: Int { embedding / heads }
    /// Width of the keys (and of the values) of one position.
    public var kvDimension: Int { headDimension * kvHeads }

    init(_ metadata: [String: GGUFValue]) throws(ModelError) {
        guard let architecture = metadata["general.architecture"]?.string else {
            throw .malformed("general.architecture missing")
        }
        guard architecture == "llama" else { throw .unsupported("architecture \(architecture) (only llama)") }
        func int(_ key: String) throws(ModelError) -> Int {
            guard let value = metadata["llama." + key]?.int, value > 0, value <= 1 << 24 else {
                throw .malformed("llama.\(key) missing or out of range")
            }
            return value
        }
        embedding = try int("embedding_length")
        feedForward = try int("feed_forward_length")
        layers = try int("block_count")
        heads = try int("attention.head_count")
        kvHeads = metadata["llama.attention.head_count_kv"]?.int ?? heads
        contextLength = try int("context_length")
        ropeBase = Float(metadata["llama.rope.freq_base"]?.double ?? 10_000)
        rmsEpsilon = Float(metadata["llama.attention.layer_norm_rms_epsilon"]?.double ?? 1e-5)
        vocabulary = metadata["llama.vocab_size"]?.int ?? metadata["tokenizer.ggml.tokens"]?.array?.count ?? 0
        guard embedding % heads == 0, kvHeads > 0, heads % kvHeads == 0, embedding % 32 == 0, feedForward % 32 == 0
        else {
            throw .malformed("inconsistent head counts or sizes")
        }
        ropeDimensions = metadata["llama.rope.dimension_count"]?.int ?? embedding / heads
        guard ropeDimensions <= embedding / heads, ropeDimensions % 2 == 0 else {
            throw .malformed("rope dimension count \(ropeDimensions)")
        }
    }
}

/// A weight matrix in ggml layout: `rows` rows of `columns` values, each row `rowBytes` long.
struct Matrix: @unchecked Sendable {
    let data: UnsafeRawPointer
    let type: GGMLType
    let rows: Int
    let columns: Int
    var rowBytes: Int { columns / type.blockSize * type.blockBytes }

    init(_ file: GGUFFile, _ name: String, columns: Int, rows: Int) throws(ModelError) {
        let tensor = try file.tensor(name, shape: [columns, rows])
        guard tensor.type != .f32 || columns % 32 == 0 else { throw .malformed("\(name) width") }
        data = file.data(tensor)
        type = tensor.type
        self.rows = rows
        self.columns = columns
    }

    func row(_ index: Int) -> UnsafeRawPointer { data + index * rowBytes }
}

/// A llama-family model (GGUF, memory-mapped) with its tokenizer.
public final class LlamaModel: @unchecked Sendable {
    /// The mapped GGUF file the weights are read from.
    public let file: GGUFFile
    /// The hyper-parameters.
    public let config: LlamaConfig
    /// The tokenizer from the file's metadata.
    public let tokenizer: Tokenizer
    /// The chat template text, when the file has one.
    public let chatTemplate: String?
    let embeddings: Matrix
    let output: Matrix
    let outputNorm: [Float]
    let layers: [Layer]

    struct Layer {
        let attentionNorm: [Float]
        let feedForwardNorm: [Float]
        let query: Matrix
        let key: Matrix
        let value: Matrix
        let attentionOutput: Matrix
        let gate: Matrix
        let up: Matrix
        let down: Matrix
    }

    /// Maps and loads the GGUF model at `path`.
    public convenience init(path: String) throws(ModelError) {
        try self.init(file: try GGUFFile(path: path))
    }

    /// Loads the model from a mapped GGUF file (checks shapes and types; dequantizes the norms).
    public init(file: GGUFFile) throws(ModelError) {
        self.file = file
        let config = try LlamaConfig(file.metadata)
        self.config = config
        tokenizer = try Tokenizer(gguf: file)
        guard tokenizer.vocabularySize == config.vocabulary else {
            throw .malformed("vocabulary of \(tokenizer.vocabularySize) tokens, metadata says \(config.vocabulary)")
        }
        chatTemplate = file.metadata["tokenizer.chat_template"]?.string
        func vector(_ name: String) throws(ModelError) -> [Float] {
            let tensor = try file.tensor(name, shape: [config.embedding])
            var out = [Float](repeating: 0, count: config.embedding)
            out.withUnsafeMutableBufferPointer {
                Kernels.dequantizeRow(
                    file.data(tensor), type: tensor.type, count: config.embedding, into: $0.baseAddress!)
            }
            return out
        }
        let d = config.embedding
        embeddings = try Matrix(file, "token_embd.weight", columns: d, rows: config.vocabulary)
        output =
            file.tensors["output.weight"] != nil
            ? try Matrix(file, "output.weight", columns: d, rows: config.vocabulary) : embeddings
        outputNorm = try vector("output_norm.weight")
        var layers: [Layer] = []
        for index in 0..<config.layers {
            let prefix = "blk.\(index)."
            layers.append(
                Layer(
                    attentionNorm: try vector(prefix + "attn_norm.weight"),
                    feedForwardNorm: try vector(prefix + "ffn_norm.weight"),
                    query: try Matrix(file, prefix + "attn_q.weight", columns: d, rows: d),
                    key: try Matrix(file, prefix + "attn_k.weight", columns: d, rows: config.kvDimension),
                    value: try Matrix(file, prefix + "attn_v.weight", columns: d, rows: config.kvDimension),
                    attentionOutput: try Matrix(file, prefix + "attn_output.weight", columns: d, rows: d),
                    gate: try Matrix(file, prefix + "ffn_gate.weight", columns: d, rows: config.feedForward),
                    up: try Matrix(file, prefix + "ffn_up.weight", columns: d, rows: config.feedForward),
                    down: try Matrix(file, prefix + "ffn_down.weight", columns: config.feedForward, rows: d)))
        }
        for layer in layers {
            for matrix in [
                layer.query, layer.key, layer.value, layer.attentionOutput, layer.gate, layer.up, layer.down,
            ]
            where matrix.type == .f16 || matrix.type == .bf16 {
                throw .unsupported("\(matrix.type) weight matrices (F32, Q4_0, Q4_1 or Q8_0 only)")
            }
        }
        guard output.type == .q8_0 || output.type == .q4_0 || output.type == .q4_1 || output.type == .f32 else {
            throw .unsupported("\(output.type) output matrix")
        }
        self.layers = layers
    }
}
