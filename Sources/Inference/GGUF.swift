import FileIO
import Foundation

#if canImport(Glibc)
    import Glibc
#endif

/// Why a model file cannot be used.
public enum ModelError: Error, Equatable, Sendable, CustomStringConvertible {
    case io(String)
    case malformed(String)
    case unsupported(String)

    /// The message a user sees.
    public var description: String {
        switch self {
        case .io(let why): "model: \(why)"
        case .malformed(let why): "model file is malformed: \(why)"
        case .unsupported(let why): "model is not supported: \(why)"
        }
    }
}

/// The tensor element types of ggml this engine reads (the quantized ones keep ggml's names).
public enum GGMLType: UInt32, Sendable, CustomStringConvertible {
    /// 32-bit floats.
    case f32 = 0
    /// 16-bit floats.
    case f16 = 1
    /// Blocks of 32 4-bit values with one f16 scale.
    // swift-format-ignore: AlwaysUseLowerCamelCase
    case q4_0 = 2
    /// Blocks of 32 4-bit values with an f16 scale and minimum.
    // swift-format-ignore: AlwaysUseLowerCamelCase
    case q4_1 = 3
    /// Blocks of 32 8-bit values with one f16 scale.
    // swift-format-ignore: AlwaysUseLowerCamelCase
    case q8_0 = 8
    /// 16-bit brain floats (the upper half of an f32).
    case bf16 = 30

    /// Elements per block.
    public var blockSize: Int { self == .f32 || self == .f16 || self == .bf16 ? 1 : 32 }
    /// Bytes per block.
    public var blockBytes: Int {
        switch self {
        case .f32: 4
        case .f16, .bf16: 2
        case .q4_0: 18
        case .q4_1: 20
        case .q8_0: 34
        }
    }

    /// ggml's name of the type.
    public var description: String {
        switch self {
        case .f32: "F32"
        case .f16: "F16"
        case .bf16: "BF16"
        case .q4_0: "Q4_0"
        case .q4_1: "Q4_1"
        case .q8_0: "Q8_0"
        }
    }
}

/// A metadata value of a GGUF file.
public enum GGUFValue: Equatable, Sendable {
    case uint(UInt64)
    case int(Int64)
    case float(Double)
    case bool(Bool)
    case string(String)
    case array([GGUFValue])

    /// The value as an integer, if it is one that fits.
    public var int: Int? {
        switch self {
        case .uint(let value): value <= UInt64(Int.max) ? Int(value) : nil
        case .int(let value): Int(value)
        default: nil
        }
    }

    /// The value as a floating-point number, if it is a number.
    public var double: Double? {
        switch self {
        case .float(let value): value
        case .uint(let value): Double(value)
        case .int(let value): Double(value)
        default: nil
        }
    }

    /// The value, if it is a string.
    public var string: String? {
        if case .string(let value) = self { return value }
        return nil
    }

    /// The value, if it is a boolean.
    public var bool: Bool? {
        if case .bool(let value) = self { return value }
        return nil
    }

    /// The elements, if the value is an array.
    public var array: [GGUFValue]? {
        if case .array(let value) = self { return value }
        return nil
    }
}

/// One tensor of a GGUF file: its shape (ggml order: ne[0] is the contiguous dimension), type and bytes.
public struct GGUFTensor: Sendable {
    /// The tensor's name, such as `blk.0.attn_q.weight`.
    public let name: String
    /// Extents, contiguous dimension first.
    public let shape: [Int]
    /// The element type.
    public let type: GGMLType
    /// Byte offset of the data from the start of the file, and its length.
    public let offset: Int
    /// The data's length in bytes.
    public let byteCount: Int

    /// Elements in the tensor.
    public var elementCount: Int { shape.reduce(1, *) }
}

