import Foundation
import TestSupport
import Testing

@testable import Inference
@testable import Training

/// A small llama shape: 2 blocks, 4 query heads and 2 key/value heads of width 16.
let smallBase = LoRABase(
    layers: 2, embedding: 64, feedForward: 96, kvDimension: 32, heads: 4, kvHeads: 2, vocabulary: 100,
    hasOutputMatrix: false)

/// A standard normal draw (Box–Muller over the one seeded source).
func normal(_ random: inout SeededRandom) -> Float {
    let u = max(random.nextUnitFloat(), 1e-7)
    let v = random.nextUnitFloat()
    return (-2 * log(u)).squareRoot() * cos(2 * Float.pi * v)
}

/// Seeded parameters for every target of `base`: A ~ N(0, 1/inputs), B ~ N(0, bScale²).
func randomParameters(
    _ base: LoRABase, rank: Int, alpha: Float, seed: UInt64, bScale: Float = 0.08,
    targets: [LoRATarget] = LoRATarget.allCases
) -> LoRAParameters {
    var random = SeededRandom(seed: seed)
    var parameters = LoRAParameters(base: base, rank: rank, alpha: alpha, targets: targets)
    for index in parameters.pairs.indices {
        let inputs = Float(parameters.pairs[index].inputs)
        for i in parameters.pairs[index].a.indices {
            parameters.pairs[index].a[i] = normal(&random) / inputs.squareRoot()
        }
        for i in parameters.pairs[index].b.indices { parameters.pairs[index].b[i] = normal(&random) * bScale }
    }
    return parameters
}

/// A fresh empty folder, removed by the caller.
func temporaryFolder(_ label: String) throws -> String {
    let path = FileManager.default.temporaryDirectory.appendingPathComponent(
        "openledger-export-\(label)-\(getpid())-\(UInt64.random(in: 0...UInt64.max))"
    ).path
    try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
    return path
}

/// The numpy reference of the inverse permutation, written from its definition:
/// `w.reshape(n, hd/2, 2, r).swapaxes(1, 2).reshape(w.shape)`, so out[h, j, i, :] = w[h, i, j, :].
func numpyUnpermute(_ w: [Float], rank: Int, heads: Int) -> [Float] {
    let headRows = w.count / rank / heads
    var out = [Float](repeating: .nan, count: w.count)
    for h in 0..<heads {
        for i in 0..<(headRows / 2) {
            for j in 0..<2 {
                for c in 0..<rank {
                    out[((h * 2 + j) * (headRows / 2) + i) * rank + c] =
                        w[((h * (headRows / 2) + i) * 2 + j) * rank + c]
                }
            }
        }
    }
    return out
}

/// The floats of a safetensors F32 tensor.
func floats(_ file: SafetensorsFile, _ name: String) throws -> [Float] {
    let tensor = try #require(file.tensors[name], "missing \(name)")
    #expect(tensor.dtype == "F32")
    let pointer = file.data(tensor)
    return (0..<(tensor.byteCount / 4)).map {
        Float(bitPattern: UInt32(littleEndian: pointer.loadUnaligned(fromByteOffset: 4 * $0, as: UInt32.self)))
    }
}

/// Names in `folder` (temporaries left by a failed write would show here).
func entries(_ folder: String) -> [String] {
    ((try? FileManager.default.contentsOfDirectory(atPath: folder)) ?? []).sorted()
}

