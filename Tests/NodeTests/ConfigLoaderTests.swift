import Chain
import Foundation
import Node
import TestSupport
import Testing

private let devnetConfig = Fixtures.packageRoot.appendingPathComponent("netconfig/devnet.json").path

private func temporaryFile(_ name: String, _ text: String) throws -> String {
    let path = DevnetProcess.temporaryDirectory("config") + "/" + name
    try text.write(toFile: path, atomically: true, encoding: .utf8)
    return path
}

/// The config with `key` set to `value` (a JSON fragment), written to a temporary file.
private func patchedConfig(_ key: String, _ value: Any?) throws -> String {
    var object = try #require(
        try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: devnetConfig))) as? [String: Any])
    object[key] = value
    let data = try JSONSerialization.data(withJSONObject: object)
    return try temporaryFile("patched.json", String(decoding: data, as: UTF8.self))
}

@Test func loadsTheNamedConfig() throws {
    let configuration = try ConfigLoader.standard().load(devnetConfig)
    #expect(configuration.path == devnetConfig)
    #expect(configuration.network.chainId == 16_120_033)
    _ = try configuration.sequencerKey()
}

@Test func theDefaultConfigIsTheFirstCandidateThatExists() throws {
    let loader = ConfigLoader(candidates: ["/nonexistent/devnet.json", devnetConfig])
    #expect(loader.defaultPath == devnetConfig)
    #expect(try loader.load(nil).path == devnetConfig)
    let none = ConfigLoader(candidates: ["/nonexistent/a.json", "/nonexistent/b.json"])
    #expect(none.defaultPath == "/nonexistent/a.json")
    #expect(throws: NodeError.self) { try none.load(nil) }
}

@Test func aMissingOrUnreadableConfigIsAnErrorNamingTheFile() throws {
    let missing = "/nonexistent/openledger-config.json"
    do {
        _ = try ConfigLoader.standard().load(missing)
        Issue.record("a missing config loaded")
    } catch {
        guard case .configUnreadable(let path) = error else { throw error }
        #expect(path == missing)
        #expect(error.description == "cannot read network config \(missing)")
    }
    // A directory cannot be read as a file (and, unlike mode 0000, not even by root).
    let directory = DevnetProcess.temporaryDirectory("config-dir")
    do {
        _ = try ConfigLoader.standard().load(directory)
        Issue.record("a directory loaded as a config")
    } catch {
        guard case .configUnreadable(let path) = error else { throw error }
        #expect(path == directory)
    }
}

@Test func invalidJSONIsAnErrorNamingTheFile() throws {
    let path = try temporaryFile("broken.json", "{ not json")
    do {
        _ = try ConfigLoader.standard().load(path)
        Issue.record("broken JSON loaded")
    } catch {
        guard case .configInvalid(let named, _) = error else { throw error }
        #expect(named == path)
        #expect(error.description.hasPrefix(path + ": malformed network config"))
    }
}

@Test(arguments: [
    ("chainId", "0", "chainId must be positive"),
    ("gasLimit", "1000", "gasLimit below 5,000,000"),
    ("initialBaseFee", #""lots""#, "initialBaseFee is not a decimal integer"),
    ("sequencer", #""0x12""#, "malformed network config"),
])
func invalidValuesAreErrorsNamingTheFile(key: String, json: String, reason: String) throws {
    let value = try JSONSerialization.jsonObject(with: Data(json.utf8), options: .fragmentsAllowed)
    let path = try patchedConfig(key, value)
    do {
        _ = try ConfigLoader.standard().load(path)
        Issue.record("a config with \(key) = \(json) loaded")
    } catch {
        guard case .configInvalid(let named, _) = error else { throw error }
        #expect(named == path)
        #expect(error.description.hasPrefix(path + ": "))
        #expect(error.description.contains(reason))
    }
}

@Test func aDevnetConfigWithoutItsSequencerKeyNamesTheFile() throws {
    let path = try patchedConfig("sequencerPrivateKey", nil)
    let configuration = try ConfigLoader.standard().load(path)
    do {
        _ = try configuration.sequencerKey()
        Issue.record("a sequencer key from nowhere")
    } catch {
        #expect(error.description == "\(path): malformed network config: devnet needs sequencerPrivateKey")
    }
}
