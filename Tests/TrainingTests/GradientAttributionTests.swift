import Foundation
import Inference
import TestSupport
import Testing

@testable import Training

@Suite struct GradientSketchTests {
    /// Gradients of the tiny model for several sequences, in float32.
    func gradients() -> [LoRATensors<Float>] {
        var model = DenseModel<Float>(shape: tinyShape, seed: 11)
        model.embeddings = DenseModel<Double>(shape: tinyShape, seed: 11).embeddings.map { Float($0) }
        let lora = tinyAdapter(Float.self, seed: 12)
        var random = SeededRandom(seed: 40)
        return (0..<24).map { _ in
            let length = 4 + Int(random.next() % 6)
            let tokens = (0..<length).map { _ in Int32(random.next() % UInt64(tinyShape.vocabulary)) }
            let sequence = TrainingSequence(tokens: tokens, targets: tokens.indices.map { $0 > 0 })
            return lossAndGradients(model: model, lora: lora, batch: [sequence]).gradients
        }
    }

    @Test func projectedInnerProductsAgreeWithExactOnesWithinTheStatedError() {
        let all = gradients()
        let parameters = LoRAParameters(base: tinyShape.loraBase, rank: 2, alpha: 3, targets: LoRATarget.allCases)
        let sketch = GradientSketch(parameters: parameters, dimension: 512)
        #expect(sketch.inputs == 928)
        let projected = all.map(sketch.project)
        var pairs = 0
        var squaredError = 0.0
        var squaredScale = 0.0
        for i in all.indices {
            for j in i..<all.count {
                let exact = innerProduct(all[i], all[j])
                let normI = innerProduct(all[i], all[i]).squareRoot()
                let normJ = innerProduct(all[j], all[j]).squareRoot()
                let approximate = zip(projected[i], projected[j]).reduce(0.0) { $0 + Double($1.0) * Double($1.1) }
                let bound = sketch.errorBound(normA: normI, normB: normJ, inner: exact)
                #expect(abs(approximate - exact) <= bound, "pair \(i), \(j): \(approximate) against \(exact)")
                squaredError += (approximate - exact) * (approximate - exact)
                squaredScale += (normI * normI * normJ * normJ + exact * exact) / 512
                pairs += 1
            }
        }
        #expect(pairs == 300)
        // The mean squared error stays within the variance bound (it is an upper bound, so the ratio is below 1).
        #expect(squaredError / squaredScale < 1.2)
        // And the sketch is not trivially exact: a coarse one errs visibly more.
        let coarse = GradientSketch(parameters: parameters, dimension: 8)
        let a = coarse.project(all[0])
        let b = coarse.project(all[1])
        let coarseError = abs(zip(a, b).reduce(0.0) { $0 + Double($1.0) * Double($1.1) } - innerProduct(all[0], all[1]))
        #expect(coarseError > 0)
    }

    @Test func storedSketchesRoundTripAndRefuseDamage() throws {
        let stored = StoredSketches(
            dimension: 3, seed: 99, recordsHash: [UInt8](repeating: 7, count: 32),
            sketches: [[1, -2, 3.5], [0, 0.25, -1e-3]])
        let bytes = stored.encoded()
        #expect(try StoredSketches.decode(bytes) == stored)
        #expect(throws: TrainingError.self) { try StoredSketches.decode(Array(bytes.dropLast())) }
        var wrong = bytes
        wrong[0] ^= 1
        #expect(throws: TrainingError.self) { try StoredSketches.decode(wrong) }
        var huge = bytes
        huge[12] = 0xFF
        #expect(throws: TrainingError.self) { try StoredSketches.decode(huge) }
    }

    @Test func influencesWeighEachCheckpointByItsLearningRate() {
        let records: [[[Float]]] = [[[1, 0], [0, 2]], [[2, 0], [0, 4]]]
        let answer: [[Float]] = [[1, 1], [1, -1]]
        // Record 0: 0.5·1 + 0.25·2 = 1; record 1: 0.5·2 + 0.25·(−4) = 0.
        let influence = GradientAttribution.influences(learningRates: [0.5, 0.25], records: records, answer: answer)
        #expect(influence == [1, 0])
        #expect(GradientAttribution.influences(learningRates: [1, 0], records: records, answer: answer) == [1, 2])
    }
}

@Suite(.serialized) struct GradientAttributionProcessTests {
    /// A trained run attributes a training record's own answer to that record first, with contributor shares that
    /// sum to one, and a second query reuses the stored sketches and ranks the same.
    @Test(.integration, .timeLimit(.minutes(30))) func theRecordThatIsTheAnswerRanksFirst() throws {
        guard let model = trainingModelPath() else { return }
        let root = DevnetProcess.temporaryDirectory("train-tracin")
        defer { try? FileManager.default.removeItem(atPath: root) }
        let records = ruleRecords(24, seed: 31)
        let path = root + "/records.jsonl"
        try (records.map(\.line).joined(separator: "\n") + "\n").write(
            toFile: path, atomically: true, encoding: .utf8)
        let run = try DevnetProcess.run([
            "train", "--model", model, "--records", path, "--out", root + "/out", "--epochs", "2", "--batch", "4",
            "--sequence-length", "48", "--learning-rate", "0.002", "--seed", "2", "--checkpoint-every", "4",
            "--validation", "0.125", "--quiet",
        ])
        #expect(run.status == 0, "\(run.stderr)")
        let split = DataSplit(count: records.count, fraction: 0.125, seed: 2)
        for planted in split.training.prefix(2) {
            let query = [
                "attribute", "gradient", "--model", model, "--adapter", root + "/out", "--records", path,
                "--prompt", records[planted].instruction, "--response", records[planted].response, "--json",
                "--dimension", "1024",
            ]
            let first = try DevnetProcess.run(query)
            #expect(first.status == 0, "\(first.stderr)")
            let object = try #require(
                try JSONSerialization.jsonObject(with: Data(first.stdout.utf8)) as? [String: Any])
            let top = try #require(object["top"] as? [[String: Any]])
            #expect(top.first?["record"] as? Int == planted, "\(top.prefix(3))")
            #expect(object["checkpoints"] as? [Int] == [4, 8, 12])
            let shares = try #require(object["shares"] as? [[String: Any]]).compactMap { $0["share"] as? Double }
            #expect(abs(shares.reduce(0, +) - 1) < 1e-9)
            let again = try DevnetProcess.run(query)
            #expect(again.stdout == first.stdout)
            #expect(!again.stderr.contains("sketched"))
        }
        let sketches = try FileManager.default.contentsOfDirectory(atPath: root + "/out/checkpoints").filter {
            $0.hasSuffix(".sketch")
        }
        #expect(sketches.count == 3)
        let wrongRecords = root + "/other.jsonl"
        try (ruleRecords(24, seed: 32).map(\.line).joined(separator: "\n") + "\n").write(
            toFile: wrongRecords, atomically: true, encoding: .utf8)
        let refused = try DevnetProcess.run([
            "attribute", "gradient", "--model", model, "--adapter", root + "/out", "--records", wrongRecords,
            "--response", "x",
        ])
        #expect(refused.status != 0 && refused.stderr.contains("another model, records or configuration"))
    }
}
