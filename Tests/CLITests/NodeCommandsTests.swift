import Foundation
import Node
import Synchronization
import TestSupport
import Testing

@testable import openledger

/// Runs the real `openledger` command tree in this process, capturing what it writes.
private func runCommand(_ arguments: [String]) -> (status: Int32, stdout: String, stderr: String) {
    let lock = NSLock()
    nonisolated(unsafe) var out = ""
    nonisolated(unsafe) var err = ""
    var output = CommandOutput(
        write: { text in lock.withLock { out += text } }, writeError: { text in lock.withLock { err += text } })
    let status = CommandLineInterface(root: Commands.root, version: "test").run(arguments, output: &output)
    return lock.withLock { (status, out, err) }
}

private func file(_ name: String, _ text: String) throws -> String {
    let path = DevnetProcess.temporaryDirectory("cli-config") + "/" + name
    try text.write(toFile: path, atomically: true, encoding: .utf8)
    return path
}

/// Every command that reads the network config fails with exit 1 and a message naming the file when the file
/// is missing, is not JSON, or holds invalid values — none falls back to defaults.
@Test func badConfigsFailNamingTheFileInEveryCommand() throws {
    let missing = "/nonexistent/openledger.json"
    let broken = try file("broken.json", "{ nope")
    let root = Fixtures.packageRoot.appendingPathComponent("netconfig/devnet.json")
    let invalid = try file(
        "invalid.json",
        String(decoding: try Data(contentsOf: root), as: UTF8.self).replacingOccurrences(
            of: "\"chainId\": 16120033", with: "\"chainId\": 0"))
    let data = DevnetProcess.temporaryDirectory("cli-data")
    let commands: [[String]] = [
        ["devnet", "--rpc-port", "0", "--data-dir", data],
        ["light", "head", "--rpc", "http://127.0.0.1:1"],
        ["attribute", "run", "--index", data, "--response", root.path, "--min-span", "8", "--max-records", "2"],
    ]
    for command in commands {
        for (path, reason) in [
            (missing, "cannot read network config \(missing)"), (broken, "\(broken): malformed network config"),
            (invalid, "\(invalid): malformed network config devnet: chainId must be positive"),
        ] {
            var arguments = command + ["--config", path]
            if command[0] == "attribute" {
                // The index must exist for `attribute run` to reach its parameters.
                arguments[3] = try indexDirectory()
            }
            let result = runCommand(arguments)
            #expect(result.status == 1, "\(arguments)")
            #expect(result.stderr.contains(reason), "\(arguments): \(result.stderr)")
            #expect(result.stdout.isEmpty)
        }
    }
}

/// An attribution index of one record, built once.
private func indexDirectory() throws -> String {
    let directory = DevnetProcess.temporaryDirectory("cli-index")
    let records = try file(
        "records.jsonl", #"{"contributor": "0xf39Fd6e51aad88F6F4ce6aB8827279cffFb92266", "text": "a record"}"#)
    let result = runCommand(["attribute", "index", "--records", records, "--out", directory])
    #expect(result.status == 0, "\(result.stderr)")
    return directory
}

@Test func logOptionsAreCheckedAsUsage() {
    for arguments in [
        ["devnet", "--log-format", "xml"], ["devnet", "--log-level", "loud"],
        ["p2p", "listen", "--log-format", "text"],
    ] {
        let result = runCommand(arguments)
        #expect(result.status == 64, "\(arguments)")
        #expect(result.stderr.contains("--log-"), "\(result.stderr)")
    }
}

@Test func configAndLogOptionsAreDeclaredOnce() {
    func options(_ spec: CommandSpec) -> [OptionSpec] { spec.options + spec.subcommands.flatMap(options) }
    let all = options(Commands.root)
    let configs = all.filter { $0.name == "config" }
    #expect(configs.count >= 4)
    #expect(Set(configs.map(\.help)).count == 1)
    #expect(Set(configs.map { $0.valueName ?? "" }) == ["FILE"])
    #expect(Set(all.filter { $0.name == "log-format" }.map(\.help)).count == 1)
    #expect(Set(all.filter { $0.name == "log-level" }.map(\.help)).count == 1)
}

@Test func theDevnetWarnsOfAChainLeftInItsFormerDefaultDirectory() throws {
    let base = NSTemporaryDirectory() + "former-\(UUID().uuidString)"
    defer { try? FileManager.default.removeItem(atPath: base) }
    let former = DataDirectory(root: base + "/devnet")
    let current = DataDirectory(root: base + "/node")
    try FileManager.default.createDirectory(atPath: former.root, withIntermediateDirectories: true)
    let lines = Mutex<[String]>([])
    let logger = NodeLogging(format: .logfmt, level: .info) { line in lines.withLock { $0.append(line) } }.logger(
        "devnet")
    DevnetCommand.warnOfFormerChain(current, former: former, logger)
    #expect(lines.withLock { $0 }.isEmpty)
    #expect(FileManager.default.createFile(atPath: former.chainStore, contents: Data()))
    DevnetCommand.warnOfFormerChain(current, former: former, logger)
    let logged = lines.withLock { $0 }
    #expect(logged.count == 1)
    let line = try #require(logged.first)
    #expect(line.contains("level=warning"))
    #expect(line.contains("old=\(former.root)") && line.contains("new=\(current.root)"))
    #expect(line.contains("mv \(former.root)/chain.sqlite* \(current.root)/"))
    #expect(line.contains("--data-dir \(former.root)"))
}