/// A GGUF (v2 or v3) model file, memory-mapped read-only: metadata, tensor infos and the aligned tensor data.
///
/// Every count, length and offset is checked against the file before use, so a truncated or corrupted file gives a
/// clear error instead of a crash.
public final class GGUFFile: @unchecked Sendable {
    /// The path the file was opened from.
    public let path: String
    /// The GGUF version (2 or 3).
    public let version: UInt32
    /// The metadata, by key.
    public let metadata: [String: GGUFValue]
    /// The tensor infos, by name.
    public let tensors: [String: GGUFTensor]
    /// Tensor names in file order.
    public let tensorOrder: [String]
    /// The alignment of the tensor data, in bytes.
    public let alignment: Int
    /// The mapped file, which the tensors' bytes point into.
    public let mapping: MappedFile
    /// The first byte of the mapping (valid as long as this file is).
    public var base: UnsafeRawPointer { mapping.base }
    /// The file's size in bytes.
    public var size: Int { mapping.count }

    static let maxTensors = 1 << 16
    static let maxMetadata = 1 << 16
    static let maxArray = 1 << 24
    static let maxString = 1 << 24

    /// Maps and checks the file at `path`.
    public init(path: String) throws(ModelError) {
        self.path = path
        do {
            mapping = try MappedFile(path: path)
        } catch {
            throw Self.modelError(error)
        }
        let size = mapping.count
        guard size >= 24 else { throw .malformed("\(path) has \(size) bytes, too short for a GGUF header") }
        let base = mapping.base
        do {
            var reader = Reader(base: base, size: size)
            guard try reader.u32() == 0x4655_4747 else { throw ModelError.malformed("not a GGUF file (bad magic)") }
            version = try reader.u32()
            guard version == 2 || version == 3 else { throw ModelError.unsupported("GGUF version \(version)") }
            let tensorCount = try reader.u64()
            let metadataCount = try reader.u64()
            guard tensorCount <= UInt64(Self.maxTensors) else {
                throw ModelError.malformed("\(tensorCount) tensors")
            }
            guard metadataCount <= UInt64(Self.maxMetadata) else {
                throw ModelError.malformed("\(metadataCount) metadata entries")
            }
            var metadata: [String: GGUFValue] = [:]
            for _ in 0..<metadataCount {
                let key = try reader.string()
                let type = try reader.u32()
                metadata[key] = try reader.value(type: type, depth: 0)
            }
            let alignment = metadata["general.alignment"]?.int ?? 32
            guard alignment > 0, alignment & (alignment - 1) == 0, alignment <= 1 << 16 else {
                throw ModelError.malformed("alignment \(alignment)")
            }
            var infos: [(String, [Int], UInt32, UInt64)] = []
            for _ in 0..<tensorCount {
                let name = try reader.string()
                let dimensions = try reader.u32()
                guard (1...4).contains(dimensions) else {
                    throw ModelError.malformed("tensor \(name) has \(dimensions) dimensions")
                }
                var shape: [Int] = []
                for _ in 0..<dimensions {
                    let extent = try reader.u64()
                    guard extent >= 1, extent <= 1 << 32 else {
                        throw ModelError.malformed("tensor \(name) has extent \(extent)")
                    }
                    shape.append(Int(extent))
                }
                infos.append((name, shape, try reader.u32(), try reader.u64()))
            }
            let dataStart = (reader.position + alignment - 1) / alignment * alignment
            var tensors: [String: GGUFTensor] = [:]
            var order: [String] = []
            for (name, shape, rawType, relative) in infos {
                guard let type = GGMLType(rawValue: rawType) else {
                    throw ModelError.unsupported("tensor \(name) has ggml type \(rawType)")
                }
                let (elements, overflow) = shape.reduce((1, false)) { partial, extent in
                    let (product, flag) = partial.0.multipliedReportingOverflow(by: extent)
                    return (product, partial.1 || flag)
                }
                guard !overflow, elements <= 1 << 40 else { throw ModelError.malformed("tensor \(name) is too large") }
                guard shape[0] % type.blockSize == 0 else {
                    throw ModelError.malformed("tensor \(name): row of \(shape[0]) is not whole \(type) blocks")
                }
                let bytes = elements / type.blockSize * type.blockBytes
                guard relative % UInt64(alignment) == 0, relative <= UInt64(size),
                    dataStart + Int(relative) + bytes <= size
                else {
                    throw ModelError.malformed("tensor \(name) lies outside the file (truncated?)")
                }
                guard tensors[name] == nil else { throw ModelError.malformed("tensor \(name) appears twice") }
                tensors[name] = GGUFTensor(
                    name: name, shape: shape, type: type, offset: dataStart + Int(relative), byteCount: bytes)
                order.append(name)
            }
            self.metadata = metadata
            self.alignment = alignment
            self.tensors = tensors
            tensorOrder = order
        } catch let error as ModelError {
            throw error
        } catch {
            throw .malformed("\(error)")
        }
    }

