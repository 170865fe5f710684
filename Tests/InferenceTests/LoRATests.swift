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
    var scratch = [Float](repeating: 0, count: inputs + rows.count * rank + outputs + rank)
    var bt = [Float](repeating: 0, count: outputs * rank)
    for i in 0..<outputs { for j in 0..<rank { bt[j * outputs + i] = b[i * rank + j] } }
    olk_lora_apply(
        a, bt, Int32(rank), Int32(inputs), Int32(outputs), Int32(halfIn), Int32(halfMid), 1, x, inputs, &y, outputs,
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

/// One decode step holds 32 sequences over 8 adapters (and none, and two stacked); every row's scores equal
/// those of its sequence run alone with its adapters, bit for bit, step after step.
@Test func thirtyTwoSequencesOverEightAdaptersInOneBatchEqualEachRunAlone() throws {
    let (model, modelPath) = try tinyModel()
    defer { try? FileManager.default.removeItem(atPath: modelPath) }
    let base = LoRABase(model: model)
    var adapters: [LoRAAdapter] = []
    var paths: [String] = []
    defer { for path in paths { try? FileManager.default.removeItem(atPath: path) } }
    for index in 0..<8 {
        let path = writeTemporary(
            TinyLoRA(seed: UInt64(100 + index), rank: [2, 4, 8, 16][index % 4], alpha: 16).gguf(), name: "lora\(index)")
        paths.append(path)
        adapters.append(try LoRAAdapter.load(path: path, base: base))
    }
    func uses(_ sequence: Int) -> [LoRAUse] {
        switch sequence % 10 {
        case 8: []
        case 9: [LoRAUse(adapters[sequence % 8], scale: 0.5), LoRAUse(adapters[(sequence + 3) % 8], scale: 1.25)]
        default: [LoRAUse(adapters[sequence % 8], scale: sequence % 3 == 0 ? 0.5 : 1)]
        }
    }
    let count = 32
    let prompts = (0..<count).map { model.tokenizer.encode("the theme \($0) in a thin thread", addSpecial: false) }
    let compute = InferenceSession(model: model, capacity: 96, threads: 2, maxBatch: 64, cacheCapacity: 1)
    let caches = (0..<count).map { _ in KVCache(config: model.config, capacity: 96) }
    var next: [Int32] = []
    var batched: [[[Float]]] = Array(repeating: [], count: count)
    for sequence in 0..<count {
        try compute.evaluate(prompts[sequence], into: caches[sequence], adapters: uses(sequence))
        batched[sequence].append(compute.logits)
        next.append(Int32(compute.logits.indices.max { compute.logits[$0] < compute.logits[$1] }!))
    }
    let vocabulary = model.config.vocabulary
    for _ in 0..<5 {
        let rows = try compute.decode(
            (0..<count).map { (caches[$0], next[$0]) }, adapters: (0..<count).map(uses)
        ) { Array($0) }
        for sequence in 0..<count {
            let row = Array(rows[(sequence * vocabulary)..<((sequence + 1) * vocabulary)])
            batched[sequence].append(row)
            next[sequence] = Int32(row.indices.max { row[$0] < row[$1] }!)
        }
    }
    var distinct = Set<[Float]>()
    for sequence in 0..<count {
        let alone = InferenceSession(model: model, capacity: 96, threads: 1, maxBatch: 64)
        alone.adapters = uses(sequence)
        try alone.evaluate(prompts[sequence])
        #expect(alone.logits == batched[sequence][0], "sequence \(sequence) after its prompt")
        for step in 1..<batched[sequence].count {
            let previous = batched[sequence][step - 1]
            try alone.evaluate(Int32(previous.indices.max { previous[$0] < previous[$1] }!))
            #expect(alone.logits == batched[sequence][step], "sequence \(sequence), step \(step)")
        }
        distinct.insert(batched[sequence][0])
    }
    #expect(distinct.count == count)
}

/// A PEFT folder holding the same adapter (B of q and k in Hugging Face row order) gives the GGUF-LoRA file's
/// scores; the folder written without the inverse permutation does not, so the permutation is what makes them
/// agree.
@Test func aPEFTAdapterGivesTheScoresOfTheSameAdapterAsGGUFLoRA() throws {
    let (model, modelPath) = try tinyModel()
    defer { try? FileManager.default.removeItem(atPath: modelPath) }
    let base = LoRABase(model: model)
    let lora = TinyLoRA(seed: 9, rank: 4, alpha: 8)
    let gguf = writeTemporary(lora.gguf(), name: "lora")
    let folder = temporaryFolder("peft")
    let naive = temporaryFolder("peft-naive")
    defer { for path in [gguf, folder, naive] { try? FileManager.default.removeItem(atPath: path) } }
    try lora.peft(in: folder)
    try lora.peft(in: naive, unpermuted: false)
    let fromGGUF = try LoRAAdapter.load(path: gguf, base: base)
    let fromPEFT = try LoRAAdapter.load(path: folder, base: base)
    let fromNaive = try LoRAAdapter.load(path: naive, base: base)
    #expect(fromPEFT.format == .peft && fromPEFT.name == URL(fileURLWithPath: folder).lastPathComponent)
    #expect(fromPEFT.weights.count == fromGGUF.weights.count)
    let prompt = model.tokenizer.encode("the theme in a thin thread ", addSpecial: false)
    func logits(_ adapter: LoRAAdapter) throws -> [Float] {
        let session = InferenceSession(model: model, capacity: 64, threads: 1)
        session.adapters = [LoRAUse(adapter)]
        try session.evaluate(prompt)
        return session.logits
    }
    let expected = try logits(fromGGUF)
    let peft = try logits(fromPEFT)
    let wrong = try logits(fromNaive)
    #expect(zip(expected, peft).map { abs($0 - $1) }.max()! <= 1e-4)
    #expect(zip(expected, wrong).map { abs($0 - $1) }.max()! > 1e-2)
    // The reader's permutation undoes the test's inverse exactly.
    for target in [LoRATarget.query, .key] {
        #expect(
            fromPEFT.weight(layer: 1, target: target)?.matrixB == fromGGUF.weight(layer: 1, target: target)?.matrixB)
        #expect(
            fromNaive.weight(layer: 1, target: target)?.matrixB != fromGGUF.weight(layer: 1, target: target)?.matrixB)
    }
}

