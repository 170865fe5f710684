/// A Yamux 1.0 session as a pure state machine: streams opened with SYN and acknowledged with ACK, per-stream
/// flow-control windows with window updates, half-close (FIN), reset (RST), ping and go-away, and a cap on concurrent
/// streams.
///
/// Bytes in, events and bytes out; the IO shell does the rest.
public struct YamuxSession: Sendable {
    /// The window every stream starts with: 256 KiB.
    public static let initialWindow: UInt32 = 256 * 1024

    /// What the session reports from received bytes.
    public enum Event: Equatable, Sendable {
        case streamOpened(UInt32)
        case data(UInt32, [UInt8])
        /// The remote side will send no more on this stream.
        case remoteClosed(UInt32)
        case streamReset(UInt32)
        case pong(UInt32)
        case goAway(code: UInt32)
    }

    /// Why a session operation failed or the peer's bytes were refused.
    public enum SessionError: Error, Equatable, Sendable {
        case protocolViolation(String)
        case streamLimit
        case unknownStream(UInt32)
        case closed
    }

    /// A data frame's payload still to arrive: for which stream, how much, whether it goes to the application,
    /// and whether the frame carried FIN.
    struct Payload {
        let stream: UInt32
        var remaining: Int
        let deliver: Bool
        let fin: Bool
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

    /// Whether this side dialed: clients open odd stream ids, servers even ones.
    public let isClient: Bool
    /// The most streams open at once; the peer's streams past it are reset.
    public let maxStreams: Int
    /// The largest window one stream may grow to.
    public let maxReceiveWindow: UInt32
    /// The most all streams' windows may add up to: what a peer can make this side buffer.
    public let receiveBudget: Int
    private var streams: [UInt32: Stream] = [:]
    private var nextID: UInt32
    /// The start of a frame header split across calls (fewer than 12 bytes).
    private var header: [UInt8] = []
    /// The data frame whose payload is arriving.
    private var current: Payload?
    private var refusedStreams = 0
    /// Whether either side has sent go-away; no new stream may then be opened.
    public private(set) var goneAway = false

    /// A session with no streams, its limits defaulting to 256 streams, 4 MiB windows and a 64 MiB budget.
    public init(
        isClient: Bool, maxStreams: Int = 256, maxReceiveWindow: UInt32 = 4 << 20, receiveBudget: Int = 64 << 20
    ) {
        self.isClient = isClient
        self.maxStreams = maxStreams
        self.maxReceiveWindow = max(Self.initialWindow, maxReceiveWindow)
        self.receiveBudget = receiveBudget
        nextID = isClient ? 1 : 2
    }

    /// The number of streams currently open.
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
    ///
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

    /// A ping carrying `opaque`; the peer's answer is reported as `.pong(opaque)`.
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

    /// Feeds received bytes; returns the events and the bytes to send back (ACKs, pongs, resets).
    ///
    /// A data frame's payload is handed out as its bytes arrive, without waiting for the whole frame: a frame's
    /// header is checked (window, stream state) when it is read, its payload then goes to the stream piece by piece,
    /// and its FIN takes effect after the last piece. So payloads are never gathered in a buffer of the session's,
    /// only a header split across calls is. A protocol violation throws; the shell then sends `goAway(code: 1)` and
    /// closes the connection.
    public mutating func receive(_ bytes: [UInt8]) throws(SessionError) -> (events: [Event], reply: [UInt8]) {
        var events: [Event] = []
        var reply: [UInt8] = []
        var input = bytes[...]
        while !input.isEmpty {
            if var payload = current {
                let take = min(payload.remaining, input.count)
                if payload.deliver && streams[payload.stream] != nil {
                    events.append(.data(payload.stream, take == bytes.count ? bytes : Array(input.prefix(take))))
                }
                input = input.dropFirst(take)
                payload.remaining -= take
                current = payload
                if payload.remaining == 0 {
                    current = nil
                    if payload.fin { remoteFinished(payload.stream, &events) }
                }
                continue
            }
            let frame: YamuxFrame
            if header.isEmpty && input.count >= YamuxFrame.headerLength {
                frame = try Self.parse(input.prefix(YamuxFrame.headerLength))
                input = input.dropFirst(YamuxFrame.headerLength)
            } else {
                let need = YamuxFrame.headerLength - header.count
                header += input.prefix(need)
                input = input.dropFirst(need)
                guard header.count == YamuxFrame.headerLength else { break }
                frame = try Self.parse(header[...])
                header.removeAll(keepingCapacity: true)
            }
            try receive(frame, &events, &reply)
        }
        return (events, reply)
    }