@Suite struct ExportTests {
    @Test func ggufIsReadBackByTheInferenceReaderWithIdenticalValues() throws {
        let folder = try temporaryFolder("gguf")
        defer { try? FileManager.default.removeItem(atPath: folder) }
        let parameters = randomParameters(smallBase, rank: 4, alpha: 8, seed: 1)
        let path = folder + "/small.gguf"
        try parameters.writeGGUF(to: path, metadata: ["general.name": "small", "training.seed": "1"])

        let file = try GGUFFile(path: path)
        #expect(file.version == 3 && file.alignment == 32)
        #expect(file.metadata["general.type"]?.string == "adapter")
        #expect(file.metadata["adapter.type"]?.string == "lora")
        #expect(file.metadata["general.architecture"]?.string == "llama")
        #expect(file.metadata["adapter.lora.alpha"] == .float(8))
        #expect(file.metadata["general.name"]?.string == "small" && file.metadata["training.seed"]?.string == "1")
        #expect(file.tensorOrder.count == 2 * 2 * 7)
        #expect(file.tensorOrder.prefix(2) == ["blk.0.attn_q.weight.lora_a", "blk.0.attn_q.weight.lora_b"])
        #expect(file.tensors["blk.1.attn_k.weight.lora_a"]?.shape == [64, 4])
        #expect(file.tensors["blk.1.attn_k.weight.lora_b"]?.shape == [4, 32])
        #expect(file.tensors["blk.0.ffn_down.weight.lora_a"]?.shape == [96, 4])
        #expect(file.tensors.values.allSatisfy { $0.type == .f32 && $0.offset % 32 == 0 })

        let adapter = try LoRAAdapter.load(path: path, base: smallBase)
        #expect(adapter.format == .gguf && adapter.alpha == 8 && adapter.ranks == [4])
        #expect(adapter.weights.count == parameters.pairs.count)
        for pair in parameters.pairs {
            let weight = try #require(adapter.weight(layer: pair.layer, target: pair.target))
            #expect(weight.typeA == .f32 && weight.typeB == .f32)
            #expect(weight.matrixA == pair.a, "\(pair.baseName) A")
            #expect(weight.matrixB == pair.b, "\(pair.baseName) B")
            #expect(weight.scale(1) == 2)
        }
        #expect(try LoRAParameters(adapter: path, base: smallBase) == parameters)
    }

