import CInferenceKernels
import Foundation
import TestSupport
import Testing

@testable import Inference

/// The C kernels (AVX2/VNNI on this machine) give bit-identical results to the plain Swift statement of the
/// same arithmetic, on the real model's Q4_1 and Q8_0 rows.
@Test func cKernelsAgreeWithTheSwiftReference() throws {
    guard let path = defaultModelPath() else { return }
    let model = try LlamaModel(path: path)
    var random = SeededRandom(seed: 3)
    for matrix in [model.layers[0].query, model.layers[0].down, model.output] {
        let x = (0..<matrix.columns).map { _ in Float(Int(random.next() % 2001) - 1000) / 500 }
        var swiftActivation = Kernels.QuantizedActivation(blocks: matrix.columns / 32)
        x.withUnsafeBufferPointer { swiftActivation.quantize($0.baseAddress!, count: matrix.columns) }
        var cActivation = [UInt8](
            repeating: 0, count: olk_activation_bytes(Int32(matrix.type.rawValue), Int32(matrix.columns)))
        olk_quantize_activation(Int32(matrix.type.rawValue), x, Int32(matrix.columns), &cActivation)
        var out = [Float](repeating: 0, count: 8)
        olk_matvec(
            Int32(matrix.type.rawValue), matrix.data, matrix.rowBytes, 0, 8, cActivation, Int32(matrix.columns), &out)
        for r in 0..<8 {
            let reference: Float =
                switch matrix.type {
                case .q4_1: Kernels.dotQ4_1(matrix.row(r), swiftActivation, blocks: matrix.columns / 32)
                case .q8_0: Kernels.dotQ8_0(matrix.row(r), swiftActivation, blocks: matrix.columns / 32)
                default: 0
                }
            #expect(out[r] == reference, "\(matrix.type) row \(r): \(out[r]) vs \(reference)")
            #expect(reference != 0)
        }
    }
}

/// The prefill tile (several activations at once) gives exactly what one activation at a time gives.
@Test func batchedProductsEqualOneAtATime() throws {
    guard let path = defaultModelPath() else { return }
    let model = try LlamaModel(path: path)
    var random = SeededRandom(seed: 9)
    // 7: tiles of four; 16 and 37: the 16-activation tiles, and those with a remainder.
    for (matrix, count) in [
        (model.layers[1].gate, 7), (model.layers[2].down, 7), (model.output, 7), (model.layers[1].gate, 16),
        (model.layers[3].up, 37), (model.output, 37),
    ] {
        let type = Int32(matrix.type.rawValue)
        let stride = olk_activation_bytes(type, Int32(matrix.columns))
        var activations = [UInt8](repeating: 0, count: stride * count)
        for t in 0..<count {
            let x = (0..<matrix.columns).map { _ in Float(Int(random.next() % 2001) - 1000) / 300 }
            activations.withUnsafeMutableBytes {
                olk_quantize_activation(type, x, Int32(matrix.columns), $0.baseAddress! + t * stride)
            }
        }
        let rows = min(matrix.rows, 101)
        var batched = [Float](repeating: 0, count: count * rows)
        olk_matmul(
            type, matrix.data, matrix.rowBytes, 0, Int32(rows), activations, stride, Int32(count),
            Int32(matrix.columns), &batched, rows)
        for t in 0..<count {
            var single = [Float](repeating: 0, count: rows)
            activations.withUnsafeBytes {
                olk_matvec(
                    type, matrix.data, matrix.rowBytes, 0, Int32(rows), $0.baseAddress! + t * stride,
                    Int32(matrix.columns), &single)
            }
            #expect(
                Array(batched[(t * rows)..<((t + 1) * rows)]) == single, "\(matrix.type) activation \(t) of \(count)")
        }
    }
}

/// Attention outputs for many value rows at once equal one dot per row, in both summation orders.
@Test func attentionValuesEqualOneDotPerRow() {
    var random = SeededRandom(seed: 12)
    for n in [64, 128, 208, 448] {  // multiples of 16, as the batched order requires
        let rows = 7
        let stride = n + 16
        let values = (0..<(rows * stride)).map { _ in Float16(Float(Int(random.next() % 2001) - 1000) / 500).bitPattern
        }
        let weights = (0..<n).map { _ in Float16(Float(random.next() % 1000) / 1000).bitPattern }
        for batched: Int32 in [0, 1] {
            var out = [Float](repeating: 0, count: rows)
            olk_attention_values(values, stride, weights, Int32(n), Int32(rows), batched, &out)
            for r in 0..<rows {
                let row = Array(values[(r * stride)...])
                let expected =
                    batched == 1 ? olk_dot_f16(row, weights, Int32(n)) : olk_dot_f16_single(row, weights, Int32(n))
                #expect(out[r] == expected, "n \(n) row \(r) batched \(batched)")
            }
        }
    }
}

/// Attention scores for many keys at once equal one scaled dot per key, and their maximum.
@Test func attentionScoresEqualOneDotPerKey() {
    var random = SeededRandom(seed: 13)
    for n in [64, 96] {  // multiples of 16, as the batched order requires
        let count = 37
        let stride = n + 8
        let keys = (0..<(count * stride)).map { _ in Float16(Float(Int(random.next() % 2001) - 1000) / 500).bitPattern }
        let query = (0..<n).map { _ in Float16(Float(Int(random.next() % 2001) - 1000) / 500).bitPattern }
        for batched: Int32 in [0, 1] {
            var scores = [Float](repeating: 0, count: count)
            var maximum: Float = 0
            olk_attention_scores(keys, stride, Int32(count), query, Int32(n), 0.125, batched, &scores, &maximum)
            for t in 0..<count {
                let key = Array(keys[(t * stride)...])
                let dot = batched == 1 ? olk_dot_f16(key, query, Int32(n)) : olk_dot_f16_single(key, query, Int32(n))
                #expect(scores[t] == dot * 0.125, "n \(n) key \(t) batched \(batched)")
            }
            #expect(maximum == scores.max())
        }
    }
}
