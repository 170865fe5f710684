import CTrainingKernels
import Foundation
import TestSupport
import Testing

/// The training kernels against float64 schoolbook products computed here, on both paths (AVX-512 when the CPU has
/// it, and the portable one), with odd tails, strides wider than the rows, NaN in every padding value the kernels
/// must not read, sentinels in every output value they must not write, and split invariance.
@Suite struct KernelTests {
    /// Matrix shapes (m, n, k) with tails of every kind: single rows and columns, primes, just past a tile.
    static let shapes: [(Int, Int, Int)] = [
        (1, 1, 1), (7, 7, 7), (1, 33, 100), (33, 1, 7), (6, 32, 128), (13, 17, 129), (100, 33, 7),
        (7, 100, 257), (12, 16, 33), (25, 65, 300), (8, 40, 64), (19, 8, 150),
    ]

    enum Form: CaseIterable { case nn, nt, tn }

    @Test(arguments: Form.allCases, [false, true])
    func sgemmMatchesTheFloat64Product(form: Form, portable: Bool) {
        var random = SeededRandom(seed: 0x5EED_0001)
        for (index, (m, n, k)) in Self.shapes.enumerated() {
            for accumulate in [false, true] {
                var generator = random.split(label: UInt64(index))
                checkSgemm(form: form, m: m, n: n, k: k, accumulate: accumulate, portable: portable, &generator)
            }
        }
    }

    @Test(arguments: [false, true])
    func dgemmMatchesTheSchoolbookProduct(portable: Bool) {
        var random = SeededRandom(seed: 0x5EED_0002)
        for form in Form.allCases {
            for (m, n, k) in Self.shapes {
                for accumulate in [false, true] {
                    checkDgemm(form: form, m: m, n: n, k: k, accumulate: accumulate, portable: portable, &random)
                }
            }
        }
    }

    /// Weight shapes (count, in, out): `in` a multiple of 32 as the block formats need.
    static let weightShapes: [(Int, Int, Int)] = [
        (1, 32, 1), (7, 64, 7), (13, 160, 33), (5, 288, 100), (6, 32, 64), (17, 416, 40), (3, 64, 300),
    ]

    @Test(arguments: [OTK_F32, OTK_Q4_0, OTK_Q4_1, OTK_Q8_0], [false, true])
    func weightProductsMatchTheDequantizedFloat64Product(type: Int32, portable: Bool) {
        var random = SeededRandom(seed: 0x5EED_0003 &+ UInt64(type))
        let oddF32: [(Int, Int, Int)] = type == OTK_F32 ? [(5, 37, 11), (4, 131, 9), (2, 1, 3)] : []
        for (count, inputs, outputs) in Self.weightShapes + oddF32 {
            let weight = TestWeight(type: type, outputs: outputs, inputs: inputs, &random)
            for accumulate in [false, true] {
                checkForward(weight, count: count, accumulate: accumulate, portable: portable, &random)
                checkBackward(weight, count: count, accumulate: accumulate, portable: portable, &random)
            }
        }
    }

    @Test func longReductionsStayAccurate() {
        // The output projection's backward sums tens of thousands of terms; the tiled order keeps it near ε.
        var random = SeededRandom(seed: 0x5EED_0004)
        let weight = TestWeight(type: OTK_Q8_0, outputs: 6000, inputs: 64, &random)
        for portable in [false, true] {
            checkBackward(weight, count: 3, accumulate: false, portable: portable, &random)
        }
        let a = randomFloats(2 * 5000, &random)
        let b = randomFloats(5000 * 3, &random)
        var c = [Float](repeating: 0, count: 6)
        otk_sgemm_nn(2, 3, 5000, a, 5000, b, 3, &c, 3, 0)
        for i in 0..<2 {
            for j in 0..<3 {
                var (exact, magnitude) = (0.0, 0.0)
                for p in 0..<5000 {
                    exact += Double(a[i * 5000 + p]) * Double(b[p * 3 + j])
                    magnitude += abs(Double(a[i * 5000 + p]) * Double(b[p * 3 + j]))
                }
                #expect(abs(Double(c[i * 3 + j]) - exact) <= 1e-6 * magnitude)
            }
        }
    }

