import CInferenceKernels
import Foundation

/// One A/B pair as found in a file, before it is checked against a base model: the adapted tensor's GGUF name,
/// A's and B's numpy shapes ([r, inputs] and [outputs, r]) and types, and how to read their values as floats.
struct LoRAPair {
    /// The adapted tensor's GGUF name (`blk.3.attn_q.weight`, `output.weight`).
    let baseName: String
    /// The name of A in the file (for errors).
    let nameA: String
    /// The name of B in the file (for errors).
    let nameB: String
    let shapeA: [Int]
    let shapeB: [Int]
    let typeA: GGMLType
    let typeB: GGMLType
    /// PEFT: the module path (`model.layers.3.self_attn.q_proj`) the patterns match.
    let module: String?
    let readA: (UnsafeMutablePointer<Float>) -> Void
    let readB: (UnsafeMutablePointer<Float>) -> Void
    /// The little-endian halves of an F16 A (or B), which are kept as they are, not widened.
    var halvesA: UnsafeRawPointer? = nil
    var halvesB: UnsafeRawPointer? = nil
}

/// What `openledger lora inspect` prints: the format, alpha, and each adapted tensor's rank, types and shape.
public struct LoRAInspection: Sendable {
    /// One adapted tensor.
    public struct Entry: Sendable {
        /// The adapted tensor's GGUF name.
        public let name: String
        /// Its rank.
        public let rank: Int
        /// Input width.
        public let inputs: Int
        /// Output width.
        public let outputs: Int
        /// A's storage type.
        public let typeA: GGMLType
        /// B's storage type.
        public let typeB: GGMLType
    }

    /// The format.
    public let format: LoRAAdapter.Format
    /// Alpha (0 when absent).
    public let alpha: Float
    /// Settings beyond alpha (PEFT: use_rslora, rank_pattern and alpha_pattern; GGUF: general.architecture).
    public let notes: [String: String]
    /// Adapted tensors in file order.
    public let entries: [Entry]
    /// Bytes of the file (or the safetensors file of the folder).
    public let fileBytes: Int

    /// Reads the adapter at `path` (GGUF-LoRA file or PEFT folder) without a base model: its structure is checked,
    /// not its fit.
    public static func inspect(path: String) throws(LoRAError) -> LoRAInspection {
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory) else {
            throw .io(path, "no such file or folder")
        }
        let parsed: LoRAParsed =
            isDirectory.boolValue ? try PEFTReader.parse(folder: path) : try GGUFLoRAReader.parse(path: path)
        let entries = parsed.pairs.map {
            Entry(
                name: $0.baseName, rank: $0.shapeA[0], inputs: $0.shapeA[1], outputs: $0.shapeB[0], typeA: $0.typeA,
                typeB: $0.typeB)
        }
        return LoRAInspection(
            format: parsed.format, alpha: parsed.alpha, notes: parsed.notes, entries: entries, fileBytes: parsed.bytes)
    }
}

/// A file's pairs and settings, read but not yet checked against a base.
struct LoRAParsed {
    let format: LoRAAdapter.Format
    let path: String
    let alpha: Float
    let notes: [String: String]
    let pairs: [LoRAPair]
    let bytes: Int
    /// Keeps the mapping the readers point into alive.
    let owner: AnyObject
    /// PEFT: the scale's parts for a module (alpha, divisor); GGUF: alpha and the tensor's rank.
    let scaling: (LoRAPair, Int) throws(LoRAError) -> (alpha: Float, divisor: Float)
    /// PEFT rows of B for q and k are permuted into the GGUF order.
    let permuteQueryKey: Bool
    let zeroAlphaIsUnit: Bool

