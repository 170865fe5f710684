import Node
import Synchronization
import Testing

/// Records every start and stop, in order, across the services of one test.
private final class Journal: Sendable {
    let events = Mutex<[String]>([])
    var all: [String] { events.withLock { $0 } }
    func record(_ event: String) { events.withLock { $0.append(event) } }
}

private struct Refused: Error {}

private final class FakeService: Service {
    let name: String
    let journal: Journal
    let fails: Bool

    init(_ name: String, _ journal: Journal, fails: Bool = false) {
        self.name = name
        self.journal = journal
        self.fails = fails
    }

    func start() throws(NodeError) {
        if fails {
            journal.record("refuse \(name)")
            throw .serviceFailed(service: name, reason: Refused())
        }
        journal.record("start \(name)")
    }

    func stop() { journal.record("stop \(name)") }
}

@Test func servicesStartInOrderAndStopInReverse() throws {
    let journal = Journal()
    let group = ServiceGroup(["chain", "rpc", "producer"].map { FakeService($0, journal) })
    try group.run(started: { journal.record("started") }, until: { journal.record("signal") })
    #expect(
        journal.all == [
            "start chain", "start rpc", "start producer", "started", "signal", "stop producer", "stop rpc",
            "stop chain",
        ])
    group.stop()  // a second stop does nothing
    #expect(journal.all.count == 8)
}

@Test func aServiceThatFailsToStartStopsTheOnesBeforeItInReverse() {
    let journal = Journal()
    let group = ServiceGroup([
        FakeService("a", journal), FakeService("b", journal), FakeService("c", journal, fails: true),
        FakeService("d", journal),
    ])
    do {
        try group.run(started: { journal.record("started") }, until: { journal.record("signal") })
        Issue.record("the group ran although c refused to start")
    } catch {
        guard case .serviceFailed(let service, _) = error else {
            Issue.record("unexpected \(error)")
            return
        }
        #expect(service == "c")
    }
    #expect(journal.all == ["start a", "start b", "refuse c", "stop b", "stop a"])
}
