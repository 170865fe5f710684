import FileIO
import Foundation
import Inference
import Runtime

/// A random projection of LoRA gradients to a few thousand values: a sparse Johnson–Lindenstrauss sketch.
///
/// Every coordinate i of the flattened gradient (pairs in order, A then B of each) is added, with a seeded random
/// sign and weight 1/√s, into s = `repeats` seeded random buckets of the `dimension` outputs. Inner products are
/// kept in expectation: E⟨Sg, Sh⟩ = ⟨g, h⟩, with variance at most (‖g‖²‖h‖² + ⟨g, h⟩²) / dimension.
public struct GradientSketch: Sendable {
    /// Output values.
    public let dimension: Int
    /// Buckets per coordinate.
    public let repeats: Int
    /// The projection's seed.
    public let seed: UInt64
    /// Flattened gradient length.
    public let inputs: Int
    /// Per coordinate and repeat: bucket index in the low 31 bits, the sign in the top bit.
    private let table: [UInt32]

    /// A sketch of gradients shaped like `parameters`.
    public init(parameters: LoRAParameters, dimension: Int = 4096, repeats: Int = 4, seed: UInt64 = 0x54_5241_4349_4e) {
        self.dimension = max(1, dimension)
        self.repeats = max(1, repeats)
        self.seed = seed
        inputs = parameters.parameterCount
        var random = SeededRandom(seed: seed)
        var table = [UInt32](repeating: 0, count: inputs * self.repeats)
        for i in table.indices {
            let draw = random.next()
            table[i] = UInt32(truncatingIfNeeded: (draw >> 1) % UInt64(self.dimension)) | (draw & 1 == 1 ? 1 << 31 : 0)
        }
        self.table = table
    }

    /// The sketch of `gradients`.
    public func project(_ gradients: LoRATensors<Float>) -> [Float] {
        var out = [Double](repeating: 0, count: dimension)
        let weight = 1 / Double(repeats).squareRoot()
        var coordinate = 0
        table.withUnsafeBufferPointer { table in
            func add(_ values: [Float]) {
                for value in values {
                    let v = Double(value) * weight
                    for r in 0..<repeats {
                        let entry = table[coordinate * repeats + r]
                        let bucket = Int(entry & 0x7FFF_FFFF)
                        if entry >> 31 == 1 { out[bucket] -= v } else { out[bucket] += v }
                    }
                    coordinate += 1
                }
            }
            for p in gradients.a.indices {
                add(gradients.a[p])
                add(gradients.b[p])
            }
        }
        return out.map { Float($0) }
    }

    /// The error the projection's inner product may show with the given exact values: four standard deviations of
    /// its variance bound.
    public func errorBound(normA: Double, normB: Double, inner: Double) -> Double {
        4 * ((normA * normA * normB * normB + inner * inner) / Double(dimension)).squareRoot()
    }
}

/// The exact inner product of two gradients of the same shapes.
public func innerProduct(_ a: LoRATensors<Float>, _ b: LoRATensors<Float>) -> Double {
    var sum = 0.0
    for p in a.a.indices {
        for (x, y) in zip(a.a[p], b.a[p]) { sum += Double(x) * Double(y) }
        for (x, y) in zip(a.b[p], b.b[p]) { sum += Double(x) * Double(y) }
    }
    return sum
}

/// The adapter as it stood at one checkpoint, kept for gradient attribution.
public struct TracedCheckpoint: Sendable {
    /// The step it was taken after.
    public var step: Int
    /// The learning rate of that step.
    public var learningRate: Double
    /// The adapter.
    public var parameters: LoRAParameters

    /// A checkpoint from its parts.
    public init(step: Int, learningRate: Double, parameters: LoRAParameters) {
        self.step = step
        self.learningRate = learningRate
        self.parameters = parameters
    }
}

/// TracIn over the LoRA parameters: the influence of training record z on answer x is Σ over checkpoints of
/// η_t · ⟨S∇L(z), S∇L(x)⟩, with the gradients at each checkpoint's adapter and S the shared sketch.
public struct GradientAttribution: Sendable {
    /// The base.
    public let model: QuantizedModel
    /// The checkpoints, oldest first.
    public let checkpoints: [TracedCheckpoint]
    /// The projection.
    public let sketch: GradientSketch