    private static func parse(_ bytes: ArraySlice<UInt8>) throws(SessionError) -> YamuxFrame {
        let frame: YamuxFrame?
        do {
            frame = try YamuxFrame.parse(bytes)
        } catch {
            throw .protocolViolation("\(error)")
        }
        guard let frame else { throw .protocolViolation("short frame header") }
        return frame
    }

    /// Acts on one frame's header; a data frame with a payload leaves `current` set to take its bytes.
    private mutating func receive(_ frame: YamuxFrame, _ events: inout [Event], _ reply: inout [UInt8])
        throws(SessionError)
    {
        let payloadLength = frame.type == .data ? Int(frame.length) : 0
        // A data frame can never be larger than a window: refuse it before taking any of it.
        if payloadLength > Int(maxReceiveWindow) {
            throw .protocolViolation("data frame of \(payloadLength) bytes exceeds the window")
        }
        if payloadLength > 0, let state = streams[frame.streamID], payloadLength > Int(state.receiveWindow) {
            throw .protocolViolation("stream \(frame.streamID) sent past its window")
        }
        // The payload of a frame that is refused or dropped is skipped as it arrives.
        let skip = Payload(stream: frame.streamID, remaining: payloadLength, deliver: false, fin: false)
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
                    if payloadLength > 0 { current = skip }
                    return
                }
                streams[id] = Stream()
                reply += YamuxFrame(type: .windowUpdate, flags: .ack, streamID: id, length: 0).header
                events.append(.streamOpened(id))
            }
            if frame.flags.contains(.rst) {
                if streams.removeValue(forKey: id) != nil { events.append(.streamReset(id)) }
                if payloadLength > 0 { current = skip }
                return
            }
            guard var state = streams[id] else {
                // Data for a stream we reset or never had: tell the peer. Window updates for a stream that
                // just ended are normal (the peer credits what it read) and are dropped.
                if frame.type == .data && !frame.flags.contains(.fin) {
                    reply += YamuxFrame(type: .windowUpdate, flags: .rst, streamID: id, length: 0).header
                }
                if payloadLength > 0 { current = skip }
                return
            }
            if frame.type == .windowUpdate {
                let (window, overflow) = state.sendWindow.addingReportingOverflow(frame.length)
                guard !overflow else { throw .protocolViolation("window overflow on stream \(id)") }
                state.sendWindow = window
            } else if payloadLength > 0 {
                guard UInt32(payloadLength) <= state.receiveWindow else {
                    throw .protocolViolation("stream \(id) sent past its window")
                }
                guard !state.remoteClosed else { throw .protocolViolation("data after FIN on stream \(id)") }
                state.receiveWindow -= UInt32(payloadLength)
                streams[id] = state
                current = Payload(
                    stream: id, remaining: payloadLength, deliver: true, fin: frame.flags.contains(.fin))
                return
            }
            streams[id] = state
            if frame.flags.contains(.fin) { remoteFinished(id, &events) }
            if let state = streams[id] { finish(id, state) }
        }
    }

    /// The peer's FIN on `stream` took effect (after the last byte of its frame).
    private mutating func remoteFinished(_ stream: UInt32, _ events: inout [Event]) {
        guard var state = streams[stream], !state.remoteClosed else { return }
        state.remoteClosed = true
        events.append(.remoteClosed(stream))
        finish(stream, state)
    }
}