@Test func peftScalingHonoursRsLoRAAndThePatterns() throws {
    let (model, modelPath) = try tinyModel()
    defer { try? FileManager.default.removeItem(atPath: modelPath) }
    let lora = TinyLoRA(seed: 11, rank: 4, alpha: 8)
    let folder = temporaryFolder("peft-patterns")
    defer { try? FileManager.default.removeItem(atPath: folder) }
    try lora.peft(
        in: folder,
        config: [
            "peft_type": "LORA", "r": 16, "lora_alpha": 8, "use_rslora": true,
            "rank_pattern": [
                "q_proj": 4, "k_proj": 4, "v_proj": 4, "o_proj": 4, "gate_proj": 4, "up_proj": 4, "down_proj": 4,
            ],
            "alpha_pattern": ["layers.1.mlp.down_proj": 2],
            "target_modules": ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"],
        ])
    let adapter = try LoRAAdapter.load(path: folder, base: LoRABase(model: model))
    let query = try #require(adapter.weight(layer: 0, target: .query))
    #expect(query.scale(1) == 4)
    #expect(adapter.weight(layer: 1, target: .down)?.scale(1) == 1)
    #expect(adapter.weight(layer: 0, target: .down)?.scale(0.5) == 2)
    // Without the rank pattern, r 16 does not fit tensors of rank 4: an error naming the tensor.
    try lora.peft(in: folder, config: ["r": 16, "lora_alpha": 8])
    #expect {
        try LoRAAdapter.load(path: folder, base: LoRABase(model: model))
    } throws: { "\($0)".contains("lora_A.weight") && "\($0)".contains("rank 4, adapter_config.json says 16") }
}

