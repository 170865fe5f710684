import Codec
import Glibc
import Synchronization

/// Where one block record lies: a pack, a byte offset in it and the record's length.
struct PackLocation: Hashable, Sendable {
    let pack: Int
    let offset: Int
    let length: Int

    /// The offset just past the record.
    var end: Int { offset + length }
}

/// The pack files of a store: append-only files `packs/<8-digit number>.pack`, each a run of block records
/// (`BlockRecord`) at offsets the index keeps.
///
/// Records are written with `pwritev` at offsets the store allocated and read with `pread`, so any thread may read
/// while one writes. One descriptor per pack stays open (a bounded cache); a descriptor is owned by a `Handle`, so a
/// reader holding one keeps reading a pack that was meanwhile dropped from the cache or unlinked. The unsafe
/// pointers of the vectored calls stay in this file.
final class PackFiles: Sendable {
    /// What reading a record found.
    enum Read: Sendable {
        case bytes([UInt8])
        case missing
        case malformed
    }

    /// One open pack, closed when the last holder lets go.
    final class Handle: Sendable {
        let descriptor: Int32
        /// How far the pack's disk blocks are allocated ahead of its writes (`preallocate`).
        let allocated = Atomic<Int>(0)

        init(descriptor: Int32) { self.descriptor = descriptor }

        deinit { close(descriptor) }
    }

    /// Packs kept open at once; past it, another pack's descriptor is closed.
    static let openLimit = 64

    /// The directory of the packs.
    let directory: String
    /// The most a pack grows to (the store's pack size): blocks are allocated ahead no further.
    let packSize: Int
    private let handles = Mutex<[Int: Handle]>([:])

    /// Disk blocks allocated ahead of a pack's writes at a time.
    static let preallocation = 16 << 20

    init(root: String, packSize: Int = Int.max) {
        directory = root + "/packs"
        self.packSize = packSize
    }

    /// The file name of pack `number`: eight digits (more past 99,999,999) and `.pack`.
    static func name(_ number: Int) -> String {
        let digits = String(number)
        return String(repeating: "0", count: max(0, 8 - digits.count)) + digits + ".pack"
    }

    /// The pack number a file name stands for, nil when it is not a pack's name.
    static func number(_ name: String) -> Int? {
        guard name.hasSuffix(".pack"), let number = Int(name.dropLast(5)), number >= 0, Self.name(number) == name
        else { return nil }
        return number
    }

    /// The path of pack `number`.
    func path(_ number: Int) -> String { directory + "/" + Self.name(number) }

    /// Creates the pack directory.
    func prepare() throws(ContentError) {
        guard mkdir(directory, 0o755) == 0 || errno == EEXIST else {
            throw .io(path: directory, operation: "create", errno: errno)
        }
    }

    /// The open pack `number`; nil when it does not exist and `create` is false.
    private func handle(_ number: Int, create: Bool) throws(ContentError) -> Handle? {
        try handles.withLock { cache throws(ContentError) -> Handle? in
            if let handle = cache[number] { return handle }
            let path = path(number)
            let descriptor = open(path, O_RDWR | O_CLOEXEC | (create ? O_CREAT : 0), 0o644)
            guard descriptor >= 0 else {
                if errno == ENOENT && !create { return nil }
                throw .io(path: path, operation: "open", errno: errno)
            }
            if cache.count >= Self.openLimit, let victim = cache.keys.first(where: { $0 != number }) {
                cache[victim] = nil
            }
            let handle = Handle(descriptor: descriptor)
            cache[number] = handle
            return handle
        }
    }

    // MARK: Writing

