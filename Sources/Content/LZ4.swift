import CLZ4

/// liblz4's block format behind two calls; the unsafe pointers of the C API stay in this file.
enum LZ4 {
    /// The LZ4 block of `input`, or nil when it would not be shorter than `limit` bytes.
    static func compress(_ input: UnsafeRawBufferPointer, limit: Int) -> [UInt8]? {
        guard limit > 0, input.count <= Int(LZ4_MAX_INPUT_SIZE) else { return nil }
        var written = 0
        let output = [UInt8](unsafeUninitializedCapacity: limit) { buffer, count in
            written = Int(
                LZ4_compress_default(
                    input.baseAddress!.assumingMemoryBound(to: CChar.self),
                    UnsafeMutableRawPointer(buffer.baseAddress!).assumingMemoryBound(to: CChar.self),
                    Int32(input.count), Int32(limit)))
            count = max(written, 0)
        }
        return written > 0 ? output : nil
    }

    /// The `size` bytes an LZ4 block decompresses to, or nil when it is malformed or of another size.
    static func decompress(_ input: UnsafeRawBufferPointer, size: Int) -> [UInt8]? {
        guard size > 0, !input.isEmpty, input.count <= Int(Int32.max) else { return size == 0 ? [] : nil }
        var produced = -1
        let output = [UInt8](unsafeUninitializedCapacity: size) { buffer, count in
            produced = Int(
                LZ4_decompress_safe(
                    input.baseAddress!.assumingMemoryBound(to: CChar.self),
                    UnsafeMutableRawPointer(buffer.baseAddress!).assumingMemoryBound(to: CChar.self),
                    Int32(input.count), Int32(size)))
            count = produced == size ? size : 0
        }
        return produced == size ? output : nil
    }
}
