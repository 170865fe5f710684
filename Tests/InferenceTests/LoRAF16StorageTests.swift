import CInferenceKernels
import Foundation
import TestSupport
import Testing

@testable import Inference

/// F16 adapters held as f16: the same arithmetic as their f32 copies, half the bytes, hostile files refused.
extension TinyLoRA {
    /// The adapter with every value rounded to f16 (so its f32 and f16 forms hold the same numbers).
    var rounded: TinyLoRA {
        var copy = self
        copy.matrices = matrices.mapValues { m in
            (m.a.map { Float(Float16($0)) }, m.b.map { Float(Float16($0)) }, m.inputs, m.outputs)
        }
        return copy
    }

    /// A GGUF-LoRA file with F16 halves.
    func ggufF16(poison: (name: String, index: Int, bits: UInt16)? = nil) -> [UInt8] {
        var writer = GGUFWriter()
        writer.set("general.architecture", .string("llama"))
        writer.set("general.type", .string("adapter"))
        writer.set("adapter.type", .string("lora"))
        writer.set("adapter.lora.alpha", .f32(alpha))
        for name in matrices.keys.sorted() {
            let m = matrices[name]!
            for (suffix, shape, values) in [(".lora_a", [m.inputs, rank], m.a), (".lora_b", [rank, m.outputs], m.b)] {
                var halves = values.map { Float16($0).bitPattern }
                if let poison, poison.name == name + suffix { halves[poison.index] = poison.bits }
                writer.tensors.append(
                    (name + suffix, shape, 1, halves.flatMap { withUnsafeBytes(of: $0.littleEndian, Array.init) }))
            }
        }
        return writer.build()
    }

    /// The same adapter as a PEFT folder with F16 tensors (B of q and k in Hugging Face order).
    func peftF16(in folder: String, poison: (name: String, index: Int, bits: UInt16)? = nil) throws {
        try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
        var header: [String: Any] = [:]
        var data: [UInt8] = []
        for name in matrices.keys.sorted() {
            let m = matrices[name]!
            let parts = name.split(separator: ".")
            let target = LoRATarget.allCases.first { $0.ggufName == parts[2] }!
            var b = m.b
            if target == .query { b = Self.unpermute(b, rows: m.outputs, rank: rank, heads: 4) }
            if target == .key { b = Self.unpermute(b, rows: m.outputs, rank: rank, heads: 2) }
            let prefix = "base_model.model.model.layers.\(parts[1]).\(target.peftModule)"
            for (tensor, shape, values) in [
                (prefix + ".lora_A.weight", [rank, m.inputs], m.a), (prefix + ".lora_B.weight", [m.outputs, rank], b),
            ] {
                var halves = values.map { Float16($0).bitPattern }
                if let poison, poison.name == tensor { halves[poison.index] = poison.bits }
                let start = data.count
                for half in halves { data += withUnsafeBytes(of: half.littleEndian, Array.init) }
                header[tensor] = ["dtype": "F16", "shape": shape, "data_offsets": [start, data.count]]
            }
        }
        var text = Array(try JSONSerialization.data(withJSONObject: header, options: [.sortedKeys]))
        while text.count % 8 != 0 { text.append(0x20) }
        let file = withUnsafeBytes(of: UInt64(text.count).littleEndian, Array.init) + text + data
        try Data(file).write(to: URL(fileURLWithPath: folder + "/adapter_model.safetensors"))
        let json: [String: Any] = [
            "peft_type": "LORA", "r": rank, "lora_alpha": alpha,
            "target_modules": ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"],
        ]
        try JSONSerialization.data(withJSONObject: json).write(
            to: URL(fileURLWithPath: folder + "/adapter_config.json"))
    }
}

