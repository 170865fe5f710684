import Chain
import Foundation
import LightClient
import Node
import TestSupport
import Testing

private let devnetConfig = Fixtures.packageRoot.appendingPathComponent("netconfig/devnet.json").path

@Test func theFactoryTrustsTheGenesisAndKeepsHeadersOnlyInAGivenDataDirectory() throws {
    let configuration = try ConfigLoader.standard().load(devnetConfig)
    let genesis = try TrustRoot(config: configuration.network)
    let memory = try LightClientFactory.client(configuration: configuration, rpcURL: "http://127.0.0.1:1")
    #expect(memory.trust.anchorHash == genesis.anchorHash && memory.trust.anchorNumber == 0)
    #expect(memory.trust.chainId == configuration.network.chainId)
    #expect(memory.trust.sequencer == configuration.network.sequencer)
    // With a data directory (not there yet) the client keeps its headers in the directory's header store.
    let directory = DataDirectory(root: DevnetProcess.temporaryDirectory("light-factory") + "/node")
    _ = try LightClientFactory.client(
        configuration: configuration, rpcURL: "http://127.0.0.1:1", dataDirectory: directory)
    #expect(FileManager.default.fileExists(atPath: directory.lightHeaderStore))
}

@Test func theFactoryRefusesABadRPCURLAndACheckpointItCannotLookUp() throws {
    let configuration = try ConfigLoader.standard().load(devnetConfig)
    #expect {
        try LightClientFactory.client(configuration: configuration, rpcURL: "not a url")
    } throws: { error in
        guard case .lightClientUnavailable = error as? NodeError else { return false }
        return true
    }
    // Port 1 answers nothing: the checkpoint's number cannot be asked, and the error is the transport's.
    #expect {
        try LightClientFactory.client(
            configuration: configuration, rpcURL: "http://127.0.0.1:1", checkpoint: [UInt8](repeating: 1, count: 32))
    } throws: { error in
        guard case .lightClientUnavailable(let reason) = error as? NodeError else { return false }
        return reason is LightClientError
    }
}
