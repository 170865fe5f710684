import Chain
import ChainNode
import Codec
import Crypto
import Foundation
import HTTP
import Runtime
import TestSupport
import Testing

@testable import LightClient

/// A devnet node in this process on a manual clock, serving JSON-RPC on a loopback port.
///
/// Blocks are produced only when a test asks, so nothing waits on real time.
private final class InProcessDevnet {
    let config: NetworkConfig
    let clock = ManualClock()
    let node: DevnetNode
    let server: HTTPServer
    let directory = DevnetProcess.temporaryDirectory("light-in-process")
    private var nonces: [Int: UInt64] = [:]

    init() throws {
        let url = Fixtures.packageRoot.appendingPathComponent("netconfig/devnet.json")
        let data = try Data(contentsOf: url)
        config = try NetworkConfig.parse(data)
        // Wall time after genesis, so that block timestamps follow the clock.
        clock.setWall(WallTime(secondsSinceEpoch: Int64(config.genesisTimestamp) + 1_000))
        let object = try #require(try JSONSerialization.jsonObject(with: data) as? [String: Any])
        let key = try Secp256k1PrivateKey(bytes: try Hex.decode(try #require(object["sequencerPrivateKey"] as? String)))
        node = try DevnetNode(config: config, sequencerKey: key, dataDirectory: directory, clock: clock)
        let rpc = JSONRPCServer(methods: EthereumRPC(node: node).methods)
        server = try HTTPServer(port: 0) { rpc.handle($0) }
    }

    deinit {
        server.stop()
        try? FileManager.default.removeItem(atPath: directory)
    }

    func client(clock: any Runtime.Clock = SystemClock()) throws -> LightClient {
        try LightClient(
            trust: TrustRoot(config: config), rpc: RPCClient(url: "http://127.0.0.1:\(server.port)"), clock: clock)
    }

    /// Submits a call from dev account `from` to the node's mempool; returns its hash.
    @discardableResult
    func submit(from: Int, to: Address, _ function: String, _ arguments: [ABIValue], value: UInt256 = .zero)
        throws -> [UInt8]
    {
        let nonce = nonces[from, default: 0]
        nonces[from] = nonce + 1
        let raw = try Transaction.dynamicFee(
            chainId: config.chainId, nonce: nonce, maxPriorityFeePerGas: 1_000_000_000,
            maxFeePerGas: 50_000_000_000, gasLimit: 2_000_000, to: to, value: value,
            data: try ABISignature(parsing: function).encodeCall(arguments)
        ).signed(with: try Secp256k1PrivateKey(bytes: config.devAccounts[from].privateKey)).encoded
        return try node.sendRawTransaction(raw)
    }

    /// Produces one block a second after the previous one on the manual clock.
    @discardableResult
    func produce() throws -> BlockHeader {
        clock.advance(seconds: 1)
        return try node.produceBlock()
    }

    var state: WorldState { node.read { $0.state } }
}

/// Every storage layout read by the light client from proven storage gives what the predeploy wrote, read
/// through the same layout type from the node's own state.
@Test(.timeLimit(.minutes(3)))
func provenLayoutReadsMatchWhatThePredeploysWrote() throws {
    let devnet = try InProcessDevnet()
    let config = devnet.config
    let hashes = (0..<3).map { Keccak256.hash([UInt8($0)]) }
    let root = DatanetRegistry.leavesRoot(contributor: config.devAccounts[1].address, recordHashes: hashes)
    try devnet.submit(
        from: 0, to: DatanetRegistry.defaultAddress, "createDatanet(string,bytes,bool,address[])",
        [
            .string("proven"), .bytes(Array(repeating: 5, count: 40)), .bool(true),
            .array([.address(config.devAccounts[2].address)]),
        ])
    try devnet.produce()
    try devnet.submit(
        from: 1, to: DatanetRegistry.defaultAddress, "contribute(uint256,uint64,bytes,bytes32,bytes32[])",
        [.uint(1), .uint(3), .bytes([3]), .fixedBytes(root), .array(hashes.map { .fixedBytes($0) })])
    try devnet.submit(
        from: 0, to: ModelRegistry.defaultAddress, "registerBaseModel(bytes32,string,bytes32)",
        [.fixedBytes(Keccak256.hash([9])), .string("llama"), .fixedBytes(Keccak256.hash([8]))])
    try devnet.produce()
    try devnet.submit(
        from: 2, to: DatanetRegistry.defaultAddress, "approveBatch(uint256,uint256)", [.uint(1), .uint(1)])
    try devnet.submit(
        from: 3, to: ModelRegistry.defaultAddress, "publishAdapter(bytes,uint256,bytes32[],uint256)",
        [
            .bytes(Array("an adapter CID longer than one storage word".utf8)), .uint(1), .array([.fixedBytes(root)]),
            .uint(5),
        ])
    let opened = try devnet.submit(
        from: 4, to: PaymentChannels.defaultAddress, "open(address,uint64)",
        [.address(config.devAccounts[5].address), .uint(60)], value: 1_000)
    try devnet.produce()

    let client = try devnet.client()
    let head = try client.syncHead()
    let state = devnet.state
    let (receipt, _, _) = try client.waitForInclusion(opened)
    let channelID = try #require(receipt.logs.first?.topics[1])

    func same<Layout: StorageLayout>(_ layout: Layout.Type, _ key: Layout.Key) throws -> Layout.Value
    where Layout.Value: Equatable {
        let proven = try client.read(layout, key, at: head).value
        #expect(proven == (try Layout.read(key, from: state)))
        return proven
    }
    let channel = try #require(try same(PaymentChannels.ChannelLayout.self, channelID))
    #expect(channel.deposit == 1_000 && channel.payee == config.devAccounts[5].address && channel.status == .open)
    #expect(try same(PaymentChannels.ChannelLayout.self, Keccak256.hash([0])) == nil)
    let datanet = try #require(try same(DatanetRegistry.DatanetLayout.self, 1))
    #expect(datanet.name == "proven" && datanet.curated && datanet.metadataCID.count == 40)
    #expect(try same(DatanetRegistry.BatchLayout.self, (1, 1))?.status == .approved)
    #expect(try same(DatanetRegistry.CuratorLayout.self, (1, config.devAccounts[2].address)))
    #expect(try same(DatanetRegistry.LeafContributorLayout.self, (1, 2)) == config.devAccounts[1].address)
    #expect(try same(DatanetRegistry.SnapshotLayout.self, 1).count == 3)
    #expect(try same(ModelRegistry.BaseModelLayout.self, 1)?.architecture == "llama")
    let adapter = try #require(try same(ModelRegistry.AdapterLayout.self, 1))
    #expect(adapter.datanetRoots == [root] && adapter.owner == config.devAccounts[3].address)
    #expect(try same(ModelRegistry.AdapterLayout.self, 2) == nil)
}

/// `waitForInclusion` polls on the client's clock: with a manual clock it gives up after the timeout without
/// waiting for real, and returns without sleeping once the transaction is in a verified block.
@Test(.timeLimit(.minutes(3)))
func waitForInclusionPollsOnTheInjectedClock() throws {
    let devnet = try InProcessDevnet()
    let clock = ManualClock()
    let client = try devnet.client(clock: clock)
    let hash = try devnet.submit(
        from: 0, to: ModelRegistry.defaultAddress, "registerBaseModel(bytes32,string,bytes32)",
        [.fixedBytes(Keccak256.hash([1])), .string("llama"), .fixedBytes(Keccak256.hash([2]))])
    let start = clock.now()
    #expect(throws: LightClientError.notIncluded(transaction: hash, timeoutSeconds: 2)) {
        try client.waitForInclusion(hash, timeoutSeconds: 2)
    }
    // Forty polls of 50 ms on the manual clock, and not one more.
    #expect(clock.now().seconds(since: start) >= 2 && clock.now().seconds(since: start) < 2.05 + 1e-9)
    #expect(
        "\(LightClientError.notIncluded(transaction: hash, timeoutSeconds: 2))"
            == "RPC transport failed: transaction \(Hex.encode(hash)) not included within 2.0 s")
    let header = try devnet.produce()
    let included = clock.now()
    let (receipt, verified, position) = try client.waitForInclusion(hash, timeoutSeconds: 2)
    #expect(receipt.succeeded && verified.number == header.number && position == 0)
    #expect(clock.now() == included)
}

