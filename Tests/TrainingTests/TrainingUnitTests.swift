import Foundation
import Inference
import TestSupport
import Testing

@testable import Training

@Suite struct RecordTests {
    let alice = "0x" + String(repeating: "a1", count: 20)

    @Test func bothRecordFormsParse() throws {
        let text = """
            {"contributor": "\(alice)", "instruction": "Name a colour.", "response": "Teal."}

            {"contributor": "\(alice)", "text": "Plain text record."}
            """
        let records = try TrainingRecord.parse(jsonl: Array(text.utf8))
        #expect(records.count == 2)
        #expect(records[0].content == .instruction("Name a colour.", response: "Teal."))
        #expect(records[1].content == .text("Plain text record."))
        #expect(records[1].contributor == alice)
    }

    @Test func hostileRecordsAreRefusedWithTheirLine() {
        let cases: [(String, Int)] = [
            ("not json", 1),
            ("{\"contributor\": \"\(alice)\"}", 1),
            ("{\"text\": \"no contributor\"}", 1),
            ("{\"contributor\": \"0x12\", \"text\": \"short address\"}", 1),
            ("{\"contributor\": \"\(alice)\", \"text\": \"ok\"}\n[1, 2]", 2),
            ("{\"contributor\": \"\(alice)\", \"instruction\": \"q\", \"response\": \"\"}", 1),
            ("{\"contributor\": \"\(alice)\", \"text\": 5}", 1),
        ]
        for (text, line) in cases {
            #expect(throws: TrainingError.self) { try TrainingRecord.parse(jsonl: Array(text.utf8)) }
            do {
                _ = try TrainingRecord.parse(jsonl: Array(text.utf8))
            } catch {
                if case .records(let reported, _) = error { #expect(reported == line, "\(text)") }
            }
        }
        #expect(throws: TrainingError.self) { try TrainingRecord.parse(jsonl: Array("\n\n".utf8)) }
        let long = "{\"contributor\": \"\(alice)\", \"text\": \"" + String(repeating: "x", count: 1 << 20) + "\"}"
        #expect(throws: TrainingError.self) { try TrainingRecord.parse(jsonl: Array(long.utf8)) }
        var random = SeededRandom(seed: 9)
        let valid = Array("{\"contributor\": \"\(alice)\", \"instruction\": \"q\", \"response\": \"r\"}".utf8)
        for _ in 0..<200 {
            // Mutated input either parses or is refused; it never crashes.
            _ = try? TrainingRecord.parse(jsonl: random.mutate(valid))
        }
    }

    @Test func theSplitIsSeededDisjointAndComplete() {
        let split = DataSplit(count: 50, fraction: 0.1, seed: 7)
        #expect(split.validation.count == 5)
        #expect(Set(split.training).isDisjoint(with: split.validation))
        #expect(Set(split.training + split.validation) == Set(0..<50))
        #expect(DataSplit(count: 50, fraction: 0.1, seed: 7) == split)
        #expect(DataSplit(count: 50, fraction: 0.1, seed: 8) != split)
        let first = split.order(epoch: 0, seed: 7)
        #expect(Set(first) == Set(split.training))
        #expect(first != split.order(epoch: 1, seed: 7))
        #expect(first == split.order(epoch: 0, seed: 7))
        #expect(DataSplit(count: 1, fraction: 0.5, seed: 1).validation.isEmpty)
    }
}

@Suite struct OptimizerTests {
    @Test func theScheduleWarmsUpThenFollowsACosine() {
        var config = TrainingConfig()
        config.learningRate = 1e-3
        config.warmupSteps = 4
        #expect(abs(config.learningRate(step: 0, total: 20) - 2.5e-4) < 1e-15)
        #expect(abs(config.learningRate(step: 3, total: 20) - 1e-3) < 1e-15)
        #expect(abs(config.learningRate(step: 4, total: 20) - 1e-3) < 1e-15)
        #expect(abs(config.learningRate(step: 12, total: 20) - 5e-4) < 1e-12)
        #expect(config.learningRate(step: 19, total: 20) < 2e-5)
    }

    @Test func adamWTakesTheTextbookStep() {
        let base = LoRABase(
            layers: 1, embedding: 4, feedForward: 8, kvDimension: 2, heads: 2, kvHeads: 1, vocabulary: 5,
            hasOutputMatrix: false)
        var parameters = LoRAParameters(base: base, rank: 1, alpha: 1, targets: [.query])
        parameters.pairs[0].a = [0.5, -0.5, 1, 0]
        var gradients = LoRATensors<Float>(parameters, layers: 1).zeros()
        gradients.a[0] = [0.1, 0.2, -0.3, 0]
        var config = TrainingConfig()
        config.weightDecay = 0.1
        config.clipNorm = 0
        var adam = AdamW(parameters)
        adam.step(&parameters, gradients, rate: 0.01, config: config)
        // Step 1: m̂ = g, v̂ = g², so the update is lr · (sign(g)·|g|/(|g| + ε) + decay · p).
        for (i, p0) in [Float(0.5), -0.5, 1, 0].enumerated() {
            let g = gradients.a[0][i]
            let expected = p0 - 0.01 * (g / (abs(g) + 1e-8) + 0.1 * p0)
            #expect(abs(parameters.pairs[0].a[i] - expected) < 1e-6)
        }
        #expect(adam.steps == 1)
    }