@Test func brokenOrHostileAdaptersGiveErrorsThatNameTheTensor() throws {
    let (model, modelPath) = try tinyModel()
    defer { try? FileManager.default.removeItem(atPath: modelPath) }
    let base = LoRABase(model: model)
    let lora = TinyLoRA(seed: 13)
    func expectError(_ bytes: [UInt8], _ text: String, sourceLocation: SourceLocation = #_sourceLocation) {
        let path = writeTemporary(bytes, name: "bad-lora")
        defer { try? FileManager.default.removeItem(atPath: path) }
        do {
            _ = try LoRAAdapter.load(path: path, base: base)
            Issue.record("loaded a broken adapter", sourceLocation: sourceLocation)
        } catch {
            #expect("\(error)".contains(text), "\(error)", sourceLocation: sourceLocation)
        }
    }
    expectError(lora.gguf(architecture: "mamba"), "architecture mamba")
    expectError(GGUFWriter.tinyLlama().build(), "general.type is not \"adapter\"")
    expectError(
        lora.gguf { $0.addF32("blk.0.attn_q.weight.lora_c", shape: [4], values: [0, 0, 0, 0]) },
        "blk.0.attn_q.weight.lora_c: unexpected suffix")
    expectError(
        lora.gguf { $0.addF32("blk.5.attn_q.weight.lora_a", shape: [64, 4], values: .init(repeating: 0, count: 256)) },
        "blk.5.attn_q.weight: has only one of lora_a and lora_b")
    expectError(
        lora.gguf {
            $0.addF32("blk.5.attn_q.weight.lora_a", shape: [64, 4], values: .init(repeating: 0, count: 256))
            $0.addF32("blk.5.attn_q.weight.lora_b", shape: [4, 64], values: .init(repeating: 0, count: 256))
        }, "blk.5.attn_q.weight.lora_a: block 5 does not exist in a model of 2 blocks")
    expectError(
        lora.gguf {
            $0.addF32("blk.0.ffn_norm2.weight.lora_a", shape: [64, 1], values: .init(repeating: 0, count: 64))
            $0.addF32("blk.0.ffn_norm2.weight.lora_b", shape: [1, 64], values: .init(repeating: 0, count: 64))
        }, "not an adaptable base tensor")
    expectError(
        lora.gguf {
            $0.addF32("token_embd.weight.lora_a", shape: [4, 269], values: .init(repeating: 0, count: 4 * 269))
            $0.addF32("token_embd.weight.lora_b", shape: [4, 64], values: .init(repeating: 0, count: 256))
        }, "embedding adapters are not supported")
    expectError(
        lora.gguf {
            $0.addF32("output.weight.lora_a", shape: [64, 4], values: .init(repeating: 0, count: 256))
            $0.addF32("output.weight.lora_b", shape: [4, 269], values: .init(repeating: 0, count: 4 * 269))
        }, "tied embeddings")
    var wrongShape = lora
    wrongShape.matrices["blk.0.attn_k.weight"] = (
        Array(repeating: 0.1, count: 4 * 64), Array(repeating: 0.1, count: 64 * 4), 64, 64
    )
    expectError(wrongShape.gguf(), "blk.0.attn_k.weight.lora_b: shape [64, 4], expected [32, 4]")
    let good = lora.gguf()
    expectError(Array(good.prefix(good.count - 100)), "truncated")
    // PEFT: DoRA, biases, embeddings are refused with the reason.
    let folder = temporaryFolder("peft-bad")
    defer { try? FileManager.default.removeItem(atPath: folder) }
    for (config, text) in [
        (["r": 4, "lora_alpha": 8, "use_dora": true] as [String: Any], "DoRA"),
        (["r": 4, "lora_alpha": 8, "bias": "lora_only"], "LoRA biases"),
        (["r": 4, "lora_alpha": 8, "modules_to_save": ["lm_head"]], "modules_to_save"),
        (["r": 4, "lora_alpha": 8, "target_modules": ["q_proj"]], "not among target_modules"),
        (["lora_alpha": 8], "r missing"),
    ] {
        try lora.peft(in: folder, config: config)
        #expect(throws: LoRAError.self) { try LoRAAdapter.load(path: folder, base: base) }
        do { _ = try LoRAAdapter.load(path: folder, base: base) } catch {
            #expect("\(error)".contains(text), "\(error)")
        }
    }
    let tensors = TinyLoRA.safetensors([
        ("base_model.model.model.layers.0.self_attn.q_proj.lora_A.weight", [4, 64], .init(repeating: 0, count: 256)),
        ("base_model.model.model.layers.0.self_attn.q_proj.lora_B.weight", [64, 4], .init(repeating: 0, count: 256)),
        ("base_model.model.model.embed_tokens.lora_embedding_A", [4, 269], .init(repeating: 0, count: 4 * 269)),
    ])
    try Data(tensors).write(to: URL(fileURLWithPath: folder + "/adapter_model.safetensors"))
    try JSONSerialization.data(withJSONObject: ["r": 4, "lora_alpha": 8]).write(
        to: URL(fileURLWithPath: folder + "/adapter_config.json"))
    do {
        _ = try LoRAAdapter.load(path: folder, base: base)
        Issue.record("loaded an embedding adapter")
    } catch {
        #expect("\(error)".contains("lora_embedding_A: embedding adapters are not supported"), "\(error)")
    }
}