/// The kernel reading f16 A and paneled f16 Bᵀ gives, bit for bit, the kernel reading the same values widened to
/// f32 in plain Bᵀ (the layout and arithmetic measured against llama.cpp): single-token and batch orders, output
/// widths with a short last panel, ranks above 64, inputs with leftovers past the 64-value steps.
@Test(arguments: [
    (8, 576, 192, false), (8, 576, 192, true), (16, 576, 1536, true), (16, 1536, 576, false), (8, 100, 40, false),
    (3, 40, 24, true), (32, 64, 40, true), (72, 128, 96, false), (64, 128, 96, true), (5, 70, 17, false),
])
func f16StorageGivesTheF32WidenedKernelBitForBit(rank: Int, inputs: Int, outputs: Int, prompt: Bool) {
    var random = SeededRandom(seed: UInt64(rank * 31 + inputs * 7 + outputs))
    let a = (0..<(rank * inputs)).map { _ in Float16(random.nextUnitFloat() - 0.5) }
    let b = (0..<(outputs * rank)).map { _ in Float16(random.nextUnitFloat() - 0.5) }
    let x = (0..<(3 * inputs)).map { _ in random.nextUnitFloat() * 2 - 1 }
    let start = (0..<(3 * outputs)).map { _ in random.nextUnitFloat() }
    let rows: [Int32] = [2, 0, 1]
    let scales: [Float] = [0.375, 1.25, -2]
    var scratch = [Float](repeating: 0, count: inputs + rows.count * rank + outputs + rank)
    let wideA = a.map(Float.init)
    let wideB = b.map(Float.init)
    var plainBT = [Float](repeating: 0, count: outputs * rank)
    for i in 0..<outputs { for j in 0..<rank { plainBT[j * outputs + i] = wideB[i * rank + j] } }
    for (halfIn, halfMid) in [(1, 1), (1, 0), (0, 1)] {
        // The reference: f32 copies, plain Bᵀ.
        var expected = start
        olk_lora_apply(
            wideA, plainBT, Int32(rank), Int32(inputs), Int32(outputs), Int32(halfIn), Int32(halfMid), prompt ? 1 : 0,
            x, inputs, &expected, outputs, rows, scales, Int32(rows.count), &scratch)
        #expect(expected != start)
        // f16 halves (where the half rounds), Bᵀ in panels of 16, packed from halves and from floats.
        let halvesA = a.map(\.bitPattern)
        let halvesB = b.map(\.bitPattern)
        var packedHalves = [UInt16](repeating: 0, count: outputs * rank)
        olk_lora_pack_bt_raw(halvesB, 2, Int32(rank), Int32(outputs), 16, &packedHalves)
        var packedFromFloats = [UInt16](repeating: 0, count: outputs * rank)
        olk_lora_pack_bt(wideB, Int32(rank), Int32(outputs), 16, 1, &packedFromFloats)
        #expect(packedHalves == packedFromFloats)
        var packedFloats = [Float](repeating: 0, count: outputs * rank)
        olk_lora_pack_bt(wideB, Int32(rank), Int32(outputs), 16, 0, &packedFloats)
        var unpacked = [Float](repeating: 0, count: outputs * rank)
        olk_lora_unpack_bt(packedHalves, 1, Int32(rank), Int32(outputs), 16, &unpacked)
        #expect(unpacked == wideB)
        for (storedA, storedB) in [(true, true), (false, true), (true, false), (false, false)] {
            var y = start
            func run(_ aPointer: UnsafeRawPointer, _ bPointer: UnsafeRawPointer) {
                olk_lora_apply_stored(
                    aPointer, storedA ? 1 : 0, bPointer, storedB ? 1 : 0, 16, Int32(rank), Int32(inputs),
                    Int32(outputs), Int32(halfIn), Int32(halfMid), prompt ? 1 : 0, x, inputs, &y, outputs, rows,
                    scales, Int32(rows.count), &scratch, bPointer, 64, 1)
            }
            let aBytes: [UInt8] =
                storedA ? halvesA.withUnsafeBytes { Array($0) } : wideA.withUnsafeBytes { Array($0) }
            let bBytes: [UInt8] =
                storedB ? packedHalves.withUnsafeBytes { Array($0) } : packedFloats.withUnsafeBytes { Array($0) }
            aBytes.withUnsafeBytes { aRaw in
                bBytes.withUnsafeBytes { bRaw in run(aRaw.baseAddress!, bRaw.baseAddress!) }
            }
            #expect(y == expected, "A f16 \(storedA), B f16 \(storedB), rounding \(halfIn)\(halfMid)")
        }
        // Written alone (accumulate 0) and added afterwards: the same two roundings as adding in place.
        var deltas = [Float](repeating: .nan, count: 3 * outputs)
        olk_lora_apply_stored(
            halvesA, 1, packedHalves, 1, 16, Int32(rank), Int32(inputs), Int32(outputs), Int32(halfIn),
            Int32(halfMid), prompt ? 1 : 0, x, inputs, &deltas, outputs, rows, scales, Int32(rows.count), &scratch,
            nil, 0, 0)
        #expect((0..<(3 * outputs)).map { start[$0] + deltas[$0] } == expected)
    }
}