    @Test func clippingBoundsTheUpdateByTheGlobalNorm() {
        let base = LoRABase(
            layers: 1, embedding: 4, feedForward: 8, kvDimension: 2, heads: 2, kvHeads: 1, vocabulary: 5,
            hasOutputMatrix: false)
        var parameters = LoRAParameters(base: base, rank: 1, alpha: 1, targets: [.query])
        var gradients = LoRATensors<Float>(parameters, layers: 1).zeros()
        gradients.b[0] = [30, 40, 0, 0]
        var config = TrainingConfig()
        config.clipNorm = 1
        config.weightDecay = 0
        config.beta1 = 0
        config.beta2 = 0
        var adam = AdamW(parameters)
        let norm = adam.step(&parameters, gradients, rate: 1, config: config)
        #expect(norm == 50)
        // With β = 0 the moments are the clipped gradient itself: (0.6, 0.8).
        #expect(abs(adam.firstB[0][0] - 0.6) < 1e-6 && abs(adam.firstB[0][1] - 0.8) < 1e-6)
    }

    @Test func peftInitializationIsSeededKaimingUniformWithBZero() {
        var parameters = LoRAParameters(base: tinyShape.loraBase, rank: 4, alpha: 8, targets: [.query, .down])
        parameters.initialize(seed: 3)
        var again = LoRAParameters(base: tinyShape.loraBase, rank: 4, alpha: 8, targets: [.query, .down])
        again.initialize(seed: 3)
        #expect(parameters == again)
        for pair in parameters.pairs {
            let bound = 1 / Float(pair.inputs).squareRoot()
            #expect(pair.a.allSatisfy { abs($0) <= bound })
            #expect(pair.a.contains { abs($0) > bound / 2 })
            #expect(pair.b.allSatisfy { $0 == 0 })
        }
        var other = LoRAParameters(base: tinyShape.loraBase, rank: 4, alpha: 8, targets: [.query, .down])
        other.initialize(seed: 4)
        #expect(other != parameters)
    }

    @Test func aDivergedStepIsRefused() throws {
        try LoRATrainer.checkFinite(loss: 2.5, gradientNorm: 0.3, step: 4)
        for (loss, norm) in [(Double.nan, 1.0), (2.0, .infinity), (.infinity, .nan)] {
            #expect(throws: TrainingError.self) { try LoRATrainer.checkFinite(loss: loss, gradientNorm: norm, step: 7) }
        }
    }

    @Test func badConfigurationsAreRefused() {
        var config = TrainingConfig()
        config.targets = ["q", "lm_head"]
        #expect(throws: TrainingError.self) { try config.validate() }
        config = TrainingConfig()
        config.rank = 0
        #expect(throws: TrainingError.self) { try config.validate() }
        config = TrainingConfig()
        config.learningRate = .nan
        #expect(throws: TrainingError.self) { try config.validate() }
    }
}

@Suite struct CheckpointTests {
    func sample() -> TrainingCheckpoint {
        var parameters = LoRAParameters(base: tinyShape.loraBase, rank: 2, alpha: 4, targets: [.value, .up])
        parameters.initialize(seed: 5)
        var optimizer = AdamW(parameters)
        var gradients = LoRATensors<Float>(parameters, layers: tinyShape.layers).zeros()
        for p in gradients.a.indices { gradients.a[p] = gradients.a[p].indices.map { Float($0 % 7) * 0.01 } }
        optimizer.step(&parameters, gradients, rate: 1e-3, config: TrainingConfig())
        let entry = TrainingLogEntry(
            step: 1, loss: 2.5, learningRate: 1e-3, gradientNorm: 0.4, validationLoss: 2.4, checkpoint: "ab")
        return TrainingCheckpoint(
            fingerprint: "f00d", step: 1, parameters: parameters, optimizer: optimizer, log: [entry])
    }

    @Test func aCheckpointRoundTripsExactly() throws {
        let checkpoint = sample()
        let decoded = try TrainingCheckpoint.decode(try checkpoint.encoded())
        #expect(decoded == checkpoint)
        #expect(decoded.stateHash == checkpoint.stateHash)
    }

    @Test func aDamagedCheckpointIsRefused() throws {
        let bytes = try sample().encoded()
        var random = SeededRandom(seed: 4)
        for _ in 0..<100 {
            var damaged = bytes
            damaged[Int(random.next() % UInt64(bytes.count))] ^= UInt8(1 + random.next() % 255)
            #expect(throws: TrainingError.self) { try TrainingCheckpoint.decode(damaged) }
        }
        #expect(throws: TrainingError.self) { try TrainingCheckpoint.decode(Array(bytes.prefix(bytes.count - 1))) }
        #expect(throws: TrainingError.self) { try TrainingCheckpoint.decode([]) }
    }

    @Test func everyLogEntryIsProvableAgainstTheRoot() {
        let entries = (1...7).map {
            TrainingLogEntry(
                step: $0, loss: 3 - Double($0) * 0.1, learningRate: 1e-4, gradientNorm: 1,
                validationLoss: $0 % 3 == 0 ? 2.9 : nil, checkpoint: $0 % 3 == 0 ? "c\($0)" : nil)
        }
        let root = TrainingLogTree.root(entries)
        for index in entries.indices {
            let path = TrainingLogTree.proof(entries, index: index)
            #expect(TrainingLogTree.verify(entries[index], path: path, root: root))
            var forged = entries[index]
            forged.loss += 0.01
            #expect(!TrainingLogTree.verify(forged, path: path, root: root))
        }
        var changed = entries
        changed[4].checkpoint = "other"
        #expect(TrainingLogTree.root(changed) != root)
    }
}
