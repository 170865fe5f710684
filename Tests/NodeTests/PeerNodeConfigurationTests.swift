import Node
import P2P
import Testing

private func configuration(_ values: [String: PeerNodeSettings.Value]) throws(NodeError) -> PeerNodeConfiguration {
    try PeerNodeConfiguration(settings: PeerNodeSettings(values))
}

/// The key a configuration error names, nil when there is none.
private func failingKey(_ values: [String: PeerNodeSettings.Value]) -> String? {
    do {
        _ = try configuration(values)
        return nil
    } catch {
        if case .nodeConfigInvalid(let key, _) = error { return key }
        return "(other: \(error))"
    }
}

/// Role defaults and the validation of every setting.
@Suite struct PeerNodeConfigurationTests {
    /// Without settings the node is an inferencer with the documented defaults.
    @Test func theDefaultRoleIsInferencer() throws {
        let defaults = try configuration([:])
        #expect(defaults.role == .inferencer)
        #expect(defaults.listen.description == "/ip4/127.0.0.1/tcp/4001")
        #expect(defaults.apiHost == "127.0.0.1" && defaults.apiPort == 8_080)
        #expect(defaults.rpcURL == "http://127.0.0.1:8545")
        #expect(defaults.headIntervalSeconds == 1)
        #expect(defaults.quotaBytes == 4 << 30)
        #expect(defaults.dhtMode == .client)
        #expect(defaults.bootstrap.isEmpty && defaults.attribution.isEmpty && !defaults.free && !defaults.attests)
    }

    /// Each role starts from its own defaults: a light peer small, a seeder a DHT server with a large store that attests.
    @Test func eachRoleHasItsDefaults() throws {
        let light = try configuration(["role": .text("light")])
        #expect(
            light.quotaBytes == 64 << 20 && light.dhtMode == .client && light.maxConnections == 64 && !light.attests)
        #expect(light.hostConfig.maxConnections == 64)
        #expect(light.hostConfig.connectionReceiveBudget < HostConfig().connectionReceiveBudget)
        #expect(!NodeRole.light.defaults.servesInference)
        let seeder = try configuration(["role": .text("seeder")])
        #expect(seeder.quotaBytes == 64 << 30 && seeder.dhtMode == .server && seeder.attests)
        #expect(seeder.hostConfig.connectionManager.lowWater < seeder.hostConfig.connectionManager.highWater)
        #expect(!(try configuration(["role": .text("seeder"), "no-attester": .flag(true)])).attests)
        #expect(NodeRole.inferencer.defaults.servesInference)
    }

    /// Settings override the role's defaults.
    @Test func settingsOverrideTheRoleDefaults() throws {
        let light = try configuration([
            "role": .text("light"), "quota": .text("8MiB"), "dht": .text("server"), "api-port": .text("0"),
            "head-interval": .text("0.25"), "max-connections": .text("16"),
            "bootstrap": .list(["/ip4/127.0.0.1/tcp/4001/p2p/12D3KooWHujtP9M8Bpwdn2s1hg3LRWRsaZMBua5YXoy4TbMZHqaJ"]),
        ])
        #expect(light.quotaBytes == 8 << 20 && light.dhtMode == .server && light.apiPort == 0)
        #expect(light.headIntervalSeconds == 0.25 && light.maxConnections == 16)
        #expect(light.bootstrap.count == 1 && light.bootstrap[0].peerID != nil)
    }

    /// Bad values are errors naming their key.
    @Test(arguments: [
        (["role": PeerNodeSettings.Value.text("miner")], "role"),
        (["api-port": .text("65536")], "api-port"),
        (["api-port": .text("eighty")], "api-port"),
        (["api-host": .text("")], "api-host"),
        (["listen": .text("/ip4/nowhere")], "listen"),
        (["bootstrap": .list(["/ip4/127.0.0.1/tcp/4001"])], "bootstrap"),
        (["rpc": .text("ftp://ledger")], "rpc"),
        (["head-interval": .text("0")], "head-interval"),
        (["head-interval": .text("nan")], "head-interval"),
        (["quota": .text("lots")], "quota"),
        (["quota": .text("0")], "quota"),
        (["quota": .text("99999999999999999999")], "quota"),
        (["dht": .text("both")], "dht"),
        (["max-connections": .text("0")], "max-connections"),
        (["role": .text("light"), "model": .text("m.gguf")], "model"),
        (["role": .text("seeder"), "free": .flag(true)], "free"),
        (["role": .text("light"), "attribution": .list(["dir"])], "attribution"),
        (["attribution": .list(["a", "b"])], "attribution"),
        (["role": .text("light"), "no-attester": .flag(true)], "no-attester"),
    ])
    func badValuesNameTheirKey(_ values: [String: PeerNodeSettings.Value], _ key: String) {
        #expect(failingKey(values) == key)
    }

    /// The settings' own bounds and shapes hold whatever the source.
    @Test func settingsOfTheWrongShapeAreRefused() {
        for values: [String: PeerNodeSettings.Value] in [
            ["role": .list(["light"])], ["bootstrap": .text("x")], ["free": .text("true")], ["unknown": .text("1")],
        ] {
            #expect(throws: NodeError.self) { try PeerNodeSettings(values) }
        }
    }

    /// Sizes as people write them.
    @Test func sizesParse() {
        #expect(ByteSize.parse("64MiB") == 64 << 20)
        #expect(ByteSize.parse("10K") == 10_000)
        #expect(ByteSize.parse("123") == 123)
        #expect(ByteSize.parse("2GiB") == 2 << 30)
        #expect(ByteSize.parse("MiB") == nil)
        #expect(ByteSize.parse("-1") == nil)
        #expect(ByteSize.parse("20000000TiB") == nil)
    }
}
