import FileIO
import Foundation
import Inference

/// Writing an adapter as llama.cpp's GGUF-LoRA file or as a Hugging Face PEFT folder, and reading one back.
///
/// GGUF-LoRA keeps the pairs as they are held (the base GGUF's layout). PEFT is for the Hugging Face model, whose
/// q_proj and k_proj rows are in another order (the GGUF converter permutes them for llama.cpp's RoPE), so the
/// rows of B of q and k are put back into that order; A is the same in both (docs/adapter-formats.md).
extension LoRAParameters {
    /// Metadata keys the GGUF-LoRA file sets itself.
    public static let reservedGGUFKeys: Set<String> = [
        "general.architecture", "general.type", "adapter.type", "adapter.lora.alpha", "general.alignment",
    ]
    /// The safetensors `__metadata__` key the PEFT folder sets itself (`format: pt`, as PEFT saves it).
    public static let reservedPEFTKeys: Set<String> = ["format"]
    /// The PEFT folder's configuration file.
    public static let peftConfigName = "adapter_config.json"
    /// The PEFT folder's tensor file.
    public static let peftTensorsName = "adapter_model.safetensors"

    /// The GGUF-LoRA file: `general.architecture`, `general.type = adapter`, `adapter.type = lora`,
    /// `adapter.lora.alpha` (FLOAT32), then `metadata` as strings in key order; for each pair,
    /// `blk.N.<target>.weight.lora_a` (ne [inputs, rank]) and `.lora_b` (ne [rank, outputs]) stored as `type`.
    public func ggufWriter(
        architecture: String = "llama", metadata: [String: String] = [:], type: GGUFWriter.TensorType = .f32
    ) throws(TrainingError) -> GGUFWriter {
        try check()
        var writer = GGUFWriter()
        try writer.set("general.architecture", .string(architecture))
        try writer.set("general.type", .string("adapter"))
        try writer.set("adapter.type", .string("lora"))
        try writer.set("adapter.lora.alpha", .float32(alpha))
        for key in metadata.keys.sorted() {
            guard !Self.reservedGGUFKeys.contains(key) else {
                throw .metadataKey(key, "is set by the GGUF-LoRA format itself")
            }
            try writer.set(key, .string(metadata[key]!))
        }
        for pair in pairs {
            try writer.addTensor(pair.baseName + ".lora_a", shape: [pair.inputs, rank], values: pair.a, type: type)
            try writer.addTensor(pair.baseName + ".lora_b", shape: [rank, pair.outputs], values: pair.b, type: type)
        }
        return writer
    }

    /// Writes the adapter as a GGUF-LoRA file at `path`, atomically (see `ggufWriter`).
    public func writeGGUF(
        to path: String, architecture: String = "llama", metadata: [String: String] = [:],
        type: GGUFWriter.TensorType = .f32
    ) throws(TrainingError) {
        try ggufWriter(architecture: architecture, metadata: metadata, type: type).write(to: path)
    }

