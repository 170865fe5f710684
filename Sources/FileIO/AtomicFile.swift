#if canImport(Glibc)
    import Glibc
#endif

/// Writes a file so that a reader, or a restart after a crash, sees the old contents or the new, never a mixture: a
/// temporary file beside the target, written and fsynced, renamed over it, then the directory fsynced.
///
/// The one atomic writer: identity keys, attribution shards, configs and caches all go through it.
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
        let temporary = directory + "/.\(name).tmp-\(getpid())"
        let descriptor = open(temporary, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode)
        guard descriptor >= 0 else { throw .open(path: temporary, errno: errno) }
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
        guard rename(temporary, path) == 0 else {
            let code = errno
            unlink(temporary)
            throw .rename(path: path, errno: code)
        }
        syncDirectory(directory)
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