    @Test func portableAndAvx512PathsAgreeWithinRounding() throws {
        try #require(otk_has_avx512() == 1, "this CPU has no AVX-512; only the portable path exists")
        var random = SeededRandom(seed: 0x5EED_0005)
        let (count, inputs, outputs) = (9, 96, 70)
        let weight = TestWeight(type: OTK_Q4_1, outputs: outputs, inputs: inputs, &random)
        let x = randomFloats(count * inputs, &random)
        var fast = [Float](repeating: 0, count: count * outputs)
        var slow = fast
        var scratch = [Float](repeating: 0, count: otk_weight_scratch_floats(Int32(inputs)))
        weight.bytes.withUnsafeBytes { w in
            otk_weight_forward(
                weight.type, w.baseAddress, weight.rowBytes, Int32(inputs), 0, Int32(outputs), x, inputs,
                Int32(count), &fast, outputs, 0, &scratch)
            otk_use_portable_on_this_thread(1)
            otk_weight_forward(
                weight.type, w.baseAddress, weight.rowBytes, Int32(inputs), 0, Int32(outputs), x, inputs,
                Int32(count), &slow, outputs, 0, &scratch)
            otk_use_portable_on_this_thread(0)
        }
        #expect(otk_has_avx512() == 1)
        #expect(relativeL2(fast.map(Double.init), slow.map(Double.init)) < 1e-6)
    }

    @Test func shapesTheBlockFormatsCannotHaveLeaveTheOutputAsItIs() {
        var random = SeededRandom(seed: 0x5EED_0006)
        let weight = TestWeight(type: OTK_Q8_0, outputs: 4, inputs: 64, &random)
        let x = randomFloats(2 * 64, &random)
        var scratch = [Float](repeating: 0, count: otk_weight_scratch_floats(64))
        let start = [Float](repeating: sentinel, count: 2 * 64)
        var y = start
        weight.bytes.withUnsafeBytes { w in
            // 40 values a row: not whole blocks; type 99: no such format; a backward range starting mid-block.
            otk_weight_forward(OTK_Q8_0, w.baseAddress, weight.rowBytes, 40, 0, 4, x, 64, 2, &y, 4, 0, &scratch)
            otk_weight_forward(99, w.baseAddress, weight.rowBytes, 64, 0, 4, x, 64, 2, &y, 4, 0, &scratch)
            otk_weight_backward(OTK_Q8_0, w.baseAddress, weight.rowBytes, 64, 4, 16, 64, x, 4, 2, &y, 64, 0, &scratch)
            otk_weight_backward(OTK_Q8_0, w.baseAddress, weight.rowBytes, 64, 4, 0, 96, x, 4, 2, &y, 64, 0, &scratch)
        }
        #expect(y == start)
    }

    @Test func portableProductIsTheSchoolbookSum() {
        let a: [Float] = [1, 2, 3, 4, 5, 6]
        let b: [Float] = [7, 8, 9, 10, 11, 12]
        var c = [Float](repeating: 0, count: 4)
        otk_sgemm_nn(2, 2, 3, a, 3, b, 2, &c, 2, 0)
        #expect(c == [58, 64, 139, 154])
    }
}

// MARK: - Checks

/// The value written into output padding; a kernel that writes outside its range overwrites it.
private let sentinel: Float = 12345.5

private func randomFloats(_ count: Int, _ random: inout SeededRandom) -> [Float] {
    (0..<count).map { _ in random.nextUnitFloat() * 2 - 1 }
}

/// A rows × columns matrix stored with a row stride of columns + pad, its padding NaN.
private func paddedMatrix(rows: Int, columns: Int, pad: Int, _ random: inout SeededRandom) -> (
    values: [Float], stride: Int
) {
    let stride = columns + pad
    var values = [Float](repeating: .nan, count: max(1, rows * stride))
    for r in 0..<rows {
        for c in 0..<columns { values[r * stride + c] = random.nextUnitFloat() * 2 - 1 }
    }
    return (values, stride)
}

/// Output storage: random starting values (for accumulate), sentinels in the padding.
private func outputMatrix(rows: Int, columns: Int, pad: Int, _ random: inout SeededRandom) -> (
    values: [Float], stride: Int
) {
    var (values, stride) = paddedMatrix(rows: rows, columns: columns, pad: pad, &random)
    for r in 0..<rows {
        for c in columns..<stride { values[r * stride + c] = sentinel }
    }
    return (values, stride)
}

/// Every output within the bound of the tiled f32 sum, and the padding untouched: |c − exact| ≤ 1e-5 · (Σ|a·b| + |c₀|).
private func expectClose(
    _ c: [Float], stride: Int, rows: Int, columns: Int, exact: [Double], scale: [Double],
    sourceLocation: SourceLocation = #_sourceLocation
) {
    var worst = 0.0
    var untouched = true
    for r in 0..<rows {
        for col in 0..<columns {
            let i = r * columns + col
            let error = abs(Double(c[r * stride + col]) - exact[i])
            worst = max(worst, error.isNaN ? .infinity : error / (scale[i] + 1e-30))
        }
        for col in columns..<stride where c[r * stride + col] != sentinel { untouched = false }
    }
    #expect(worst <= 1e-5, "worst scaled error \(worst) for \(rows)×\(columns)", sourceLocation: sourceLocation)
    #expect(untouched, "a value outside the output range was written", sourceLocation: sourceLocation)
}