@Test func theSafetensorsReaderChecksEveryRangeAgainstTheFile() throws {
    let good = TinyLoRA.safetensors([("a", [2, 3], [1, 2, 3, 4, 5, 6]), ("b", [1], [7])])
    let path = writeTemporary(good, name: "st")
    defer { try? FileManager.default.removeItem(atPath: path) }
    let file = try SafetensorsFile(path: path)
    #expect(
        file.tensors["a"]?.shape == [2, 3] && file.tensors["a"]?.byteCount == 24 && file.tensors["b"]?.byteCount == 4)
    func expectError(_ bytes: [UInt8], _ text: String, sourceLocation: SourceLocation = #_sourceLocation) {
        let path = writeTemporary(bytes, name: "bad-st")
        defer { try? FileManager.default.removeItem(atPath: path) }
        #expect(sourceLocation: sourceLocation) { try SafetensorsFile(path: path) } throws: { "\($0)".contains(text) }
    }
    expectError(Array(good.prefix(good.count - 4)), "outside the")
    expectError([0xFF, 0xFF, 0xFF, 0xFF, 0, 0, 0, 0] + good.dropFirst(8), "header of")
    expectError([1, 2, 3], "too short")
    let header = #"{"a":{"dtype":"F32","shape":[2,3],"data_offsets":[0,20]}}"#
    expectError(
        withUnsafeBytes(of: UInt64(header.utf8.count).littleEndian, Array.init) + Array(header.utf8)
            + [UInt8](repeating: 0, count: 24), "20 bytes for 6 F32 values")
    let deep = String(repeating: "[", count: 100_000)
    expectError(
        withUnsafeBytes(of: UInt64(deep.utf8.count).littleEndian, Array.init) + Array(deep.utf8), "not a JSON object")
}

