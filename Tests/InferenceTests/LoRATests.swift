import CInferenceKernels
import Foundation
import TestSupport
import Testing

@testable import Inference

/// Random adapters for the tiny test model, written as GGUF-LoRA files and PEFT folders.
struct TinyLoRA {
    static let targets: [(LoRATarget, Int, Int)] = [
        (.query, 64, 64), (.key, 64, 32), (.value, 64, 32), (.attentionOutput, 64, 64), (.gate, 64, 128),
        (.up, 64, 128), (.down, 128, 64),
    ]

    /// A (rank × inputs) and B (outputs × rank), row-major, per block and target (GGUF row order).
    var matrices: [String: (a: [Float], b: [Float], inputs: Int, outputs: Int)] = [:]
    var rank: Int
    var alpha: Float

    init(seed: UInt64, rank: Int = 4, alpha: Float = 8, layers: Int = 2) {
        self.rank = rank
        self.alpha = alpha
        var random = SeededRandom(seed: seed)
        func normal(_ sigma: Float) -> Float { (random.nextUnitFloat() + random.nextUnitFloat() - 1) * sigma * 2.4 }
        for layer in 0..<layers {
            for (target, inputs, outputs) in Self.targets {
                let a = (0..<(rank * inputs)).map { _ in normal(1 / Float(inputs).squareRoot()) }
                let b = (0..<(outputs * rank)).map { _ in normal(0.3) }
                matrices["blk.\(layer).\(target.ggufName).weight"] = (a, b, inputs, outputs)
            }
        }
    }

    func gguf(architecture: String = "llama", extra: (inout GGUFWriter) -> Void = { _ in }) -> [UInt8] {
        var writer = GGUFWriter()
        writer.set("general.architecture", .string(architecture))
        writer.set("general.type", .string("adapter"))
        writer.set("adapter.type", .string("lora"))
        writer.set("adapter.lora.alpha", .f32(alpha))
        for name in matrices.keys.sorted() {
            let m = matrices[name]!
            writer.addF32(name + ".lora_a", shape: [m.inputs, rank], values: m.a)
            writer.addF32(name + ".lora_b", shape: [rank, m.outputs], values: m.b)
        }
        extra(&writer)
        return writer.build()
    }

    /// The inverse of LlamaModel.permute on B's rows (GGUF order back to Hugging Face order), written out
    /// independently of the reader: HF row h·hd + j·hd/2 + i is GGUF row h·hd + 2i + j.
    static func unpermute(_ b: [Float], rows: Int, rank: Int, heads: Int) -> [Float] {
        var out = b
        let headRows = rows / heads
        for h in 0..<heads {
            for i in 0..<(headRows / 2) {
                for j in 0..<2 {
                    let hf = h * headRows + j * headRows / 2 + i
                    let gguf = h * headRows + 2 * i + j
                    for c in 0..<rank { out[hf * rank + c] = b[gguf * rank + c] }
                }
            }
        }
        return out
    }

    /// The same adapter as a PEFT folder; `unpermuted: false` writes B of q and k in GGUF order (a converter bug).
    func peft(in folder: String, unpermuted: Bool = true, config: [String: Any]? = nil) throws {
        try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
        var tensors: [(String, [Int], [Float])] = []
        let modules: [LoRATarget: String] = Dictionary(
            uniqueKeysWithValues: LoRATarget.allCases.map { ($0, $0.peftModule) })
        for name in matrices.keys.sorted() {
            let m = matrices[name]!
            let parts = name.split(separator: ".")
            let target = LoRATarget.allCases.first { $0.ggufName == parts[2] }!
            var b = m.b
            if unpermuted && target == .query { b = Self.unpermute(b, rows: m.outputs, rank: rank, heads: 4) }
            if unpermuted && target == .key { b = Self.unpermute(b, rows: m.outputs, rank: rank, heads: 2) }
            let prefix = "base_model.model.model.layers.\(parts[1]).\(modules[target]!)"
            tensors.append((prefix + ".lora_A.weight", [rank, m.inputs], m.a))
            tensors.append((prefix + ".lora_B.weight", [m.outputs, rank], b))
        }
        try Data(Self.safetensors(tensors)).write(to: URL(fileURLWithPath: folder + "/adapter_model.safetensors"))
        let json =
            config ?? [
                "peft_type": "LORA", "r": rank, "lora_alpha": alpha, "bias": "none", "use_rslora": false,
                "target_modules": ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"],
            ]
        try JSONSerialization.data(withJSONObject: json).write(
            to: URL(fileURLWithPath: folder + "/adapter_config.json"))
    }

    static func safetensors(_ tensors: [(String, [Int], [Float])], dtype: String = "F32") -> [UInt8] {
        var header: [String: Any] = [:]
        var data: [UInt8] = []
        for (name, shape, values) in tensors {
            let start = data.count
            for value in values { data += withUnsafeBytes(of: value.bitPattern.littleEndian, Array.init) }
            header[name] = ["dtype": dtype, "shape": shape, "data_offsets": [start, data.count]]
        }
        var text = Array(try! JSONSerialization.data(withJSONObject: header, options: [.sortedKeys]))
        while text.count % 8 != 0 { text.append(0x20) }
        return withUnsafeBytes(of: UInt64(text.count).littleEndian, Array.init) + text + data
    }
}

func temporaryFolder(_ name: String) -> String {
    FileManager.default.temporaryDirectory.appendingPathComponent(
        "openledger-\(name)-\(getpid())-\(UInt32.random(in: 0...UInt32.max))"
    ).path
}

