import Foundation
import P2P
import Testing

@testable import openledger

/// Captures what a command writes.
private final class Captured: @unchecked Sendable {
    private let lock = NSLock()
    private var out = ""
    private var err = ""

    var stdout: String { lock.withLock { out } }
    var stderr: String { lock.withLock { err } }

    var output: CommandOutput {
        CommandOutput(
            write: { text in self.lock.withLock { self.out += text } },
            writeError: { text in self.lock.withLock { self.err += text } })
    }
}

private let sample = CommandSpec(
    name: "tool", summary: "A sample tree.",
    subcommands: [
        CommandSpec(
            name: "greet", summary: "Greets.",
            arguments: [ArgumentSpec(name: "who", help: "Whom to greet.")],
            options: [
                OptionSpec(name: "times", valueName: "N", help: "How often.", defaultValue: "1"),
                OptionSpec(name: "loud", help: "Shout."),
            ],
            action: { arguments, output throws(CLIError) in
                let times = try arguments.int("times", in: 1...3) ?? 1
                for _ in 0..<times {
                    let text = "hello \(arguments.positionals[0])"
                    output.line(arguments.flag("loud") ? text.uppercased() : text)
                }
            }),
        CommandSpec(
            name: "tag", summary: "Tags.",
            options: [OptionSpec(name: "tag", valueName: "T", help: "A tag.", repeatable: true)],
            action: { arguments, output throws(CLIError) in
                output.line(arguments.strings("tag").joined(separator: ","))
            }),
        CommandSpec(
            name: "fail", summary: "Fails.",
            action: { _, _ throws(CLIError) in throw .failure("it broke") }),
    ])

private func run(_ arguments: [String]) -> (status: Int32, stdout: String, stderr: String) {
    let captured = Captured()
    var output = captured.output
    let status = CommandLineInterface(root: sample, version: "9.9").run(arguments, output: &output)
    return (status, captured.stdout, captured.stderr)
}

@Test func runsActionWithOptionsFlagsAndArguments() {
    let result = run(["greet", "--times", "2", "--loud", "bob"])
    #expect(result.status == 0)
    #expect(result.stdout == "HELLO BOB\nHELLO BOB\n")
    #expect(run(["greet", "--times=3", "ann"]).stdout == "hello ann\nhello ann\nhello ann\n")
    #expect(run(["greet", "--", "--ann"]).stdout == "hello --ann\n")
}

@Test(arguments: [
    ["nope"], ["--nope"], [], ["greet"], ["greet", "a", "b"], ["greet", "--times"], ["greet", "--times", "x", "a"],
    ["greet", "--times", "9", "a"], ["greet", "--loud=yes", "a"], ["greet", "-x", "a"], ["greet", "--colour", "a"],
])
func usageErrorsExit64WithUsage(arguments: [String]) {
    let result = run(arguments)
    #expect(result.status == 64)
    #expect(result.stderr.contains("error: "))
    #expect(result.stderr.contains("usage: tool"))
    #expect(result.stdout.isEmpty)
}

@Test func failureExitsOneWithMessage() {
    let result = run(["fail"])
    #expect(result.status == 1)
    #expect(result.stderr == "error: it broke\n")
}

@Test func helpOnEveryCommandAndVersionAtTheRoot() {
    for arguments in [["--help"], ["greet", "--help"], ["greet", "-h", "x", "y", "z"], ["fail", "--help"]] {
        let result = run(arguments)
        #expect(result.status == 0)
        #expect(result.stdout.contains("usage: tool"))
        #expect(result.stderr.isEmpty)
    }
    #expect(run(["greet", "--help"]).stdout.contains("--times N"))
    #expect(run(["--version"]).stdout == "tool 9.9\n")
}

/// A repeatable option keeps every value in order; given none, there are none; the help says it repeats.
@Test func repeatableOptionsKeepEveryValueInOrder() {
    #expect(run(["tag", "--tag", "b", "--tag=a", "--tag", "c"]).stdout == "b,a,c\n")
    #expect(run(["tag"]).stdout == "\n")
    #expect(run(["tag", "--tag"]).status == 64)
    #expect(run(["tag", "--help"]).stdout.contains("A tag. Repeatable."))
}

/// A delivered message's JSON line: text payloads as text (escaped), other bytes as base64, the author and the
/// decimal sequence number.
@Test func gossipLinesPrintTextOrBase64() throws {
    let author = LibP2PIdentity.ed25519(.generate()).peerID
    func line(_ data: [UInt8]) -> [String: String]? {
        let message = GossipsubMessage(
            from: author.multihash.bytes, data: data, seqno: [0, 0, 0, 0, 0, 0, 1, 2], topic: "/t/\"q\"")
        let text = GossipLines.line(Gossip.Delivery(message: message, id: GossipsubMessageID([1]), from: author))
        return (try? JSONSerialization.jsonObject(with: Data(text.utf8))) as? [String: String]
    }
    let text = line(Array("hé \"x\"\n\u{1}".utf8))
    #expect(text == ["topic": "/t/\"q\"", "from": author.description, "seqno": "258", "data": "hé \"x\"\n\u{1}"])
    #expect(line([0xFF, 0xFE])?["data"] == "base64://4=")
}