    /// An attribution over `checkpoints` (at least one) with a sketch of `dimension` values.
    public init(model: QuantizedModel, checkpoints: [TracedCheckpoint], dimension: Int = 4096) throws(TrainingError) {
        guard let first = checkpoints.first else { throw .checkpoint("no checkpoints to attribute with") }
        self.model = model
        self.checkpoints = checkpoints
        sketch = GradientSketch(parameters: first.parameters, dimension: dimension)
    }

    /// The mean-loss gradient of one sequence at checkpoint `index`, sketched.
    public func sketchedGradient(_ sequence: TrainingSequence, checkpoint index: Int) -> [Float] {
        sketch.project(gradient(sequence, checkpoint: index))
    }

    /// The exact mean-loss gradient of one sequence at checkpoint `index`.
    public func gradient(_ sequence: TrainingSequence, checkpoint index: Int) -> LoRATensors<Float> {
        let tensors = LoRATensors<Float>(checkpoints[index].parameters, layers: model.shape.layers)
        return lossAndGradients(model: model, lora: tensors, batch: [sequence]).gradients
    }

    /// Sketches of many sequences at checkpoint `index`, computed two at a time (one per thread).
    public func sketches(_ sequences: [TrainingSequence], checkpoint index: Int) -> [[Float]] {
        let tensors = LoRATensors<Float>(checkpoints[index].parameters, layers: model.shape.layers)
        let results = Slots<[Float]>(sequences.count)
        let single = model.withThreads(1)
        let workers = max(1, model.threads)
        let sketch = self.sketch
        DispatchQueue.concurrentPerform(iterations: workers) { worker in
            var i = worker
            while i < sequences.count {
                let gradient = lossAndGradients(model: single, lora: tensors, batch: [sequences[i]]).gradients
                results[i] = sketch.project(gradient)
                i += workers
            }
        }
        return results.values.map { $0 ?? [] }
    }

    /// Influence of every record on the answer, from the records' stored sketches (`records[c][r]`: checkpoint c,
    /// record r) and the answer's sketches (one per checkpoint).
    public func influences(records: [[[Float]]], answer: [[Float]]) -> [Double] {
        Self.influences(learningRates: checkpoints.map(\.learningRate), records: records, answer: answer)
    }

    /// Σ over checkpoints c of learningRates[c] · ⟨records[c][r], answer[c]⟩, for every record r.
    public static func influences(learningRates: [Double], records: [[[Float]]], answer: [[Float]]) -> [Double] {
        let count = records.first?.count ?? 0
        var out = [Double](repeating: 0, count: count)
        for (c, learningRate) in learningRates.enumerated() {
            let x = answer[c]
            for r in 0..<count {
                var dot = 0.0
                let z = records[c][r]
                for j in 0..<min(x.count, z.count) { dot += Double(x[j]) * Double(z[j]) }
                out[r] += learningRate * dot
            }
        }
        return out
    }
}

/// Sketches of records at one checkpoint, stored beside it: `step-N.sketch`.
///
/// Little-endian: the magic `OLSKETCH`, u32 dimension, u32 record count, u64 projection seed, 32 bytes of the records
/// file's SHA-256, then count × dimension f32.
public struct StoredSketches: Sendable, Equatable {
    /// The sketch length.
    public var dimension: Int
    /// The projection's seed.
    public var seed: UInt64
    /// SHA-256 of the records they were computed from.
    public var recordsHash: [UInt8]
    /// One sketch per record.
    public var sketches: [[Float]]

    static let magic = Array("OLSKETCH".utf8)