    /// Checks every pair against `base` and builds the adapter.
    func adapter(name: String, base: LoRABase, permute: Bool = true) throws(LoRAError) -> LoRAAdapter {
        var weights: [Int: LoRAWeight] = [:]
        var output: LoRAWeight?
        let targets = Dictionary(uniqueKeysWithValues: LoRATarget.allCases.map { ($0.ggufName, $0) })
        for pair in pairs {
            let inputs: Int
            let outputs: Int
            var slot: Int?
            var target: LoRATarget?
            if pair.baseName == "output.weight" {
                guard base.hasOutputMatrix else {
                    throw .tensor(path, pair.nameA, "the base model has no output matrix of its own (tied embeddings)")
                }
                (inputs, outputs) = (base.embedding, base.vocabulary)
            } else {
                let parts = pair.baseName.split(separator: ".", omittingEmptySubsequences: false)
                guard parts.count == 4, parts[0] == "blk", parts[3] == "weight", let layer = Int(parts[1]),
                    String(layer) == parts[1], let found = targets[String(parts[2])]
                else {
                    throw .tensor(path, pair.nameA, "adapts \(pair.baseName), which is not an adaptable base tensor")
                }
                guard layer < base.layers else {
                    throw .tensor(path, pair.nameA, "block \(layer) does not exist in a model of \(base.layers) blocks")
                }
                (inputs, outputs) = base.shape(of: found)
                slot = layer * LoRATarget.allCases.count + found.rawValue
                target = found
            }
            let rank = pair.shapeA[0]
            guard pair.shapeA == [rank, inputs] else {
                throw .tensor(path, pair.nameA, "shape \(pair.shapeA), expected [r, \(inputs)]")
            }
            guard pair.shapeB == [outputs, rank] else {
                throw .tensor(path, pair.nameB, "shape \(pair.shapeB), expected [\(outputs), \(rank)]")
            }
            guard rank >= 1, rank <= min(inputs, outputs, 4096) else {
                throw .tensor(path, pair.nameA, "rank \(rank) does not fit \(inputs) × \(outputs)")
            }
            let (alpha, divisor) = try scaling(pair, rank)
            let weight = LoRAWeight(
                name: pair.baseName, rank: rank, inputs: inputs, outputs: outputs, typeA: pair.typeA, typeB: pair.typeB,
                alpha: alpha, divisor: divisor, zeroAlphaIsUnit: zeroAlphaIsUnit)
            // A straight into the weight's storage; B staged in the file's order (outputs rows of rank), then
            // permuted and packed. F16 halves are copied as they are.
            guard
                Self.fill(
                    weight.storage, count: rank * inputs, halves: weight.halfA ? pair.halvesA : nil, read: pair.readA)
            else { throw .tensor(path, pair.nameA, "holds a value that is not finite") }
            let size = weight.halfB ? 2 : 4
            let staged = UnsafeMutableRawPointer.allocate(byteCount: max(1, outputs * rank * size), alignment: 64)
            defer { staged.deallocate() }
            guard Self.fill(staged, count: outputs * rank, halves: weight.halfB ? pair.halvesB : nil, read: pair.readB)
            else { throw .tensor(path, pair.nameB, "holds a value that is not finite") }
            if permute && permuteQueryKey, let target, target == .query || target == .key {
                Self.permuteRows(
                    staged, rows: outputs, rowBytes: rank * size, heads: target == .query ? base.heads : base.kvHeads)
            }
            olk_lora_pack_bt_raw(
                staged, Int32(size), Int32(rank), Int32(outputs), Int32(LoRAWeight.panel),
                weight.storage + weight.bytesA)
            if let slot {
                guard weights[slot] == nil else { throw .tensor(path, pair.nameA, "adapts \(pair.baseName) twice") }
                weights[slot] = weight
            } else {
                guard output == nil else { throw .tensor(path, pair.nameA, "adapts output.weight twice") }
                output = weight
            }
        }
        guard !weights.isEmpty || output != nil else { throw .malformed(path, "no LoRA tensors") }
        return LoRAAdapter(
            name: name, path: path, format: format, alpha: alpha, base: base, weights: weights, output: output)
    }

    /// Writes `count` values into `out`: the halves as they are (when given), else the floats `read` gives.
    ///
    /// False when one of them is not finite.
    static func fill(
        _ out: UnsafeMutableRawPointer, count: Int, halves: UnsafeRawPointer?,
        read: (UnsafeMutablePointer<Float>) -> Void
    ) -> Bool {
        if let halves {
            out.copyMemory(from: halves, byteCount: 2 * count)
            // An f16 of exponent 31 is an infinity or a NaN.
            for bits in UnsafeBufferPointer(start: out.assumingMemoryBound(to: UInt16.self), count: count)
            where UInt16(littleEndian: bits) & 0x7C00 == 0x7C00 {
                return false
            }
            return true
        }
        let floats = out.assumingMemoryBound(to: Float.self)
        read(floats)
        for value in UnsafeBufferPointer(start: floats, count: count) where !value.isFinite { return false }
        return true
    }

    /// convert_hf_to_gguf.py's `LlamaModel.permute` on the rows of B: within each head, the rows
    /// [first half; second half] become interleaved pairs (row h·hd + 2i + j ← h·hd + j·hd/2 + i).
    static func permuteRows(_ matrix: UnsafeMutableRawPointer, rows: Int, rowBytes: Int, heads: Int) {
        let headRows = rows / heads
        let half = headRows / 2
        let copy = UnsafeMutableRawPointer.allocate(byteCount: max(1, rows * rowBytes), alignment: 64)
        defer { copy.deallocate() }
        copy.copyMemory(from: matrix, byteCount: rows * rowBytes)
        for head in 0..<heads {
            for i in 0..<half {
                for j in 0..<2 {
                    let to = head * headRows + 2 * i + j
                    let from = head * headRows + j * half + i
                    (matrix + to * rowBytes).copyMemory(from: copy + from * rowBytes, byteCount: rowBytes)
                }
            }
        }
    }
}

