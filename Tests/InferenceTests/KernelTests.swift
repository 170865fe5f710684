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
    for matrix in [model.layers[1].gate, model.layers[2].down, model.output] {
        let type = Int32(matrix.type.rawValue)
        let count = 7
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
            #expect(Array(batched[(t * rows)..<((t + 1) * rows)]) == single, "\(matrix.type) activation \(t)")
        }
    }
}