    @Test func theSameParametersGiveTheSameBytes() throws {
        let one = randomParameters(smallBase, rank: 2, alpha: 4, seed: 9)
        let writer = try one.ggufWriter(metadata: ["b": "2", "a": "1"])
        #expect(
            writer.keys == ["general.architecture", "general.type", "adapter.type", "adapter.lora.alpha", "a", "b"])
        let first = writer.bytes()
        let second = try one.ggufWriter(metadata: ["a": "1", "b": "2"]).bytes()
        #expect(first == second)
        var other = one
        other.pairs[3].b[5] += 1
        #expect(try other.ggufWriter(metadata: ["a": "1", "b": "2"]).bytes() != first)
        let peft = try one.peftFiles(base: smallBase, baseModelName: "m", metadata: ["x": "y"])
        let again = try one.peftFiles(base: smallBase, baseModelName: "m", metadata: ["x": "y"])
        #expect(peft.config == again.config && peft.tensors == again.tensors)
    }

    @Test func f16TensorsAreTheRoundedValues() throws {
        let folder = try temporaryFolder("f16")
        defer { try? FileManager.default.removeItem(atPath: folder) }
        let parameters = randomParameters(smallBase, rank: 4, alpha: 16, seed: 2, targets: [.query, .value, .down])
        let path = folder + "/half.gguf"
        try parameters.writeGGUF(to: path, type: .f16)
        #expect(try GGUFFile(path: path).tensors.values.allSatisfy { $0.type == .f16 })
        let adapter = try LoRAAdapter.load(path: path, base: smallBase)
        #expect(adapter.weights.count == 2 * 3)
        #expect(adapter.weight(layer: 0, target: .key) == nil)
        var changed = 0
        for pair in parameters.pairs {
            let weight = try #require(adapter.weight(layer: pair.layer, target: pair.target))
            #expect(weight.typeA == .f16 && weight.typeB == .f16)
            #expect(weight.matrixA == pair.a.map { Float(Float16($0)) })
            #expect(weight.matrixB == pair.b.map { Float(Float16($0)) })
            if weight.matrixA != pair.a { changed += 1 }
        }
        #expect(changed == parameters.pairs.count, "f16 rounding should change the values")
    }

    @Test func theTwoRowOrdersAreInversesAndMatchNumpys() {
        var random = SeededRandom(seed: 3)
        let rank = 3
        let b = (0..<(32 * rank)).map { _ in normal(&random) }
        for heads in [1, 2, 4] {
            let hf = LoRAParameters.huggingFaceRows(b, rank: rank, heads: heads)
            #expect(hf == numpyUnpermute(b, rank: rank, heads: heads))
            #expect(hf != b)
            #expect(LoRAParameters.ggufRows(hf, rank: rank, heads: heads) == b)
        }
        // Within one head of width 4: GGUF rows [x0, y0, x1, y1] are Hugging Face rows [x0, x1, y0, y1].
        let rows: [Float] = [0, 1, 2, 3]
        #expect(LoRAParameters.huggingFaceRows(rows, rank: 1, heads: 1) == [0, 2, 1, 3])
    }

    @Test func peftHoldsHuggingFaceRowsAndTheReaderPermutesThemBack() throws {
        let folder = try temporaryFolder("peft")
        defer { try? FileManager.default.removeItem(atPath: folder) }
        let parameters = randomParameters(smallBase, rank: 4, alpha: 8, seed: 4)
        let peft = folder + "/adapter"
        try parameters.writePEFT(
            to: peft, base: smallBase, baseModelName: "HuggingFaceTB/SmolLM2-135M-Instruct",
            metadata: ["training.seed": "4"])
        #expect(entries(peft) == ["adapter_config.json", "adapter_model.safetensors"])

        let config = try #require(
            try JSONSerialization.jsonObject(
                with: Data(contentsOf: URL(fileURLWithPath: peft + "/adapter_config.json")))
                as? [String: Any])
        #expect(config["peft_type"] as? String == "LORA" && config["task_type"] as? String == "CAUSAL_LM")
        #expect(config["r"] as? Int == 4 && (config["lora_alpha"] as? NSNumber)?.doubleValue == 8)
        #expect(
            config["target_modules"] as? [String] == [
                "q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj",
            ])
        #expect(config["bias"] as? String == "none" && (config["lora_dropout"] as? NSNumber)?.doubleValue == 0)
        #expect(config["fan_in_fan_out"] as? Bool == false && config["use_rslora"] as? Bool == false)
        #expect(config["base_model_name_or_path"] as? String == "HuggingFaceTB/SmolLM2-135M-Instruct")
        #expect(config["layers_to_transform"] == nil)

        let file = try SafetensorsFile(path: peft + "/adapter_model.safetensors")
        #expect(file.metadata == ["format": "pt", "training.seed": "4"])
        #expect(file.tensors.count == parameters.pairs.count * 2)
        for pair in parameters.pairs {
            let module = "base_model.model.model.layers.\(pair.layer).\(pair.target.peftModule)"
            #expect(file.tensors[module + ".lora_A.weight"]?.shape == [4, pair.inputs])
            #expect(file.tensors[module + ".lora_B.weight"]?.shape == [pair.outputs, 4])
            #expect(try floats(file, module + ".lora_A.weight") == pair.a)
            let b = try floats(file, module + ".lora_B.weight")
            switch pair.target {
            case .query: #expect(b == numpyUnpermute(pair.b, rank: 4, heads: smallBase.heads) && b != pair.b)
            case .key: #expect(b == numpyUnpermute(pair.b, rank: 4, heads: smallBase.kvHeads) && b != pair.b)
            default: #expect(b == pair.b)
            }
        }

        // The engine's PEFT reader maps the Hugging Face rows back: the round trip is the identity.
        let adapter = try LoRAAdapter.load(path: peft, base: smallBase)
        #expect(adapter.format == .peft && adapter.alpha == 8 && adapter.ranks == [4])
        let raw = try PEFTReader.read(folder: peft, name: "raw", base: smallBase, permute: false)
        for pair in parameters.pairs {
            let weight = try #require(adapter.weight(layer: pair.layer, target: pair.target))
            #expect(weight.matrixA == pair.a && weight.matrixB == pair.b, "\(pair.baseName)")
            #expect(weight.scale(1) == 2)
            let unpermuted = try #require(raw.weight(layer: pair.layer, target: pair.target)).matrixB
            #expect((unpermuted == pair.b) == (pair.target != .query && pair.target != .key), "\(pair.baseName)")
        }
        #expect(try LoRAParameters(adapter: peft, base: smallBase) == parameters)
    }

    @Test func peftOfSomeBlocksNamesThem() throws {
        var parameters = randomParameters(smallBase, rank: 2, alpha: 2, seed: 5, targets: [.value, .up])
        parameters.pairs.removeAll { $0.layer == 0 }
        let files = try parameters.peftFiles(base: smallBase, baseModelName: "m")
        let config = try #require(try JSONSerialization.jsonObject(with: Data(files.config)) as? [String: Any])
        #expect(config["layers_to_transform"] as? [Int] == [1])
        #expect(config["target_modules"] as? [String] == ["v_proj", "up_proj"])
    }

    @Test func anUnwritablePathIsATypedErrorAndLeavesNoFile() throws {
        let folder = try temporaryFolder("hostile")
        defer { try? FileManager.default.removeItem(atPath: folder) }
        let parameters = randomParameters(smallBase, rank: 2, alpha: 4, seed: 6)
        let plain = folder + "/plain"
        try writeBytes([1, 2, 3], to: plain)

        // A path under a regular file: the temporary cannot even be opened.
        let under = plain + "/adapter.gguf"
        expectTrainingError {
            try parameters.writeGGUF(to: under)
        } matching: {
            if case .fileWrite(.open) = $0 { true } else { false }
        }
        // A path that is a folder: the finished temporary cannot be renamed over it, and is removed.
        let taken = folder + "/taken"
        try FileManager.default.createDirectory(atPath: taken, withIntermediateDirectories: false)
        expectTrainingError {
            try parameters.writeGGUF(to: taken)
        } matching: {
            if case .fileWrite(.rename) = $0 { true } else { false }
        }
        #expect(entries(folder) == ["plain", "taken"])
        #expect(entries(taken).isEmpty)

        // A PEFT folder where a file is.
        expectTrainingError {
            try parameters.writePEFT(to: plain, base: smallBase, baseModelName: "m")
        } matching: {
            if case .directory = $0 { true } else { false }
        }
        #expect(try Data(contentsOf: URL(fileURLWithPath: plain)) == Data([1, 2, 3]))
        #expect(entries(folder) == ["plain", "taken"])
    }

    @Test func invalidParametersAreTypedErrorsAndWriteNothing() throws {
        let folder = try temporaryFolder("invalid")
        defer { try? FileManager.default.removeItem(atPath: folder) }
        let path = folder + "/bad.gguf"
        let good = randomParameters(smallBase, rank: 2, alpha: 4, seed: 7)

        var notFinite = good
        notFinite.pairs[2].b[1] = .nan
        #expect(throws: TrainingError.nonFiniteValue("blk.0.attn_v.weight.lora_b")) {
            try notFinite.writeGGUF(to: path)
        }
        #expect(throws: TrainingError.nonFiniteValue("base_model.model.model.layers.0.self_attn.v_proj.lora_B.weight"))
        {
            try notFinite.writePEFT(to: folder + "/peft", base: smallBase, baseModelName: "m")
        }
        var tooLargeForHalf = good
        tooLargeForHalf.pairs[0].a[0] = 1e6
        try tooLargeForHalf.writeGGUF(to: path)  // fine as F32
        try FileManager.default.removeItem(atPath: path)
        #expect(throws: TrainingError.nonFiniteValue("blk.0.attn_q.weight.lora_a")) {
            try tooLargeForHalf.writeGGUF(to: path, type: .f16)
        }
        var wrongCount = good
        wrongCount.pairs[1].a.removeLast()
        #expect(throws: TrainingError.self) { try wrongCount.writeGGUF(to: path) }
        var twice = good
        twice.pairs.append(twice.pairs[0])
        #expect(throws: TrainingError.self) { try twice.writeGGUF(to: path) }
        var badAlpha = good
        badAlpha.alpha = .infinity
        #expect(throws: TrainingError.self) { try badAlpha.writeGGUF(to: path) }
        let rankTooLarge = LoRAParameters(base: smallBase, rank: 40, alpha: 1, targets: [.key])
        #expect(throws: TrainingError.self) { try rankTooLarge.writeGGUF(to: path) }
        #expect(throws: TrainingError.metadataKey("adapter.lora.alpha", "is set by the GGUF-LoRA format itself")) {
            try good.writeGGUF(to: path, metadata: ["adapter.lora.alpha": "3"])
        }
        #expect(throws: TrainingError.self) {
            try good.writePEFT(to: folder + "/peft", base: smallBase, baseModelName: "m", metadata: ["format": "np"])
        }
        let otherBase = LoRABase(
            layers: 2, embedding: 64, feedForward: 128, kvDimension: 32, heads: 4, kvHeads: 2, vocabulary: 100,
            hasOutputMatrix: false)
        expectTrainingError {
            try good.writePEFT(to: folder + "/peft", base: otherBase, baseModelName: "m")
        } matching: {
            if case .baseMismatch = $0 { true } else { false }
        }
        #expect(entries(folder).isEmpty)
    }

    @Test func readingBackRefusesWhatParametersCannotHold() throws {
        let folder = try temporaryFolder("read")
        defer { try? FileManager.default.removeItem(atPath: folder) }
        let path = folder + "/a.gguf"
        let parameters = randomParameters(smallBase, rank: 2, alpha: 0, seed: 8)
        try parameters.writeGGUF(to: path)
        // llama.cpp's alpha 0: the scale is the user's alone, which is alpha = rank.
        let read = try LoRAParameters(adapter: path, base: smallBase)
        #expect(read.alpha == 2 && read.scale == 1 && read.pairs == parameters.pairs)

        let bytes = try readBytes(path)
        var random = SeededRandom(seed: 10)
        for cut in [10, bytes.count / 2, bytes.count - 1] {
            try writeBytes(Array(bytes.prefix(cut)), to: path)
            expectTrainingError {
                _ = try LoRAParameters(adapter: path, base: smallBase)
            } matching: {
                if case .adapterRead = $0 { true } else { false }
            }
        }
        for _ in 0..<50 {
            try writeBytes(random.mutate(bytes), to: path)
            // A mutated file reads, or fails with a typed error, never a crash; what it reads as can be written again.
            if let read = try? LoRAParameters(adapter: path, base: smallBase) {
                #expect(throws: Never.self) { _ = try read.ggufWriter() }
            }
        }
        let otherBase = LoRABase(
            layers: 1, embedding: 64, feedForward: 96, kvDimension: 32, heads: 4, kvHeads: 2, vocabulary: 100,
            hasOutputMatrix: false)
        try parameters.writeGGUF(to: path)
        #expect(throws: TrainingError.self) { try LoRAParameters(adapter: path, base: otherBase) }
        #expect(throws: TrainingError.self) { try LoRAParameters(adapter: folder + "/missing.gguf", base: smallBase) }
    }

    @Test func ggufWriterMetadataTypesReadBack() throws {
        var writer = GGUFWriter()
        try writer.set("a.string", .string("héllo"))
        try writer.set("a.u32", .uint32(7))
        try writer.set("a.f32", .float32(0.5))
        try writer.set("a.bool", .bool(true))
        try writer.set("a.strings", .strings(["x", "", "yz"]))
        try writer.set("a.u32s", .uint32s([1, 2, 4_000_000_000]))
        #expect(throws: TrainingError.metadataKey("a.u32", "is given twice")) { try writer.set("a.u32", .uint32(1)) }
        #expect(throws: TrainingError.self) { try writer.set("", .uint32(1)) }
        try writer.addTensor("t.odd", shape: [3], values: [1, 2, 3])
        try writer.addTensor("t.matrix", shape: [2, 3], values: [1, 2, 3, 4, 5, 6], type: .f16)
        #expect(throws: TrainingError.self) { try writer.addTensor("t.odd", shape: [1], values: [1]) }
        #expect(throws: TrainingError.self) { try writer.addTensor("t.bad", shape: [2, 2], values: [1, 2, 3]) }
        #expect(throws: TrainingError.self) { try writer.addTensor("t.bad", shape: [1, 1, 1, 1, 1], values: [1]) }
        #expect(throws: TrainingError.self) { try writer.addTensor("t.bad", shape: [0], values: []) }
        #expect(throws: TrainingError.self) {
            try writer.addTensor(String(repeating: "n", count: 64), shape: [1], values: [1])
        }
        #expect(writer.tensorNames == ["t.odd", "t.matrix"])

        let folder = try temporaryFolder("writer")
        defer { try? FileManager.default.removeItem(atPath: folder) }
        let path = folder + "/w.gguf"
        try writer.write(to: path)
        let file = try GGUFFile(path: path)
        #expect(file.metadata["a.string"] == .string("héllo"))
        #expect(file.metadata["a.u32"] == .uint(7))
        #expect(file.metadata["a.f32"] == .float(0.5))
        #expect(file.metadata["a.bool"] == .bool(true))
        #expect(file.metadata["a.strings"] == .array([.string("x"), .string(""), .string("yz")]))
        #expect(file.metadata["a.u32s"] == .array([.uint(1), .uint(2), .uint(4_000_000_000)]))
        let odd = try file.tensor("t.odd", shape: [3])
        let matrix = try file.tensor("t.matrix", shape: [2, 3])
        #expect(odd.type == .f32 && matrix.type == .f16)
        #expect(odd.offset % 32 == 0 && matrix.offset % 32 == 0 && matrix.offset == odd.offset + 32)
        let halves = (0..<6).map {
            Float(Float16(bitPattern: file.data(matrix).loadUnaligned(fromByteOffset: 2 * $0, as: UInt16.self)))
        }
        #expect(halves == [1, 2, 3, 4, 5, 6])
        #expect(file.size == matrix.offset + 32)
    }

    @Test func safetensorsWriterIsReadBack() throws {
        var writer = SafetensorsWriter(metadata: ["k": "v \"quoted\""])
        try writer.add("b", shape: [2, 2], values: [1, 2, 3, 4])
        try writer.add("a", shape: [3], values: [0.5, -1, 2], dtype: .f16)
        try writer.add("empty", shape: [0, 4], values: [])
        #expect(throws: TrainingError.self) { try writer.add("__metadata__", shape: [1], values: [1]) }
        #expect(throws: TrainingError.self) { try writer.add("b", shape: [1], values: [1]) }
        #expect(throws: TrainingError.self) { try writer.add("c", shape: [2], values: [1]) }
        #expect(throws: TrainingError.nonFiniteValue("c")) { try writer.add("c", shape: [1], values: [.infinity]) }
        let folder = try temporaryFolder("safetensors")
        defer { try? FileManager.default.removeItem(atPath: folder) }
        let path = folder + "/t.safetensors"
        try writer.write(to: path)
        let bytes = try readBytes(path)
        let headerLength = Int(bytes[0..<8].reversed().reduce(UInt64(0)) { $0 << 8 | UInt64($1) })
        #expect(headerLength % 8 == 0 && bytes.count == 8 + headerLength + 16 + 6)
        let file = try SafetensorsFile(path: path)
        #expect(file.metadata == ["k": "v \"quoted\""])
        #expect(try floats(file, "b") == [1, 2, 3, 4])
        let a = try #require(file.tensors["a"])
        #expect(a.dtype == "F16" && a.shape == [3] && a.offset == 8 + headerLength + 16)
        #expect(file.tensors["empty"]?.shape == [0, 4] && file.tensors["empty"]?.byteCount == 0)
    }
}

