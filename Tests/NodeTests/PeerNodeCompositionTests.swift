import Foundation
import Node
import P2P
import TestSupport
import Testing

/// What `PeerNode` composes for each role, before anything starts (no socket is opened).
@Suite struct PeerNodeCompositionTests {
    private static func node(_ values: [String: PeerNodeSettings.Value], directory: DataDirectory) throws -> PeerNode {
        let network = try ConfigLoader.standard().load(
            Fixtures.packageRoot.appendingPathComponent("netconfig/devnet.json").path)
        return try PeerNode(
            configuration: PeerNodeConfiguration(settings: PeerNodeSettings(values)), network: network,
            directory: directory, identity: .ed25519(.generate()), bootstrap: [],
            logging: NodeLogging(format: .logfmt, level: .error) { _ in })
    }

    /// A light peer runs the host, gossip, the DHT, the content exchange, the head follower and the HTTP port, in
    /// that order, and keeps its content store under its quota in DIR/content.
    @Test func aLightPeersServicesInOrder() throws {
        let directory = DataDirectory(root: DevnetProcess.temporaryDirectory("peer-light"))
        let node = try Self.node(["role": .text("light"), "rpc": .text("http://127.0.0.1:1")], directory: directory)
        #expect(
            node.services.map(\.name) == ["p2p-host", "peer-watch", "gossip", "dht", "content", "light-follow", "http"])
        #expect(FileManager.default.fileExists(atPath: directory.contentStore))
        #expect(node.configuration.quotaBytes == 64 << 20)
        let metrics = node.metrics()
        #expect(metrics.role == "light" && metrics.dhtMode == "client" && metrics.head == nil)
        #expect(metrics.content.quotaBytes == 64 << 20)
        #expect(metrics.mesh.keys.sorted() == ["/openledger/16120033/announce/1", "/openledger/16120033/blocks/1"])
        #expect(metrics.inference == nil && metrics.payments == nil && metrics.attester == nil)
    }

    /// A seeder attests only when its data directory holds a wallet key.
    @Test func aSeederAttestsWithAWalletKey() throws {
        let directory = DataDirectory(root: DevnetProcess.temporaryDirectory("peer-seeder"))
        let values: [String: PeerNodeSettings.Value] = ["role": .text("seeder"), "rpc": .text("http://127.0.0.1:1")]
        // Each node is let go before the next opens the same store (a store belongs to one node at a time).
        do {
            let without = try Self.node(values, directory: directory)
            #expect(!without.services.map(\.name).contains("attester"))
            #expect(without.metrics().dhtMode == "server")
        }
        _ = try WalletKeyFile.create(at: directory.walletKey)
        do {
            let with = try Self.node(values, directory: directory)
            #expect(
                with.services.map(\.name) == [
                    "p2p-host", "peer-watch", "gossip", "dht", "content", "light-follow", "attester", "http",
                ])
            #expect(with.metrics().attester == .init(attestations: 0, challenges: 0))
        }
        let declined = try Self.node(values.merging(["no-attester": .flag(true)]) { $1 }, directory: directory)
        #expect(!declined.services.map(\.name).contains("attester"))
    }
}
