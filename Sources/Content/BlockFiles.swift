import Codec
import Glibc
import Synchronization

/// Numbers temporary block files, so two threads writing the same block never share a temporary.
private let temporaryCounter = Atomic<UInt64>(0)

/// When a block is kept LZ4-compressed: when that saves at least `minimumSaving` of its bytes.
///
/// Compressing a block that does not shrink costs time for nothing, and most of what the store holds (model weights,
/// already-compressed shards) does not shrink. So a block larger than twice `sampleSize` is first tried on its first
/// `sampleSize` bytes: when the sample does not save the minimum, the block is stored as it is without compressing
/// the rest.
public struct CompressionPolicy: Hashable, Sendable {
    /// The least fraction of its size compression must save for a block to be kept compressed.
    public var minimumSaving: Double
    /// The bytes tried first on a large block; 0 tries every block whole.
    public var sampleSize: Int
    /// Whether to compress at all.
    public var enabled: Bool

    /// A policy saving at least `minimumSaving`, sampling `sampleSize` bytes of large blocks first.
    public init(minimumSaving: Double = 0.10, sampleSize: Int = 16_384, enabled: Bool = true) {
        self.minimumSaving = minimumSaving
        self.sampleSize = sampleSize
        self.enabled = enabled
    }

    /// At least 10%, sampling 16 KiB of blocks over 32 KiB first.
    public static let standard = CompressionPolicy()
    /// Never compress.
    public static let none = CompressionPolicy(enabled: false)

    /// The most bytes a compressed form of `count` bytes may take to be kept.
    func limit(_ count: Int) -> Int { Int((Double(count) * (1 - minimumSaving)).rounded(.down)) }
}

/// The block files of a store: one file per block under `blocks/<shard>/<CIDv1 base32>`, written whole to `tmp/`
/// and renamed into place, so a file under `blocks/` is always complete.
///
/// A file is a one-byte kind, then either the block itself (kind 0) or a little-endian 32-bit size and the LZ4 block
/// of the bytes (kind 1). The shard is the two characters before the last of the name (flatfs's next-to-last/2):
/// the end of a base32 digest is uniform, its start is the CID's fixed prefix.
struct BlockFiles: Sendable {
    /// What reading a block file found.
    enum Read: Sendable {
        case bytes([UInt8])
        case missing
        case malformed
    }

    /// A block ready to be written: the file's header and payload.
    struct Encoded: Sendable {
        let header: [UInt8]
        let payload: [UInt8]
        var storedSize: Int { header.count + payload.count }
        var compressed: Bool { header.first == 1 }
    }

    static let raw: UInt8 = 0
    static let lz4: UInt8 = 1

    let blocksDirectory: String
    let temporaryDirectory: String

    init(root: String) {
        blocksDirectory = root + "/blocks"
        temporaryDirectory = root + "/tmp"
    }

    /// The file name of a block: its CIDv1 in base32.
    static func name(_ cid: CID) -> String { cid.normalized.description }

    /// The path of the block file of `cid`.
    func path(_ cid: CID) -> String {
        let name = Self.name(cid)
        return blocksDirectory + "/" + String(name.dropLast().suffix(2)) + "/" + name
    }

    /// The file form of `bytes` under `policy`.
    static func encode(_ bytes: [UInt8], policy: CompressionPolicy) -> Encoded {
        guard policy.enabled, bytes.count >= 64 else { return Encoded(header: [raw], payload: bytes) }
        let compressed = bytes.withUnsafeBytes { buffer -> [UInt8]? in
            if policy.sampleSize > 0 && buffer.count > 2 * policy.sampleSize {
                let sample = UnsafeRawBufferPointer(rebasing: buffer[0..<policy.sampleSize])
                guard LZ4.compress(sample, limit: policy.limit(sample.count)) != nil else { return nil }
            }
            return LZ4.compress(buffer, limit: policy.limit(buffer.count) - 5)
        }
        guard let compressed else { return Encoded(header: [raw], payload: bytes) }
        let size = UInt32(bytes.count)
        return Encoded(
            header: [lz4, UInt8(size & 0xFF), UInt8(size >> 8 & 0xFF), UInt8(size >> 16 & 0xFF), UInt8(size >> 24)],
            payload: compressed)
    }

    /// Writes the file of `cid` whole: to a temporary, then renamed into place (creating its shard on first use).
    func write(_ encoded: Encoded, for cid: CID) throws(ContentError) {
        let destination = path(cid)
        var temporary = ""
        var descriptor: Int32 = -1
        while descriptor < 0 {
            let number = temporaryCounter.wrappingAdd(1, ordering: .relaxed).oldValue
            temporary = temporaryDirectory + "/\(getpid())-\(number)"
            descriptor = open(temporary, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0o644)
            if descriptor < 0 && errno != EEXIST && errno != EINTR {
                throw .io(path: temporary, operation: "create", errno: errno)
            }
        }
        let written = Self.writeAll(descriptor, encoded.header) && Self.writeAll(descriptor, encoded.payload)
        let code = errno
        guard close(descriptor) == 0, written else {
            unlink(temporary)
            throw .io(path: temporary, operation: "write", errno: written ? errno : code)
        }
        if rename(temporary, destination) != 0 {
            let first = errno
            let shard = String(destination[..<destination.lastIndex(of: "/")!])
            guard first == ENOENT, mkdir(shard, 0o755) == 0 || errno == EEXIST, rename(temporary, destination) == 0
            else {
                let code = errno
                unlink(temporary)
                throw .io(path: destination, operation: "rename into", errno: code)
            }
        }
    }