func tinyModel() throws -> (LlamaModel, String) {
    let path = writeTemporary(GGUFWriter.tinyLlama().build(), name: "tiny-lora-base")
    return (try LlamaModel(path: path), path)
}

@Test func aGGUFLoRAFileReadsAndItsScaleIsUserTimesAlphaOverRank() throws {
    let (model, modelPath) = try tinyModel()
    defer { try? FileManager.default.removeItem(atPath: modelPath) }
    let lora = TinyLoRA(seed: 3, rank: 4, alpha: 8)
    let path = writeTemporary(lora.gguf(), name: "lora")
    defer { try? FileManager.default.removeItem(atPath: path) }
    let adapter = try LoRAAdapter.load(path: path, base: LoRABase(model: model))
    #expect(adapter.format == .gguf && adapter.alpha == 8 && adapter.ranks == [4])
    #expect(
        adapter.weights.count == 14
            && adapter.byteCount == lora.matrices.values.reduce(0) { $0 + 4 * ($1.a.count + $1.b.count) })
    let weight = try #require(adapter.weight(layer: 1, target: .down))
    #expect(weight.inputs == 128 && weight.outputs == 64 && weight.rank == 4)
    #expect(weight.matrixA == lora.matrices["blk.1.ffn_down.weight"]!.a)
    #expect(weight.matrixB == lora.matrices["blk.1.ffn_down.weight"]!.b)
    #expect(weight.scale(1) == 2 && weight.scale(0.5) == 1)
    let inspection = try LoRAInspection.inspect(path: path)
    #expect(inspection.entries.count == 14 && inspection.entries.allSatisfy { $0.rank == 4 && $0.typeA == .f32 })
}

@Test func anAdapterChangesTheLogitsAndAtScaleZeroLeavesThemExactlyAsTheBase() throws {
    let (model, modelPath) = try tinyModel()
    defer { try? FileManager.default.removeItem(atPath: modelPath) }
    let path = writeTemporary(TinyLoRA(seed: 5).gguf(), name: "lora")
    defer { try? FileManager.default.removeItem(atPath: path) }
    let adapter = try LoRAAdapter.load(path: path, base: LoRABase(model: model))
    let prompt = model.tokenizer.encode("the theme in a thin thread ", addSpecial: false)
    let session = InferenceSession(model: model, capacity: 64, threads: 2, maxBatch: 8)
    try session.evaluate(prompt)
    let base = session.logits
    session.reset()
    session.adapters = [LoRAUse(adapter, scale: 0)]
    try session.evaluate(prompt)
    #expect(session.logits == base)
    session.reset()
    session.adapters = [LoRAUse(adapter, scale: 1)]
    try session.evaluate(prompt)
    let adapted = session.logits
    let change = zip(adapted, base).map { abs($0 - $1) }.max() ?? 0
    #expect(change > 0.01)
    // The prompt in one batch or token by token gives the same scores with the adapter too.
    let single = InferenceSession(model: model, capacity: 64, threads: 1, maxBatch: 1)
    single.adapters = [LoRAUse(adapter)]
    for token in prompt { try single.evaluate(token) }
    #expect(single.logits == adapted)
}

/// The low-rank kernel against a double-precision reference.
@Test(arguments: [
    (4, 64, 32, 0, 0), (8, 576, 192, 0, 0), (16, 576, 1536, 1, 1), (8, 1536, 576, 1, 1), (3, 40, 24, 0, 1),
])
func theLowRankKernelComputesScaleTimesBTimesAX(rank: Int, inputs: Int, outputs: Int, halfIn: Int, halfMid: Int) {
    var random = SeededRandom(seed: UInt64(rank * 1_000 + inputs))
    let a = (0..<(rank * inputs)).map { _ in random.nextUnitFloat() - 0.5 }
    let b = (0..<(outputs * rank)).map { _ in random.nextUnitFloat() - 0.5 }
    let x = (0..<(3 * inputs)).map { _ in random.nextUnitFloat() * 2 - 1 }
    var y = (0..<(3 * outputs)).map { _ in random.nextUnitFloat() }
    let before = y
    let rows: [Int32] = [2, 0]
    let scales: [Float] = [0.75, 1.5]
    var scratch = [Float](repeating: 0, count: inputs + rows.count * rank)
    olk_lora_apply(
        a, b, Int32(rank), Int32(inputs), Int32(outputs), Int32(halfIn), Int32(halfMid), 1, x, inputs, &y, outputs,
        rows,
        scales, Int32(rows.count), &scratch)
    for (row, scale) in zip(rows.map(Int.init), scales) {
        var mid = [Double](repeating: 0, count: rank)
        for j in 0..<rank {
            for i in 0..<inputs { mid[j] += Double(a[j * inputs + i]) * Double(x[row * inputs + i]) }
        }
        for o in 0..<outputs {
            var sum = 0.0
            for j in 0..<rank { sum += Double(b[o * rank + j]) * mid[j] }
            let expected = Double(before[row * outputs + o]) + Double(scale) * sum
            #expect(
                abs(Double(y[row * outputs + o]) - expected) < 2e-2 * max(1, abs(expected)) / (halfIn == 1 ? 1 : 10))
        }
    }
    #expect(Array(y[outputs..<(2 * outputs)]) == Array(before[outputs..<(2 * outputs)]))
}
