import CEventLoop

#if canImport(Glibc)
    import Glibc
#endif

/// The IPv4 TCP sockets the loop's users open: nonblocking, close-on-exec, with `TCP_NODELAY` on connections.
///
/// Results come as `IOResult` (`.done(fd)` or `.failed(errno:)`), like every call of `Syscall`.
public enum Socket {
    /// A listening socket on `host:port` (port 0 picks one).
    public static func listenTCP4(host: String, port: Int, backlog: Int) -> IOResult {
        fromNegatedErrno(CEventLoop_listen_tcp4(host, Int32(truncatingIfNeeded: port), Int32(backlog)))
    }

    /// A connection to `host:port`, in progress: wait for writable, then read `pendingError`.
    public static func connectTCP4(host: String, port: Int) -> IOResult {
        fromNegatedErrno(CEventLoop_connect_tcp4(host, Int32(truncatingIfNeeded: port)))
    }

    /// The port a socket is bound to.
    public static func localPort(_ fd: Int32) -> Int? {
        let port = CEventLoop_local_port(fd)
        return port >= 0 ? Int(port) : nil
    }

    /// The pending error of a socket (`SO_ERROR`): 0 once a connect has succeeded.
    public static func pendingError(_ fd: Int32) -> Int32 { CEventLoop_socket_error(fd) }

    /// Fixes the send buffer of a connection whose path is short (a round trip under 1 ms: loopback, a LAN) at
    /// 512 KiB, and leaves the kernel's autotuning to every other; returns the round trip in microseconds.
    ///
    /// The kernel grows an autotuned buffer up to 4 MiB (`tcp_wmem`); on a short path that only spreads a bulk
    /// transfer over more memory than the caches hold, and an encrypted stream over loopback moved 25–35 % less
    /// with it (docs/benchmarks.md). A long path needs the room for its bandwidth-delay product, so it keeps it.
    @discardableResult
    public static func capSendBufferOnShortPath(_ fd: Int32) -> Int? {
        let rtt = CEventLoop_cap_send_buffer(fd, 1_000, 512 * 1024)
        return rtt >= 0 ? Int(rtt) : nil
    }

    /// The IPv4 address (4 bytes) and port of the socket's peer, or of its own end when `peer` is false.
    public static func address(_ fd: Int32, peer: Bool) -> (ip: [UInt8], port: Int)? {
        var ip = [UInt8](repeating: 0, count: 4)
        let port = CEventLoop_address(fd, peer ? 1 : 0, &ip)
        return port >= 0 ? (ip, Int(port)) : nil
    }

    /// Text for an `errno`, for messages.
    public static func describe(errno code: Int32) -> String { String(cString: strerror(code)) }

    private static func fromNegatedErrno(_ result: Int32) -> IOResult {
        result >= 0 ? .done(Int(result)) : .failed(errno: -result)
    }
}
