import Foundation

@testable import Inference

/// A plain Swift statement of the arithmetic the C kernels implement (ggml's x86 paths): activations quantized
/// per 32-value block, integer sums of four products per lane, eight float lanes fused-multiply-added block after
/// block and reduced in ggml's order. The kernel tests compare the C kernels with it bit for bit.
extension Kernels {
    @inline(__always) static func roundHalf(_ value: Float) -> Float { Float(Float16(value)) }

    /// An activation vector quantized in blocks of 32: scale d, and (Q8_1) d·Σq, both rounded through f16.
    struct QuantizedActivation: Sendable {
        var d: [Float]
        var s: [Float]
        var q: [Int8]

        init(blocks: Int) {
            d = [Float](repeating: 0, count: blocks)
            s = [Float](repeating: 0, count: blocks)
            q = [Int8](repeating: 0, count: blocks * 32)
        }

        /// Quantizes `x` (a multiple of 32 values); rounding to nearest even as the SIMD path does.
        mutating func quantize(_ x: UnsafePointer<Float>, count: Int) {
            let blocks = count / 32
            q.withUnsafeMutableBufferPointer { q in
                for block in 0..<blocks {
                    var amax: Float = 0
                    for j in 0..<32 { amax = max(amax, abs(x[block * 32 + j])) }
                    let scale = amax / 127
                    let inverse: Float = amax != 0 ? 127 / amax : 0
                    var sum: Int32 = 0
                    for j in 0..<32 {
                        let value = Int8((x[block * 32 + j] * inverse).rounded(.toNearestOrEven))
                        q[block * 32 + j] = value
                        sum += Int32(value)
                    }
                    d[block] = Kernels.roundHalf(scale)
                    s[block] = Kernels.roundHalf(Float(sum) * scale)
                }
            }
        }
    }

    /// Σ over four-product groups, lanes as `mul_sum_us8_pairs_float` leaves them: lane k sums products 4k…4k+3.
    @inline(__always) static func laneSums(_ x: SIMD32<Int16>, _ y: SIMD32<Int16>) -> SIMD8<Float> {
        let products = x &* y
        var lanes = SIMD8<Int32>()
        for k in 0..<8 {
            lanes[k] =
                Int32(products[4 * k]) + Int32(products[4 * k + 1]) + Int32(products[4 * k + 2])
                + Int32(products[4 * k + 3])
        }
        return SIMD8<Float>(lanes)
    }

    /// `hsum_float_8`: (lanes 0+4, 1+5, 2+6, 3+7), then (0+2, 1+3), then their sum.
    @inline(__always) static func horizontalSum(_ v: SIMD8<Float>) -> Float {
        let a = v.lowHalf + v.highHalf
        let b0 = a[0] + a[2]
        let b1 = a[1] + a[3]
        return b0 + b1
    }

    /// One Q4_1 row (blocks of 20 bytes: d, m, 16 bytes of nibbles) · a Q8_1 activation.
    // swift-format-ignore: AlwaysUseLowerCamelCase
    static func dotQ4_1(_ row: UnsafeRawPointer, _ a: QuantizedActivation, blocks: Int) -> Float {
        var accumulator = SIMD8<Float>()
        var summs: Float = 0
        a.q.withUnsafeBufferPointer { q in
            for block in 0..<blocks {
                let base = row + block * 20
                let d0 = half(base, 0)
                let m0 = half(base, 2)
                summs += m0 * a.s[block]
                var x = SIMD32<Int16>()
                for j in 0..<16 {
                    let byte = base.load(fromByteOffset: 4 + j, as: UInt8.self)
                    x[j] = Int16(byte & 0x0F)
                    x[j + 16] = Int16(byte >> 4)
                }
                var y = SIMD32<Int16>()
                for j in 0..<32 { y[j] = Int16(q[block * 32 + j]) }
                let scale = d0 * a.d[block]
                accumulator = accumulator.addingProduct(SIMD8(repeating: scale), laneSums(x, y))
            }
        }
        return horizontalSum(accumulator) + summs
    }

    /// One Q8_0 row (blocks of 34 bytes: d, 32 signed bytes) · a Q8_0 activation (its d; s unused).
    // swift-format-ignore: AlwaysUseLowerCamelCase
    static func dotQ8_0(_ row: UnsafeRawPointer, _ a: QuantizedActivation, blocks: Int) -> Float {
        var accumulator = SIMD8<Float>()
        a.q.withUnsafeBufferPointer { q in
            for block in 0..<blocks {
                let base = row + block * 34
                var x = SIMD32<Int16>()
                var y = SIMD32<Int16>()
                for j in 0..<32 {
                    x[j] = Int16(base.load(fromByteOffset: 2 + j, as: Int8.self))
                    y[j] = Int16(q[block * 32 + j])
                }
                let scale = half(base, 0) * a.d[block]
                accumulator = accumulator.addingProduct(SIMD8(repeating: scale), laneSums(x, y))
            }
        }
        return horizontalSum(accumulator)
    }

    /// One Q4_0 row (blocks of 18 bytes: d, 16 bytes of nibbles, value = nibble − 8) · a Q8_0 activation.
    // swift-format-ignore: AlwaysUseLowerCamelCase
    static func dotQ4_0(_ row: UnsafeRawPointer, _ a: QuantizedActivation, blocks: Int) -> Float {
        var accumulator = SIMD8<Float>()
        a.q.withUnsafeBufferPointer { q in
            for block in 0..<blocks {
                let base = row + block * 18
                var x = SIMD32<Int16>()
                for j in 0..<16 {
                    let byte = base.load(fromByteOffset: 2 + j, as: UInt8.self)
                    x[j] = Int16(byte & 0x0F) - 8
                    x[j + 16] = Int16(byte >> 4) - 8
                }
                var y = SIMD32<Int16>()
                for j in 0..<32 { y[j] = Int16(q[block * 32 + j]) }
                let scale = half(base, 0) * a.d[block]
                accumulator = accumulator.addingProduct(SIMD8(repeating: scale), laneSums(x, y))
            }
        }
        return horizontalSum(accumulator)
    }

}
