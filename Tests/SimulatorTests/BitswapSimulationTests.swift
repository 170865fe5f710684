import Simulator
import Testing

/// A small swarm: every peer ends with the whole blob, the seeder uploads far less than one copy per peer, and
/// the run replays from its seed.
@Test func bitswapSwarmDeliversTheBlobToEveryPeerAndReplays() throws {
    var config = BitswapSimulationConfig()
    config.nodes = 60
    config.blobBytes = 4 * 1024 * 1024
    config.degree = 6
    config.seed = 3
    var first = try BitswapSimulation(config)
    let report = first.run()
    #expect(report.completed == 60, "\(report)")
    #expect(report.blocks == 17)
    #expect(report.penalties == 0)
    #expect(report.seederCopies < 30, "\(report)")
    #expect(report.completionSecondsMax >= report.oneCopySeconds)
    var second = try BitswapSimulation(config)
    #expect(second.run() == report)
    config.seed = 4
    var other = try BitswapSimulation(config)
    #expect(other.run().traceHash != report.traceHash)
}

@Test func bitswapSimulationRefusesImpossibleSettings() {
    var config = BitswapSimulationConfig()
    config.nodes = 1
    #expect(throws: SimulatorError.self) { try BitswapSimulation(config) }
    config.nodes = 10
    config.degree = 10
    #expect(throws: SimulatorError.self) { try BitswapSimulation(config) }
}