    /// The file's bytes.
    public func encoded() -> [UInt8] {
        var out = Self.magic
        func u32(_ v: Int) { for s in stride(from: 0, to: 32, by: 8) { out.append(UInt8(truncatingIfNeeded: v >> s)) } }
        u32(dimension)
        u32(sketches.count)
        for s in stride(from: 0, to: 64, by: 8) { out.append(UInt8(truncatingIfNeeded: seed >> UInt64(s))) }
        out += recordsHash.count == 32 ? recordsHash : [UInt8](repeating: 0, count: 32)
        out.reserveCapacity(out.count + 4 * dimension * sketches.count)
        for sketch in sketches {
            for value in sketch {
                let bits = value.bitPattern
                for s in stride(from: 0, to: 32, by: 8) { out.append(UInt8(truncatingIfNeeded: bits >> UInt32(s))) }
            }
        }
        return out
    }

    /// Parses a sketch file, refusing a damaged one.
    public static func decode(_ bytes: [UInt8]) throws(TrainingError) -> StoredSketches {
        guard bytes.count >= 56, Array(bytes[0..<8]) == magic else { throw .checkpoint("not a sketch file") }
        func u32(_ at: Int) -> Int { (0..<4).reduce(0) { $0 | Int(bytes[at + $1]) << (8 * $1) } }
        let dimension = u32(8)
        let count = u32(12)
        let seed = (0..<8).reduce(UInt64(0)) { $0 | UInt64(bytes[16 + $1]) << (8 * UInt64($1)) }
        guard dimension > 0, dimension <= 1 << 20, count <= 1 << 24,
            bytes.count == 56 + 4 * dimension * count
        else { throw .checkpoint("sketch file size does not match its header") }
        var sketches: [[Float]] = []
        sketches.reserveCapacity(count)
        var offset = 56
        for _ in 0..<count {
            var sketch = [Float](repeating: 0, count: dimension)
            for j in 0..<dimension {
                let bits = (0..<4).reduce(UInt32(0)) { $0 | UInt32(bytes[offset + $1]) << (8 * UInt32($1)) }
                sketch[j] = Float(bitPattern: bits)
                offset += 4
            }
            sketches.append(sketch)
        }
        return StoredSketches(
            dimension: dimension, seed: seed, recordsHash: Array(bytes[24..<56]), sketches: sketches)
    }
}

/// One record's influence on an answer.
public struct RecordInfluence: Sendable, Equatable {
    /// The record's index in the records file.
    public var record: Int
    /// Its contributor.
    public var contributor: String
    /// Σ η_t ⟨S∇L(z), S∇L(x)⟩.
    public var influence: Double
}

/// What an answer owes the training records, by gradient.
public struct GradientAttributionResult: Sendable {
    /// Every training record, most influential first.
    public var ranked: [RecordInfluence]
    /// Each contributor's share of the positive influence (summing to 1 when any is positive), largest first.
    public var shares: [(contributor: String, share: Double)]
}

/// Gradient attribution over a finished (or checkpointed) run in its output directory.
public final class TracInSession {
    /// The run, rebuilt from its configuration, records and model.
    public let trainer: LoRATrainer
    /// The records.
    public let records: [TrainingRecord]
    /// The attribution over the run's checkpoints.
    public let attribution: GradientAttribution
    private let recordsHash: [UInt8]

    /// Opens the run in `directory`: its `training-config.json`, checkpoint snapshots and log; the records and model
    /// must be the ones it was trained on.
    public init(
        directory: String, model: LlamaModel, modelHash: String, records: [TrainingRecord], recordsHash: [UInt8],
        dimension: Int = 4096, threads: Int = 2
    ) throws(TrainingError) {
        guard let data = FileManager.default.contents(atPath: directory + "/training-config.json"),
            let config = try? JSONDecoder().decode(TrainingConfig.self, from: data)
        else { throw .checkpoint("no readable \(directory)/training-config.json") }
        let hexHash = hex(recordsHash)
        trainer = try LoRATrainer(
            model: model, modelHash: modelHash, records: records, dataHash: hexHash, config: config,
            directory: directory, threads: threads)
        let checkpoint = try TrainingCheckpoint.read(from: directory)
        guard checkpoint.fingerprint == trainer.fingerprint else {
            throw .checkpoint("the run in \(directory) was trained on another model, records or configuration")
        }
        self.records = records
        self.recordsHash = recordsHash
        var traced: [TracedCheckpoint] = []
        for entry in checkpoint.log where entry.checkpoint != nil {
            let path = directory + "/checkpoints/" + LoRATrainer.snapshotName(step: entry.step)
            guard FileManager.default.fileExists(atPath: path) else { continue }
            let parameters = try LoRAParameters(adapter: path, base: LoRABase(model: model))
            traced.append(TracedCheckpoint(step: entry.step, learningRate: entry.learningRate, parameters: parameters))
        }
        attribution = try GradientAttribution(
            model: trainer.model, checkpoints: traced, dimension: dimension)
    }

