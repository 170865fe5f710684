/// Block formats read from Swift: f16 scalars and whole rows as floats (embeddings, norms).
///
/// The dot products live in the C target CInferenceKernels.
enum Kernels {
    @inline(__always) static func half(_ pointer: UnsafeRawPointer, _ offset: Int) -> Float {
        Float(Float16(bitPattern: pointer.loadUnaligned(fromByteOffset: offset, as: UInt16.self)))
    }

    /// A whole row of any supported type as floats (embeddings, norms, tests).
    static func dequantizeRow(
        _ row: UnsafeRawPointer, type: GGMLType, count: Int, into out: UnsafeMutablePointer<Float>
    ) {
        switch type {
        case .f32:
            UnsafeMutableRawPointer(out).copyMemory(from: row, byteCount: 4 * count)
        case .f16:
            for i in 0..<count { out[i] = half(row, 2 * i) }
        case .bf16:
            for i in 0..<count {
                let bits = UInt32(row.loadUnaligned(fromByteOffset: 2 * i, as: UInt16.self).littleEndian) << 16
                out[i] = Float(bitPattern: bits)
            }
        case .q8_0:
            for block in 0..<(count / 32) {
                let d = half(row, block * 34)
                for j in 0..<32 {
                    out[block * 32 + j] = d * Float(row.load(fromByteOffset: block * 34 + 2 + j, as: Int8.self))
                }
            }
        case .q4_0:
            for block in 0..<(count / 32) {
                let d = half(row, block * 18)
                for j in 0..<16 {
                    let byte = row.load(fromByteOffset: block * 18 + 2 + j, as: UInt8.self)
                    out[block * 32 + j] = Float(Int(byte & 0x0F) - 8) * d
                    out[block * 32 + j + 16] = Float(Int(byte >> 4) - 8) * d
                }
            }
        case .q4_1:
            for block in 0..<(count / 32) {
                let d = half(row, block * 20)
                let m = half(row, block * 20 + 2)
                for j in 0..<16 {
                    let byte = row.load(fromByteOffset: block * 20 + 4 + j, as: UInt8.self)
                    out[block * 32 + j] = Float(byte & 0x0F) * d + m
                    out[block * 32 + j + 16] = Float(byte >> 4) * d + m
                }
            }
        }
    }
}
