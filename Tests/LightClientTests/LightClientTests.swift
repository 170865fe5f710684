import Chain
import Codec
import Crypto
import Foundation
import TestSupport
import Testing

@testable import LightClient

private func loadDevnetConfig() throws -> NetworkConfig {
    try NetworkConfig.parse(Data(contentsOf: Fixtures.packageRoot.appendingPathComponent("netconfig/devnet.json")))
}

/// Sends a call from dev account `from` straight to the node and waits for its receipt.
@discardableResult
private func send(
    _ rpc: RPCTestClient, _ config: NetworkConfig, from: Int, nonce: UInt64, to: Address, function: String? = nil,
    _ arguments: [ABIValue] = [], value: UInt256 = .zero
) throws -> [String: Any] {
    let key = try Secp256k1PrivateKey(bytes: config.devAccounts[from].privateKey)
    let data = try function.map { try ABISignature(parsing: $0).encodeCall(arguments) } ?? []
    let raw = try Transaction.dynamicFee(
        chainId: config.chainId, nonce: nonce, maxPriorityFeePerGas: 1_000_000_000, maxFeePerGas: 50_000_000_000,
        gasLimit: 2_000_000, to: to, value: value, data: data
    ).signed(with: key).encoded
    let hash = try #require(rpc.result("eth_sendRawTransaction", [Hex.encode(raw)]) as? String)
    var receipt: [String: Any]?
    poll {
        receipt = rpc.result("eth_getTransactionReceipt", [hash]) as? [String: Any]
        return receipt != nil
    }
    guard let receipt else {
        Issue.record("transaction \(hash) not mined in \(patientSeconds) s")
        return [:]
    }
    #expect(receipt["status"] as? String == "0x1")
    return receipt
}

/// The chain the light client tests read: a Datanet with a batch, a base model and an adapter, a channel
/// with a redeemed voucher.
private struct Seeded {
    let node: DevnetProcess
    let config: NetworkConfig
    let channelID: [UInt8]

