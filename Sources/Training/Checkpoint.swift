import Crypto
import FileIO
import Foundation
import Inference

/// One step's entry in the training log: a leaf of the log's Merkle tree.
public struct TrainingLogEntry: Sendable, Equatable, Codable {
    /// The step, from 1.
    public var step: Int
    /// The mean training loss of the step's batch.
    public var loss: Double
    /// The learning rate the step used.
    public var learningRate: Double
    /// The gradient norm before clipping.
    public var gradientNorm: Double
    /// The validation loss, when the step ended with a checkpoint.
    public var validationLoss: Double?
    /// SHA-256 of the checkpoint's adapter and optimizer state, when the step ended with one (hex).
    public var checkpoint: String?

    /// The leaf's bytes: the entry's canonical JSON (sorted keys).
    public var leafBytes: [UInt8] {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        return Array((try? encoder.encode(self)) ?? Data())
    }
}

/// The training log's Merkle tree: keccak256 leaves of 0x00 ‖ entry, nodes of 0x01 ‖ left ‖ right, an odd node
/// carried up unchanged.
public enum TrainingLogTree {
    /// The leaf hash of `entry`.
    public static func leaf(_ entry: TrainingLogEntry) -> [UInt8] { Keccak256.hash([0] + entry.leafBytes) }

    /// The root over `entries` (32 zero bytes when empty).
    public static func root(_ entries: [TrainingLogEntry]) -> [UInt8] {
        var level = entries.map(leaf)
        guard !level.isEmpty else { return [UInt8](repeating: 0, count: 32) }
        while level.count > 1 { level = parents(level) }
        return level[0]
    }

    /// The level above `level`: each pair hashed, an odd last node carried up.
    static func parents(_ level: [[UInt8]]) -> [[UInt8]] {
        stride(from: 0, to: level.count, by: 2).map { i in
            i + 1 < level.count ? Keccak256.hash([1] + level[i] + level[i + 1]) : level[i]
        }
    }

    /// The sibling path proving entry `index`: (sibling, sibling-is-left) from the leaf up.
    public static func proof(_ entries: [TrainingLogEntry], index: Int) -> [(hash: [UInt8], left: Bool)] {
        var level = entries.map(leaf)
        var position = index
        var path: [(hash: [UInt8], left: Bool)] = []
        while level.count > 1 {
            let sibling = position ^ 1
            if sibling < level.count { path.append((level[sibling], sibling < position)) }
            level = parents(level)
            position /= 2
        }
        return path
    }

    /// Whether `path` proves `entry` under `root`.
    public static func verify(_ entry: TrainingLogEntry, path: [(hash: [UInt8], left: Bool)], root: [UInt8]) -> Bool {
        var hash = leaf(entry)
        for (sibling, left) in path { hash = Keccak256.hash([1] + (left ? sibling + hash : hash + sibling)) }
        return hash == root
    }
}

/// Everything a run needs to continue bit for bit: the adapter, AdamW's moments, the step and the log.
///
/// One file, `checkpoint.bin`, written atomically: the magic `OLTRAIN1`, a little-endian u32 header length, the
/// header (JSON), the f32 tensors in pair order (A, B, A's first and second moments, B's), then SHA-256 of all
/// that.
public struct TrainingCheckpoint: Sendable, Equatable {
    /// The run this checkpoint belongs to (hex SHA-256 of model, data and hyper-parameters).
    public var fingerprint: String
    /// Optimizer steps taken.
    public var step: Int
    /// The adapter.
    public var parameters: LoRAParameters
    /// The optimizer.
    public var optimizer: AdamW
    /// The log up to `step`.
    public var log: [TrainingLogEntry]

    struct Header: Codable {
        var fingerprint: String
        var step: Int
        var rank: Int
        var alpha: Float
        var pairs: [[Int]]  // layer, target, inputs, outputs
        var log: [TrainingLogEntry]
    }

    static let magic = Array("OLTRAIN1".utf8)
    /// The largest checkpoint read back (bytes).
    public static let maximumBytes = 2 << 30

    /// The adapter and optimizer state's SHA-256 (hex): the tensors' bytes as stored.
    public var stateHash: String { hex(SHA256.hash(tensorBytes())) }

    func tensorBytes() -> [UInt8] {
        var out: [UInt8] = []
        out.reserveCapacity(parameters.parameterCount * 12)
        func append(_ values: [Float]) {
            for value in values {
                let bits = value.bitPattern.littleEndian
                out.append(UInt8(truncatingIfNeeded: bits))
                out.append(UInt8(truncatingIfNeeded: bits >> 8))
                out.append(UInt8(truncatingIfNeeded: bits >> 16))
                out.append(UInt8(truncatingIfNeeded: bits >> 24))
            }
        }
        for p in parameters.pairs.indices {
            append(parameters.pairs[p].a)
            append(parameters.pairs[p].b)
            append(optimizer.firstA[p])
            append(optimizer.secondA[p])
            append(optimizer.firstB[p])
            append(optimizer.secondB[p])
        }
        return out
    }

