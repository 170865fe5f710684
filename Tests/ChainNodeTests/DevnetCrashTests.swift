import Chain
import Codec
import Crypto
import Foundation
import TestSupport
import Testing

/// kill -9 at random moments under a load of transactions, 20 times: after every restart the head has not
/// gone back, its signature and state proofs verify, blocks still link, and every transaction whose hash was
/// returned is in a block or back in the mempool.
@Test(.integration, .timeLimit(.minutes(5)))
func killNineAndRestartLosesNothingAcknowledged() throws {
    let config = try devnetConfig()
    let keys = try config.devAccounts.prefix(4).map { try Secp256k1PrivateKey(bytes: $0.privateKey) }
    let dataDirectory = DevnetProcess.temporaryDirectory("crash")
    var random = SeededRandom(seed: 99)
    var acknowledged: [String] = []
    var unconfirmed: [String] = []
    var nonces = [UInt64](repeating: 0, count: keys.count)
    var lastHead: UInt64 = 0
    for round in 0..<20 {
        let node = try DevnetProcess(dataDirectory: dataDirectory, blockTime: "50ms")
        let client = RPCTestClient(port: node.port)
        // The node came back whole.
        let head = try #require(UInt64((client.result("eth_blockNumber") as? String)?.dropFirst(2) ?? "", radix: 16))
        #expect(head >= lastHead, "round \(round): head went back from \(lastHead) to \(head)")
        try checkHead(client, config: config)
        // Mined transactions are in committed blocks; only the others need watching across crashes.
        unconfirmed = unconfirmed.filter { hash in
            if (client.result("eth_getTransactionReceipt", [hash]) as? [String: Any]) != nil { return false }
            let pending = client.result("eth_getTransactionByHash", [hash]) as? [String: Any]
            #expect(pending != nil, "round \(round): acknowledged \(hash) was lost")
            return true
        }
        // Load, then a kill at a random moment.
        for index in keys.indices {
            let address = config.devAccounts[index].address.lowercaseHex
            if let text = client.result("eth_getTransactionCount", [address, "pending"]) as? String,
                let nonce = UInt64(text.dropFirst(2), radix: 16)
            {
                nonces[index] = nonce
            }
        }
        let killAt = Date().addingTimeInterval(Double.random(in: 0.05...0.6, using: &random))
        var sent = 0
        while Date() < killAt && sent < 80 {
            let index = sent % keys.count
            let raw = try signedTransfer(
                keys[index], nonce: nonces[index], chainId: config.chainId,
                to: config.devAccounts[(index + 1) % 10].address)
            if let hash = client.result("eth_sendRawTransaction", [Hex.encode(raw)]) as? String {
                acknowledged.append(hash)
                unconfirmed.append(hash)
                nonces[index] += 1
            }
            sent += 1
        }
        lastHead = UInt64((client.result("eth_blockNumber") as? String)?.dropFirst(2) ?? "0", radix: 16) ?? lastHead
        node.kill9()
    }
    #expect(acknowledged.count > 100)
    // Every acknowledged transaction is in a block by now or still watched.
    #expect(acknowledged.count >= unconfirmed.count)
    // A last restart: everything acknowledged gets mined.
    let node = try DevnetProcess(dataDirectory: dataDirectory, blockTime: "50ms")
    let client = RPCTestClient(port: node.port)
    var unmined = unconfirmed
    poll {
        unmined = unmined.filter { (client.result("eth_getTransactionReceipt", [$0]) as? [String: Any]) == nil }
        return unmined.isEmpty
    }
    #expect(unmined.isEmpty, "\(unmined.count) acknowledged transactions never mined")
    try checkHead(client, config: config)
    #expect(node.interrupt() == 0)
}

/// The head's sequencer signature, its parent link and an account proof against its state root.
private func checkHead(_ client: RPCTestClient, config: NetworkConfig) throws {
    let signed = try #require(client.result("ol_getSignedHead") as? [String: Any])
    let header = try BlockHeader(rlp: try Hex.decode(signed["rlp"] as? String ?? ""))
    let signature = try RecoverableSignature(rsv: try Hex.decode(signed["signature"] as? String ?? ""))
    let digest = SequencerSignature.digest(blockHash: header.hash, chainId: config.chainId)
    #expect(try Address(bytes: signature.recoverPublicKey(digest: digest).ethereumAddress) == config.sequencer)
    if header.number > 0 {
        let parent = try #require(
            client.result("eth_getBlockByNumber", ["0x" + String(header.number - 1, radix: 16), false])
                as? [String: Any])
        #expect(parent["hash"] as? String == Hex.encode(header.parentHash))
    }
    let address = config.devAccounts[0].address
    let proof = try #require(
        client.result("eth_getProof", [address.lowercaseHex, [String](), "0x" + String(header.number, radix: 16)])
            as? [String: Any])
    let nodes = try (proof["accountProof"] as? [String] ?? []).map { try Hex.decode($0) }
    let value = try SecureTrie.verifyProof(rootHash: header.stateRoot, key: address.bytes, proof: nodes)
    let account = try Account(encoded: try #require(value))
    #expect(account.balance.hexQuantity == proof["balance"] as? String)
}