    /// The PEFT folder's two files: `adapter_config.json` and `adapter_model.safetensors` (F32, `metadata` in its
    /// `__metadata__` with `format: pt`), for the Hugging Face model `baseModelName` of shape `base`.
    public func peftFiles(base: LoRABase, baseModelName: String, metadata: [String: String] = [:])
        throws(TrainingError) -> (config: [UInt8], tensors: [UInt8])
    {
        try check()
        try check(base: base)
        for key in metadata.keys where Self.reservedPEFTKeys.contains(key) {
            throw .metadataKey(key, "is set by the PEFT format itself")
        }
        var tensors = SafetensorsWriter(metadata: metadata.merging(["format": "pt"]) { $1 })
        for pair in pairs {
            let module = "base_model.model.model.layers.\(pair.layer).\(pair.target.peftModule)"
            var b = pair.b
            if pair.target == .query || pair.target == .key {
                b = Self.huggingFaceRows(b, rank: rank, heads: pair.target == .query ? base.heads : base.kvHeads)
            }
            try tensors.add(module + ".lora_A.weight", shape: [rank, pair.inputs], values: pair.a)
            try tensors.add(module + ".lora_B.weight", shape: [pair.outputs, rank], values: b)
        }
        let layers = Set(pairs.map(\.layer)).sorted()
        var config: [String: Any] = [
            "base_model_name_or_path": baseModelName, "bias": "none", "fan_in_fan_out": false, "inference_mode": true,
            "lora_alpha": Double(alpha.description) ?? Double(alpha), "lora_dropout": 0.0, "peft_type": "LORA",
            "r": rank, "target_modules": targets.map { String($0.peftModule.split(separator: ".").last!) },
            "task_type": "CAUSAL_LM", "use_dora": false, "use_rslora": false,
        ]
        if layers != Array(0..<base.layers) { config["layers_to_transform"] = layers }
        guard
            let json = try? JSONSerialization.data(
                withJSONObject: config, options: [.sortedKeys, .prettyPrinted, .withoutEscapingSlashes])
        else {
            throw .metadataKey("base_model_name_or_path", "cannot be encoded as JSON")
        }
        return (Array(json) + [UInt8(ascii: "\n")], try tensors.bytes())
    }

    /// Writes the adapter as a PEFT folder at `directory` (created if missing): the tensors first, then the
    /// configuration, each atomically, so a folder with the new configuration has the new tensors beside it.
    public func writePEFT(
        to directory: String, base: LoRABase, baseModelName: String, metadata: [String: String] = [:]
    ) throws(TrainingError) {
        let files = try peftFiles(base: base, baseModelName: baseModelName, metadata: metadata)
        do {
            try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        } catch {
            throw .directory(directory, (error as NSError).localizedDescription)
        }
        let folder = URL(fileURLWithPath: directory)
        do {
            try AtomicFile.write(files.tensors, to: folder.appendingPathComponent(Self.peftTensorsName).path)
            try AtomicFile.write(files.config, to: folder.appendingPathComponent(Self.peftConfigName).path)
        } catch {
            throw .fileWrite(error)
        }
    }

    /// Reads the adapter at `path` (a GGUF-LoRA file or a PEFT folder) for `base`, through the inference engine's
    /// own readers, into pairs in the GGUF layout (PEFT's q and k rows of B permuted back).
    ///
    /// Refused when the adapter cannot be held as one rank and one alpha over the seven block maps: an adapted
    /// output matrix, several ranks, rsLoRA, or per-module alphas. A GGUF alpha of 0 (llama.cpp: the scale is the
    /// user's alone) becomes alpha = rank, the same scale.
    public init(adapter path: String, base: LoRABase) throws(TrainingError) {
        let adapter: LoRAAdapter
        do {
            adapter = try LoRAAdapter.load(path: path, base: base)
        } catch {
            throw .adapterRead(error)
        }
        guard adapter.output == nil else { throw .adapterUnsupported(path, "it adapts the output matrix") }
        guard adapter.ranks.count == 1, let rank = adapter.ranks.first else {
            throw .adapterUnsupported(path, "it has ranks \(adapter.ranks), not one")
        }
        for weight in adapter.weights where weight.alpha != adapter.alpha || weight.divisor != Float(rank) {
            throw .adapterUnsupported(path, "\(weight.name) has its own alpha or rsLoRA scaling")
        }
        var pairs: [LoRAPair] = []
        for layer in 0..<base.layers {
            for target in LoRATarget.allCases {
                guard let weight = adapter.weight(layer: layer, target: target) else { continue }
                var pair = LoRAPair(
                    layer: layer, target: target, inputs: weight.inputs, outputs: weight.outputs, rank: rank)
                pair.a = weight.matrixA
                pair.b = weight.matrixB
                pairs.append(pair)
            }
        }
        self.rank = rank
        self.alpha = adapter.alpha == 0 && adapter.format == .gguf ? Float(rank) : adapter.alpha
        self.pairs = pairs
    }

