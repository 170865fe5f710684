import Synchronization

#if canImport(Glibc)
    import Glibc
#endif

/// Numbers the temporary files of this process, so two threads writing one path never share a temporary.
private let temporaryCounter = Atomic<UInt64>(0)

/// Writes a file so that a reader, or a restart after a crash, sees the old contents or the new, never a mixture: a
/// temporary file beside the target, written and fsynced, renamed over it, then the directory fsynced.
///
/// The one atomic writer: the node's identity key, attribution index shards and `attribute --proof` files go through
/// it.
public enum AtomicFile {
    /// Writes `bytes` to `path` atomically, with permission `mode` (0o600 for a key).
    public static func write(_ bytes: [UInt8], to path: String, mode: mode_t = 0o644) throws(FileIOError) {
        let outcome = bytes.withUnsafeBytes { buffer in
            Result { () throws(FileIOError) in try write(buffer, to: path, mode: mode) }
        }
        try outcome.get()
    }

    /// Writes the bytes of `buffer` to `path` atomically, with permission `mode`.
    public static func write(_ buffer: UnsafeRawBufferPointer, to path: String, mode: mode_t = 0o644)
        throws(FileIOError)
    {
        let (directory, name) = split(path)
        let temporary = try writeTemporary(buffer, directory: directory, name: name, mode: mode)
        guard rename(temporary, path) == 0 else {
            let code = errno
            unlink(temporary)
            throw .rename(path: path, errno: code)
        }
        syncDirectory(directory)
    }

    /// Creates `path` holding `bytes`, with permission `mode`, unless a file (or symlink) is already there: returns
    /// false then, and leaves that file as it is.
    ///
    /// The file appears whole or not at all: the bytes go to a fsynced temporary first, which is then hard-linked
    /// (`link(2)`, which never replaces) into place. Of two processes creating one path, exactly one returns true.
    public static func create(_ bytes: [UInt8], at path: String, mode: mode_t = 0o644) throws(FileIOError) -> Bool {
        let (directory, name) = split(path)
        let outcome = bytes.withUnsafeBytes { buffer in
            Result { () throws(FileIOError) in
                try writeTemporary(buffer, directory: directory, name: name, mode: mode)
            }
        }
        let temporary = try outcome.get()
        let linked = link(temporary, path) == 0
        let code = errno
        unlink(temporary)
        guard linked else {
            if code == EEXIST { return false }
            throw .rename(path: path, errno: code)
        }
        syncDirectory(directory)
        return true
    }

    /// The path of a new temporary file beside `name` in `directory`, holding `buffer`, fsynced and closed.
    ///
    /// Its permission is exactly `mode`. Nothing is left behind when it fails.
    static func writeTemporary(_ buffer: UnsafeRawBufferPointer, directory: String, name: String, mode: mode_t)
        throws(FileIOError) -> String
    {
        let (temporary, descriptor) = try createTemporary(directory: directory, name: name, mode: mode)
        // The mode given to open is masked by the umask; a key file must end up exactly as asked.
        fchmod(descriptor, mode)
        var written = 0
        while written < buffer.count {
            let count = Glibc.write(descriptor, buffer.baseAddress! + written, min(buffer.count - written, 1 << 26))
            if count < 0 && errno == EINTR { continue }
            guard count > 0 else {
                let code = errno
                close(descriptor)
                unlink(temporary)
                throw .write(path: temporary, errno: code)
            }
            written += count
        }
        let flushed = fsync(descriptor) == 0 ? 0 : errno
        guard close(descriptor) == 0, flushed == 0 else {
            let code = flushed != 0 ? flushed : errno
            unlink(temporary)
            throw .write(path: temporary, errno: code)
        }
        return temporary
    }

    /// Creates a new temporary file beside `name` in `directory`, named `.name.tmp-<pid>-<n>` with `n` unique in the
    /// process, opened for writing.
    ///
    /// `O_EXCL|O_NOFOLLOW`: a file or symlink already at that name (a crash's leftover, or one planted there) is never
    /// written through; another number is tried.
    static func createTemporary(directory: String, name: String, mode: mode_t) throws(FileIOError) -> (
        path: String, descriptor: Int32
    ) {
        while true {
            let number = temporaryCounter.wrappingAdd(1, ordering: .relaxed).oldValue
            let temporary = directory + "/.\(name).tmp-\(getpid())-\(number)"
            let descriptor = open(temporary, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, mode)
            if descriptor >= 0 { return (temporary, descriptor) }
            let code = errno
            guard code == EEXIST || code == EINTR else { throw .open(path: temporary, errno: code) }
        }
    }

    /// Flushes a directory's entries (after a rename or unlink in it); best effort.
    public static func syncDirectory(_ directory: String) {
        let descriptor = open(directory, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        guard descriptor >= 0 else { return }
        fsync(descriptor)
        close(descriptor)
    }

    /// The directory (`.` when none) and file name of `path`.
    static func split(_ path: String) -> (directory: String, name: String) {
        guard let slash = path.lastIndex(of: "/") else { return (".", path) }
        let directory = String(path[..<slash])
        return (directory.isEmpty ? "/" : directory, String(path[path.index(after: slash)...]))
    }
}
