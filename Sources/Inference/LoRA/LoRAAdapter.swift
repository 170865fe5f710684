import CInferenceKernels
import Foundation

/// The linear maps of a llama block that an adapter may change (the output matrix is `LoRAAdapter.output`).
public enum LoRATarget: Int, CaseIterable, Sendable, CustomStringConvertible {
    /// `attn_q` (`q_proj`).
    case query
    /// `attn_k` (`k_proj`).
    case key
    /// `attn_v` (`v_proj`).
    case value
    /// `attn_output` (`o_proj`).
    case attentionOutput
    /// `ffn_gate` (`gate_proj`).
    case gate
    /// `ffn_up` (`up_proj`).
    case up
    /// `ffn_down` (`down_proj`).
    case down

    /// The tensor's name in a GGUF file, between `blk.N.` and `.weight`.
    public var ggufName: String {
        switch self {
        case .query: "attn_q"
        case .key: "attn_k"
        case .value: "attn_v"
        case .attentionOutput: "attn_output"
        case .gate: "ffn_gate"
        case .up: "ffn_up"
        case .down: "ffn_down"
        }
    }

    /// The module's name in a Hugging Face llama (`self_attn.q_proj`, `mlp.down_proj`, …).
    public var peftModule: String {
        switch self {
        case .query: "self_attn.q_proj"
        case .key: "self_attn.k_proj"
        case .value: "self_attn.v_proj"
        case .attentionOutput: "self_attn.o_proj"
        case .gate: "mlp.gate_proj"
        case .up: "mlp.up_proj"
        case .down: "mlp.down_proj"
        }
    }

    /// The GGUF name.
    public var description: String { ggufName }
}

/// The shape of a base model as far as adapters care: which maps exist and their widths.
public struct LoRABase: Sendable, Equatable {
    /// The architecture (`general.architecture`).
    public var architecture: String
    /// Transformer blocks.
    public var layers: Int
    /// Width of the hidden state.
    public var embedding: Int
    /// Width of the feed-forward layer.
    public var feedForward: Int
    /// Width of the keys and values.
    public var kvDimension: Int
    /// Query heads.
    public var heads: Int
    /// Key and value heads.
    public var kvHeads: Int
    /// Tokens in the vocabulary.
    public var vocabulary: Int
    /// Whether the model has its own output matrix (false when it is tied to the embeddings).
    public var hasOutputMatrix: Bool

    /// A base of the given shape.
    public init(
        architecture: String = "llama", layers: Int, embedding: Int, feedForward: Int, kvDimension: Int, heads: Int,
        kvHeads: Int, vocabulary: Int, hasOutputMatrix: Bool
    ) {
        self.architecture = architecture
        self.layers = layers
        self.embedding = embedding
        self.feedForward = feedForward
        self.kvDimension = kvDimension
        self.heads = heads
        self.kvHeads = kvHeads
        self.vocabulary = vocabulary
        self.hasOutputMatrix = hasOutputMatrix
    }

    /// The base of `model`.
    public init(model: LlamaModel) {
        let config = model.config
        architecture = model.file.metadata["general.architecture"]?.string ?? "llama"
        layers = config.layers
        embedding = config.embedding
        feedForward = config.feedForward
        kvDimension = config.kvDimension
        heads = config.heads
        kvHeads = config.kvHeads
        vocabulary = config.vocabulary
        hasOutputMatrix = model.file.tensors["output.weight"] != nil
    }

    /// Input and output widths of a target's matrix.
    public func shape(of target: LoRATarget) -> (inputs: Int, outputs: Int) {
        switch target {
        case .query, .attentionOutput: (embedding, embedding)
        case .key, .value: (embedding, kvDimension)
        case .gate, .up: (embedding, feedForward)
        case .down: (feedForward, embedding)
        }
    }
}

/// One adapted matrix: A (rank × inputs) and B (outputs × rank), the storage types they came in (which decide the
/// rounding llama.cpp applies: F16 weights see their input rounded to f16) and the scale's parts.
///
/// F16 halves stay f16 in memory (the kernel widens them in registers, exactly); F32, BF16 and Q8_0 halves are
/// held as f32. A and Bᵀ share one allocation, A first (rank rows of `inputs`), then Bᵀ in panels of
/// `LoRAWeight.panel` outputs (`olk_lora_pack_bt`), so one update reads its weights front to back.
public final class LoRAWeight: @unchecked Sendable {
    /// Outputs per panel of the stored Bᵀ.
    static let panel = 16
    /// The name of the adapted tensor (`blk.3.attn_q.weight`).
    public let name: String
    /// The rank r.
    public let rank: Int
    /// Width of the input.
    public let inputs: Int
    /// Width of the output.
    public let outputs: Int
    /// The type A was stored in.
    public let typeA: GGMLType
    /// The type B was stored in.
    public let typeB: GGMLType
    /// The adapter's alpha for this matrix.
    public let alpha: Float
    /// What alpha is divided by: r, or √r with rsLoRA.
    public let divisor: Float
    /// llama.cpp's rule: alpha 0 means the scale is the user's scale alone (GGUF); PEFT means 0.
    let zeroAlphaIsUnit: Bool
    /// A then the paneled Bᵀ, each f16 when its half is F16 (filled by the readers).
    let storage: UnsafeMutableRawPointer
    /// Whether A is held as f16.
    var halfA: Bool { typeA == .f16 }
    /// Whether B is held as f16.
    var halfB: Bool { typeB == .f16 }
    /// Bytes of A in `storage`.
    var bytesA: Int { rank * inputs * (halfA ? 2 : 4) }
    /// Where Bᵀ starts.
    var storedBT: UnsafeRawPointer { UnsafeRawPointer(storage) + bytesA }

