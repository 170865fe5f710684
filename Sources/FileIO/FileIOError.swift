#if canImport(Glibc)
    import Glibc
#endif

/// What went wrong with a file: which path, which operation, and the system's reason.
public enum FileIOError: Error, Equatable, Sendable, CustomStringConvertible {
    /// The file could not be opened.
    case open(path: String, errno: Int32)
    /// The path is not a regular file.
    case notRegularFile(path: String)
    /// Reading, mapping or sizing the file failed.
    case read(path: String, errno: Int32)
    /// Writing or flushing the file failed.
    case write(path: String, errno: Int32)
    /// The finished file could not be moved into place.
    case rename(path: String, errno: Int32)

    /// The system's text for `code`.
    static func reason(_ code: Int32) -> String { String(cString: strerror(code)) }

    /// A message naming the file and the reason.
    public var description: String {
        switch self {
        case .open(let path, let code): "cannot open \(path): \(Self.reason(code))"
        case .notRegularFile(let path): "\(path) is not a regular file"
        case .read(let path, let code): "cannot read \(path): \(Self.reason(code))"
        case .write(let path, let code): "cannot write \(path): \(Self.reason(code))"
        case .rename(let path, let code): "cannot rename into \(path): \(Self.reason(code))"
        }
    }
}
