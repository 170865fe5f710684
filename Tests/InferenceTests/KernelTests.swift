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