/// The devnet stamps blocks with its injected clock's wall time.
@Test(.timeLimit(.minutes(3)))
func devnetBlocksCarryTheInjectedClocksTime() throws {
    let devnet = try InProcessDevnet()
    let first = try devnet.produce()
    #expect(first.timestamp == UInt64(devnet.clock.wallNow().secondsSinceEpoch))
    devnet.clock.advance(seconds: 41)
    let second = try devnet.produce()
    #expect(second.timestamp == first.timestamp + 42)
}

/// A header store failure is a storage error, not a transport error.
@Test func headerStoreFailuresAreStorageErrors() throws {
    #expect(throws: LightClientError.self) {
        try LightClient(
            trust: TrustRoot(chainId: 1, sequencer: .zero, anchorHash: []), rpc: RPCClient(url: "http://127.0.0.1:1"),
            storePath: "/nonexistent-directory/headers.sqlite")
    }
    do {
        _ = try LightClient(
            trust: TrustRoot(chainId: 1, sequencer: .zero, anchorHash: []), rpc: RPCClient(url: "http://127.0.0.1:1"),
            storePath: "/nonexistent-directory/headers.sqlite")
    } catch {
        guard case .storage(let sqlite) = error else {
            Issue.record("expected a storage error, got \(error)")
            return
        }
        #expect(sqlite.code == 14)  // SQLITE_CANTOPEN
        #expect("\(error)".hasPrefix("header store: SQLite error 14"))
    }
}