    /// The training records' sketches at every checkpoint: read from `step-N.sketch` beside each snapshot, or
    /// computed once and stored there.
    ///
    /// `progress(checkpoint, of)` reports each computed checkpoint.
    public func recordSketches(progress: (Int, Int) -> Void = { _, _ in }) throws(TrainingError) -> [[[Float]]] {
        let training = trainer.split.training.map { trainer.sequences[$0] }
        var out: [[[Float]]] = []
        for (index, checkpoint) in attribution.checkpoints.enumerated() {
            let path =
                trainer.directory + "/checkpoints/"
                + LoRATrainer.snapshotName(step: checkpoint.step).replacingOccurrences(of: ".gguf", with: ".sketch")
            if let data = FileManager.default.contents(atPath: path),
                let stored = try? StoredSketches.decode(Array(data)), stored.dimension == attribution.sketch.dimension,
                stored.seed == attribution.sketch.seed, stored.recordsHash == recordsHash,
                stored.sketches.count == training.count
            {
                out.append(stored.sketches)
                continue
            }
            let sketches = attribution.sketches(training, checkpoint: index)
            let stored = StoredSketches(
                dimension: attribution.sketch.dimension, seed: attribution.sketch.seed, recordsHash: recordsHash,
                sketches: sketches)
            try TrainingOutputs.save(stored.encoded(), path)
            progress(index + 1, attribution.checkpoints.count)
            out.append(sketches)
        }
        return out
    }

    /// The answer as a sequence: an instruction record when `prompt` is given, else plain text.
    public func answer(prompt: String?, response: String) throws(TrainingError) -> TrainingSequence {
        let record = TrainingRecord(
            contributor: "0x" + String(repeating: "0", count: 40),
            content: prompt.map { .instruction($0, response: response) } ?? .text(response))
        let template = try? ChatTemplate(template: trainer.model.model.chatTemplate)
        let sequence = try record.sequence(
            tokenizer: trainer.model.model.tokenizer, template: template, length: trainer.config.sequenceLength)
        guard sequence.targetCount > 0 else { throw .configuration("the response has no tokens to attribute") }
        return sequence
    }

    /// Influence of every training record on the answer, and the contributors' shares.
    public func attribute(prompt: String?, response: String, sketches: [[[Float]]]) throws(TrainingError)
        -> GradientAttributionResult
    {
        let sequence = try answer(prompt: prompt, response: response)
        let answer = attribution.checkpoints.indices.map { attribution.sketchedGradient(sequence, checkpoint: $0) }
        let influence = attribution.influences(records: sketches, answer: answer)
        var ranked: [RecordInfluence] = []
        for (record, value) in zip(trainer.split.training, influence) {
            ranked.append(RecordInfluence(record: record, contributor: records[record].contributor, influence: value))
        }
        ranked.sort { left, right in
            left.influence != right.influence ? left.influence > right.influence : left.record < right.record
        }
        var positive: [String: Double] = [:]
        for item in ranked where item.influence > 0 { positive[item.contributor, default: 0] += item.influence }
        // Summed in address order: a dictionary's own order differs from process to process.
        let total = positive.keys.sorted().reduce(0.0) { $0 + positive[$1]! }
        var shares: [(contributor: String, share: Double)] = []
        for (contributor, value) in positive { shares.append((contributor, total > 0 ? value / total : 0)) }
        shares.sort { left, right in
            left.share != right.share ? left.share > right.share : left.contributor < right.contributor
        }
        return GradientAttributionResult(ranked: ranked, shares: shares)
    }
}