private func relativeL2(_ a: [Double], _ b: [Double]) -> Double {
    var error = 0.0
    var norm = 0.0
    for (x, y) in zip(a, b) {
        error += (x - y) * (x - y)
        norm += y * y
    }
    return (error / max(norm, 1e-300)).squareRoot()
}

private func checkSgemm(
    form: KernelTests.Form, m: Int, n: Int, k: Int, accumulate: Bool, portable: Bool,
    _ random: inout SeededRandom
) {
    let aShape = form == .tn ? (k, m) : (m, k)
    let bShape = form == .nt ? (n, k) : (k, n)
    let a = paddedMatrix(rows: aShape.0, columns: aShape.1, pad: 3, &random)
    let b = paddedMatrix(rows: bShape.0, columns: bShape.1, pad: 5, &random)
    let start = outputMatrix(rows: m, columns: n, pad: 2, &random)
    func aAt(_ i: Int, _ p: Int) -> Double {
        Double(form == .tn ? a.values[p * a.stride + i] : a.values[i * a.stride + p])
    }
    func bAt(_ p: Int, _ j: Int) -> Double {
        Double(form == .nt ? b.values[j * b.stride + p] : b.values[p * b.stride + j])
    }
    var exact = [Double](repeating: 0, count: m * n)
    var scale = exact
    for i in 0..<m {
        for j in 0..<n {
            let c0 = accumulate ? Double(start.values[i * start.stride + j]) : 0
            var sum = c0
            var magnitude = abs(c0)
            for p in 0..<k {
                sum += aAt(i, p) * bAt(p, j)
                magnitude += abs(aAt(i, p) * bAt(p, j))
            }
            exact[i * n + j] = sum
            scale[i * n + j] = magnitude
        }
    }
    // Rows [r0, r1) of C in one call: A's rows (nn, nt) or columns (tn) from r0.
    func run(_ c: inout [Float], _ r0: Int, _ r1: Int) {
        let aOffset = form == .tn ? r0 : r0 * a.stride
        a.values.withUnsafeBufferPointer { av in
            c.withUnsafeMutableBufferPointer { cv in
                let ap = av.baseAddress! + aOffset
                let cp = cv.baseAddress! + r0 * start.stride
                let (rows, acc) = (Int32(r1 - r0), Int32(accumulate ? 1 : 0))
                switch form {
                case .nn:
                    otk_sgemm_nn(rows, Int32(n), Int32(k), ap, a.stride, b.values, b.stride, cp, start.stride, acc)
                case .nt:
                    otk_sgemm_nt(rows, Int32(n), Int32(k), ap, a.stride, b.values, b.stride, cp, start.stride, acc)
                case .tn:
                    otk_sgemm_tn(rows, Int32(n), Int32(k), ap, a.stride, b.values, b.stride, cp, start.stride, acc)
                }
            }
        }
    }
    otk_use_portable_on_this_thread(portable ? 1 : 0)
    defer { otk_use_portable_on_this_thread(0) }
    var whole = start.values
    run(&whole, 0, m)
    expectClose(whole, stride: start.stride, rows: m, columns: n, exact: exact, scale: scale)
    if m > 1 {
        var split = start.values
        let cut = Int.random(in: 1..<m, using: &random)
        run(&split, 0, cut)
        run(&split, cut, m)
        #expect(split.map(\.bitPattern) == whole.map(\.bitPattern), "rows split at \(cut) of \(m) differ")
    }
}

