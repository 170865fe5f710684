/// A Yamux 1.0 session as a pure state machine: streams opened with SYN and acknowledged with ACK, per-stream
/// flow-control windows with window updates, half-close (FIN), reset (RST), ping and go-away, and a cap on
/// concurrent streams. Bytes in, events and bytes out; the IO shell does the rest.
public struct YamuxSession: Sendable {
    public static let initialWindow: UInt32 = 256 * 1024

    public enum Event: Equatable, Sendable {
        case streamOpened(UInt32)
        case data(UInt32, [UInt8])
        /// The remote side will send no more on this stream.
        case remoteClosed(UInt32)
        case streamReset(UInt32)
        case pong(UInt32)
        case goAway(code: UInt32)
    }

    public enum SessionError: Error, Equatable, Sendable {
        case protocolViolation(String)
        case streamLimit
        case unknownStream(UInt32)
        case closed
    }

    struct Stream {
        var sendWindow: UInt32 = YamuxSession.initialWindow
        var receiveWindow: UInt32 = YamuxSession.initialWindow
        /// The window this side grants: starts at 256 KiB and doubles while the application keeps up.
        var receiveTarget: UInt32 = YamuxSession.initialWindow
        /// Received and handed over but not yet credited back to the sender.
        var unacknowledged: UInt32 = 0
        var localClosed = false
        var remoteClosed = false
    }

    public let isClient: Bool
    public let maxStreams: Int
    /// The largest window one stream may grow to, and the most all streams' windows may add up to: what a peer
    /// can make this side buffer.
    public let maxReceiveWindow: UInt32
    public let receiveBudget: Int
    private var streams: [UInt32: Stream] = [:]
    private var nextID: UInt32
    private var buffer: [UInt8] = []
    private var bufferOffset = 0
    private var refusedStreams = 0
    public private(set) var goneAway = false

    public init(
        isClient: Bool, maxStreams: Int = 256, maxReceiveWindow: UInt32 = 4 << 20, receiveBudget: Int = 64 << 20
    ) {
        self.isClient = isClient
        self.maxStreams = maxStreams
        self.maxReceiveWindow = max(Self.initialWindow, maxReceiveWindow)
        self.receiveBudget = receiveBudget
        nextID = isClient ? 1 : 2
    }

    public var openStreams: Int { streams.count }

    /// How many bytes `stream` may send now.
    public func sendWindow(_ stream: UInt32) -> UInt32 { streams[stream]?.sendWindow ?? 0 }

    /// Opens a stream: its id and the SYN to send.
    public mutating func openStream() throws(SessionError) -> (id: UInt32, bytes: [UInt8]) {
        guard !goneAway else { throw .closed }
        guard streams.count < maxStreams else { throw .streamLimit }
        let id = nextID
        nextID += 2
        streams[id] = Stream()
        return (id, YamuxFrame(type: .windowUpdate, flags: .syn, streamID: id, length: 0).header)
    }

    /// Frames up to the send window of `data`; returns the bytes and how much of `data` they carry.
    public mutating func send(_ stream: UInt32, _ data: [UInt8]) throws(SessionError) -> (bytes: [UInt8], sent: Int) {
        guard var state = streams[stream] else { throw .unknownStream(stream) }
        guard !state.localClosed else { throw .closed }
        let count = min(data.count, Int(state.sendWindow))
        guard count > 0 || data.isEmpty else { return ([], 0) }
        state.sendWindow -= UInt32(count)
        streams[stream] = state
        return (YamuxFrame(type: .data, streamID: stream, length: UInt32(count)).header + data.prefix(count), count)
    }

    /// Takes `count` bytes (at most the send window) of `stream`'s window and returns the data frame header; the
    /// caller sends the header followed by exactly `count` bytes.
    public mutating func reserve(_ stream: UInt32, _ count: Int) throws(SessionError) -> [UInt8] {
        guard var state = streams[stream] else { throw .unknownStream(stream) }
        guard !state.localClosed else { throw .closed }
        guard count <= Int(state.sendWindow) else { throw .protocolViolation("send past the window") }
        state.sendWindow -= UInt32(count)
        streams[stream] = state
        return YamuxFrame(type: .data, streamID: stream, length: UInt32(count)).header
    }

    /// The application consumed `count` bytes of `stream`: credit them back once half a window has built up.
    /// A stream whose reader keeps up gets its window doubled (up to `maxReceiveWindow`, within the session's
    /// `receiveBudget`), so one stream can fill a fast link; data never buffers past the window granted.
    public mutating func consumed(_ stream: UInt32, _ count: Int) -> [UInt8] {
        guard var state = streams[stream] else { return [] }
        state.unacknowledged += UInt32(count)
        var out: [UInt8] = []
        if state.unacknowledged >= state.receiveTarget / 2 {
            var grow: UInt32 = 0
            if state.receiveTarget < maxReceiveWindow {
                let granted = streams.values.reduce(0) { $0 + Int($1.receiveTarget) }
                if granted + Int(state.receiveTarget) <= receiveBudget {
                    grow = min(state.receiveTarget, maxReceiveWindow - state.receiveTarget)
                }
            }
            let credit = state.unacknowledged + grow
            out = YamuxFrame(type: .windowUpdate, streamID: stream, length: credit).header
            state.receiveWindow += credit
            state.receiveTarget += grow
            state.unacknowledged = 0
        }
        streams[stream] = state
        return out
    }

