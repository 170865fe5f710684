import Runtime

/// What a run of the simulator would cost on this machine if the routers did nothing but what no router can skip:
/// the reference against which the simulator's speed is measured (docs/simulator.md, "The floor").
///
/// It replays a run's shape, not its protocol: a number of events (a run's RPC arrivals and heartbeats) through the
/// simulator's own event queue with about as many waiting as in the run, over as many nodes, each owning a record
/// of a given size (the run's memory per node, or less). Each event pops the earliest, writes cache lines at seeded
/// random offsets of its node's record (`linesPerDelivery` for an RPC's arrival, where a gossipsub router at least
/// updates the sender's counters and the message's entry in its seen cache; one for any other event), and
/// schedules a successor at a random node 20–150 ms later, as a forwarded RPC would be. No hashing, no allocation,
/// no protocol.
public enum MemoryFloor {
    /// The shape of the run to replay.
    public struct Shape: Sendable, Equatable {
        /// Nodes, each owning one record.
        public var nodes: Int
        /// The size of a node's record (whole cache lines of it are used).
        public var bytesPerNode: Int
        /// RPC arrivals.
        public var deliveries: Int
        /// Every other event.
        public var otherEvents: Int
        /// Events waiting in the queue, on average.
        public var pending: Int
        /// Cache lines an RPC's arrival writes.
        public var linesPerDelivery: Int
        /// Fixes the offsets, the nodes and the times.
        public var seed: UInt64

        /// A shape; two lines per arrival unless said.
        public init(
            nodes: Int, bytesPerNode: Int, deliveries: Int, otherEvents: Int, pending: Int,
            linesPerDelivery: Int = 2, seed: UInt64 = 1
        ) {
            self.nodes = nodes
            self.bytesPerNode = bytesPerNode
            self.deliveries = deliveries
            self.otherEvents = otherEvents
            self.pending = pending
            self.linesPerDelivery = linesPerDelivery
            self.seed = seed
        }
    }

    /// What a replay did: the lines it wrote, and the sum of the bytes it read before each write (so that no part
    /// of it can be left out by the compiler).
    public struct Outcome: Sendable, Equatable {
        /// Cache lines written.
        public var linesWritten: Int
        /// The bytes read, summed.
        public var checksum: UInt64
    }

    /// The most record bytes a replay allocates: 64 GiB.
    public static let maximumBytes = 64 << 30
    /// The most events a replay runs (and waits on): 2^32.
    public static let maximumEvents = 1 << 32

    /// Replays `shape`; nil when its sizes are out of bounds (no nodes, records under one cache line, more than
    /// `maximumBytes` of records or `maximumEvents` events).
    public static func replay(_ shape: Shape) -> Outcome? {
        let line = 64
        let nodes = shape.nodes
        let events = shape.deliveries + shape.otherEvents
        guard nodes > 0, nodes <= Int(Int32.max), shape.bytesPerNode >= line, shape.deliveries >= 0,
            shape.otherEvents >= 0, events <= maximumEvents, shape.pending >= 1, shape.pending <= maximumEvents,
            (1...64).contains(shape.linesPerDelivery),
            shape.bytesPerNode <= maximumBytes / nodes
        else { return nil }
        let linesPerNode = shape.bytesPerNode / line
        let stride = linesPerNode * line
        let arena = UnsafeMutableRawPointer.allocate(byteCount: nodes * stride, alignment: 4096)
        defer { arena.deallocate() }
        arena.initializeMemory(as: UInt8.self, repeating: 1, count: nodes * stride)

        var random = SeededRandom(seed: shape.seed)
        var queue = EventQueue(capacity: shape.pending + 1)
        let spread: UInt64 = 130_000_000
        for _ in 0..<shape.pending {
            let node = Int32(truncatingIfNeeded: random.next() % UInt64(nodes))
            queue.push(time: random.next() % spread, kind: .deliver, node: node)
        }
        // Which of the events are deliveries: spread evenly, as a run interleaves them.
        var deliveriesLeft = shape.deliveries
        var othersLeft = shape.otherEvents
        var checksum: UInt64 = 0
        var written = 0
        while deliveriesLeft + othersLeft > 0, let (event, _) = queue.pop() {
            let draw = random.next() % UInt64(deliveriesLeft + othersLeft)
            let isDelivery = othersLeft == 0 || (deliveriesLeft > 0 && draw < UInt64(deliveriesLeft))
            if isDelivery { deliveriesLeft -= 1 } else { othersLeft -= 1 }
            let record = arena + Int(event.node) * stride
            for _ in 0..<(isDelivery ? shape.linesPerDelivery : 1) {
                let offset = Int(random.next() % UInt64(linesPerNode)) * line
                let byte = record.load(fromByteOffset: offset, as: UInt8.self)
                checksum &+= UInt64(byte)
                record.storeBytes(of: byte &+ 1, toByteOffset: offset, as: UInt8.self)
                written += 1
            }
            queue.push(
                time: event.time + 20_000_000 + random.next() % spread, kind: .deliver,
                node: Int32(truncatingIfNeeded: random.next() % UInt64(nodes)), peer: event.node)
        }
        return Outcome(linesWritten: written, checksum: checksum)
    }
}
