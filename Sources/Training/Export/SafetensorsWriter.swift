import FileIO
import Foundation

/// Builds a safetensors file: an 8-byte little-endian header length, a JSON header (each tensor's dtype, shape and
/// byte range; `__metadata__` strings), padded with spaces to a multiple of 8, then the tensors' bytes.
///
/// The header's keys are sorted and the data lies in the order the tensors were added, so the same tensors give the
/// same bytes. F32 and F16 only.
public struct SafetensorsWriter: Sendable {
    /// The element type of a tensor.
    public enum DType: String, Sendable, CaseIterable {
        /// 32-bit floats.
        case f32 = "F32"
        /// 16-bit floats, rounded to nearest even.
        case f16 = "F16"
    }

    /// The header's name for the metadata object, which no tensor may take.
    public static let metadataName = "__metadata__"

    private var metadata: [String: String] = [:]
    private var tensors: [(name: String, shape: [Int], dtype: DType, data: [UInt8])] = []

    /// An empty file with the given `__metadata__` strings.
    public init(metadata: [String: String] = [:]) { self.metadata = metadata }

    /// The tensor names, in the order their data is written.
    public var tensorNames: [String] { tensors.map(\.name) }

    /// Adds a tensor of `shape` (row-major, outermost first) holding `values`, stored as `dtype`.
    public mutating func add(_ name: String, shape: [Int], values: [Float], dtype: DType = .f32) throws(TrainingError) {
        guard !name.isEmpty, name != Self.metadataName else { throw .tensorShape(name, "is not a tensor name") }
        guard !tensors.contains(where: { $0.name == name }) else { throw .tensorShape(name, "is given twice") }
        guard shape.count <= 8, shape.allSatisfy({ $0 >= 0 && $0 <= 1 << 40 }) else {
            throw .tensorShape(name, "shape \(shape)")
        }
        guard elementCount(shape) == values.count else {
            throw .tensorShape(name, "shape \(shape) for \(values.count) values")
        }
        var data: [UInt8]
        switch dtype {
        case .f32:
            guard values.allSatisfy(\.isFinite) else { throw .nonFiniteValue(name) }
            data = values.map { $0.bitPattern.littleEndian }.withUnsafeBytes { Array($0) }
        case .f16:
            let halves = values.map { Float16($0) }
            guard halves.allSatisfy(\.isFinite) else { throw .nonFiniteValue(name) }
            data = halves.map { $0.bitPattern.littleEndian }.withUnsafeBytes { Array($0) }
        }
        tensors.append((name, shape, dtype, data))
    }

    /// The file's bytes.
    public func bytes() throws(TrainingError) -> [UInt8] {
        var header: [String: Any] = [:]
        if !metadata.isEmpty { header[Self.metadataName] = metadata }
        var offset = 0
        for tensor in tensors {
            header[tensor.name] = [
                "dtype": tensor.dtype.rawValue, "shape": tensor.shape,
                "data_offsets": [offset, offset + tensor.data.count],
            ]
            offset += tensor.data.count
        }
        guard let json = try? JSONSerialization.data(withJSONObject: header, options: [.sortedKeys]) else {
            throw .metadataKey(Self.metadataName, "cannot be encoded as JSON")
        }
        var text = [UInt8](json)
        text.append(contentsOf: repeatElement(UInt8(ascii: " "), count: (8 - text.count % 8) % 8))
        var out: [UInt8] = []
        out.reserveCapacity(8 + text.count + offset)
        withUnsafeBytes(of: UInt64(text.count).littleEndian) { out.append(contentsOf: $0) }
        out.append(contentsOf: text)
        for tensor in tensors { out.append(contentsOf: tensor.data) }
        return out
    }

    /// Writes the file to `path` atomically.
    public func write(to path: String) throws(TrainingError) {
        let contents = try bytes()
        do {
            try AtomicFile.write(contents, to: path)
        } catch {
            throw .fileWrite(error)
        }
    }
}

/// The values a tensor of `shape` holds, or nil when the product overflows.
func elementCount(_ shape: [Int]) -> Int? {
    var count = 1
    for extent in shape {
        let (product, overflow) = count.multipliedReportingOverflow(by: extent)
        if overflow { return nil }
        count = product
    }
    return count
}
