import Codec
import Runtime

/// Two connection state machines wired back to back in memory, as a socket pair would be.
///
/// What one sends the other receives, in order, optionally cut into random pieces; when one side's connection
/// ends, the other sees the peer close once the last bytes arrived; a side with an output high-water mark hears
/// `.sent` for each piece delivered. No sockets, threads or clock: tests, benchmarks and the simulator step it
/// with the time they choose.
public struct ConnectionPair: Sendable {
    /// One end of the pair.
    public enum Side: Sendable, Equatable {
        /// The side that dialed.
        case dialer
        /// The side that accepted.
        case listener
    }

    /// The dialing side's machine.
    public var dialer: ConnectionUpgrade
    /// The accepting side's machine.
    public var listener: ConnectionUpgrade
    /// When set, every send is delivered in pieces of random length (1 to `maxPiece` bytes) drawn from it.
    public var chunking: SeededRandom?
    /// The longest piece when chunking.
    public var maxPiece = 4_096
    /// When set, each side's application consumes every byte delivered to it at once.
    public var consumesEverything = true
    /// Every action of the dialer except `.send`, in order, until `take(_:)` empties it.
    public private(set) var dialerActions: [ConnectionUpgrade.Action] = []
    /// Every action of the listener except `.send`, in order, until `take(_:)` empties it.
    public private(set) var listenerActions: [ConnectionUpgrade.Action] = []
    /// Bytes sent by the dialer so far.
    public private(set) var dialerBytesSent = 0
    /// Bytes sent by the listener so far.
    public private(set) var listenerBytesSent = 0
    private var toListener: [[UInt8]] = []
    private var toDialer: [[UInt8]] = []
    private var dialerEnded = false
    private var listenerEnded = false
    private var dialerSawClose = false
    private var listenerSawClose = false

    /// A pair of machines not yet connected.
    public init(dialer: ConnectionUpgrade, listener: ConnectionUpgrade, chunking: SeededRandom? = nil) {
        self.dialer = dialer
        self.listener = listener
        self.chunking = chunking
    }

    /// A dialer with `dialerKeys` expecting `expectedPeer` and a listener with `listenerKeys`, sharing `config`
    /// and `stopAt`, both created at `now`.
    public init(
        dialerKeys: ConnectionKeys, listenerKeys: ConnectionKeys, expectedPeer: PeerID?,
        dialerProtocols: [String] = [], listenerProtocols: [String] = [], config: ConnectionConfig = ConnectionConfig(),
        stopAt: ConnectionUpgrade.Checkpoint? = nil, chunking: SeededRandom? = nil, now: Instant
    ) {
        self.init(
            dialer: ConnectionUpgrade(
                role: .dialer(expectedPeer: expectedPeer), keys: dialerKeys, supportedProtocols: dialerProtocols,
                config: config, stopAt: stopAt, now: now),
            listener: ConnectionUpgrade(
                role: .listener, keys: listenerKeys, supportedProtocols: listenerProtocols, config: config,
                stopAt: stopAt, now: now),
            chunking: chunking)
    }

    /// Connects both sides and runs until neither has anything to say.
    public mutating func start(now: Instant) {
        record(listener.on(.connected, now: now), from: .listener, now: now)
        record(dialer.on(.connected, now: now), from: .dialer, now: now)
        run(now: now)
    }

    /// Hands `event` to one side, then runs until quiet.
    public mutating func send(_ event: ConnectionUpgrade.Event, to side: Side, now: Instant) {
        switch side {
        case .dialer: record(dialer.on(event, now: now), from: .dialer, now: now)
        case .listener: record(listener.on(event, now: now), from: .listener, now: now)
        }
        run(now: now)
    }

    /// Resumes one side from its checkpoint, then runs until quiet.
    public mutating func resume(_ side: Side, now: Instant) {
        switch side {
        case .dialer: record(dialer.resume(now: now), from: .dialer, now: now)
        case .listener: record(listener.resume(now: now), from: .listener, now: now)
        }
        run(now: now)
    }

    /// Delivers raw bytes to `side` as if its peer had sent them (a harness breaking the protocol), then runs.
    public mutating func inject(_ bytes: [UInt8], to side: Side, now: Instant) {
        switch side {
        case .dialer: toDialer += pieces(bytes)
        case .listener: toListener += pieces(bytes)
        }
        run(now: now)
    }

    /// Returns one side's recorded actions and forgets them.
    public mutating func take(_ side: Side) -> [ConnectionUpgrade.Action] {
        switch side {
        case .dialer:
            defer { dialerActions = [] }
            return dialerActions
        case .listener:
            defer { listenerActions = [] }
            return listenerActions
        }
    }

    /// Moves bytes both ways, a piece at a time in turn, until nothing is in flight.
    public mutating func run(now: Instant) {
        while true {
            if !toListener.isEmpty {
                let piece = toListener.removeFirst()
                record(listener.on(.received(piece[...]), now: now), from: .listener, now: now)
                if dialer.config.outputHighWater != nil {
                    record(dialer.on(.sent(count: piece.count), now: now), from: .dialer, now: now)
                }
            }
            if !toDialer.isEmpty {
                let piece = toDialer.removeFirst()
                record(dialer.on(.received(piece[...]), now: now), from: .dialer, now: now)
                if listener.config.outputHighWater != nil {
                    record(listener.on(.sent(count: piece.count), now: now), from: .listener, now: now)
                }
            }
            if toListener.isEmpty && dialerEnded && !listenerSawClose {
                listenerSawClose = true
                record(listener.on(.peerClosed, now: now), from: .listener, now: now)
            }
            if toDialer.isEmpty && listenerEnded && !dialerSawClose {
                dialerSawClose = true
                record(dialer.on(.peerClosed, now: now), from: .dialer, now: now)
            }
            if toListener.isEmpty && toDialer.isEmpty { return }
        }
    }

    private mutating func record(_ actions: [ConnectionUpgrade.Action], from side: Side, now: Instant) {
        var consumed: [(UInt32, Int)] = []
        for action in actions {
            switch action {
            case .send(let bytes):
                if side == .dialer {
                    dialerBytesSent += bytes.count
                    toListener += pieces(bytes)
                } else {
                    listenerBytesSent += bytes.count
                    toDialer += pieces(bytes)
                }
                continue
            case .close, .protocolViolation:
                if side == .dialer { dialerEnded = true } else { listenerEnded = true }
            case .streamData(let stream, let bytes):
                if consumesEverything { consumed.append((stream, bytes.count)) }
            default:
                break
            }
            if side == .dialer { dialerActions.append(action) } else { listenerActions.append(action) }
        }
        for (stream, count) in consumed {
            let more =
                side == .dialer
                ? dialer.on(.consumed(stream: stream, count: count), now: now)
                : listener.on(.consumed(stream: stream, count: count), now: now)
            record(more, from: side, now: now)
        }
    }

    /// `bytes` as the pieces they arrive in.
    private mutating func pieces(_ bytes: [UInt8]) -> [[UInt8]] {
        guard !bytes.isEmpty else { return [] }
        guard var random = chunking else { return [bytes] }
        var out: [[UInt8]] = []
        var offset = 0
        while offset < bytes.count {
            let length = min(bytes.count - offset, 1 + Int(random.next() % UInt64(maxPiece)))
            out.append(Array(bytes[offset..<(offset + length)]))
            offset += length
        }
        chunking = random
        return out
    }
}