    init() throws {
        config = try loadDevnetConfig()
        node = try DevnetProcess(dataDirectory: DevnetProcess.temporaryDirectory("light"), blockTime: "50ms")
        let rpc = RPCTestClient(port: node.port)
        let datanets = DatanetRegistry.defaultAddress
        try send(
            rpc, config, from: 0, nonce: 0, to: datanets, function: "createDatanet(string,bytes,bool,address[])",
            [.string("light"), .bytes([1]), .bool(false), .array([])])
        let hashes = (0..<5).map { Keccak256.hash([UInt8($0)]) }
        let root = DatanetRegistry.leavesRoot(contributor: config.devAccounts[1].address, recordHashes: hashes)
        try send(
            rpc, config, from: 1, nonce: 0, to: datanets,
            function: "contribute(uint256,uint64,bytes,bytes32,bytes32[])",
            [.uint(1), .uint(5), .bytes([2]), .fixedBytes(root), .array(hashes.map { .fixedBytes($0) })])
        let models = ModelRegistry.defaultAddress
        try send(
            rpc, config, from: 0, nonce: 1, to: models, function: "registerBaseModel(bytes32,string,bytes32)",
            [.fixedBytes(Keccak256.hash([9])), .string("llama"), .fixedBytes(Keccak256.hash([8]))])
        try send(
            rpc, config, from: 2, nonce: 0, to: models, function: "publishAdapter(bytes,uint256,bytes32[],uint256)",
            [
                .bytes(Array("bafy-adapter-cid-for-light-client-tests-that-is-longer-than-32-bytes".utf8)), .uint(1),
                .array([.fixedBytes(root)]), .uint(777),
            ])
        let opened = try send(
            rpc, config, from: 0, nonce: 2, to: PaymentChannels.defaultAddress,
            function: "open(address,uint64)", [.address(config.devAccounts[3].address), .uint(60)], value: 1_000_000)
        let logs = try #require(opened["logs"] as? [[String: Any]])
        channelID = try Hex.decode(try #require((logs.first?["topics"] as? [String])?[1]))
        let voucher = PaymentVoucher(channelID: channelID, cumulativeAmount: 4_000, requestHash: Keccak256.hash([7]))
        let signature = try voucher.sign(
            with: try Secp256k1PrivateKey(bytes: config.devAccounts[0].privateKey), chainId: config.chainId,
            verifyingContract: PaymentChannels.defaultAddress)
        try send(
            rpc, config, from: 3, nonce: 0, to: PaymentChannels.defaultAddress,
            function: "redeem(bytes32,uint256,bytes32,bytes)",
            [.fixedBytes(channelID), .uint(4_000), .fixedBytes(voucher.requestHash), .bytes(signature)])
    }

    func client(port: Int? = nil) throws -> LightClient {
        try LightClient(trust: TrustRoot(config: config), rpc: RPCClient(url: "http://127.0.0.1:\(port ?? node.port)"))
    }
}

@Test(.integration, .timeLimit(.minutes(5)))
func honestServerAnswersEqualTheNodesOwnState() throws {
    let seeded = try Seeded()
    let client = try seeded.client()
    let rpc = RPCTestClient(port: seeded.node.port)
    let head = try client.syncHead()
    #expect(head.number > 0)
    let address = seeded.config.devAccounts[3].address
    let (account, header) = try client.account(address, at: head)
    let direct = rpc.result("eth_getBalance", [address.lowercaseHex, UInt256(header.number).hexQuantity]) as? String
    #expect(account.balance.hexQuantity == direct)
    // An account that does not exist is proven empty.
    let nobody = try Address(bytes: Keccak256.hash([1, 2, 3]).suffix(20).map { $0 })
    #expect(try client.account(nobody, at: head).account == Account())
    // Typed reads decoded from proven storage match the node's own views.
    let channel = try #require(try client.read(PaymentChannels.ChannelLayout.self, seeded.channelID, at: head).value)
    #expect(channel.redeemed == UInt256(4_000) && channel.deposit == UInt256(1_000_000) && channel.status == .open)
    let snapshot = try client.read(DatanetRegistry.SnapshotLayout.self, 1, at: head).value
    #expect(snapshot.count == 5)
    let viewRoot =
        rpc.result(
            "eth_call",
            [
                [
                    "to": DatanetRegistry.defaultAddress.lowercaseHex,
                    "data": Hex.encode(try ABISignature(parsing: "snapshotRoot(uint256)").encodeCall([.uint(1)])),
                ], UInt256(head.number).hexQuantity,
            ]) as? String
    #expect(viewRoot == Hex.encode(snapshot.snapshotRoot))
    let adapter = try #require(try client.read(ModelRegistry.AdapterLayout.self, 1, at: head).value)
    #expect(adapter.pricePer1kTokens == UInt256(777) && adapter.owner == seeded.config.devAccounts[2].address)
    #expect(String(decoding: adapter.cid, as: UTF8.self).hasPrefix("bafy-adapter-cid"))
    let model = try #require(try client.read(ModelRegistry.BaseModelLayout.self, 1, at: head).value)
    #expect(model.architecture == "llama")
    // Receipts rebuild the root; a transfer submitted through the client is proven included.
    let key = try Secp256k1PrivateKey(bytes: seeded.config.devAccounts[5].privateKey)
    let hash = try client.send(from: key, to: seeded.config.devAccounts[6].address, value: 123)
    let inclusion = try client.waitForInclusion(hash)
    #expect(inclusion.receipt.succeeded)
    // Events come out of verified receipts decoded: the redemption's VoucherRedeemed, scanning back from head.
    var redeemed: DecodedEvent? = nil
    var number = head.number
    while redeemed == nil && number > 0 {
        for receipt in try client.receipts(ofBlock: number).receipts {
            for log in receipt.logs where redeemed == nil {
                if let event = try PredeployEvents.decode(log), event.name == "VoucherRedeemed" { redeemed = event }
            }
        }
        number -= 1
    }
    #expect(redeemed?["paid"] == .uint(4_000))
    #expect(redeemed?["channelId"] == .fixedBytes(seeded.channelID))
    let second = try client.send(from: key, to: seeded.config.devAccounts[6].address, value: 1)  // local nonce + 1
    #expect(try client.waitForInclusion(second).receipt.succeeded)
    #expect(seeded.node.interrupt() == 0)
}

/// Each kind of lie is caught and named; no tampered value ever comes back.
@Test(.integration, .timeLimit(.minutes(3)))
func lyingServerIsDetectedEveryWay() throws {
    let seeded = try Seeded()
    let proxy = try TamperingProxy(upstreamPort: seeded.node.port)
    defer { proxy.stop() }
    let sequencerKey = try Secp256k1PrivateKey(
        bytes: try Hex.decode("0x7d847a5fc1c82d126809d95bc0ba0eb03bbc1d40fcb6269312554570497de895"))
    let address = seeded.config.devAccounts[3].address
    // A head recorded now, replayed later.
    let recorder = RPCTestClient(port: seeded.node.port)
    let recorded = try #require(recorder.call("ol_getSignedHead")?["result"] as? [String: Any])
    let oldHead = try JSONSerialization.data(withJSONObject: recorded)
    func headNumber(_ signed: [String: Any]?) -> UInt64? {
        guard let rlp = signed?["rlp"] as? String, let bytes = try? Hex.decode(rlp) else { return nil }
        return (try? BlockHeader(rlp: bytes))?.number
    }
    let oldNumber = try #require(headNumber(recorded))
    // Replayed only once the chain has moved past it.
    #expect(
        poll { (headNumber(recorder.call("ol_getSignedHead")?["result"] as? [String: Any]) ?? 0) > oldNumber + 1 },
        "the devnet produced no new head")

