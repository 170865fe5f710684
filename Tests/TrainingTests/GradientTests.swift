import Inference
import TestSupport
import Testing

@testable import Training

/// A tiny seeded transformer: two blocks, grouped-query attention, every target adapted.
let tinyShape = TransformerShape(
    embedding: 16, feedForward: 24, layers: 2, heads: 4, kvHeads: 2, vocabulary: 23, ropeBase: 10_000,
    ropeDimensions: 4, rmsEpsilon: 1e-5)

func tinyAdapter<S: TrainingScalar>(_ type: S.Type, seed: UInt64, rank: Int = 2) -> LoRATensors<S> {
    let parameters = LoRAParameters(
        base: tinyShape.loraBase, rank: rank, alpha: 3, targets: LoRATarget.allCases)
    var tensors = LoRATensors<S>(parameters, layers: tinyShape.layers)
    var random = SeededRandom(seed: seed)
    for p in tensors.a.indices {
        tensors.a[p] = tensors.a[p].map { _ in S((unitDouble(&random) * 2 - 1) * 0.4) }
        tensors.b[p] = tensors.b[p].map { _ in S((unitDouble(&random) * 2 - 1) * 0.4) }
    }
    return tensors
}

func tinyBatch(seed: UInt64) -> [TrainingSequence] {
    var random = SeededRandom(seed: seed)
    return [7, 5].map { length in
        let tokens = (0..<length).map { _ in Int32(random.next() % UInt64(tinyShape.vocabulary)) }
        // The first two tokens are the prompt; the rest are targets.
        return TrainingSequence(tokens: tokens, targets: (0..<length).map { $0 >= 2 })
    }
}

@Suite struct GradientTests {
    @Test func everyGradientMatchesCentralDifferencesInFloat64() {
        let model = DenseModel<Double>(shape: tinyShape, seed: 11)
        let lora = tinyAdapter(Double.self, seed: 12)
        let batch = tinyBatch(seed: 13)
        let exact = lossAndGradients(model: model, lora: lora, batch: batch)
        #expect(exact.targets == 8)
        let h = 1e-3
        func loss(_ tensors: LoRATensors<Double>) -> Double {
            lossAndGradients(model: model, lora: tensors, batch: batch).loss
        }
        // The five-point central difference: its error is O(h⁴), far below the tolerance.
        func difference(_ perturb: (inout LoRATensors<Double>, Double) -> Void) -> Double {
            var values: [Double] = []
            for step in [-2.0, -1, 1, 2] {
                var moved = lora
                perturb(&moved, step * h)
                values.append(loss(moved))
            }
            return (8 * (values[2] - values[1]) - (values[3] - values[0])) / (12 * h)
        }
        var worst = 0.0
        var checked = 0
        for p in lora.a.indices {
            for i in lora.a[p].indices {
                let numeric = difference { $0.a[p][i] += $1 }
                worst = max(worst, relativeError(exact.gradients.a[p][i], numeric))
                checked += 1
            }
            for i in lora.b[p].indices {
                let numeric = difference { $0.b[p][i] += $1 }
                worst = max(worst, relativeError(exact.gradients.b[p][i], numeric))
                checked += 1
            }
        }
        // Every parameter of every pair: 2 blocks × 7 targets × rank 2 × (inputs + outputs).
        #expect(checked == 2 * 2 * (32 + 24 + 24 + 32 + 40 + 40 + 40))
        #expect(worst < 1e-6, "worst relative error \(worst) over \(checked) parameters")
        print("finite differences: worst relative error \(worst) over \(checked) parameters")
    }

    @Test func aWrongGradientIsCaught() {
        // The check above would see a sign slip: flipping one B entry's gradient breaks it.
        let model = DenseModel<Double>(shape: tinyShape, seed: 11)
        let lora = tinyAdapter(Double.self, seed: 12)
        let batch = tinyBatch(seed: 13)
        let exact = lossAndGradients(model: model, lora: lora, batch: batch)
        var moved = lora
        moved.b[3][1] += 1e-4
        let slope = (lossAndGradients(model: model, lora: moved, batch: batch).loss - exact.loss) / 1e-4
        #expect(relativeError(-exact.gradients.b[3][1], slope) > 1e-3)
    }

    @Test func maskedTokensDoNotCount() {
        let model = DenseModel<Double>(shape: tinyShape, seed: 11)
        let lora = tinyAdapter(Double.self, seed: 12)
        var batch = tinyBatch(seed: 13)
        let before = lossAndGradients(model: model, lora: lora, batch: batch).loss
        // Changing a prompt token changes the loss (it is context); changing nothing but a masked target's identity
        // at position 1 (never predicted) must not.
        batch[0].tokens[1] = (batch[0].tokens[1] + 1) % Int32(tinyShape.vocabulary)
        let changedContext = lossAndGradients(model: model, lora: lora, batch: batch).loss
        #expect(changedContext != before)
        var single = tinyBatch(seed: 13)
        single[0].targets = single[0].targets.map { _ in false }
        let onlySecond = lossAndGradients(model: model, lora: lora, batch: single)
        let second = lossAndGradients(model: model, lora: lora, batch: [tinyBatch(seed: 13)[1]])
        #expect(onlySecond.targets == second.targets)
        #expect(abs(onlySecond.loss - second.loss) < 1e-12)
    }

    @Test func float32AgreesWithFloat64() {
        let model64 = DenseModel<Double>(shape: tinyShape, seed: 11)
        var model32 = DenseModel<Float>(shape: tinyShape, seed: 11)
        #expect(model32.embeddings.count == model64.embeddings.count)
        model32.embeddings = model64.embeddings.map { Float($0) }
        let lora64 = tinyAdapter(Double.self, seed: 12)
        let lora32 = tinyAdapter(Float.self, seed: 12)
        let batch = tinyBatch(seed: 13)
        let g64 = lossAndGradients(model: model64, lora: lora64, batch: batch)
        let g32 = lossAndGradients(model: model32, lora: lora32, batch: batch)
        #expect(abs(g64.loss - g32.loss) < 1e-4)
        var error = 0.0
        var norm = 0.0
        for p in g64.gradients.a.indices {
            for (x, y) in zip(g64.gradients.a[p], g32.gradients.a[p]) {
                error += (x - Double(y)) * (x - Double(y))
                norm += x * x
            }
        }
        #expect((error / norm).squareRoot() < 1e-4)
    }
}

func relativeError(_ a: Double, _ b: Double) -> Double {
    let scale = max(abs(a), abs(b))
    return scale < 1e-9 ? abs(a - b) : abs(a - b) / scale
}