    /// Writes every record at its location (creating packs on first use), one `pwritev` of header and payload per
    /// record.
    ///
    /// Not one call per batch: a buffered write of megabytes lets the kernel back it with large folios, and
    /// allocating those cost ten times the copy here (a batch's 8 MiB in one call moved 0.3–0.7 GB/s, the same bytes
    /// a record at a time 3–4 GB/s).
    func write(_ records: [(record: BlockRecord.Encoded, location: PackLocation)]) throws(ContentError) {
        for (record, location) in records {
            guard let handle = try handle(location.pack, create: true) else { continue }
            preallocate(handle, from: location.offset, through: location.end)
            let failure = record.header.withUnsafeBytes { header in
                record.payload.withUnsafeBytes { payload in
                    Self.transfer(
                        [Self.vector(header), Self.vector(payload)], at: location.offset
                    ) { pwritev(handle.descriptor, $0, $1, $2) }
                }
            }
            if let failure { throw .io(path: path(location.pack), operation: "write", errno: failure) }
        }
    }

    /// Allocates the pack's disk blocks ahead of its writes, 16 MiB at a time up to the pack size, without changing
    /// its size (`FALLOC_FL_KEEP_SIZE`).
    ///
    /// A write into blocks already allocated skips the file system's allocation work page by page: ext4 took
    /// 3.0–3.3 GB/s of CPU for 256 KiB appends and 5.0–5.1 GB/s into allocated blocks here. The size stays the end of
    /// the last record, so what recovery reads of a pack is unchanged, and truncating to it gives back what was
    /// allocated past it (the store does on open and when it closes). It starts at the record being written, never
    /// before, so it never fills a hole punched under a removed record. Best effort: where `fallocate` fails, the file
    /// system allocates as it writes.
    private func preallocate(_ handle: Handle, from offset: Int, through end: Int) {
        let allocated = handle.allocated.load(ordering: .relaxed)
        guard end > allocated, let fallocate = Self.fallocate else { return }
        let start = max(allocated, offset)
        let target = max(end, min(packSize, end + Self.preallocation))
        let done = fallocate(handle.descriptor, Self.keepSize, off_t(start), off_t(target - start)) == 0
        handle.allocated.store(done ? target : Int.max, ordering: .relaxed)
    }

    /// Cuts pack `number` back to `size` bytes (what lies past the last record a store knows).
    func truncate(_ number: Int, to size: Int) throws(ContentError) {
        guard let handle = try handle(number, create: false) else { return }
        guard ftruncate(handle.descriptor, off_t(size)) == 0 else {
            throw .io(path: path(number), operation: "truncate", errno: errno)
        }
    }

    /// Frees the disk blocks under a record, keeping the pack's size and every other record's offset.
    ///
    /// Best effort: a file system without hole punching keeps the space until the whole pack goes.
    func punch(_ location: PackLocation) {
        guard location.length > 0, let fallocate = Self.fallocate,
            let handle = try? handle(location.pack, create: false)
        else { return }
        _ = fallocate(handle.descriptor, Self.punchHole | Self.keepSize, off_t(location.offset), off_t(location.length))
    }

    /// Unlinks pack `number` (readers already holding it finish their reads).
    ///
    /// Under the cache's lock, so no reader opens it again between the two and keeps its space alive.
    func remove(_ number: Int) {
        let path = path(number)
        handles.withLock { cache in
            cache[number] = nil
            unlink(path)
        }
    }

    /// `fallocate(2)`, which Glibc's module does not export (it is a GNU extension), looked up once.
    private typealias Fallocate = @convention(c) (Int32, Int32, off_t, off_t) -> Int32
    private static let fallocate: Fallocate? = dlsym(nil, "fallocate").map { unsafeBitCast($0, to: Fallocate.self) }
    /// `FALLOC_FL_PUNCH_HOLE` and `FALLOC_FL_KEEP_SIZE` from `linux/falloc.h`.
    private static let punchHole: Int32 = 0x02
    private static let keepSize: Int32 = 0x01

    // MARK: Reading