/// An F16 GGUF-LoRA file is held as f16 (half the bytes of its f32 copy) with its values unchanged, and gives the
/// same scores as its PEFT folder (the permutation of q and k done on the halves).
@Test func anF16AdapterStaysF16InMemoryAndItsPEFTFolderAgrees() throws {
    let (model, modelPath) = try tinyModel()
    defer { try? FileManager.default.removeItem(atPath: modelPath) }
    let base = LoRABase(model: model)
    let lora = TinyLoRA(seed: 41, rank: 8, alpha: 16).rounded
    let path = writeTemporary(lora.ggufF16(), name: "lora-f16")
    defer { try? FileManager.default.removeItem(atPath: path) }
    let f16 = try LoRAAdapter.load(path: path, base: base)
    let f32Path = writeTemporary(lora.gguf(), name: "lora-f32")
    defer { try? FileManager.default.removeItem(atPath: f32Path) }
    let f32 = try LoRAAdapter.load(path: f32Path, base: base)
    let values = lora.matrices.values.reduce(0) { $0 + $1.a.count + $1.b.count }
    #expect(f16.byteCount == 2 * values && f32.byteCount == 4 * values)
    for (name, m) in lora.matrices {
        let weight = try #require(f16.weights.first { $0.name == name })
        #expect(weight.typeA == .f16 && weight.typeB == .f16)
        #expect(weight.matrixA == m.a && weight.matrixB == m.b)
    }
    let folder = temporaryFolder("peft-f16")
    defer { try? FileManager.default.removeItem(atPath: folder) }
    try lora.peftF16(in: folder)
    let peft = try LoRAAdapter.load(path: folder, base: base)
    #expect(peft.byteCount == f16.byteCount)
    for (one, other) in zip(peft.weights, f16.weights) {
        #expect(one.name == other.name && one.matrixA == other.matrixA && one.matrixB == other.matrixB)
    }
    let prompt: [Int32] = [1, 17, 42, 99, 3, 250, 7]
    func logits(_ adapter: LoRAAdapter?) throws -> [Float] {
        let session = InferenceSession(model: model, capacity: 64, threads: 2)
        session.adapters = adapter.map { [LoRAUse($0)] } ?? []
        try session.evaluate(prompt)
        var out = session.logits
        try session.evaluate(5)
        out += session.logits
        return out
    }
    let fromGGUF = try logits(f16)
    #expect(try logits(peft) == fromGGUF)
    // The F16 adapter rounds its inputs to f16, the F32 copy does not: close, and both away from the base.
    let fromF32 = try logits(f32)
    let plain = try logits(nil)
    #expect(zip(fromGGUF, plain).map { abs($0 - $1) }.max()! > 0.01)
    #expect(zip(fromGGUF, fromF32).map { abs($0 - $1) }.max()! < 0.05)
    // A batch of sequences with it gives each sequence's scores alone.
    let session = InferenceSession(model: model, capacity: 64, threads: 2)
    let caches = (0..<3).map { _ in KVCache(config: model.config, capacity: 64) }
    var alone: [[Float]] = []
    for (index, cache) in caches.enumerated() {
        try session.evaluate(prompt, into: cache, adapters: index == 1 ? [] : [LoRAUse(f16, scale: Float(index + 1))])
        let single = InferenceSession(model: model, capacity: 64, threads: 1)
        single.adapters = index == 1 ? [] : [LoRAUse(f16, scale: Float(index + 1))]
        try single.evaluate(prompt)
        try single.evaluate(Int32(9 + index))
        alone.append(single.logits)
    }
    let vocabulary = model.config.vocabulary
    let batched = try session.decode(
        caches.enumerated().map { ($1, Int32(9 + $0)) },
        adapters: [[LoRAUse(f16, scale: 1)], [], [LoRAUse(f16, scale: 3)]]
    ) { Array($0) }
    for index in 0..<3 {
        #expect(Array(batched[(index * vocabulary)..<((index + 1) * vocabulary)]) == alone[index])
    }
}

