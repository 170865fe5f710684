import Codec
import Crypto
import Foundation
import Runtime
import Synchronization
import TestSupport
import Testing

@testable import P2P

#if canImport(Glibc)
    import Glibc
#endif

/// The dialer's side of a connection over a blocking socket: the real upgrade state machine, streams driven by hand.
final class SocketPeer {
    let fd: Int32
    let identity = LibP2PIdentity.ed25519(.generate())
    let staticKey = X25519PrivateKey.generate()
    var machine: ConnectionUpgrade
    var pending: [UInt8] = []
    let now = Instant(nanoseconds: 0)

    init(fd: Int32) throws {
        self.fd = fd
        let payload = try NoiseHandshakePayload(identity: identity, staticPublicKey: staticKey.publicKey).encoded
        machine = ConnectionUpgrade(
            role: .dialer(expectedPeer: nil),
            keys: ConnectionKeys(staticKey: staticKey, ephemeralKey: .generate(), payload: payload),
            supportedProtocols: [], now: now)
    }

    /// Hands `event` to the machine; its bytes wait in `pending`, the other actions are returned.
    func on(_ event: ConnectionUpgrade.Event) -> [ConnectionUpgrade.Action] {
        var others: [ConnectionUpgrade.Action] = []
        for action in machine.on(event, now: now) {
            if case .send(let bytes) = action { pending += bytes } else { others.append(action) }
        }
        return others
    }

    /// Writes `pending` in one go.
    func flush() {
        var offset = 0
        while offset < pending.count {
            let sent = pending[offset...].withUnsafeBytes {
                Glibc.send(fd, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL))
            }
            guard sent > 0 else { return }
            offset += sent
        }
        pending = []
    }

    /// Reads and handles the host's bytes until `done` holds for the machine or an action.
    func run(until done: (ConnectionUpgrade, [ConnectionUpgrade.Action]) -> Bool) throws {
        var buffer = [UInt8](repeating: 0, count: 65_536)
        while true {
            flush()
            let count = buffer.withUnsafeMutableBytes { Glibc.read(fd, $0.baseAddress, $0.count) }
            guard count > 0 else { throw P2PError.connectionClosed("socket peer: host closed") }
            let actions = on(.received(buffer[0..<count]))
            if done(machine, actions) { return }
        }
    }
}

/// A flag set from any thread.
final class Flag: Sendable {
    private let value = Atomic<Bool>(false)
    func set() { value.store(true, ordering: .releasing) }
    var isSet: Bool { value.load(ordering: .acquiring) }
}

/// A connection that a nested event ends (a read's credit whose flush fails as the peer has gone) stops carrying
/// out the outer event's actions: the stream the peer opened in the same bytes is neither made nor dispatched.
@Test(.timeLimit(.minutes(3))) func aConnectionEndedByANestedEventMakesNoFurtherStreams() async throws {
    // The test steps the peer by hand between loop jobs: no deadline of the host may end the connection meanwhile.
    var config = HostConfig()
    config.handshakeTimeout = 600
    config.idleTimeout = 600
    let server = try P2PHost(identity: .ed25519(.generate()), config: config)
    defer { server.close() }
    let reading = Mutex<P2PStream?>(nil)
    let lateDispatched = Flag()
    server.handle("/test/read/1.0.0") { stream in
        reading.withLock { $0 = stream }
        _ = try? await stream.read()
    }
    server.handle("/test/late/1.0.0") { _ in lateDispatched.set() }
    var fds: [Int32] = [-1, -1]
    try #require(socketpair(AF_UNIX, Int32(SOCK_STREAM.rawValue), 0, &fds) == 0)
    let (hostEnd, peerEnd) = (fds[0], fds[1])
    _ = fcntl(hostEnd, F_SETFL, fcntl(hostEnd, F_GETFL) | O_NONBLOCK)
    let remote = try Multiaddr("/ip4/127.0.0.1/tcp/1")
    let connection = await withCheckedContinuation { continuation in
        server.loop.execute { continuation.resume(returning: server.adoptInbound(hostEnd, remoteAddress: remote)) }
    }
    func onLoop<T: Sendable>(_ body: @escaping @Sendable () -> T) async -> T {
        await withCheckedContinuation { continuation in server.loop.execute { continuation.resume(returning: body()) } }
    }

    // The upgrade, and a stream whose handler reads.
    let peer = try await onOwnThread { () throws -> Handed<SocketPeer> in
        let peer = try SocketPeer(fd: peerEnd)
        _ = peer.on(.connected)
        try peer.run { machine, _ in machine.isOpen }
        _ = peer.on(.openStream(protocols: ["/test/read/1.0.0"], request: 1))
        var stream: UInt32?
        try peer.run { _, actions in
            for case .outboundStreamReady(_, let id, _) in actions { stream = id }
            return stream != nil
        }
        return Handed(peer)
    }.value
    // Until the handler's read is pending on the loop (each check is a round trip through it).
    while await onLoop({ reading.withLock { $0 }?.pendingRead == nil }) { await Task.yield() }

    // Data for the reading stream, then a new stream, in one write; then the peer leaves. The data's read credits
    // the window and flushes the new stream's answer into a socket whose peer is gone: the connection ends inside
    // that nested event, before the outer one reaches the new stream.
    let readingID = try #require(reading.withLock { $0 }?.id)
    _ = peer.on(.write(stream: readingID, bytes: Array("hello".utf8)))
    _ = peer.on(.openStream(protocols: ["/test/late/1.0.0"], request: 2))
    // Written and closed in one loop job, so the host reads the bytes only once the peer has gone.
    let handed = Handed(peer)
    await onLoop {
        handed.value.flush()
        close(peerEnd)
    }

    while await onLoop({ !connection.isClosed }) { await Task.yield() }
    let left = await onLoop { connection.streams.count }
    #expect(left == 0)
    #expect(!lateDispatched.isSet)
}
