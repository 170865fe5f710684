#if canImport(Glibc)
    import Glibc
#endif

/// Why an event loop could not be made.
public enum EventLoopError: Error, Equatable, CustomStringConvertible {
    /// `epoll_create1` failed with `errno`.
    case epollCreate(errno: Int32)
    /// `eventfd` failed with `errno`.
    case eventfd(errno: Int32)

    /// The failure for a person.
    public var description: String {
        switch self {
        case .epollCreate(let code): "cannot create the event loop: epoll: \(String(cString: strerror(code)))"
        case .eventfd(let code): "cannot create the event loop: eventfd: \(String(cString: strerror(code)))"
        }
    }
}
