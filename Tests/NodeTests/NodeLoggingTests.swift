import Foundation
import Node
import Runtime
import Synchronization
import Testing

private final class Lines: Sendable {
    let lines = Mutex<[String]>([])
    var all: [String] { lines.withLock { $0 } }
    func append(_ line: String) { lines.withLock { $0.append(line) } }
}

@Test func jsonLogFormatWritesOneJSONObjectPerLine() throws {
    let lines = Lines()
    let logging = try NodeLogging(
        format: "json", level: nil, clock: ManualClock(wall: WallTime(secondsSinceEpoch: 0)), output: lines.append)
    let logger = logging.logger("devnet")
    logger.info("shutting down")
    logger.info("stopped", ["head": "12"])
    logger.debug("dropped at the default level")
    #expect(lines.all.count == 2)
    for line in lines.all {
        let object = try #require(try JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: String])
        #expect(object["module"] == "devnet")
        #expect(object["level"] == "info")
        #expect(object["time"] == "1970-01-01T00:00:00.000Z")
    }
    #expect(
        lines.all.last
            == #"{"time":"1970-01-01T00:00:00.000Z","level":"info","module":"devnet","msg":"stopped","head":"12"}"#)
}

@Test func logfmtIsTheDefaultAndLevelsFilter() throws {
    let lines = Lines()
    let clock = ManualClock(wall: WallTime(secondsSinceEpoch: 0))
    let logger = try NodeLogging(format: nil, level: nil, clock: clock, output: lines.append).logger("p2p")
    logger.info("listening", ["peer": "12D3KooW"])
    #expect(lines.all == ["time=1970-01-01T00:00:00.000Z level=info module=p2p msg=listening peer=12D3KooW"])
    let quiet = try NodeLogging(format: "logfmt", level: "warning", clock: clock, output: lines.append).logger("p2p")
    quiet.info("dropped")
    quiet.warning("kept")
    #expect(lines.all.count == 2 && lines.all.last?.contains("level=warning module=p2p msg=kept") == true)
}

@Test func unknownLogFormatsAndLevelsAreErrors() {
    #expect(throws: NodeError.self) { try NodeLogging(format: "xml", level: nil) { _ in } }
    #expect(throws: NodeError.self) { try NodeLogging(format: nil, level: "loud") { _ in } }
    #expect(NodeError.invalidLogFormat("xml").description == "option --log-format expects logfmt or json, got 'xml'")
}