/// An F16 half holding an infinity or a NaN is refused, naming the tensor, in both formats; 2,000 seeded
/// mutations of F16 files load or fail with a `LoRAError`, never a crash.
@Test func hostileF16AdaptersAreRefused() throws {
    let (model, modelPath) = try tinyModel()
    defer { try? FileManager.default.removeItem(atPath: modelPath) }
    let base = LoRABase(model: model)
    let lora = TinyLoRA(seed: 43, rank: 2, alpha: 4)
    for (tensor, bits) in [
        ("blk.1.attn_k.weight.lora_a", UInt16(0x7C00)), ("blk.0.ffn_down.weight.lora_b", UInt16(0xFE01)),
        ("blk.1.attn_q.weight.lora_b", UInt16(0xFC00)),
    ] {
        let path = writeTemporary(lora.ggufF16(poison: (tensor, 5, bits)), name: "lora-f16-bad")
        defer { try? FileManager.default.removeItem(atPath: path) }
        #expect {
            _ = try LoRAAdapter.load(path: path, base: base)
        } throws: { error in
            guard case .tensor(_, let name, _) = error as? LoRAError else { return false }
            return name == tensor
        }
    }
    let folder = temporaryFolder("peft-f16-bad")
    defer { try? FileManager.default.removeItem(atPath: folder) }
    let poisoned = "base_model.model.model.layers.0.self_attn.k_proj.lora_B.weight"
    try lora.peftF16(in: folder, poison: (poisoned, 3, 0x7E00))
    #expect {
        _ = try LoRAAdapter.load(path: folder, base: base)
    } throws: { error in
        guard case .tensor(_, let name, _) = error as? LoRAError else { return false }
        return name == poisoned
    }
    // Finite values at the edge of f16 (the largest, subnormals) load.
    let edge = writeTemporary(lora.ggufF16(poison: ("blk.0.attn_v.weight.lora_b", 0, 0x7BFF)), name: "lora-f16-edge")
    defer { try? FileManager.default.removeItem(atPath: edge) }
    let loaded = try LoRAAdapter.load(path: edge, base: base)
    #expect(loaded.weight(layer: 0, target: .value)?.matrixB.first == 65_504)

    var small = TinyLoRA(seed: 47, rank: 2, alpha: 4, layers: 1)
    small.matrices = small.matrices.filter { $0.key.contains("attn_q") || $0.key.contains("ffn_up") }
    let gguf = small.ggufF16()
    try small.peftF16(in: folder)
    let safetensors = try [UInt8](Data(contentsOf: URL(fileURLWithPath: folder + "/adapter_model.safetensors")))
    let path = writeTemporary([], name: "fuzz-lora-f16")
    defer { try? FileManager.default.removeItem(atPath: path) }
    var random = SeededRandom(seed: 2027)
    var loadedCount = 0
    var failed = 0
    for round in 0..<2_000 {
        let mutated = random.mutate(round % 2 == 0 ? gguf : safetensors)
        try Data(mutated).write(to: URL(fileURLWithPath: round % 2 == 0 ? path : folder + "/adapter_model.safetensors"))
        do {
            let adapter = try LoRAAdapter.load(path: round % 2 == 0 ? path : folder, base: base)
            // What loads holds only finite values.
            #expect(
                adapter.weights.allSatisfy { $0.matrixA.allSatisfy(\.isFinite) && $0.matrixB.allSatisfy(\.isFinite) })
            loadedCount += 1
        } catch {
            failed += 1
        }
    }
    #expect(loadedCount + failed == 2_000 && failed > 200)
}