    private static func writeAll(_ descriptor: Int32, _ bytes: [UInt8]) -> Bool {
        bytes.withUnsafeBytes { buffer in
            var offset = 0
            while offset < buffer.count {
                let count = Glibc.write(descriptor, buffer.baseAddress! + offset, buffer.count - offset)
                if count < 0 && errno == EINTR { continue }
                guard count > 0 else { return false }
                offset += count
            }
            return true
        }
    }

    /// Reads and decodes the file of `cid`; the bytes still have to be verified against the CID.
    func read(_ cid: CID, maxSize: Int = VerifiedBlock.maxSize) -> Read {
        let descriptor = open(path(cid), O_RDONLY | O_CLOEXEC)
        guard descriptor >= 0 else { return errno == ENOENT ? .missing : .malformed }
        defer { close(descriptor) }
        var status = stat()
        guard fstat(descriptor, &status) == 0, status.st_size >= 1, Int(status.st_size) <= maxSize + 5 else {
            return .malformed
        }
        let fileSize = Int(status.st_size)
        var header = [UInt8](repeating: 0, count: min(5, fileSize))
        guard Self.readAll(descriptor, into: &header, at: 0) else { return .malformed }
        switch header[0] {
        case Self.raw:
            var bytes = [UInt8](repeating: 0, count: fileSize - 1)
            return Self.readAll(descriptor, into: &bytes, at: 1) ? .bytes(bytes) : .malformed
        case Self.lz4 where fileSize > 5:
            let size = Int(header[1]) | Int(header[2]) << 8 | Int(header[3]) << 16 | Int(header[4]) << 24
            guard size <= maxSize else { return .malformed }
            var compressed = [UInt8](repeating: 0, count: fileSize - 5)
            guard Self.readAll(descriptor, into: &compressed, at: 5),
                let bytes = compressed.withUnsafeBytes({ LZ4.decompress($0, size: size) })
            else { return .malformed }
            return .bytes(bytes)
        default:
            return .malformed
        }
    }

    private static func readAll(_ descriptor: Int32, into bytes: inout [UInt8], at offset: Int) -> Bool {
        bytes.withUnsafeMutableBytes { buffer in
            var done = 0
            while done < buffer.count {
                let count = pread(descriptor, buffer.baseAddress! + done, buffer.count - done, off_t(offset + done))
                if count < 0 && errno == EINTR { continue }
                guard count > 0 else { return false }
                done += count
            }
            return true
        }
    }

    /// Removes the file of `cid`, if there is one.
    func remove(_ cid: CID) { unlink(path(cid)) }

    /// Creates the directories (all 1,024 shards of a new store at once, so that adds never pay for a `mkdir`) and
    /// removes temporaries a killed writer left behind.
    func prepare() throws(ContentError) {
        let created = mkdir(blocksDirectory, 0o755) == 0
        guard created || errno == EEXIST else { throw .io(path: blocksDirectory, operation: "create", errno: errno) }
        guard mkdir(temporaryDirectory, 0o755) == 0 || errno == EEXIST else {
            throw .io(path: temporaryDirectory, operation: "create", errno: errno)
        }
        if created {
            let alphabet = Array("abcdefghijklmnopqrstuvwxyz234567")
            for first in alphabet {
                for second in alphabet { mkdir(blocksDirectory + "/" + String(first) + String(second), 0o755) }
            }
        }
        for name in Self.entries(temporaryDirectory) { unlink(temporaryDirectory + "/" + name) }
    }

    /// The path of every file under the shard directories, with the name it has.
    func allFiles() -> [(path: String, name: String)] {
        var files: [(String, String)] = []
        for shard in Self.entries(blocksDirectory) {
            let directory = blocksDirectory + "/" + shard
            for name in Self.entries(directory) { files.append((directory + "/" + name, name)) }
        }
        return files
    }

    private static func entries(_ directory: String) -> [String] {
        guard let handle = opendir(directory) else { return [] }
        defer { closedir(handle) }
        var names: [String] = []
        while let entry = readdir(handle) {
            let name = withUnsafeBytes(of: entry.pointee.d_name) { raw in
                String(decoding: raw.prefix { $0 != 0 }, as: UTF8.self)
            }
            if name != "." && name != ".." { names.append(name) }
        }
        return names
    }
}