/// 10,000 seeded mutations of a GGUF-LoRA file and of a PEFT safetensors file: each loads or fails with a
/// `LoRAError`, never a crash.
@Test func tenThousandMutatedAdapterFilesNeverCrash() throws {
    let (model, modelPath) = try tinyModel()
    defer { try? FileManager.default.removeItem(atPath: modelPath) }
    let base = LoRABase(model: model)
    var small = TinyLoRA(seed: 21, rank: 2, alpha: 4, layers: 1)
    small.matrices = small.matrices.filter { $0.key.contains("attn_q") || $0.key.contains("attn_k") }
    let gguf = small.gguf()
    let folder = temporaryFolder("peft-fuzz")
    defer { try? FileManager.default.removeItem(atPath: folder) }
    try small.peft(in: folder, config: ["r": 2, "lora_alpha": 4])
    let safetensors = try [UInt8](Data(contentsOf: URL(fileURLWithPath: folder + "/adapter_model.safetensors")))
    let path = writeTemporary([], name: "fuzz-lora")
    defer { try? FileManager.default.removeItem(atPath: path) }
    var random = SeededRandom(seed: 2026)
    var loaded = 0
    var failed = 0
    for round in 0..<10_000 {
        let mutated = random.mutate(round % 2 == 0 ? gguf : safetensors)
        let target = round % 2 == 0 ? path : folder + "/adapter_model.safetensors"
        try Data(mutated).write(to: URL(fileURLWithPath: target))
        do {
            _ = try LoRAAdapter.load(path: round % 2 == 0 ? path : folder, base: base)
            loaded += 1
        } catch {
            failed += 1
        }
    }
    #expect(loaded + failed == 10_000 && failed > 1_000)
}

/// Q8_0 and BF16 halves read as their values (dequantized once, at load).
@Test func q8AndBF16AdapterTensorsReadAsTheirValues() throws {
    let (model, modelPath) = try tinyModel()
    defer { try? FileManager.default.removeItem(atPath: modelPath) }
    var writer = GGUFWriter()
    writer.set("general.architecture", .string("llama"))
    writer.set("general.type", .string("adapter"))
    writer.set("adapter.type", .string("lora"))
    writer.set("adapter.lora.alpha", .f32(4))
    let a = (0..<128).map { Float($0 % 17) / 16 - 0.5 }
    let b = (0..<128).map { Float($0 % 9) / 4 - 1 }
    writer.addQ8_0("blk.1.attn_q.weight.lora_a", shape: [64, 2], values: a)
    let halves = b.flatMap { withUnsafeBytes(of: UInt16($0.bitPattern >> 16).littleEndian, Array.init) }
    writer.tensors.append(("blk.1.attn_q.weight.lora_b", [2, 64], 30, halves))
    let path = writeTemporary(writer.build(), name: "lora-q8")
    defer { try? FileManager.default.removeItem(atPath: path) }
    let adapter = try LoRAAdapter.load(path: path, base: LoRABase(model: model))
    let weight = try #require(adapter.weight(layer: 1, target: .query))
    #expect(weight.typeA == .q8_0 && weight.typeB == .bf16 && weight.rank == 2 && weight.scale(1) == 2)
    #expect(zip(weight.matrixA, a).allSatisfy { abs($0 - $1) <= 0.5 / 127 })
    #expect(weight.matrixB == b)
    #expect(adapter.weight(layer: 0, target: .query) == nil)
}

/// llama.cpp's two dot orders, written out plainly: tinyBLAS (sixteen fused lanes, then _mm512_reduce_add_ps's
/// pairing) and ggml_vec_dot (four fused 16-lane accumulators over 64-value steps, their pairing, then in-order
/// leftovers: unfused in float, or in double for F16).
enum LlamaDotOrder {
    static func reduce16(_ lanes: [Float]) -> Float {
        let t8 = (0..<8).map { lanes[$0 + 8] + lanes[$0] }
        let t4 = (0..<4).map { t8[$0 + 4] + t8[$0] }
        return (t4[0] + t4[2]) + (t4[1] + t4[3])
    }

    static func tiny(_ a: ArraySlice<Float>, _ b: ArraySlice<Float>) -> Float {
        var lanes = [Float](repeating: 0, count: 16)
        let (a, b) = (Array(a), Array(b))
        for i in stride(from: 0, to: a.count, by: 16) {
            for k in 0..<16 { lanes[k] = lanes[k].addingProduct(a[i + k], b[i + k]) }
        }
        return reduce16(lanes)
    }

