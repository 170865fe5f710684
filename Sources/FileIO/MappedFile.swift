#if canImport(Glibc)
    import Glibc
#endif

/// A whole regular file mapped read-only into memory, unmapped when the last reference goes.
///
/// The one mapped-file type: GGUF models and attribution index shards are read through it. Its bytes live as long as
/// the object, so views into it must not outlive it.
public final class MappedFile: @unchecked Sendable {
    /// The path the file was opened from.
    public let path: String
    /// The file's size in bytes.
    public let count: Int
    /// The first byte (a valid address even for an empty file, which maps nothing).
    public let base: UnsafeRawPointer
    private let mapped: Bool

    /// Maps `path` read-only; `populate` asks the kernel to read it all in now (for files searched at random).
    public init(path: String, populate: Bool = false) throws(FileIOError) {
        self.path = path
        let descriptor = open(path, O_RDONLY | O_CLOEXEC)
        guard descriptor >= 0 else { throw .open(path: path, errno: errno) }
        defer { close(descriptor) }
        var status = stat()
        guard fstat(descriptor, &status) == 0 else { throw .read(path: path, errno: errno) }
        guard (status.st_mode & S_IFMT) == S_IFREG else { throw .notRegularFile(path: path) }
        count = Int(status.st_size)
        guard count > 0 else {
            base = UnsafeRawPointer(bitPattern: 0x1000)!
            mapped = false
            return
        }
        let flags = MAP_PRIVATE | (populate ? MAP_POPULATE : 0)
        guard let address = mmap(nil, count, PROT_READ, flags, descriptor, 0), address != MAP_FAILED else {
            throw .read(path: path, errno: errno)
        }
        base = UnsafeRawPointer(address)
        mapped = true
    }

    deinit {
        if mapped { munmap(UnsafeMutableRawPointer(mutating: base), count) }
    }

    /// Runs `body` with the whole file as a buffer; the buffer must not escape it.
    public func withBytes<Result, Failure: Error>(
        _ body: (UnsafeRawBufferPointer) throws(Failure) -> Result
    ) throws(Failure) -> Result {
        try body(UnsafeRawBufferPointer(start: mapped ? base : nil, count: count))
    }

    /// A copy of `count` bytes at `offset` (clamped to the file).
    public func bytes(at offset: Int, count: Int) -> [UInt8] {
        let start = min(max(0, offset), self.count)
        let end = min(self.count, start + max(0, count))
        return Array(UnsafeRawBufferPointer(start: base + start, count: end - start))
    }
}