/// Writes `bytes` to `path`.
func writeBytes(_ bytes: [UInt8], to path: String) throws { try Data(bytes).write(to: URL(fileURLWithPath: path)) }

/// The bytes of the file at `path`.
func readBytes(_ path: String) throws -> [UInt8] { [UInt8](try Data(contentsOf: URL(fileURLWithPath: path))) }

/// Runs `body`, which must throw a `TrainingError` that `matches`.
func expectTrainingError(
    sourceLocation: SourceLocation = #_sourceLocation, _ body: () throws -> Void,
    matching matches: (TrainingError) -> Bool
) {
    let error = #expect(throws: TrainingError.self, sourceLocation: sourceLocation) { try body() }
    if let error { #expect(matches(error), "\(error)", sourceLocation: sourceLocation) }
}

/// The default model file (`OPENLEDGER_MODEL`), or nil after reporting it missing.
func exportModelPath(sourceLocation: SourceLocation = #_sourceLocation) -> String? {
    Fixtures.modelPath(sourceLocation: sourceLocation)
}

/// Runs tools/interop/lora_parity.py with `arguments` and `stdin`; its last output line parsed as JSON.
func loraParity(_ python: URL, _ arguments: [String], stdin: Data = Data()) throws -> Any {
    let process = Process()
    process.executableURL = python
    process.arguments = [Fixtures.packageRoot.appendingPathComponent("tools/interop/lora_parity.py").path] + arguments
    let input = Pipe()
    let output = Pipe()
    process.standardInput = input
    process.standardOutput = output
    process.standardError = FileHandle.nullDevice
    try process.run()
    input.fileHandleForWriting.write(stdin)
    try input.fileHandleForWriting.close()
    let data = output.fileHandleForReading.readDataToEndOfFile()
    process.waitUntilExit()
    try #require(process.terminationStatus == 0, "lora_parity.py \(arguments.first ?? "") failed")
    let last = String(decoding: data, as: UTF8.self).split(separator: "\n").last.map(String.init) ?? ""
    return try Fixtures.json(Data(last.utf8))
}

/// A seeded random adapter for the default model, written by our GGUF writer, gives llama.cpp's greedy tokens in
/// our engine.
///
/// It loads in llama.cpp (llama-cpp-python 0.3.36), and llama.cpp's greedy tokens with it are our engine's, token
/// for token; the adapter changes the output, so an ignored adapter would fail. The PEFT folder of the same adapter holds exactly what
/// numpy's inverse permutation makes of the GGUF file.
@Test(.integration, .timeLimit(.minutes(30))) func aWrittenAdapterGivesLlamaCppsTokensInOurEngine() throws {
    guard let modelPath = exportModelPath(), let python = Fixtures.python() else { return }
    let folder = try temporaryFolder("interop")
    defer { try? FileManager.default.removeItem(atPath: folder) }
    let model = try LlamaModel(path: modelPath)
    let base = LoRABase(model: model)
    let parameters = randomParameters(base, rank: 8, alpha: 16, seed: 2121, bScale: 0.08)
    let path = folder + "/trained.gguf"
    try parameters.writeGGUF(to: path, metadata: ["general.name": "trained"])
    let peft = folder + "/trained-peft"
    try parameters.writePEFT(to: peft, base: base, baseModelName: "HuggingFaceTB/SmolLM2-135M-Instruct")

    let adapter = try LoRAAdapter.load(path: path, base: base)
    #expect(adapter.weights.count == 7 * model.config.layers && adapter.ranks == [8])

    // gguf's reader sees alpha as a FLOAT32, and numpy's unpermute of our GGUF's q and k rows is our PEFT file.
    let converted = try #require(
        try loraParity(python, ["peft", "--model", modelPath, "--lora", path, "--out", folder + "/numpy-peft"])
            as? [String: Any])
    #expect(converted["alpha_type"] as? String == "FLOAT32" && (converted["alpha"] as? NSNumber)?.floatValue == 16)
    let numpyPEFT = try SafetensorsFile(path: try #require(converted["safetensors"] as? String))
    let ourPEFT = try SafetensorsFile(path: peft + "/adapter_model.safetensors")
    #expect(
        Set(numpyPEFT.tensors.keys) == Set(ourPEFT.tensors.keys) && ourPEFT.tensors.count == 2 * 7 * model.config.layers
    )
    for name in ourPEFT.tensors.keys.sorted() {
        #expect(try floats(ourPEFT, name) == floats(numpyPEFT, name), "\(name)")
    }

    let template = try ChatTemplate(template: model.chatTemplate)
    let prompts = [
        "What is the capital of France?", "Write a haiku about the sea.", "Explain what a neural network is.",
        "Why is the sky blue?",
    ].map { model.tokenizer.encode(template.render([.init(role: "user", content: $0)])) }
    let tokens = 32
    let session = InferenceSession(model: model, capacity: 256, threads: 2)
    func greedy(_ uses: [LoRAUse]) throws -> [[Int]] {
        try prompts.map { prompt in
            try session.generate(
                GenerationRequest(
                    prompt: prompt, maxTokens: tokens, sampler: Sampler(), ignoreEndOfGeneration: true,
                    adapters: uses)
            ).tokens.map(Int.init)
        }
    }
    let plain = try greedy([])
    let adapted = try greedy([LoRAUse(adapter)])
    // llama.cpp refuses an adapter it cannot load (the script exits non-zero), so a run is a load.
    let runs = try #require(
        try loraParity(
            python, ["reference", "--model", modelPath, "--max-tokens", "\(tokens)", "--lora", path + ":1.0"],
            stdin: try JSONSerialization.data(withJSONObject: prompts.map { $0.map(Int.init) })) as? [[String: Any]])
    let reference = try runs.map { try #require($0["tokens"] as? [Int]) }
    #expect(reference.count == prompts.count)
    for (index, (mine, theirs)) in zip(adapted, reference).enumerated() {
        #expect(mine == theirs, "prompt \(index): ours \(mine), llama.cpp \(theirs)")
    }
    let changed = zip(reference, plain).filter { $0 != $1 }.count
    #expect(changed >= prompts.count / 2, "the adapter changed only \(changed) of \(prompts.count) generations")
}