    /// The model error for a file that cannot be mapped, worded as before the mapping moved to `FileIO`.
    static func modelError(_ error: FileIOError) -> ModelError {
        switch error {
        case .open(let path, let code): .io("cannot open \(path): \(String(cString: strerror(code)))")
        case .notRegularFile(let path): .io("\(path) is not a regular file")
        case .read(let path, let code): .io("cannot map \(path): \(String(cString: strerror(code)))")
        case .write(let path, _), .rename(let path, _): .io("cannot read \(path)")
        }
    }

    /// The bytes of a tensor, valid as long as the file is.
    public func data(_ tensor: GGUFTensor) -> UnsafeRawPointer { base + tensor.offset }

    /// A tensor by name, with the shape it must have.
    public func tensor(_ name: String, shape: [Int]? = nil) throws(ModelError) -> GGUFTensor {
        guard let tensor = tensors[name] else { throw .malformed("missing tensor \(name)") }
        if let shape, tensor.shape != shape {
            throw .malformed("tensor \(name) has shape \(tensor.shape), expected \(shape)")
        }
        return tensor
    }

    /// Bounds-checked little-endian reads from the mapping.
    struct Reader {
        let base: UnsafeRawPointer
        let size: Int
        var position = 0

        mutating func take(_ count: Int) throws(ModelError) -> UnsafeRawPointer {
            guard count >= 0, count <= size - position else {
                throw .malformed("truncated at byte \(position) (needed \(count) more)")
            }
            defer { position += count }
            return base + position
        }

        mutating func u8() throws(ModelError) -> UInt8 { try take(1).load(as: UInt8.self) }
        mutating func u16() throws(ModelError) -> UInt16 {
            UInt16(littleEndian: try take(2).loadUnaligned(as: UInt16.self))
        }
        mutating func u32() throws(ModelError) -> UInt32 {
            UInt32(littleEndian: try take(4).loadUnaligned(as: UInt32.self))
        }
        mutating func u64() throws(ModelError) -> UInt64 {
            UInt64(littleEndian: try take(8).loadUnaligned(as: UInt64.self))
        }

        mutating func string() throws(ModelError) -> String {
            let length = try u64()
            guard length <= UInt64(GGUFFile.maxString) else { throw .malformed("string of \(length) bytes") }
            let bytes = UnsafeRawBufferPointer(start: try take(Int(length)), count: Int(length))
            return String(decoding: bytes, as: UTF8.self)
        }

        mutating func value(type: UInt32, depth: Int) throws(ModelError) -> GGUFValue {
            switch type {
            case 0: return .uint(UInt64(try u8()))
            case 1: return .int(Int64(Int8(bitPattern: try u8())))
            case 2: return .uint(UInt64(try u16()))
            case 3: return .int(Int64(Int16(bitPattern: try u16())))
            case 4: return .uint(UInt64(try u32()))
            case 5: return .int(Int64(Int32(bitPattern: try u32())))
            case 6: return .float(Double(Float(bitPattern: try u32())))
            case 7:
                let byte = try u8()
                guard byte <= 1 else { throw .malformed("bool of value \(byte)") }
                return .bool(byte == 1)
            case 8: return .string(try string())
            case 9:
                guard depth < 2 else { throw .malformed("arrays nested too deep") }
                let elementType = try u32()
                let count = try u64()
                guard count <= UInt64(GGUFFile.maxArray), count <= UInt64(size - position) else {
                    throw .malformed("array of \(count) elements")
                }
                var values: [GGUFValue] = []
                values.reserveCapacity(Int(count))
                for _ in 0..<count { values.append(try value(type: elementType, depth: depth + 1)) }
                return .array(values)
            case 10: return .uint(try u64())
            case 11: return .int(Int64(bitPattern: try u64()))
            case 12: return .float(Double(bitPattern: try u64()))
            default: throw .malformed("metadata value type \(type)")
            }
        }
    }
}
