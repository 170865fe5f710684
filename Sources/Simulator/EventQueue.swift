/// What a scheduled event does.
enum EventKind: UInt8 {
    /// An RPC arrives at `node` from `peer` (its bytes in the RPC slot `slot`).
    case deliver = 0
    /// `node`'s heartbeat fires.
    case heartbeat = 1
    /// `node` publishes message number `slot`.
    case publish = 2
    /// `node`'s dial of `peer` completes: both routers learn of the new connection.
    case connect = 3
    /// `node` goes offline (churn).
    case leave = 4
    /// `node` comes back online (churn).
    case join = 5
    /// A byzantine `node` acts (spam, IWANT flood, GRAFT storm) and schedules its next round.
    case attack = 6
    /// `node`'s uplink has finished an RPC: the next queued one starts.
    case uplink = 7
}

/// One scheduled event: 32 bytes, no references, so the queue moves plain values.
struct ScheduledEvent {
    /// Simulated nanoseconds.
    var time: UInt64
    /// Insertion order, breaking ties in `time` so the queue is a total order (determinism).
    var sequence: UInt64
    /// The node that handles the event.
    var node: Int32
    /// The other node (the sender of a delivery, the peer of a dial), or -1.
    var peer: Int32
    /// The RPC slot of a delivery, the message number of a publish; otherwise 0.
    var slot: Int32
    /// The RPC's encoded size in bytes (deliveries), else 0.
    var size: Int32

    @inline(__always)
    static func precedes(_ lhs: ScheduledEvent, _ rhs: ScheduledEvent) -> Bool {
        lhs.time != rhs.time ? lhs.time < rhs.time : lhs.sequence < rhs.sequence
    }
}

/// The simulator's event queue: a 4-ary min-heap keyed by (time, sequence) over a flat array of plain structs
/// (half the levels of a binary heap, and a node's four children share a cache line or two).
///
/// The kind rides in the sequence's low byte so that an event stays 32 bytes; the sequence itself is the insertion
/// counter shifted left by 8, so ties still resolve in insertion order.
struct EventQueue {
    private var heap: [ScheduledEvent] = []
    private var counter: UInt64 = 0

    /// Events waiting.
    var count: Int { heap.count }

    init(capacity: Int) { heap.reserveCapacity(capacity) }

    /// Schedules an event of `kind` at `time`.
    @inline(__always)
    mutating func push(time: UInt64, kind: EventKind, node: Int32, peer: Int32 = -1, slot: Int32 = 0, size: Int32 = 0) {
        push(time: time, rawKind: kind.rawValue, node: node, peer: peer, slot: slot, size: size)
    }

    /// Schedules an event whose kind is a raw byte (a simulation with kinds of its own, such as the DHT's).
    @inline(__always)
    mutating func push(time: UInt64, rawKind: UInt8, node: Int32, peer: Int32 = -1, slot: Int32 = 0, size: Int32 = 0) {
        counter &+= 1
        let event = ScheduledEvent(
            time: time, sequence: counter << 8 | UInt64(rawKind), node: node, peer: peer, slot: slot, size: size)
        heap.append(event)
        var child = heap.count - 1
        heap.withUnsafeMutableBufferPointer { buffer in
            while child > 0 {
                let parent = (child - 1) >> 2
                guard ScheduledEvent.precedes(event, buffer[parent]) else { break }
                buffer[child] = buffer[parent]
                child = parent
            }
            buffer[child] = event
        }
    }

    /// The earliest event and its kind, removed from the queue; nil when empty.
    @inline(__always)
    mutating func pop() -> (ScheduledEvent, EventKind)? {
        guard let event = popRaw() else { return nil }
        return (event, Self.kind(of: event))
    }

    /// The earliest event, removed from the queue (its raw kind is `rawKind(of:)`); nil when empty.
    @inline(__always)
    mutating func popRaw() -> ScheduledEvent? {
        guard let last = heap.popLast() else { return nil }
        guard !heap.isEmpty else { return last }
        let top = heap[0]
        heap.withUnsafeMutableBufferPointer { buffer in
            let count = buffer.count
            var parent = 0
            while true {
                let first = 4 * parent + 1
                guard first < count else { break }
                var child = first
                for other in (first + 1)..<min(first + 4, count)
                where ScheduledEvent.precedes(buffer[other], buffer[child]) {
                    child = other
                }
                guard ScheduledEvent.precedes(buffer[child], last) else { break }
                buffer[parent] = buffer[child]
                parent = child
            }
            buffer[parent] = last
        }
        return top
    }

    /// The raw kind byte of an event.
    @inline(__always)
    static func rawKind(of event: ScheduledEvent) -> UInt8 { UInt8(truncatingIfNeeded: event.sequence) }

    @inline(__always)
    private static func kind(of event: ScheduledEvent) -> EventKind {
        EventKind(rawValue: UInt8(truncatingIfNeeded: event.sequence)) ?? .heartbeat
    }
}