    let balanceRead: (LightClient) throws -> Void = { client in _ = try client.account(address) }
    let channelRead: (LightClient) throws -> Void = { client in
        _ = try client.read(PaymentChannels.ChannelLayout.self, seeded.channelID)
    }
    let receiptRead: (LightClient) throws -> Void = { client in
        let number = try client.syncHead().number
        // Find a block with a log: scan back to the redemption.
        var checked = 0
        for block in stride(from: number, through: 1, by: -1) where checked < 400 {
            checked += 1
            _ = try client.receipts(ofBlock: block)
        }
    }
    let headRead: (LightClient) throws -> Void = { client in _ = try client.syncHead() }

    let cases: [(String, TamperingProxy.Tamper, (LightClient) throws -> Void, String)] = [
        (
            "a balance",
            .json { method, response in
                guard method == "eth_getProof" else { return }
                result(&response) {
                    $0["balance"] = ((UInt256(hex: $0["balance"] as? String ?? "0x0") ?? .zero) &+ 1).hexQuantity
                }
            }, balanceRead, "balance"
        ),
        (
            "one proof node",
            .json { method, response in
                guard method == "eth_getProof" else { return }
                result(&response) { object in
                    var nodes = object["accountProof"] as? [String] ?? []
                    if nodes.count > 1 { nodes[1] = flipHex(nodes[1], at: 20) }
                    object["accountProof"] = nodes
                }
            }, balanceRead, "account proof"
        ),
        (
            "a storage value",
            .json { method, response in
                guard method == "eth_getProof" else { return }
                result(&response) { object in
                    var proofs = object["storageProof"] as? [[String: Any]] ?? []
                    if !proofs.isEmpty { proofs[0]["value"] = "0x1234" }
                    object["storageProof"] = proofs
                }
            }, channelRead, "slot"
        ),
        (
            "a header field",
            .json { method, response in
                guard method == "ol_getSignedHead" else { return }
                result(&response) { $0["rlp"] = flipHex($0["rlp"] as? String ?? "", at: 200) }
            }, headRead, "signature"
        ),
        (
            "the signature",
            .json { method, response in
                guard method == "ol_getSignedHead" else { return }
                result(&response) { $0["signature"] = flipHex($0["signature"] as? String ?? "", at: 10) }
            }, headRead, "signature"
        ),
        (
            "the chain id",
            .json { method, response in
                guard method == "ol_getSignedHead" else { return }
                result(&response) { $0["chainId"] = "0x1" }
            }, headRead, "chain id"
        ),
        (
            "a receipt",
            .json { method, response in
                guard method == "eth_getBlockReceipts", var receipts = response["result"] as? [[String: Any]],
                    !receipts.isEmpty
                else { return }
                receipts[0]["status"] = receipts[0]["status"] as? String == "0x1" ? "0x0" : "0x1"
                response["result"] = receipts
            }, receiptRead, "receipts root"
        ),
        (
            "a log",
            .json { method, response in
                guard method == "eth_getBlockReceipts", var receipts = response["result"] as? [[String: Any]] else {
                    return
                }
                for index in receipts.indices {
                    guard var logs = receipts[index]["logs"] as? [[String: Any]], !logs.isEmpty else { continue }
                    logs[0]["data"] = "0x00"
                    receipts[index]["logs"] = logs
                }
                response["result"] = receipts
            }, receiptRead, "receipts root"
        ),
        (
            "proof nodes dropped",
            .json { method, response in
                guard method == "eth_getProof" else { return }
                result(&response) { $0["accountProof"] = Array(($0["accountProof"] as? [String] ?? []).dropLast()) }
            }, balanceRead, "account proof"
        ),
        (
            "proof nodes reordered",
            .json { method, response in
                guard method == "eth_getProof" else { return }
                result(&response) { $0["accountProof"] = Array(($0["accountProof"] as? [String] ?? []).reversed()) }
            }, balanceRead, "account proof"
        ),
        (
            "a replayed old head",
            .json { method, response in
                guard method == "ol_getSignedHead" else { return }
                response["result"] = try? JSONSerialization.jsonObject(with: oldHead)
            }, headRead, "replayed old head"
        ),
        (
            "a head from another chain id",
            .json { method, response in
                guard method == "ol_getSignedHead" else { return }
                result(&response) { object in
                    guard let rlp = try? Hex.decode(object["rlp"] as? String ?? "") else { return }
                    let digest = SequencerSignature.digest(blockHash: Keccak256.hash(rlp), chainId: 1)
                    object["signature"] = Hex.encode((try? sequencerKey.signRecoverable(digest: digest).rsv) ?? [])
                    object.removeValue(forKey: "chainId")
                }
            }, headRead, "signature"
        ),
        ("a truncated response", .raw { _, body in Array(body.prefix(body.count / 2)) }, balanceRead, "malformed"),
    ]
    #expect(cases.count == 13)
    for (name, tamper, read, expected) in cases {
        let client = try seeded.client(port: proxy.port)
        proxy.set(.none)
        _ = try client.syncHead()  // the true head first
        proxy.set(tamper)
        do {
            try read(client)
            Issue.record("\(name): the tampered answer was accepted")
        } catch let error as LightClientError {
            #expect("\(error)".contains(expected), "\(name): \(error)")
        } catch {
            Issue.record("\(name): unexpected \(error)")
        }
        proxy.set(.none)
    }
    #expect(seeded.node.interrupt() == 0)
}