/// A head that arrives as the blocks topic carries it (the JSON of `ol_getSignedHead`) is accepted exactly as one
/// from JSON-RPC: verified and recorded, or refused with what failed.
@Test(.timeLimit(.minutes(3)))
func aGossipedHeadIsAcceptedOrRefusedLikeOneFromRPC() throws {
    let devnet = try InProcessDevnet()
    let client = try devnet.client()
    try devnet.produce()
    let first = try client.syncHead()
    try devnet.produce()
    try devnet.produce()
    let source = RPCHeadSource(rpc: client.rpc)
    let latest = try source.latestSignedHead()
    let gossiped = SignedHeadJSON.encode(rlp: latest.rlp, signature: latest.signature, chainId: devnet.config.chainId)
    let decoded = try SignedHeadJSON.decode(gossiped)
    #expect(decoded.rlp == latest.rlp && decoded.signature == latest.signature)
    #expect(decoded.chainId == devnet.config.chainId)
    let head = try client.accept(decoded)
    #expect(head.number == first.number + 2)
    #expect(try client.knownHead() == head)

    var forged = latest.signature
    forged[5] ^= 1
    #expect(throws: LightClientError.self) { try client.accept((latest.rlp, forged, devnet.config.chainId)) }
    let old = try #require(try source.signedHeader(first.number))
    do {
        _ = try client.accept((old.rlp, old.signature, nil))
        Issue.record("an old head was accepted")
    } catch {
        guard case .verificationFailed(let why) = error else { throw error }
        #expect(why.contains("replayed old head"))
    }
    #expect(throws: LightClientError.self) { try client.accept((latest.rlp, latest.signature, 999)) }
    #expect(try client.knownHead() == head)

    for hostile in [
        Array("not json".utf8), Array("{}".utf8), Array(#"{"rlp":"0x12","signature":7}"#.utf8),
        [UInt8](repeating: 0x20, count: SignedHeadJSON.maxBytes + 1),
    ] {
        do {
            _ = try SignedHeadJSON.decode(hostile)
            Issue.record("accepted \(hostile.prefix(40))")
        } catch {
            guard case .malformedResponse = error else { throw error }
        }
    }
}
