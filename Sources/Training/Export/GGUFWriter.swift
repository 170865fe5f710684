import FileIO

/// Builds a GGUF v3 file: metadata key-value pairs, tensor infos, and F32 or F16 tensor data aligned to 32 bytes.
///
/// Only what an adapter needs: scalar strings, u32, f32 and bools, and arrays of strings and of u32. Every input is
/// checked as it is added (names, shapes, value counts, finite values), so `bytes()` cannot fail. The file is
/// little-endian, as ggml reads it; no `general.alignment` key is written, so readers use the default of 32.
public struct GGUFWriter: Sendable {
    /// A metadata value of one of the GGUF types this writer emits.
    public enum Value: Sendable, Equatable {
        /// A UTF-8 string (GGUF type 8).
        case string(String)
        /// An unsigned 32-bit integer (type 4).
        case uint32(UInt32)
        /// A 32-bit float (type 6), the type llama.cpp requires for `adapter.lora.alpha`.
        case float32(Float)
        /// A boolean (type 7).
        case bool(Bool)
        /// An array of strings (type 9 of type 8).
        case strings([String])
        /// An array of unsigned 32-bit integers (type 9 of type 4).
        case uint32s([UInt32])
    }

    /// The storage type of a tensor.
    public enum TensorType: UInt32, Sendable, CaseIterable {
        /// 32-bit floats (ggml type 0).
        case f32 = 0
        /// 16-bit floats, rounded to nearest even (ggml type 1).
        case f16 = 1

        /// Bytes per value.
        public var size: Int { self == .f32 ? 4 : 2 }
    }

    /// The alignment of the tensor data and of each tensor in it (GGUF's default).
    public static let alignment = 32
    /// The longest tensor name ggml accepts, in UTF-8 bytes (`GGML_MAX_NAME` is 64 with the terminating zero).
    public static let maxNameBytes = 63
    /// The most dimensions ggml gives a tensor.
    public static let maxDimensions = 4

    private var metadata: [(key: String, value: Value)] = []
    private var tensors: [(name: String, shape: [Int], type: TensorType, data: [UInt8])] = []

    /// An empty file: no metadata, no tensors.
    public init() {}

    /// The metadata keys, in the order they are written.
    public var keys: [String] { metadata.map(\.key) }

    /// The tensor names, in the order they are written.
    public var tensorNames: [String] { tensors.map(\.name) }

    /// Adds a metadata entry; a key may be given once.
    public mutating func set(_ key: String, _ value: Value) throws(TrainingError) {
        guard !key.isEmpty else { throw .metadataKey(key, "is empty") }
        guard !metadata.contains(where: { $0.key == key }) else { throw .metadataKey(key, "is given twice") }
        metadata.append((key, value))
    }

    /// Adds a tensor of `shape` (ggml order: the contiguous extent first) holding `values`, stored as `type`.
    ///
    /// The values are in memory order, so a row-major matrix of `rows` × `columns` has shape `[columns, rows]`.
    public mutating func addTensor(_ name: String, shape: [Int], values: [Float], type: TensorType = .f32)
        throws(TrainingError)
    {
        guard !name.isEmpty, name.utf8.count <= Self.maxNameBytes else {
            throw .tensorShape(name, "a name of \(name.utf8.count) bytes (1 to \(Self.maxNameBytes) allowed)")
        }
        guard !tensors.contains(where: { $0.name == name }) else { throw .tensorShape(name, "is given twice") }
        guard (1...Self.maxDimensions).contains(shape.count), shape.allSatisfy({ $0 >= 1 && $0 <= 1 << 32 }) else {
            throw .tensorShape(name, "shape \(shape)")
        }
        guard elementCount(shape) == values.count else {
            throw .tensorShape(name, "shape \(shape) for \(values.count) values")
        }
        var data: [UInt8] = []
        switch type {
        case .f32:
            guard values.allSatisfy(\.isFinite) else { throw .nonFiniteValue(name) }
            let words = values.map { $0.bitPattern.littleEndian }
            data = words.withUnsafeBytes { Array($0) }
        case .f16:
            let halves = values.map { Float16($0) }
            guard halves.allSatisfy(\.isFinite) else { throw .nonFiniteValue(name) }
            let words = halves.map { $0.bitPattern.littleEndian }
            data = words.withUnsafeBytes { Array($0) }
        }
        tensors.append((name, shape, type, data))
    }

    /// The file's bytes: header, metadata, tensor infos, padding, then each tensor padded to the alignment.
    public func bytes() -> [UInt8] {
        var out: [UInt8] = []
        out.reserveCapacity(tensors.reduce(4096) { $0 + $1.data.count + Self.alignment })
        func u32(_ value: UInt32) { withUnsafeBytes(of: value.littleEndian) { out.append(contentsOf: $0) } }
        func u64(_ value: UInt64) { withUnsafeBytes(of: value.littleEndian) { out.append(contentsOf: $0) } }
        func string(_ text: String) {
            u64(UInt64(text.utf8.count))
            out.append(contentsOf: text.utf8)
        }
        func pad() { out.append(contentsOf: repeatElement(0, count: Self.padding(out.count))) }
        u32(0x4655_4747)  // "GGUF"
        u32(3)
        u64(UInt64(tensors.count))
        u64(UInt64(metadata.count))
        for (key, value) in metadata {
            string(key)
            switch value {
            case .string(let text):
                u32(8)
                string(text)
            case .uint32(let number):
                u32(4)
                u32(number)
            case .float32(let number):
                u32(6)
                u32(number.bitPattern)
            case .bool(let flag):
                u32(7)
                out.append(flag ? 1 : 0)
            case .strings(let texts):
                u32(9)
                u32(8)
                u64(UInt64(texts.count))
                for text in texts { string(text) }
            case .uint32s(let numbers):
                u32(9)
                u32(4)
                u64(UInt64(numbers.count))
                for number in numbers { u32(number) }
            }
        }
        var offset = 0
        for tensor in tensors {
            string(tensor.name)
            u32(UInt32(tensor.shape.count))
            for extent in tensor.shape { u64(UInt64(extent)) }
            u32(tensor.type.rawValue)
            u64(UInt64(offset))
            offset += tensor.data.count + Self.padding(tensor.data.count)
        }
        pad()
        for tensor in tensors {
            out.append(contentsOf: tensor.data)
            pad()
        }
        return out
    }

    /// Writes the file to `path` atomically (the old file, or none, until the new one is whole).
    public func write(to path: String) throws(TrainingError) {
        do {
            try AtomicFile.write(bytes(), to: path)
        } catch {
            throw .fileWrite(error)
        }
    }

    /// Zero bytes that bring `count` to a multiple of the alignment.
    static func padding(_ count: Int) -> Int { (alignment - count % alignment) % alignment }
}