private func checkDgemm(
    form: KernelTests.Form, m: Int, n: Int, k: Int, accumulate: Bool, portable: Bool,
    _ random: inout SeededRandom
) {
    let (lda, ldb, ldc) = ((form == .tn ? m : k) + 2, (form == .nt ? k : n) + 1, n + 3)
    let a = (0..<max(1, (form == .tn ? k : m) * lda)).map { _ in Double(random.nextUnitFloat()) * 2 - 1 }
    let b = (0..<max(1, (form == .nt ? n : k) * ldb)).map { _ in Double(random.nextUnitFloat()) * 2 - 1 }
    var c = (0..<(m * ldc)).map { _ in Double(random.nextUnitFloat()) }
    let before = c
    otk_use_portable_on_this_thread(portable ? 1 : 0)
    defer { otk_use_portable_on_this_thread(0) }
    let acc: Int32 = accumulate ? 1 : 0
    switch form {
    case .nn: otk_dgemm_nn(Int32(m), Int32(n), Int32(k), a, lda, b, ldb, &c, ldc, acc)
    case .nt: otk_dgemm_nt(Int32(m), Int32(n), Int32(k), a, lda, b, ldb, &c, ldc, acc)
    case .tn: otk_dgemm_tn(Int32(m), Int32(n), Int32(k), a, lda, b, ldb, &c, ldc, acc)
    }
    var worst = 0.0
    var untouched = true
    for i in 0..<m {
        for j in 0..<n {
            var sum = accumulate ? before[i * ldc + j] : 0
            var magnitude = abs(sum)
            for p in 0..<k {
                let x = form == .tn ? a[p * lda + i] : a[i * lda + p]
                let y = form == .nt ? b[j * ldb + p] : b[p * ldb + j]
                sum += x * y
                magnitude += abs(x * y)
            }
            worst = max(worst, abs(c[i * ldc + j] - sum) / (magnitude + 1e-300))
        }
        for j in n..<ldc where c[i * ldc + j] != before[i * ldc + j] { untouched = false }
    }
    #expect(worst <= 1e-13, "dgemm \(form) \(m)×\(n)×\(k): worst scaled error \(worst)")
    #expect(untouched)
}

/// A weight matrix in one of the ggml formats, with random scales and quants, rows padded with bytes the kernels
/// must not read, and its exact dequantized values.
private struct TestWeight {
    let type: Int32
    let outputs: Int
    let inputs: Int
    let rowBytes: Int
    let bytes: [UInt8]
    let values: [Float]

    init(type: Int32, outputs: Int, inputs: Int, _ random: inout SeededRandom) {
        self.type = type
        self.outputs = outputs
        self.inputs = inputs
        let blockBytes = type == OTK_Q8_0 ? 34 : type == OTK_Q4_0 ? 18 : 20
        let packed = type == OTK_F32 ? inputs * 4 : inputs / 32 * blockBytes
        rowBytes = packed + 8
        var bytes = [UInt8](repeating: 0xFF, count: outputs * rowBytes)  // F32 padding reads as NaN
        var values = [Float](repeating: 0, count: outputs * inputs)
        func half(_ value: Float) -> (UInt8, UInt8, Float) {
            let h = Float16(value)
            return (UInt8(h.bitPattern & 0xFF), UInt8(h.bitPattern >> 8), Float(h))
        }
        for o in 0..<outputs {
            let row = o * rowBytes
            if type == OTK_F32 {
                for i in 0..<inputs {
                    let v = random.nextUnitFloat() * 2 - 1
                    withUnsafeBytes(of: v.bitPattern.littleEndian) {
                        for (j, byte) in $0.enumerated() { bytes[row + 4 * i + j] = byte }
                    }
                    values[o * inputs + i] = v
                }
                continue
            }
            for block in 0..<(inputs / 32) {
                let base = row + block * blockBytes
                let (d0, d1, d) = half((random.nextUnitFloat() * 2 - 1) * 0.1)
                bytes[base] = d0
                bytes[base + 1] = d1
                let out = o * inputs + block * 32
                switch type {
                case OTK_Q8_0:
                    for j in 0..<32 {
                        let q = UInt8.random(in: 0...255, using: &random)
                        bytes[base + 2 + j] = q
                        values[out + j] = d * Float(Int8(bitPattern: q))
                    }
                case OTK_Q4_0:
                    for j in 0..<16 {
                        let q = UInt8.random(in: 0...255, using: &random)
                        bytes[base + 2 + j] = q
                        values[out + j] = Float(Int(q & 0x0F) - 8) * d
                        values[out + j + 16] = Float(Int(q >> 4) - 8) * d
                    }
                default:
                    let (m0, m1, minimum) = half((random.nextUnitFloat() * 2 - 1) * 0.5)
                    bytes[base + 2] = m0
                    bytes[base + 3] = m1
                    for j in 0..<16 {
                        let q = UInt8.random(in: 0...255, using: &random)
                        bytes[base + 4 + j] = q
                        values[out + j] = Float(q & 0x0F) * d + minimum
                        values[out + j + 16] = Float(q >> 4) * d + minimum
                    }
                }
            }
        }
        self.bytes = bytes
        self.values = values
    }

    func at(_ o: Int, _ i: Int) -> Double { Double(values[o * inputs + i]) }
}