private func flipHex(_ text: String, at offset: Int) -> String {
    var chars = Array(text)
    let index = min(chars.count - 1, max(2, offset))
    chars[index] = chars[index] == "0" ? "1" : "0"
    return String(chars)
}

/// Applies `change` to the response's result object.
private func result(_ response: inout [String: Any], _ change: (inout [String: Any]) -> Void) {
    guard var object = response["result"] as? [String: Any] else { return }
    change(&object)
    response["result"] = object
}

/// The `openledger light` commands against a running devnet: verified output, and a nonzero exit with the
/// reason when the server cannot be believed or reached.
@Test(.integration, .timeLimit(.minutes(5)))
func lightCommandsPrintWhatTheyVerified() throws {
    let seeded = try Seeded()
    func run(_ arguments: [String]) throws -> (status: Int32, stdout: String, stderr: String) {
        try DevnetProcess.run(
            arguments + ["--config", Fixtures.packageRoot.appendingPathComponent("netconfig/devnet.json").path])
    }
    let rpc = "http://127.0.0.1:\(seeded.node.port)"
    let head = try run(["light", "head", "--rpc", rpc])
    #expect(head.status == 0)
    #expect(head.stdout.contains("signed by sequencer 0xd6dD232Ae4851F7fc035b41b8590eeE034Ff593b for chain 16120033"))
    let balance = try run([
        "light", "balance", seeded.config.devAccounts[3].address.checksummed, "--rpc", rpc, "--json",
    ])
    #expect(balance.status == 0)
    let object = try JSONSerialization.jsonObject(with: Data(balance.stdout.utf8)) as? [String: Any]
    let verifiedAgainst = object?["verifiedAgainst"] as? [String: Any]
    let block = try #require(verifiedAgainst?["block"] as? Int)
    let direct =
        RPCTestClient(port: seeded.node.port).result(
            "eth_getBalance", [seeded.config.devAccounts[3].address.lowercaseHex, UInt256(UInt64(block)).hexQuantity])
        as? String
    #expect(UInt256(decimal: object?["balanceWei"] as? String ?? "")?.hexQuantity == direct)
    let channel = try run(["light", "channel", Hex.encode(seeded.channelID), "--rpc", rpc])
    #expect(channel.status == 0 && channel.stdout.contains("redeemed 4000 wei"))
    let datanet = try run(["light", "datanet", "1", "--rpc", rpc])
    #expect(datanet.status == 0 && datanet.stdout.contains("5 records"))
    let adapter = try run(["light", "adapter", "1", "--rpc", rpc])
    #expect(adapter.status == 0 && adapter.stdout.contains("price 777 wei"))
    let unreachable = try run(["light", "head", "--rpc", "http://127.0.0.1:1"])
    #expect(unreachable.status == 1 && unreachable.stderr.contains("cannot connect"))
    let badAddress = try run(["light", "balance", "0x12", "--rpc", rpc])
    #expect(badAddress.status == 64)
    #expect(seeded.node.interrupt() == 0)
}