    static func vec(_ a: ArraySlice<Float>, _ b: ArraySlice<Float>, half: Bool) -> Float {
        let (a, b) = (Array(a), Array(b))
        let n = a.count
        let np = n & ~63
        var s = [[Float]](repeating: [Float](repeating: 0, count: 16), count: 4)
        for i in stride(from: 0, to: np, by: 64) {
            for j in 0..<4 { for k in 0..<16 { s[j][k] = s[j][k].addingProduct(a[i + 16 * j + k], b[i + 16 * j + k]) } }
        }
        let reduced = reduce16((0..<16).map { (s[0][$0] + s[2][$0]) + (s[1][$0] + s[3][$0]) })
        if half {
            var sum = Double(reduced)
            for i in np..<n { sum += Double(a[i] * b[i]) }
            return Float(sum)
        }
        var sum = reduced
        for i in np..<n { sum = sum + a[i] * b[i] }
        return sum
    }
}

/// The kernel (vectorized across outputs, B transposed) gives, bit for bit, the update written out in llama.cpp's
/// orders, for prompt and single-token orders, F32 and F16 rounding, ranks below and above 64.
@Test(arguments: [
    (8, 576, 192, false, false), (8, 576, 192, false, true), (16, 576, 1536, true, true), (16, 576, 1536, true, false),
    (16, 1536, 576, false, true), (32, 64, 40, false, true), (3, 40, 24, true, false), (72, 128, 96, false, true),
    (64, 128, 96, true, false),
])
func theLowRankKernelSumsInLlamaCppsOrders(rank: Int, inputs: Int, outputs: Int, half: Bool, prompt: Bool) {
    var random = SeededRandom(seed: UInt64(rank * 7_919 + inputs + outputs))
    func halfRound(_ x: Float) -> Float { half ? Float(Float16(x)) : x }
    let a = (0..<(rank * inputs)).map { _ in halfRound(random.nextUnitFloat() - 0.5) }
    let b = (0..<(outputs * rank)).map { _ in halfRound(random.nextUnitFloat() - 0.5) }
    let x = (0..<(2 * inputs)).map { _ in random.nextUnitFloat() * 2 - 1 }
    var y = (0..<(2 * outputs)).map { _ in random.nextUnitFloat() }
    var expected = y
    let scales: [Float] = [0.375, 1.25]
    let tinyA = prompt && inputs % 16 == 0 && rank % 4 == 0
    let tinyB = prompt && rank % 16 == 0 && outputs % 4 == 0
    for t in 0..<2 {
        let input = x[(t * inputs)..<((t + 1) * inputs)].map(halfRound)
        let mid = (0..<rank).map { j in
            let row = a[(j * inputs)..<((j + 1) * inputs)]
            return halfRound(
                tinyA ? LlamaDotOrder.tiny(row, input[...]) : LlamaDotOrder.vec(row, input[...], half: half))
        }
        for i in 0..<outputs {
            let row = b[(i * rank)..<((i + 1) * rank)]
            let product = tinyB ? LlamaDotOrder.tiny(row, mid[...]) : LlamaDotOrder.vec(row, mid[...], half: half)
            let scaled = product * scales[t]
            expected[t * outputs + i] = expected[t * outputs + i] + scaled
        }
    }
    var bt = [Float](repeating: 0, count: outputs * rank)
    for i in 0..<outputs { for j in 0..<rank { bt[j * outputs + i] = b[i * rank + j] } }
    var scratch = [Float](repeating: 0, count: inputs + 2 * rank + outputs + rank)
    let rows: [Int32] = [0, 1]
    olk_lora_apply(
        a, bt, Int32(rank), Int32(inputs), Int32(outputs), half ? 1 : 0, half ? 1 : 0, prompt ? 1 : 0, x, inputs, &y,
        outputs, rows, scales, 2, &scratch)
    #expect(y == expected)
}