/// llama.cpp's GGUF-LoRA format (`src/llama-adapter.cpp`): `general.type = adapter`, `adapter.type = lora`,
/// `adapter.lora.alpha`, tensors `<base>.lora_a` (ggml ne [n_in, r]) and `<base>.lora_b` (ne [r, n_out]).
enum GGUFLoRAReader {
    static let types: Set<GGMLType> = [.f32, .f16, .bf16, .q8_0]

    static func read(path: String, name: String, base: LoRABase) throws(LoRAError) -> LoRAAdapter {
        let parsed = try parse(path: path)
        guard parsed.notes["general.architecture"] == base.architecture else {
            throw .baseMismatch(
                path, "architecture \(parsed.notes["general.architecture"] ?? "?"), the model's is \(base.architecture)"
            )
        }
        return try parsed.adapter(name: name, base: base)
    }

    static func parse(path: String) throws(LoRAError) -> LoRAParsed {
        let file: GGUFFile
        do {
            file = try GGUFFile(path: path)
        } catch {
            switch error {
            case .io(let why): throw .io(path, why)
            case .malformed(let why), .unsupported(let why): throw .malformed(path, why)
            }
        }
        guard file.metadata["general.type"]?.string == "adapter" else {
            throw .malformed(path, "general.type is not \"adapter\" (a model, not a LoRA adapter?)")
        }
        guard let kind = file.metadata["adapter.type"]?.string else { throw .malformed(path, "adapter.type missing") }
        guard kind == "lora" else { throw .unsupported(path, "adapter.type \(kind)") }
        guard let architecture = file.metadata["general.architecture"]?.string else {
            throw .malformed(path, "general.architecture missing")
        }
        var alpha: Float = 0
        if let value = file.metadata["adapter.lora.alpha"] {
            guard case .float(let number) = value else {
                throw .malformed(path, "adapter.lora.alpha is not a FLOAT32")
            }
            alpha = Float(number)
            guard alpha.isFinite else { throw .malformed(path, "adapter.lora.alpha is \(number)") }
        }
        if file.metadata["adapter.alora.invocation_tokens"] != nil {
            throw .unsupported(path, "activated LoRA (adapter.alora.invocation_tokens)")
        }
        var halves: [String: (a: GGUFTensor?, b: GGUFTensor?)] = [:]
        var order: [String] = []
        for name in file.tensorOrder {
            guard let tensor = file.tensors[name] else { continue }
            let isA = name.hasSuffix(".lora_a")
            guard isA || name.hasSuffix(".lora_b") else {
                throw .tensor(path, name, "unexpected suffix (not .lora_a or .lora_b)")
            }
            let baseName = String(name.dropLast(7))
            if baseName.hasSuffix("_norm.weight") { continue }  // llama.cpp skips adapted norms, and so do we.
            guard types.contains(tensor.type) else { throw .tensor(path, name, "type \(tensor.type)") }
            guard tensor.shape.count == 2 else { throw .tensor(path, name, "has \(tensor.shape.count) dimensions") }
            if halves[baseName] == nil { order.append(baseName) }
            var entry = halves[baseName] ?? (nil, nil)
            if isA ? entry.a != nil : entry.b != nil { throw .tensor(path, name, "appears twice") }
            if isA { entry.a = tensor } else { entry.b = tensor }
            halves[baseName] = entry
        }
        var pairs: [LoRAPair] = []
        for baseName in order {
            guard let entry = halves[baseName], let a = entry.a, let b = entry.b else {
                throw .tensor(path, baseName, "has only one of lora_a and lora_b")
            }
            if baseName == "token_embd.weight" {
                throw .tensor(path, a.name, "embedding adapters are not supported")
            }
            // ggml ne [n_in, r] is numpy [r, n_in]; ne [r, n_out] is numpy [n_out, r].
            pairs.append(
                LoRAPair(
                    baseName: baseName, nameA: a.name, nameB: b.name, shapeA: [a.shape[1], a.shape[0]],
                    shapeB: [b.shape[1], b.shape[0]], typeA: a.type, typeB: b.type, module: nil,
                    readA: { out in dequantize(file, a, into: out) }, readB: { out in dequantize(file, b, into: out) },
                    halvesA: a.type == .f16 ? file.data(a) : nil, halvesB: b.type == .f16 ? file.data(b) : nil))
        }
        return LoRAParsed(
            format: .gguf, path: path, alpha: alpha, notes: ["general.architecture": architecture], pairs: pairs,
            bytes: file.size, owner: file,
            scaling: { _, rank throws(LoRAError) in (alpha, Float(rank)) },
            permuteQueryKey: false, zeroAlphaIsUnit: true)
    }

    static func dequantize(_ file: GGUFFile, _ tensor: GGUFTensor, into out: UnsafeMutablePointer<Float>) {
        let rowLength = tensor.shape[0]
        let rowBytes = rowLength / tensor.type.blockSize * tensor.type.blockBytes
        let data = file.data(tensor)
        for row in 0..<tensor.shape[1] {
            Kernels.dequantizeRow(
                data + row * rowBytes, type: tensor.type, count: rowLength, into: out + row * rowLength)
        }
    }
}
