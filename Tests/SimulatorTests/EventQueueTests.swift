import Runtime
import Testing

@testable import Simulator

/// The calendar queue pops exactly what a sort by (time, insertion) would, however pushes and pops interleave.
@Test(arguments: [1, 2, 3])
func theEventQueuePopsInTimeThenInsertionOrder(seed: UInt64) {
    var random = SeededRandom(seed: seed)
    var queue = EventQueue(capacity: 16)
    // The reference: every pushed event with its insertion number; the earliest is found by a scan.
    var waiting: [(time: UInt64, order: Int, node: Int32)] = []
    var pushed = 0
    var now: UInt64 = 0
    func push(_ time: UInt64) {
        let node = Int32(pushed)
        queue.push(time: time, kind: .deliver, node: node)
        waiting.append((time, pushed, node))
        pushed += 1
    }
    func earliest() -> Int {
        waiting.indices.min { (waiting[$0].time, waiting[$0].order) < (waiting[$1].time, waiting[$1].order) }!
    }
    var popped = 0
    for step in 0..<20_000 {
        // Pushes: ties at `now`, within the bucket, a link latency ahead, past the calendar's span, and far ahead.
        let pushes = step < 200 ? 3 : Int(random.next() % 3)
        for _ in 0..<pushes {
            let delay: UInt64 =
                switch random.next() % 6 {
                case 0: 0
                case 1: random.next() % 500_000
                case 2: 20_000_000 + random.next() % 130_000_000
                case 3: 1_000_000_000 + random.next() % 2_000_000_000
                case 4: 5_000_000_000 + random.next() % 60_000_000_000
                default: random.next() % 1_048_576 * (random.next() % 4)
                }
            push(now + delay)
        }
        guard let (event, kind) = queue.pop() else {
            #expect(waiting.isEmpty)
            continue
        }
        let best = earliest()
        #expect(event.time == waiting[best].time && event.node == waiting[best].node)
        #expect(kind == .deliver)
        #expect(event.time >= now)
        now = event.time
        waiting.remove(at: best)
        popped += 1
        #expect(queue.count == waiting.count)
    }
    // Drain what is left.
    while let (event, _) = queue.pop() {
        let best = earliest()
        #expect(event.node == waiting[best].node)
        waiting.remove(at: best)
        popped += 1
    }
    #expect(waiting.isEmpty)
    #expect(popped == pushed)
    #expect(pushed > 20_000)
}
