import CEventLoop

#if canImport(Glibc)
    import Glibc
#endif

/// What a nonblocking system call came to: swift-nio's shape, where "try again later" is a value, not an error.
public enum IOResult: Equatable, Sendable {
    /// It succeeded: bytes moved, or the descriptor `accept` returned, or 0 for calls without a count.
    case done(Int)
    /// `EAGAIN`/`EWOULDBLOCK`: nothing can move now; wait for readiness.
    case wouldBlock
    /// A read found the end of the stream (the peer closed its side).
    case closed
    /// Any other failure, with its `errno`.
    case failed(errno: Int32)

    /// The `errno` of a failure (for its message); 0 for every other outcome.
    public var errorNumber: Int32 {
        if case .failed(let code) = self { code } else { 0 }
    }
}

/// The one place socket, epoll and allocator calls are made from Swift: `EINTR` is retried, `EAGAIN`/`EWOULDBLOCK`
/// becomes `.wouldBlock`, every other failure `.failed(errno:)`.
public enum Syscall {
    /// Makes the C allocator keep what a process frees.
    ///
    /// The heap's top is trimmed only past `trimBytes` free, each growth takes `padBytes` more, and only blocks of
    /// `mmapBytes` and up are mapped on their own. For short-lived processes that free and reallocate hundreds of
    /// megabytes (the simulator). A setting glibc refuses leaves its default in place.
    public static func keepHeap(trimBytes: Int32, padBytes: Int32, mmapBytes: Int32) {
        CEventLoop_keep_heap(trimBytes, padBytes, mmapBytes)
    }

    /// Starts this program again with glibc's allocator asking for transparent huge pages.
    ///
    /// The setting is `glibc.malloc.hugetlb=1` in `GLIBC_TUNABLES`, which glibc reads only when a process starts.
    /// It is for processes whose heap is a gigabyte of small blocks read in random order (the simulator), where a
    /// miss in the page-table cache costs as much as the cache miss itself. Returns only when it does not start
    /// again: the tunable or the restart marker is already set, the kernel has huge pages off, or the exec failed
    /// (the process then goes on as it is).
    public static func restartWithHugePages() {
        let arguments = CommandLine.unsafeArgv
        _ = CEventLoop_reexec_with_huge_pages(UnsafePointer(arguments))
    }

    /// Runs `call` (a system call returning -1 and setting `errno` on failure) until a signal does not
    /// interrupt it, and classifies the outcome.
    public static func retrying<Result: BinaryInteger>(_ call: () -> Result) -> IOResult {
        while true {
            let result = call()
            if result >= 0 { return .done(Int(result)) }
            let code = errno
            if code == EINTR { continue }
            if code == EAGAIN || code == EWOULDBLOCK { return .wouldBlock }
            return .failed(errno: code)
        }
    }

    /// `read(2)` into `buffer`; `.closed` at the end of the stream.
    public static func read(_ fd: Int32, into buffer: UnsafeMutableRawBufferPointer) -> IOResult {
        let result = retrying { Glibc.read(fd, buffer.baseAddress, buffer.count) }
        return result == .done(0) && buffer.count > 0 ? .closed : result
    }

    /// `write(2)` of `bytes`.
    public static func write(_ fd: Int32, _ bytes: UnsafeRawBufferPointer) -> IOResult {
        retrying { Glibc.write(fd, bytes.baseAddress, bytes.count) }
    }

    /// `send(2)` of `bytes` with `MSG_NOSIGNAL`: a peer that left is `.failed(errno: EPIPE)`, not a signal.
    public static func send(_ fd: Int32, _ bytes: UnsafeRawBufferPointer) -> IOResult {
        retrying { Glibc.send(fd, bytes.baseAddress, bytes.count, Int32(MSG_NOSIGNAL)) }
    }

    /// Accepts one pending connection on a listening socket: `.done(fd)` (nonblocking, close-on-exec,
    /// `TCP_NODELAY`), `.wouldBlock` when none is pending.
    public static func accept(_ listener: Int32) -> IOResult {
        retrying { CEventLoop_accept(listener) }
    }
}