    /// Reads and decodes the record at `location`; the bytes still have to be verified against the CID.
    ///
    /// `compressed` (the index's word) says how to read it at once: a raw record is read straight into the block's
    /// bytes; the record's own kind byte must agree, or it is malformed.
    func read(_ location: PackLocation, compressed: Bool, maxSize: Int = VerifiedBlock.maxSize) -> Read {
        guard location.offset >= 0, location.length >= 1, location.length <= maxSize + BlockRecord.lz4HeaderSize
        else { return .malformed }
        let handle: Handle
        do {
            guard let found = try self.handle(location.pack, create: false) else { return .missing }
            handle = found
        } catch {
            return .malformed
        }
        if !compressed {
            var kind = UInt8.max
            var complete = false
            let bytes = [UInt8](unsafeUninitializedCapacity: location.length - BlockRecord.rawHeaderSize) {
                buffer, count in
                complete = withUnsafeMutableBytes(of: &kind) { kindBuffer in
                    Self.readAll(
                        handle.descriptor, [kindBuffer, UnsafeMutableRawBufferPointer(buffer)], at: location.offset)
                }
                count = complete ? buffer.count : 0
            }
            return complete && kind == BlockRecord.raw ? .bytes(bytes) : .malformed
        }
        var complete = false
        let record = [UInt8](unsafeUninitializedCapacity: location.length) { buffer, count in
            complete = Self.readAll(handle.descriptor, [UnsafeMutableRawBufferPointer(buffer)], at: location.offset)
            count = complete ? buffer.count : 0
        }
        guard complete, record.first == BlockRecord.lz4,
            let bytes = record.withUnsafeBytes({ BlockRecord.decode($0, maxSize: maxSize) })
        else { return .malformed }
        return .bytes(bytes)
    }

    /// Fills `buffers` from `offset` on; false on an error or the file's end.
    private static func readAll(_ descriptor: Int32, _ buffers: [UnsafeMutableRawBufferPointer], at offset: Int) -> Bool
    {
        let vectors = buffers.map { iovec(iov_base: $0.baseAddress, iov_len: $0.count) }
        return transfer(vectors, at: offset) { preadv(descriptor, $0, $1, $2) } == nil
    }

    // MARK: Listing

    /// The size of pack `number` in bytes, nil when it does not exist.
    func size(_ number: Int) -> Int? {
        var status = stat()
        guard stat(path(number), &status) == 0 else { return nil }
        return Int(status.st_size)
    }

    /// The numbers of the packs on disk.
    func numbers() -> [Int] { Self.entries(directory).compactMap(Self.number) }

    /// The names in the pack directory that are not packs.
    func strangers() -> [String] { Self.entries(directory).filter { Self.number($0) == nil } }

    /// The names in `directory` but `.` and `..`; empty when it cannot be read.
    static func entries(_ directory: String) -> [String] {
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

    // MARK: Vectored IO

    /// The `iovec` of a buffer that is only read.
    private static func vector(_ buffer: UnsafeRawBufferPointer) -> iovec {
        iovec(iov_base: UnsafeMutableRawPointer(mutating: buffer.baseAddress), iov_len: buffer.count)
    }

    /// Moves every byte of `vectors` with `call` (`preadv` or `pwritev`) from `offset` on, going on after short
    /// transfers and `EINTR`; the errno of a failure (`EIO` at the file's end), nil when all of it moved.
    private static func transfer(
        _ vectors: [iovec], at offset: Int, _ call: (UnsafePointer<iovec>, Int32, off_t) -> Int
    ) -> Int32? {
        var vectors = vectors
        var first = 0
        var position = offset
        while true {
            while first < vectors.count && vectors[first].iov_len == 0 { first += 1 }
            guard first < vectors.count else { return nil }
            let count = vectors[first...].withUnsafeBufferPointer {
                call($0.baseAddress!, Int32($0.count), off_t(position))
            }
            if count < 0 && errno == EINTR { continue }
            if count < 0 { return errno }
            if count == 0 { return EIO }
            position += count
            var left = count
            while first < vectors.count && left >= vectors[first].iov_len {
                left -= vectors[first].iov_len
                first += 1
            }
            if left > 0 {
                vectors[first].iov_base = vectors[first].iov_base.map { $0 + left }
                vectors[first].iov_len -= left
            }
        }
    }
}
