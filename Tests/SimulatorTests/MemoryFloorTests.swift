import Simulator
import Testing

@Test func floorWritesEveryLineItSchedules() throws {
    // One node of one cache line: every write lands on the same byte, read as 1, 2, 3, … before each increment.
    let shape = MemoryFloor.Shape(nodes: 1, bytesPerNode: 64, deliveries: 50, otherEvents: 100, pending: 7)
    let outcome = try #require(MemoryFloor.replay(shape))
    #expect(outcome.linesWritten == 50 * 2 + 100)
    #expect(outcome.checksum == UInt64(200 * 201 / 2))
}

@Test func floorReplaysFromItsSeed() throws {
    var shape = MemoryFloor.Shape(nodes: 300, bytesPerNode: 4096, deliveries: 20_000, otherEvents: 20_000, pending: 900)
    let first = try #require(MemoryFloor.replay(shape))
    #expect(first.linesWritten == 60_000)
    #expect(first.checksum >= 60_000)
    #expect(MemoryFloor.replay(shape) == first)
    shape.seed = 2
    #expect(try #require(MemoryFloor.replay(shape)).linesWritten == 60_000)
}

@Test(arguments: [
    MemoryFloor.Shape(nodes: 0, bytesPerNode: 64, deliveries: 1, otherEvents: 0, pending: 1),
    MemoryFloor.Shape(nodes: 2, bytesPerNode: 63, deliveries: 1, otherEvents: 0, pending: 1),
    MemoryFloor.Shape(nodes: 2, bytesPerNode: 64, deliveries: -1, otherEvents: 0, pending: 1),
    MemoryFloor.Shape(nodes: 2, bytesPerNode: 64, deliveries: 1, otherEvents: 0, pending: 0),
    MemoryFloor.Shape(nodes: 2, bytesPerNode: 64, deliveries: 1, otherEvents: 0, pending: 1, linesPerDelivery: 0),
    MemoryFloor.Shape(nodes: 1 << 20, bytesPerNode: 1 << 20, deliveries: 1, otherEvents: 0, pending: 1),
])
func floorRefusesShapesOutOfBounds(_ shape: MemoryFloor.Shape) {
    #expect(MemoryFloor.replay(shape) == nil)
}