    init(
        name: String, rank: Int, inputs: Int, outputs: Int, typeA: GGMLType, typeB: GGMLType, alpha: Float,
        divisor: Float, zeroAlphaIsUnit: Bool
    ) {
        self.name = name
        self.rank = rank
        self.inputs = inputs
        self.outputs = outputs
        self.typeA = typeA
        self.typeB = typeB
        self.alpha = alpha
        self.divisor = divisor
        self.zeroAlphaIsUnit = zeroAlphaIsUnit
        let bytes = rank * inputs * (typeA == .f16 ? 2 : 4) + rank * outputs * (typeB == .f16 ? 2 : 4)
        storage = .allocate(byteCount: max(1, bytes), alignment: 64)
        storage.initializeMemory(as: UInt8.self, repeating: 0, count: max(1, bytes))
    }

    deinit { storage.deallocate() }

    /// The factor B·A·x is multiplied by, for the user's scale: user × alpha / r (llama.cpp's order of operations).
    public func scale(_ user: Float) -> Float {
        if alpha == 0 { return zeroAlphaIsUnit ? user : 0 }
        return user * alpha / divisor
    }

    /// Bytes held for A and B (2 per value of an F16 half, 4 otherwise).
    public var byteCount: Int { bytesA + rank * outputs * (halfB ? 2 : 4) }

    /// A copy of A as floats, row-major (rank rows of `inputs`).
    public var matrixA: [Float] {
        let count = rank * inputs
        guard halfA else {
            return Array(UnsafeBufferPointer(start: storage.assumingMemoryBound(to: Float.self), count: count))
        }
        let halves = storage.assumingMemoryBound(to: UInt16.self)
        return (0..<count).map { Float(Float16(bitPattern: UInt16(littleEndian: halves[$0]))) }
    }

    /// A copy of B as floats, row-major (`outputs` rows of rank).
    public var matrixB: [Float] {
        var out = [Float](repeating: 0, count: outputs * rank)
        olk_lora_unpack_bt(storedBT, halfB ? 1 : 0, Int32(rank), Int32(outputs), Int32(Self.panel), &out)
        return out
    }
}

/// A LoRA adapter read from a GGUF-LoRA file or a PEFT folder, checked against a base model: for every block and
/// target that it adapts, a `LoRAWeight`.
public final class LoRAAdapter: Sendable {
    /// The two formats read.
    public enum Format: String, Sendable {
        /// llama.cpp's GGUF-LoRA file.
        case gguf = "GGUF-LoRA"
        /// A Hugging Face PEFT folder (adapter_config.json, adapter_model.safetensors).
        case peft = "PEFT"
    }

    /// The name the adapter is known by (its file or folder name without extension, unless given).
    public let name: String
    /// Where it was read from.
    public let path: String
    /// The format it was read from.
    public let format: Format
    /// The adapter's alpha (GGUF `adapter.lora.alpha`, PEFT `lora_alpha`); 0 when absent.
    public let alpha: Float
    /// The base model it was checked against.
    public let base: LoRABase
    /// The adapted matrices, in block order and `LoRATarget` order within a block.
    public let weights: [LoRAWeight]
    /// The adapted output matrix, on a model that has its own.
    public let output: LoRAWeight?
    private let table: [LoRAWeight?]

    init(
        name: String, path: String, format: Format, alpha: Float, base: LoRABase, weights: [Int: LoRAWeight],
        output: LoRAWeight?
    ) {
        self.name = name
        self.path = path
        self.format = format
        self.alpha = alpha
        self.base = base
        let count = base.layers * LoRATarget.allCases.count
        table = (0..<count).map { weights[$0] }
        self.weights = table.compactMap { $0 }
        self.output = output
    }

    /// The adapted matrix of `target` in block `layer`, if the adapter changes it.
    public func weight(layer: Int, target: LoRATarget) -> LoRAWeight? {
        table[layer * LoRATarget.allCases.count + target.rawValue]
    }

    /// Bytes held for all the matrices.
    public var byteCount: Int { weights.reduce(output?.byteCount ?? 0) { $0 + $1.byteCount } }

    /// The ranks that occur.
    public var ranks: [Int] { Array(Set(weights.map(\.rank) + (output.map { [$0.rank] } ?? []))).sorted() }

    /// Reads a GGUF-LoRA file (a path ending in `.gguf`) or a PEFT folder for `base`.
    public static func load(path: String, name: String? = nil, base: LoRABase) throws(LoRAError) -> LoRAAdapter {
        let adapterName = name ?? defaultName(path: path)
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory) else {
            throw .io(path, "no such file or folder")
        }
        if isDirectory.boolValue { return try PEFTReader.read(folder: path, name: adapterName, base: base) }
        return try GGUFLoRAReader.read(path: path, name: adapterName, base: base)
    }

    /// The name an adapter at `path` is known by: the last path component without `.gguf`.
    public static func defaultName(path: String) -> String {
        let last = URL(fileURLWithPath: path).lastPathComponent
        return last.hasSuffix(".gguf") ? String(last.dropLast(5)) : last
    }
}

/// One adapter with the user's scale, as a request stacks them.
public struct LoRAUse: Sendable {
    /// The adapter.
    public let adapter: LoRAAdapter
    /// The user's scale (1 is the adapter as trained).
    public let scale: Float

    /// `adapter` at `scale`.
    public init(_ adapter: LoRAAdapter, scale: Float = 1) {
        self.adapter = adapter
        self.scale = scale
    }
}