    /// The file's bytes.
    public func encoded() throws(TrainingError) -> [UInt8] {
        let header = Header(
            fingerprint: fingerprint, step: step, rank: parameters.rank, alpha: parameters.alpha,
            pairs: parameters.pairs.map { [$0.layer, $0.target.rawValue, $0.inputs, $0.outputs] }, log: log)
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        guard let json = try? encoder.encode(header) else { throw .checkpoint("header does not encode") }
        var out = Self.magic
        let length = UInt32(json.count)
        for shift in stride(from: 0, to: 32, by: 8) { out.append(UInt8(truncatingIfNeeded: length >> UInt32(shift))) }
        out += json
        out += tensorBytes()
        out += SHA256.hash(out)
        return out
    }

    /// Writes `DIR/checkpoint.bin` atomically.
    public func write(to directory: String) throws(TrainingError) {
        let bytes = try encoded()
        do { try AtomicFile.write(bytes, to: directory + "/checkpoint.bin") } catch {
            throw .io("cannot write \(directory)/checkpoint.bin: \(error)")
        }
    }

    /// Reads and checks `DIR/checkpoint.bin`.
    public static func read(from directory: String) throws(TrainingError) -> TrainingCheckpoint {
        let path = directory + "/checkpoint.bin"
        guard let data = FileManager.default.contents(atPath: path) else { throw .checkpoint("no \(path)") }
        return try decode(Array(data))
    }

    /// Parses checkpoint bytes, refusing anything damaged or inconsistent.
    public static func decode(_ bytes: [UInt8]) throws(TrainingError) -> TrainingCheckpoint {
        guard bytes.count >= 8 + 4 + 32, bytes.count <= maximumBytes, Array(bytes[0..<8]) == magic else {
            throw .checkpoint("not a checkpoint")
        }
        let body = bytes[0..<(bytes.count - 32)]
        guard SHA256.hash(body) == Array(bytes[(bytes.count - 32)...]) else {
            throw .checkpoint("checksum mismatch: the file is damaged")
        }
        var length = 0
        for i in 0..<4 { length |= Int(bytes[8 + i]) << (8 * i) }
        guard length <= body.count - 12 else { throw .checkpoint("header length") }
        guard let header = try? JSONDecoder().decode(Header.self, from: Data(bytes[12..<(12 + length)])) else {
            throw .checkpoint("header does not parse")
        }
        guard (1...256).contains(header.rank), header.step >= 0, header.log.count == header.step else {
            throw .checkpoint("header values out of range")
        }
        var parameters = LoRAParameters(rank: header.rank, alpha: header.alpha, pairs: [])
        var total = 0
        for entry in header.pairs {
            guard entry.count == 4, let target = LoRATarget(rawValue: entry[1]), entry[0] >= 0, entry[2] > 0,
                entry[3] > 0, entry[2] <= 1 << 16, entry[3] <= 1 << 16
            else { throw .checkpoint("pair description") }
            parameters.pairs.append(
                LoRAPair(layer: entry[0], target: target, inputs: entry[2], outputs: entry[3], rank: header.rank))
            total += 3 * header.rank * (entry[2] + entry[3])
        }
        guard body.count == 12 + length + 4 * total else { throw .checkpoint("tensor bytes do not match the header") }
        var optimizer = AdamW(parameters)
        optimizer.steps = header.step
        var offset = 12 + length
        func take(_ count: Int) -> [Float] {
            var out = [Float](repeating: 0, count: count)
            for i in 0..<count {
                let o = offset + 4 * i
                let bits =
                    UInt32(bytes[o]) | UInt32(bytes[o + 1]) << 8 | UInt32(bytes[o + 2]) << 16 | UInt32(bytes[o + 3])
                    << 24
                out[i] = Float(bitPattern: bits)
            }
            offset += 4 * count
            return out
        }
        for p in parameters.pairs.indices {
            let a = parameters.pairs[p].a.count
            let b = parameters.pairs[p].b.count
            parameters.pairs[p].a = take(a)
            parameters.pairs[p].b = take(b)
            optimizer.firstA[p] = take(a)
            optimizer.secondA[p] = take(a)
            optimizer.firstB[p] = take(b)
            optimizer.secondB[p] = take(b)
        }
        return TrainingCheckpoint(
            fingerprint: header.fingerprint, step: header.step, parameters: parameters, optimizer: optimizer,
            log: header.log)
    }
}

/// Lower-case hex.
func hex(_ bytes: [UInt8]) -> String {
    let digits = Array("0123456789abcdef".utf8)
    var out: [UInt8] = []
    for byte in bytes {
        out.append(digits[Int(byte >> 4)])
        out.append(digits[Int(byte & 15)])
    }
    return String(decoding: out, as: UTF8.self)
}
