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

/// The simulator's event queue, ordered by (time, sequence): a calendar of 1.05 ms buckets over the next 2.1 s, the
/// current bucket as a small binary heap, and a 4-ary heap for anything later.
///
/// Most events are scheduled a link latency ahead (20–150 ms) and land in a bucket by one append; a bucket is
/// heapified when its turn comes, so the heap being sifted holds one millisecond of events, not the whole future
/// (hundreds of thousands at 10,000 nodes, megabytes of memory touched at random). The order is exactly the heap's:
/// every event of a bucket precedes every event of a later bucket, and within one the heap orders by (time,
/// sequence), so a run's trace is the same whichever queue holds its events.
///
/// The kind rides in the sequence's low byte so that an event stays 32 bytes; the sequence itself is the insertion
/// counter shifted left by 8, so ties still resolve in insertion order.
struct EventQueue {
    /// log2 of a bucket's width in nanoseconds (1,048,576 ns).
    private static let bucketShift: UInt64 = 20
    /// Buckets in the calendar (a power of two): 2,048 × 1.05 ms ≈ 2.1 s ahead.
    private static let bucketCount = 2_048

    /// The current bucket's events, a binary min-heap.
    private var current: [ScheduledEvent] = []
    /// The number of the current bucket (time >> bucketShift).
    private var currentBucket: UInt64 = 0
    /// The calendar: bucket number b (currentBucket < b < currentBucket + bucketCount) at b % bucketCount, unordered.
    private var buckets: [[ScheduledEvent]]
    /// Events in the calendar's buckets.
    private var inBuckets = 0
    /// Emptied buffers, handed to buckets that start filling: a bucket holds memory only while it holds events (were
    /// each to keep its room, every one of the 2,048 would end up with the largest any ever needed).
    private var spare: [[ScheduledEvent]] = []
    /// At most this many emptied buffers are kept.
    private static let spareLimit = 32
    /// Events at or past currentBucket + bucketCount when they were pushed.
    private var later = FourAryHeap()
    private var counter: UInt64 = 0

    /// Events waiting.
    var count: Int { current.count + inBuckets + later.count }

    init(capacity: Int) {
        buckets = Array(repeating: [], count: Self.bucketCount)
        current.reserveCapacity(min(capacity, 1 << 16))
    }

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
        let bucket = time >> Self.bucketShift
        if bucket <= currentBucket {
            Self.siftUp(event, in: &current)
        } else if bucket - currentBucket < UInt64(Self.bucketCount) {
            let index = Int(bucket & UInt64(Self.bucketCount - 1))
            if buckets[index].capacity == 0, let buffer = spare.popLast() { buckets[index] = buffer }
            buckets[index].append(event)
            inBuckets += 1
        } else {
            later.push(event)
        }
    }

    /// The earliest event of the current bucket, left in the queue: the next `pop()` gives it unless an earlier event
    /// is pushed first; nil when the current bucket is empty.
    @inline(__always)
    var next: ScheduledEvent? { current.first }

    /// The earliest event and its kind, removed from the queue; nil when empty.
    @inline(__always)
    mutating func pop() -> (ScheduledEvent, EventKind)? {
        guard let event = popRaw() else { return nil }
        return (event, Self.kind(of: event))
    }

    /// The earliest event, removed from the queue (its raw kind is `rawKind(of:)`); nil when empty.
    @inline(__always)
    mutating func popRaw() -> ScheduledEvent? {
        if current.isEmpty && !advance() { return nil }
        return Self.popMin(&current)
    }

    /// Makes the next bucket with events current (the calendar's next non-empty one, or the later heap's earliest,
    /// whichever comes first, with the later heap's events of that bucket); false when no event waits.
    private mutating func advance() -> Bool {
        var next = UInt64.max
        if inBuckets > 0 {
            var bucket = currentBucket + 1
            while buckets[Int(bucket & UInt64(Self.bucketCount - 1))].isEmpty { bucket += 1 }
            next = bucket
        }
        if let first = later.first { next = min(next, first.time >> Self.bucketShift) }
        guard next != .max else { return false }
        currentBucket = next
        let index = Int(next & UInt64(Self.bucketCount - 1))
        // The slot holds bucket `next`'s events only: every bucket in the calendar is less than bucketCount past it.
        if !buckets[index].isEmpty {
            var emptied: [ScheduledEvent] = []
            swap(&emptied, &buckets[index])
            swap(&current, &emptied)
            if spare.count < Self.spareLimit && emptied.capacity > 0 { spare.append(emptied) }
            inBuckets -= current.count
            Self.heapify(&current)
        }
        while let first = later.first, first.time >> Self.bucketShift == next {
            Self.siftUp(later.popMin()!, in: &current)
        }
        return true
    }

    /// The raw kind byte of an event.
    @inline(__always)
    static func rawKind(of event: ScheduledEvent) -> UInt8 { UInt8(truncatingIfNeeded: event.sequence) }

    @inline(__always)
    private static func kind(of event: ScheduledEvent) -> EventKind {
        EventKind(rawValue: UInt8(truncatingIfNeeded: event.sequence)) ?? .heartbeat
    }

    // MARK: The current bucket's binary heap

    @inline(__always)
    private static func siftUp(_ event: ScheduledEvent, in heap: inout [ScheduledEvent]) {
        heapPush(event, into: &heap, arityLog2: 1)
    }

    @inline(__always)
    private static func popMin(_ heap: inout [ScheduledEvent]) -> ScheduledEvent {
        let last = heap.removeLast()
        guard !heap.isEmpty else { return last }
        let top = heap[0]
        heap.withUnsafeMutableBufferPointer { siftDown(last, from: 0, in: $0) }
        return top
    }

    @inline(__always)
    private static func siftDown(
        _ event: ScheduledEvent, from start: Int, in buffer: UnsafeMutableBufferPointer<ScheduledEvent>
    ) {
        let count = buffer.count
        var parent = start
        while true {
            var child = 2 * parent + 1
            guard child < count else { break }
            if child + 1 < count && ScheduledEvent.precedes(buffer[child + 1], buffer[child]) { child += 1 }
            guard ScheduledEvent.precedes(buffer[child], event) else { break }
            buffer[parent] = buffer[child]
            parent = child
        }
        buffer[parent] = event
    }

    private static func heapify(_ heap: inout [ScheduledEvent]) {
        guard heap.count > 1 else { return }
        heap.withUnsafeMutableBufferPointer { buffer in
            var index = buffer.count / 2 - 1
            while index >= 0 {
                siftDown(buffer[index], from: index, in: buffer)
                index -= 1
            }
        }
    }
}

/// Appends `event` to a min-heap of 2^`arityLog2` children per node and sifts it up to its place.
@inline(__always)
private func heapPush(_ event: ScheduledEvent, into heap: inout [ScheduledEvent], arityLog2: Int) {
    heap.append(event)
    heap.withUnsafeMutableBufferPointer { buffer in
        var child = buffer.count - 1
        while child > 0 {
            let parent = (child - 1) >> arityLog2
            guard ScheduledEvent.precedes(event, buffer[parent]) else { break }
            buffer[child] = buffer[parent]
            child = parent
        }
        buffer[child] = event
    }
}

/// A 4-ary min-heap keyed by (time, sequence) over a flat array of plain structs: the events more than the
/// calendar's span ahead.
private struct FourAryHeap {
    private var heap: [ScheduledEvent] = []

    var count: Int { heap.count }
    var first: ScheduledEvent? { heap.first }

    mutating func push(_ event: ScheduledEvent) { heapPush(event, into: &heap, arityLog2: 2) }

    mutating func popMin() -> ScheduledEvent? {
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
}
