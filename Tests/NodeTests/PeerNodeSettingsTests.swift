import Foundation
import Node
import P2P
import TestSupport
import Testing

private func parse(_ text: String) throws(NodeError) -> PeerNodeSettings {
    try PeerNodeSettings.parse(json: Array(text.utf8))
}

/// The key a settings error names, nil when the error is another one (or none).
private func failingKey(_ body: () throws(NodeError) -> Void) -> String? {
    do {
        try body()
        return nil
    } catch {
        if case .nodeConfigInvalid(let key, _) = error { return key }
        return nil
    }
}

/// The node config file and the flags: parsing, precedence, hostile input.
@Suite struct PeerNodeSettingsTests {
    /// A file's strings, numbers, arrays and booleans become the values of their settings.
    @Test func aNodeConfigFileGivesItsSettings() throws {
        let settings = try parse(
            #"{"role": "light", "api-port": 9090, "head-interval": 0.5, "bootstrap": ["/ip4/127.0.0.1/tcp/1/p2p/x"], "free": true, "rpc": "http://127.0.0.1:1"}"#
        )
        #expect(settings.text("role") == "light")
        #expect(settings.text("api-port") == "9090")
        #expect(settings.text("head-interval") == "0.5")
        #expect(settings.list("bootstrap") == ["/ip4/127.0.0.1/tcp/1/p2p/x"])
        #expect(settings.flag("free"))
        #expect(!settings.flag("no-claims"))
        #expect(settings.text("rpc") == "http://127.0.0.1:1")
        #expect(settings.text("quota") == nil)
    }

    /// A flag given on the command line wins over the file's value; the file's other values stay.
    @Test func flagsWinOverTheFile() throws {
        let file = try parse(#"{"role": "seeder", "api-port": "9090", "bootstrap": ["a"]}"#)
        let flags = try PeerNodeSettings(["api-port": .text("7070"), "bootstrap": .list(["b", "c"])])
        let merged = file.overridden(by: flags)
        #expect(merged.text("role") == "seeder")
        #expect(merged.text("api-port") == "7070")
        #expect(merged.list("bootstrap") == ["b", "c"])
    }

    /// Unknown keys and values of the wrong shape are errors naming the key.
    @Test(arguments: [
        (#"{"api-prot": 8080}"#, "api-prot"),
        (#"{"api-port": true}"#, "api-port"),
        (#"{"api-port": null}"#, "api-port"),
        (#"{"api-port": [1]}"#, "api-port"),
        (#"{"role": {"name": "light"}}"#, "role"),
        (#"{"bootstrap": 7}"#, "bootstrap"),
        (#"{"bootstrap": [1, 2]}"#, "bootstrap"),
        (#"{"free": "yes"}"#, "free"),
        (#"{"free": 1}"#, "free"),
        (#"{"node-config": "other.json"}"#, "node-config"),
        (#"{"rpc": "http://a\u0000b"}"#, "rpc"),
        (#"{"rpc": "line\nbreak"}"#, "rpc"),
    ])
    func badSettingsNameTheirKey(_ text: String, _ key: String) {
        #expect(failingKey { () throws(NodeError) in _ = try parse(text) } == key, "\(text)")
    }

    /// What is not one JSON object of settings, or is too large, too long or too deep, is refused without a crash.
    @Test func hostileFilesAreRefused() {
        let deep = String(repeating: "[", count: 100_000) + String(repeating: "]", count: 100_000)
        let texts = [
            "", "not json", "[]", "\"role\"", "42", "{", #"{"role": "light""#, deep, #"{"role": "# + deep + "}",
            #"{"rpc": ""# + String(repeating: "x", count: 5_000) + #""}"#,
            #"{"bootstrap": ["# + Array(repeating: #""a""#, count: 300).joined(separator: ",") + "]}",
            "{" + String(repeating: " ", count: PeerNodeSettings.maximumFileBytes) + "}",
        ]
        for text in texts {
            #expect(failingKey { () throws(NodeError) in _ = try parse(text) } != nil, "\(text.prefix(40))")
        }
        var random = SeededRandom(seed: 20)
        let valid = Array(#"{"role": "light", "api-port": 8080, "bootstrap": ["x"], "free": false}"#.utf8)
        for _ in 0..<500 {
            // Mutated files either parse into known settings or are refused with a key: never a crash.
            let mutated = random.mutate(valid)
            if let settings = try? PeerNodeSettings.parse(json: mutated) {
                #expect(settings.values.keys.allSatisfy { PeerNodeOption.named($0) != nil })
            }
        }
    }

    /// A missing file, a directory and a file over 1 MiB are unreadable, named by their path.
    @Test func unreadableFilesNameTheirPath() throws {
        let directory = DevnetProcess.temporaryDirectory("node-settings")
        let large = directory + "/large.json"
        try Data(repeating: 0x20, count: PeerNodeSettings.maximumFileBytes + 1).write(to: URL(fileURLWithPath: large))
        for path in [directory + "/missing.json", directory, large] {
            do {
                _ = try PeerNodeSettings.load(path: path)
                Issue.record("\(path) was read")
            } catch {
                guard case .nodeConfigUnreadable(let named) = error else {
                    Issue.record("\(error)")
                    continue
                }
                #expect(named == path)
            }
        }
        let good = directory + "/node.json"
        try Data(#"{"role": "seeder"}"#.utf8).write(to: URL(fileURLWithPath: good))
        #expect(try PeerNodeSettings.load(path: good).text("role") == "seeder")
    }

    /// Every setting is a flag of `openledger node`: one table, unique keys, a help line each.
    @Test func everySettingHasOneKeyAndHelp() {
        let keys = PeerNodeOption.all.map(\.key)
        #expect(Set(keys).count == keys.count)
        #expect(PeerNodeOption.all.allSatisfy { !$0.help.isEmpty && ($0.kind == .flag) == $0.valueName.isEmpty })
        #expect(PeerNodeOption.named("role")?.kind == .value)
        #expect(PeerNodeOption.named("bootstrap")?.kind == .list)
        #expect(PeerNodeOption.named("free")?.kind == .flag)
    }
}