    /// Half-closes `stream` (FIN).
    public mutating func close(_ stream: UInt32) -> [UInt8] {
        guard var state = streams[stream], !state.localClosed else { return [] }
        state.localClosed = true
        finish(stream, state)
        return YamuxFrame(type: .windowUpdate, flags: .fin, streamID: stream, length: 0).header
    }

    /// Resets `stream` (RST).
    public mutating func reset(_ stream: UInt32) -> [UInt8] {
        streams[stream] = nil
        return YamuxFrame(type: .windowUpdate, flags: .rst, streamID: stream, length: 0).header
    }

    public func ping(_ opaque: UInt32) -> [UInt8] {
        YamuxFrame(type: .ping, flags: .syn, streamID: 0, length: opaque).header
    }

    /// Ends the session normally (code 0) or for a protocol error (1).
    public mutating func goAway(code: UInt32 = 0) -> [UInt8] {
        goneAway = true
        return YamuxFrame(type: .goAway, streamID: 0, length: code).header
    }

    private mutating func finish(_ stream: UInt32, _ state: Stream) {
        streams[stream] = state.localClosed && state.remoteClosed ? nil : state
    }

    /// Feeds received bytes; returns the events and the bytes to send back (ACKs, pongs, resets). A protocol
    /// violation throws; the shell then sends `goAway(code: 1)` and closes the connection.
    public mutating func receive(_ bytes: [UInt8]) throws(SessionError) -> (events: [Event], reply: [UInt8]) {
        if bufferOffset == buffer.count {
            buffer = bytes
            bufferOffset = 0
        } else {
            buffer += bytes
        }
        defer {
            if bufferOffset > 1 << 16 {
                buffer.removeFirst(bufferOffset)
                bufferOffset = 0
            }
        }
        var events: [Event] = []
        var reply: [UInt8] = []
        while true {
            let frame: YamuxFrame?
            do {
                frame = try YamuxFrame.parse(buffer[bufferOffset...])
            } catch {
                throw .protocolViolation("\(error)")
            }
            guard let frame else { break }
            let payloadLength = frame.type == .data ? Int(frame.length) : 0
            // A data frame can never be larger than a window: refuse it before buffering it.
            if payloadLength > Int(maxReceiveWindow) {
                throw .protocolViolation("data frame of \(payloadLength) bytes exceeds the window")
            }
            if payloadLength > 0, let state = streams[frame.streamID], payloadLength > Int(state.receiveWindow) {
                throw .protocolViolation("stream \(frame.streamID) sent past its window")
            }
            let start = bufferOffset + YamuxFrame.headerLength
            guard buffer.count >= start + payloadLength else { break }
            let payload = Array(buffer[start..<(start + payloadLength)])
            bufferOffset = start + payloadLength
            switch frame.type {
            case .ping:
                if frame.flags.contains(.syn) {
                    reply += YamuxFrame(type: .ping, flags: .ack, streamID: 0, length: frame.length).header
                } else if frame.flags.contains(.ack) {
                    events.append(.pong(frame.length))
                }
            case .goAway:
                goneAway = true
                events.append(.goAway(code: frame.length))
            case .data, .windowUpdate:
                let id = frame.streamID
                guard id != 0 else { throw .protocolViolation("stream frame on stream 0") }
                if frame.flags.contains(.syn) {
                    guard streams[id] == nil else { throw .protocolViolation("SYN for open stream \(id)") }
                    guard (id % 2 == 1) != isClient else { throw .protocolViolation("SYN with our parity on \(id)") }
                    if streams.count >= maxStreams || goneAway {
                        // Refused with a reset; a peer that keeps opening past the cap is flooding.
                        refusedStreams += 1
                        guard refusedStreams <= maxStreams else {
                            throw .protocolViolation("stream flood: \(refusedStreams) streams refused")
                        }
                        reply += YamuxFrame(type: .windowUpdate, flags: .rst, streamID: id, length: 0).header
                        continue
                    }
                    streams[id] = Stream()
                    reply += YamuxFrame(type: .windowUpdate, flags: .ack, streamID: id, length: 0).header
                    events.append(.streamOpened(id))
                }
                if frame.flags.contains(.rst) {
                    if streams.removeValue(forKey: id) != nil { events.append(.streamReset(id)) }
                    continue
                }
                guard var state = streams[id] else {
                    // Data for a stream we reset or never had: tell the peer. Window updates for a stream that
                    // just ended are normal (the peer credits what it read) and are dropped.
                    if frame.type == .data && !frame.flags.contains(.fin) {
                        reply += YamuxFrame(type: .windowUpdate, flags: .rst, streamID: id, length: 0).header
                    }
                    continue
                }
                if frame.type == .windowUpdate {
                    let (window, overflow) = state.sendWindow.addingReportingOverflow(frame.length)
                    guard !overflow else { throw .protocolViolation("window overflow on stream \(id)") }
                    state.sendWindow = window
                } else if !payload.isEmpty {
                    guard UInt32(payload.count) <= state.receiveWindow else {
                        throw .protocolViolation("stream \(id) sent past its window")
                    }
                    guard !state.remoteClosed else { throw .protocolViolation("data after FIN on stream \(id)") }
                    state.receiveWindow -= UInt32(payload.count)
                    events.append(.data(id, payload))
                }
                if frame.flags.contains(.fin) && !state.remoteClosed {
                    state.remoteClosed = true
                    events.append(.remoteClosed(id))
                }
                finish(id, state)
            }
        }
        return (events, reply)
    }
}
