import Codec

/// One Yamux stream after its protocol was negotiated.
///
/// Reads and writes are async and backpressured: a read credits the peer's send window only for what it takes,
/// and a write returns once the connection has accepted its bytes within the stream's window and the
/// connection's output bound. The state lives on the loop thread.
public final class P2PStream: @unchecked Sendable {
    /// The Yamux stream id within its connection.
    public let id: UInt32
    /// The peer at the other end of the stream's connection.
    public let remotePeer: PeerID
    /// The protocol both sides agreed on.
    public let protocolID: String
    let connection: Connection

    // Loop-thread state.
    /// Received pieces not yet read, in order, from `inboundHead`; `inboundOffset` bytes of the first are read.
    private var inbound: [[UInt8]] = []
    private var inboundHead = 0
    private var inboundOffset = 0
    private(set) var buffered = 0
    var remoteClosed = false
    var localClosed = false
    var failure: P2PError?
    var pendingRead: (max: Int, continuation: CheckedContinuation<[UInt8]?, any Error>)?
    /// Resumed when the connection has sealed the whole write.
    var pendingWrite: CheckedContinuation<Void, any Error>?

    init(id: UInt32, connection: Connection, remotePeer: PeerID, protocolID: String) {
        self.id = id
        self.connection = connection
        self.remotePeer = remotePeer
        self.protocolID = protocolID
    }

    /// Buffers bytes the peer sent (kept as the piece they came in, not copied).
    func receive(_ bytes: [UInt8]) {
        guard !bytes.isEmpty else { return }
        inbound.append(bytes)
        buffered += bytes.count
    }

    /// Both sides closed, and the application read everything: the connection may forget the stream.
    var isDone: Bool { localClosed && remoteClosed && buffered == 0 && pendingRead == nil }

    /// Hands the pending read what is buffered (crediting the peer for it), or the stream's end or failure.
    func serviceRead() {
        guard let pending = pendingRead else { return }
        if let chunk = take(max: pending.max) {
            pendingRead = nil
            connection.consumed(self, chunk.count)
            pending.continuation.resume(returning: chunk)
        } else if let failure {
            pendingRead = nil
            pending.continuation.resume(throwing: failure)
        } else if remoteClosed {
            pendingRead = nil
            pending.continuation.resume(returning: nil)
            connection.retireIfDone(self)
        }
    }

    /// Ends the stream with `error`: the pending read and write throw it, and so does every later call.
    func fail(_ error: P2PError) {
        failure = error
        if let read = pendingRead {
            pendingRead = nil
            read.continuation.resume(throwing: error)
        }
        if let write = pendingWrite {
            pendingWrite = nil
            write.resume(throwing: error)
        }
    }

    /// Up to `max` buffered bytes, or nil when none.
    ///
    /// A piece that is read whole is handed over as it came, without a copy; smaller pieces, or part of one, are
    /// gathered into one array of at most `max` bytes.
    private func take(max: Int) -> [UInt8]? {
        guard buffered > 0 else { return nil }
        let first = inbound[inboundHead]
        let chunk: [UInt8]
        if inboundOffset == 0 && first.count <= max && (first.count >= 1 << 16 || first.count == buffered) {
            chunk = first
            popFirst()
        } else {
            let count = min(max, buffered)
            var gathered: [UInt8] = []
            gathered.reserveCapacity(count)
            var left = count
            while left > 0 {
                let piece = inbound[inboundHead]
                let available = piece.count - inboundOffset
                let take = min(left, available)
                gathered += piece[inboundOffset..<(inboundOffset + take)]
                left -= take
                if take == available {
                    popFirst()
                } else {
                    inboundOffset += take
                }
            }
            chunk = gathered
        }
        buffered -= chunk.count
        return chunk
    }

    /// Drops the first buffered piece.
    private func popFirst() {
        inbound[inboundHead] = []
        inboundHead += 1
        inboundOffset = 0
        if inboundHead == inbound.count {
            inbound.removeAll(keepingCapacity: inbound.capacity <= 64)
            inboundHead = 0
        } else if inboundHead >= 32 {
            inbound.removeFirst(inboundHead)
            inboundHead = 0
        }
    }

    /// Up to `maxBytes` of received data, waiting for some; nil once the peer has closed its side.
    public func read(maxBytes: Int = 1 << 20) async throws -> [UInt8]? {
        try await withCheckedThrowingContinuation { continuation in
            connection.loop.execute { [self] in
                guard pendingRead == nil else {
                    continuation.resume(throwing: P2PError.io("a read is already pending on stream \(id)"))
                    return
                }
                pendingRead = (max(1, maxBytes), continuation)
                serviceRead()
            }
        }
    }

    /// Exactly `count` bytes; throws if the stream ends first.
    public func read(exactly count: Int) async throws -> [UInt8] {
        var out: [UInt8] = []
        out.reserveCapacity(count)
        while out.count < count {
            guard let chunk = try await read(maxBytes: count - out.count) else {
                throw P2PError.connectionClosed("stream ended after \(out.count) of \(count) bytes")
            }
            out += chunk
        }
        return out
    }

    /// Everything until the peer closes its side, at most `limit` bytes.
    public func readAll(limit: Int) async throws -> [UInt8] {
        var out: [UInt8] = []
        while let chunk = try await read() {
            out += chunk
            guard out.count <= limit else { throw P2PError.limit("stream sent more than \(limit) bytes") }
        }
        return out
    }

    /// Sends `bytes`, waiting while the peer's window or the connection's output bound is full.
    public func write(_ bytes: [UInt8]) async throws {
        guard !bytes.isEmpty else { return }
        try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<Void, any Error>) in
            connection.loop.execute { [self] in
                if let failure {
                    continuation.resume(throwing: failure)
                    return
                }
                guard pendingWrite == nil, !localClosed else {
                    continuation.resume(throwing: P2PError.io("stream \(id) is closed for writing or busy"))
                    return
                }
                pendingWrite = continuation
                connection.write(self, bytes)
            }
        }
    }

    /// Half-closes: the peer reads end of stream; reading goes on.
    public func closeWrite() async {
        await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
            connection.loop.execute { [self] in
                connection.closeWrite(self)
                continuation.resume()
            }
        }
    }

    /// Aborts the stream both ways.
    public func reset() {
        connection.loop.execute { [self] in connection.reset(self) }
    }
}
