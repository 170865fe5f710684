import FileIO
import Foundation

/// One tensor of a safetensors file: its dtype, shape (row-major, outermost first) and where its bytes lie.
public struct SafetensorsTensor: Sendable, Equatable {
    /// The tensor's name.
    public let name: String
    /// The dtype as the file spells it (`F32`, `F16`, `BF16`, …).
    public let dtype: String
    /// Extents, outermost first (numpy order).
    public let shape: [Int]
    /// Byte offset of the data from the start of the file.
    public let offset: Int
    /// The data's length in bytes.
    public let byteCount: Int
}

/// A safetensors file, memory-mapped read-only: the JSON header's tensor table, each entry checked against the
/// file (dtype size × shape equals the byte range, which lies inside the data section) before use.
public final class SafetensorsFile: @unchecked Sendable {
    /// The path the file was opened from.
    public let path: String
    /// The tensors, by name.
    public let tensors: [String: SafetensorsTensor]
    /// The header's `__metadata__` strings.
    public let metadata: [String: String]
    /// The mapping the tensors' bytes lie in.
    public let mapping: MappedFile

    /// Bytes per element of the dtypes this reader knows.
    public static let dtypeSizes: [String: Int] = [
        "F64": 8, "F32": 4, "F16": 2, "BF16": 2, "I64": 8, "I32": 4, "I16": 2, "I8": 1, "U8": 1, "BOOL": 1,
    ]
    static let maxHeader = 100 << 20

    /// Maps and checks the file at `path`.
    public init(path: String) throws(LoRAError) {
        self.path = path
        do {
            mapping = try MappedFile(path: path)
        } catch {
            throw .io(path, "\(error)")
        }
        let size = mapping.count
        guard size >= 8 else { throw .malformed(path, "\(size) bytes, too short for a safetensors header") }
        let headerLength = UInt64(littleEndian: mapping.base.loadUnaligned(as: UInt64.self))
        guard headerLength >= 2, headerLength <= UInt64(min(Self.maxHeader, size - 8)) else {
            throw .malformed(path, "header of \(headerLength) bytes in a file of \(size)")
        }
        let header = Data(bytes: mapping.base + 8, count: Int(headerLength))
        guard let object = try? JSONSerialization.jsonObject(with: header), let table = object as? [String: Any] else {
            throw .malformed(path, "the header is not a JSON object")
        }
        let dataStart = 8 + Int(headerLength)
        let dataLength = size - dataStart
        var tensors: [String: SafetensorsTensor] = [:]
        var metadata: [String: String] = [:]
        for (name, value) in table {
            if name == "__metadata__" {
                guard let entries = value as? [String: Any] else {
                    throw .malformed(path, "__metadata__ is not an object")
                }
                for (key, item) in entries {
                    guard let text = item as? String else {
                        throw .malformed(path, "__metadata__ \(key) is not a string")
                    }
                    metadata[key] = text
                }
                continue
            }
            guard let entry = value as? [String: Any], let dtype = entry["dtype"] as? String,
                let rawShape = entry["shape"] as? [Any], let rawOffsets = entry["data_offsets"] as? [Any],
                rawOffsets.count == 2
            else {
                throw .tensor(path, name, "entry lacks dtype, shape or data_offsets")
            }
            guard let elementSize = Self.dtypeSizes[dtype] else { throw .tensor(path, name, "dtype \(dtype)") }
            guard rawShape.count <= 8 else { throw .tensor(path, name, "\(rawShape.count) dimensions") }
            var shape: [Int] = []
            var elements = 1
            for extent in rawShape {
                guard let number = extent as? NSNumber, let value = Self.exactInt(number), value >= 0,
                    value <= 1 << 40
                else {
                    throw .tensor(path, name, "shape \(rawShape)")
                }
                let (product, overflow) = elements.multipliedReportingOverflow(by: value)
                guard !overflow, product <= 1 << 40 else { throw .tensor(path, name, "is too large") }
                elements = product
                shape.append(value)
            }
            guard let beginNumber = rawOffsets[0] as? NSNumber, let endNumber = rawOffsets[1] as? NSNumber,
                let begin = Self.exactInt(beginNumber), let end = Self.exactInt(endNumber), begin >= 0, begin <= end,
                end <= dataLength
            else {
                throw .tensor(
                    path, name, "data_offsets \(rawOffsets) outside the \(dataLength) data bytes (truncated?)")
            }
            guard end - begin == elements * elementSize else {
                throw .tensor(path, name, "\(end - begin) bytes for \(elements) \(dtype) values")
            }
            tensors[name] = SafetensorsTensor(
                name: name, dtype: dtype, shape: shape, offset: dataStart + begin, byteCount: end - begin)
        }
        self.tensors = tensors
        self.metadata = metadata
    }

    /// The bytes of a tensor, valid as long as the file is.
    public func data(_ tensor: SafetensorsTensor) -> UnsafeRawPointer { mapping.base + tensor.offset }

    /// An integer JSON number (not a fraction), if it fits; every range is still checked against the file.
    static func exactInt(_ number: NSNumber) -> Int? {
        let double = number.doubleValue
        guard double.isFinite, double == double.rounded(), abs(double) <= 9e15 else { return nil }
        return Int(double)
    }
}