private func checkForward(
    _ weight: TestWeight, count: Int, accumulate: Bool, portable: Bool, _ random: inout SeededRandom
) {
    let o0 = weight.outputs > 2 ? Int.random(in: 0..<(weight.outputs / 3), using: &random) : 0
    let o1 = weight.outputs
    let width = o1 - o0
    let x = paddedMatrix(rows: count, columns: weight.inputs, pad: 3, &random)
    let start = outputMatrix(rows: count, columns: width, pad: 4, &random)
    var exact = [Double](repeating: 0, count: count * width)
    var scale = exact
    for t in 0..<count {
        for o in o0..<o1 {
            let c0 = accumulate ? Double(start.values[t * start.stride + o - o0]) : 0
            var (sum, magnitude) = (c0, abs(c0))
            for i in 0..<weight.inputs {
                let term = Double(x.values[t * x.stride + i]) * weight.at(o, i)
                sum += term
                magnitude += abs(term)
            }
            exact[t * width + o - o0] = sum
            scale[t * width + o - o0] = magnitude
        }
    }
    var scratch = [Float](repeating: .nan, count: otk_weight_scratch_floats(Int32(weight.inputs)))
    func run(_ y: inout [Float], _ from: Int, _ to: Int) {
        weight.bytes.withUnsafeBytes { w in
            y.withUnsafeMutableBufferPointer { yv in
                otk_weight_forward(
                    weight.type, w.baseAddress, weight.rowBytes, Int32(weight.inputs), Int32(from), Int32(to),
                    x.values, x.stride, Int32(count), yv.baseAddress! + (from - o0), start.stride,
                    accumulate ? 1 : 0, &scratch)
            }
        }
    }
    otk_use_portable_on_this_thread(portable ? 1 : 0)
    defer { otk_use_portable_on_this_thread(0) }
    var whole = start.values
    run(&whole, o0, o1)
    expectClose(whole, stride: start.stride, rows: count, columns: width, exact: exact, scale: scale)
    if width > 1 {
        var split = start.values
        let cut = Int.random(in: (o0 + 1)..<o1, using: &random)
        run(&split, o0, cut)
        run(&split, cut, o1)
        #expect(split.map(\.bitPattern) == whole.map(\.bitPattern), "forward split at \(cut) differs")
    }
}

private func checkBackward(
    _ weight: TestWeight, count: Int, accumulate: Bool, portable: Bool, _ random: inout SeededRandom
) {
    let blocks = weight.inputs / 32
    let i0 = blocks > 1 ? 32 * Int.random(in: 0..<blocks, using: &random) : 0
    let i1 = weight.inputs
    let width = i1 - i0
    let dy = paddedMatrix(rows: count, columns: weight.outputs, pad: 1, &random)
    let start = outputMatrix(rows: count, columns: width, pad: 3, &random)
    var exact = [Double](repeating: 0, count: count * width)
    var scale = exact
    for t in 0..<count {
        for i in i0..<i1 {
            let c0 = accumulate ? Double(start.values[t * start.stride + i - i0]) : 0
            var (sum, magnitude) = (c0, abs(c0))
            for o in 0..<weight.outputs {
                let term = Double(dy.values[t * dy.stride + o]) * weight.at(o, i)
                sum += term
                magnitude += abs(term)
            }
            exact[t * width + i - i0] = sum
            scale[t * width + i - i0] = magnitude
        }
    }
    var scratch = [Float](repeating: .nan, count: otk_weight_scratch_floats(Int32(weight.inputs)))
    func run(_ dx: inout [Float], _ from: Int, _ to: Int) {
        weight.bytes.withUnsafeBytes { w in
            dx.withUnsafeMutableBufferPointer { dxv in
                otk_weight_backward(
                    weight.type, w.baseAddress, weight.rowBytes, Int32(weight.inputs), Int32(weight.outputs),
                    Int32(from), Int32(to), dy.values, dy.stride, Int32(count), dxv.baseAddress! + (from - i0),
                    start.stride, accumulate ? 1 : 0, &scratch)
            }
        }
    }
    otk_use_portable_on_this_thread(portable ? 1 : 0)
    defer { otk_use_portable_on_this_thread(0) }
    var whole = start.values
    run(&whole, i0, i1)
    expectClose(whole, stride: start.stride, rows: count, columns: width, exact: exact, scale: scale)
    if width > 32 {
        var split = start.values
        let cut = i0 + 32 * Int.random(in: 1...((width - 1) / 32), using: &random)
        run(&split, i0, cut)
        run(&split, cut, i1)
        #expect(split.map(\.bitPattern) == whole.map(\.bitPattern), "backward split at \(cut) differs")
    }
}