    /// The rows of a q or k B (outputs × rank, GGUF order) in Hugging Face's order.
    ///
    /// The inverse of the converter's `LlamaModel.permute`: within each head, GGUF row 2i + j holds Hugging Face row
    /// j·hd/2 + i.
    public static func huggingFaceRows(_ b: [Float], rank: Int, heads: Int) -> [Float] {
        reorderRows(b, rank: rank, heads: heads, toHuggingFace: true)
    }

    /// The rows of a q or k B in Hugging Face's order put into the GGUF order (the converter's `permute`).
    public static func ggufRows(_ b: [Float], rank: Int, heads: Int) -> [Float] {
        reorderRows(b, rank: rank, heads: heads, toHuggingFace: false)
    }

    /// Moves whole rows of `rank` values between the two orders of each head's `hd` rows.
    static func reorderRows(_ b: [Float], rank: Int, heads: Int, toHuggingFace: Bool) -> [Float] {
        let rows = b.count / rank
        let headRows = rows / heads
        let half = headRows / 2
        var out = b
        for head in 0..<heads {
            for i in 0..<half {
                for j in 0..<2 {
                    let gguf = (head * headRows + 2 * i + j) * rank
                    let hf = (head * headRows + j * half + i) * rank
                    let (to, from) = toHuggingFace ? (hf, gguf) : (gguf, hf)
                    out[to..<(to + rank)] = b[from..<(from + rank)]
                }
            }
        }
        return out
    }

    /// Refuses pairs that no reader would take: a rank outside 1…min(inputs, outputs, 4096), a matrix whose value
    /// count is not its shape's, a block adapted twice in one map, an alpha that is not finite.
    func check() throws(TrainingError) {
        guard alpha.isFinite else { throw .metadataKey("adapter.lora.alpha", "alpha \(alpha) is not finite") }
        guard !pairs.isEmpty else { throw .tensorShape("adapter", "has no pairs") }
        var seen: Set<Int> = []
        for pair in pairs {
            guard pair.layer >= 0, seen.insert(pair.layer * LoRATarget.allCases.count + pair.target.rawValue).inserted
            else {
                throw .tensorShape(pair.baseName, "block \(pair.layer) is given twice or is negative")
            }
            guard pair.inputs >= 1, pair.outputs >= 1, rank >= 1, rank <= min(pair.inputs, pair.outputs, 4096) else {
                throw .tensorShape(pair.baseName, "rank \(rank) for \(pair.inputs) × \(pair.outputs)")
            }
            guard pair.a.count == rank * pair.inputs, pair.b.count == pair.outputs * rank else {
                throw .tensorShape(
                    pair.baseName,
                    "A has \(pair.a.count) values, B \(pair.b.count), for rank \(rank), \(pair.inputs) × \(pair.outputs)"
                )
            }
        }
    }

    /// Refuses pairs that do not fit `base`: a block it lacks, widths other than its maps', q or k rows that do not
    /// split into heads of an even width.
    func check(base: LoRABase) throws(TrainingError) {
        for pair in pairs {
            guard pair.layer < base.layers else {
                throw .baseMismatch("\(pair.baseName): the base has \(base.layers) blocks")
            }
            let shape = base.shape(of: pair.target)
            guard shape.inputs == pair.inputs, shape.outputs == pair.outputs else {
                throw .baseMismatch("\(pair.baseName) is \(pair.inputs) × \(pair.outputs), the base's \(shape)")
            }
            if pair.target == .query || pair.target == .key {
                let heads = pair.target == .query ? base.heads : base.kvHeads
                guard heads >= 1, pair.outputs % (2 * heads) == 0 else {
                    throw .baseMismatch("\(pair.baseName): \(pair.outputs) rows do not split into \(heads) heads")
                }
            }
        }
    }
}
