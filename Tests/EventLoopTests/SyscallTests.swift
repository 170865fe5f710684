import EventLoop
import Testing

#if canImport(Glibc)
    import Glibc
#endif

@Test func syscallHelperRetriesEINTRAndReturnsEAGAINAsAValue() {
    var calls = 0
    let retried = Syscall.retrying { () -> Int in
        calls += 1
        if calls < 3 {
            errno = EINTR
            return -1
        }
        return 7
    }
    #expect(retried == .done(7))
    #expect(calls == 3)
    for (code, expected) in [(EAGAIN, IOResult.wouldBlock), (EWOULDBLOCK, .wouldBlock), (EBADF, .failed(errno: EBADF))]
    {
        let result = Syscall.retrying { () -> Int32 in
            errno = code
            return -1
        }
        #expect(result == expected, "errno \(code)")
    }
    #expect(Syscall.retrying { Int32(0) } == .done(0))
    #expect(IOResult.failed(errno: EPIPE).errorNumber == EPIPE)
    #expect(IOResult.wouldBlock.errorNumber == 0)
}

/// The wrappers on real descriptors: an empty nonblocking socket would block, a closed peer is `.closed`, a bad
/// descriptor fails with EBADF, a send to a peer that left is EPIPE (not a signal).
@Test func syscallWrappersOnASocketPair() throws {
    let (left, right) = try socketPair()
    var buffer = [UInt8](repeating: 0, count: 16)
    #expect(buffer.withUnsafeMutableBytes { Syscall.read(left, into: $0) } == .wouldBlock)
    #expect([UInt8]([1, 2, 3]).withUnsafeBytes { Syscall.write(right, $0) } == .done(3))
    #expect(buffer.withUnsafeMutableBytes { Syscall.read(left, into: $0) } == .done(3))
    #expect(buffer.prefix(3) == [1, 2, 3])
    #expect([UInt8]([4]).withUnsafeBytes { Syscall.send(right, $0) } == .done(1))
    #expect(Syscall.accept(left) == .failed(errno: ENOTSOCK) || Syscall.accept(left) == .failed(errno: EINVAL))
    close(right)
    #expect(buffer.withUnsafeMutableBytes { Syscall.read(left, into: $0) } == .done(1))
    #expect(buffer.withUnsafeMutableBytes { Syscall.read(left, into: $0) } == .closed)
    #expect([UInt8]([5]).withUnsafeBytes { Syscall.send(left, $0) } == .failed(errno: EPIPE))
    close(left)
    #expect(buffer.withUnsafeMutableBytes { Syscall.read(left, into: $0) } == .failed(errno: EBADF))
}

@Test func socketHelpersListenAcceptAndConnect() throws {
    guard case .done(let opened) = Socket.listenTCP4(host: "127.0.0.1", port: 0, backlog: 8) else {
        Issue.record("cannot listen")
        return
    }
    let listener = Int32(opened)
    defer { close(listener) }
    let port = try #require(Socket.localPort(listener))
    #expect(port > 0)
    #expect(Syscall.accept(listener) == .wouldBlock)
    #expect(Socket.listenTCP4(host: "not an address", port: 0, backlog: 8) == .failed(errno: EINVAL))
    guard case .done(let dialed) = Socket.connectTCP4(host: "127.0.0.1", port: port) else {
        Issue.record("cannot connect")
        return
    }
    let client = Int32(dialed)
    defer { close(client) }
    var ready = pollfd(fd: listener, events: Int16(POLLIN), revents: 0)
    #expect(poll(&ready, 1, 10_000) == 1)
    let accepted = Syscall.accept(listener)
    guard case .done(let server) = accepted else {
        Issue.record("accept failed: \(accepted)")
        return
    }
    defer { close(Int32(server)) }
    #expect(Socket.pendingError(client) == 0)
    #expect(Socket.address(Int32(server), peer: false)?.port == port)
    #expect(Socket.address(Int32(server), peer: false)?.ip == [127, 0, 0, 1])
    #expect(Socket.address(client, peer: true)?.port == port)
    // Loopback is a short path: both ends get the fixed 512 KiB send buffer (the kernel reports it doubled), which
    // they did not have before (autotuning starts at `tcp_wmem`'s 16 KiB default).
    for end in [client, Int32(server)] {
        #expect(sendBuffer(end) != 2 * 512 * 1024)
        let rtt = try #require(Socket.capSendBufferOnShortPath(end))
        #expect(rtt < 1_000)
        #expect(sendBuffer(end) == 2 * 512 * 1024)
    }
    // A descriptor that is not a TCP socket has no round trip to read.
    #expect(Socket.capSendBufferOnShortPath(listener + 10_000) == nil)
}

private func sendBuffer(_ fd: Int32) -> Int32 {
    var size: Int32 = 0
    var length = socklen_t(MemoryLayout<Int32>.size)
    getsockopt(fd, SOL_SOCKET, SO_SNDBUF, &size, &length)
    return size
}

/// A nonblocking Unix stream socket pair.
func socketPair() throws -> (Int32, Int32) {
    var fds: [Int32] = [-1, -1]
    let result = socketpair(AF_UNIX, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_NONBLOCK.rawValue), 0, &fds)
    try #require(result == 0)
    return (fds[0], fds[1])
}
