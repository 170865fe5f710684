import Codec
import Crypto
import Foundation
import TestSupport
import Testing

@testable import Chain

/// Recorded geth JSON-RPC exchanges (ethereum/execution-apis tests): `>>` request lines and `<<` responses.
private struct Exchange {
    let file: String
    let request: [String: Any]
    let result: Any?
}

private func exchanges() throws -> [Exchange]? {
    let root = Fixtures.vectorsDirectory.appendingPathComponent("execution-apis")
    guard Fixtures.vector("execution-apis/genesis.json") != nil else { return nil }
    var out: [Exchange] = []
    let files = FileManager.default.enumerator(atPath: root.path)?.compactMap { $0 as? String } ?? []
    for file in files.sorted() where file.hasSuffix(".io") {
        let text = try String(contentsOf: root.appendingPathComponent(file), encoding: .utf8)
        var request: [String: Any] = [:]
        for line in text.split(separator: "\n") {
            if line.hasPrefix(">> ") {
                request = try JSONSerialization.jsonObject(with: Data(line.dropFirst(3).utf8)) as? [String: Any] ?? [:]
            } else if line.hasPrefix("<< ") {
                let response = try JSONSerialization.jsonObject(with: Data(line.dropFirst(3).utf8)) as? [String: Any]
                out.append(Exchange(file: file, request: request, result: response?["result"]))
            }
        }
    }
    return out
}

private struct BadField: Error, CustomStringConvertible {
    let description: String
}

private func string(_ object: [String: Any], _ key: String) throws -> String {
    guard let value = object[key] as? String else { throw BadField(description: "missing string field \(key)") }
    return value
}

private func hex(_ object: [String: Any], _ key: String) throws -> [UInt8] {
    try Hex.decode(try string(object, key))
}

private func quantity(_ object: [String: Any], _ key: String) throws -> UInt256 {
    guard let value = UInt256(hex: try string(object, key)) else { throw BadField(description: "bad quantity \(key)") }
    return value
}

private func uint64(_ object: [String: Any], _ key: String) throws -> UInt64 {
    guard let value = try quantity(object, key).uint64 else { throw BadField(description: "\(key) over 64 bits") }
    return value
}

private func header(from block: [String: Any]) throws -> BlockHeader {
    var header = BlockHeader(
        parentHash: try hex(block, "parentHash"), beneficiary: try Address(bytes: try hex(block, "miner")),
        stateRoot: try hex(block, "stateRoot"), number: try uint64(block, "number"),
        gasLimit: try uint64(block, "gasLimit"),
        timestamp: try uint64(block, "timestamp"))
    header.ommersHash = try hex(block, "sha3Uncles")
    header.transactionsRoot = try hex(block, "transactionsRoot")
    header.receiptsRoot = try hex(block, "receiptsRoot")
    guard let bloom = Bloom(bytes: try hex(block, "logsBloom")) else { throw BadField(description: "bloom") }
    header.logsBloom = bloom
    header.difficulty = try quantity(block, "difficulty")
    header.gasUsed = try uint64(block, "gasUsed")
    header.extraData = try hex(block, "extraData")
    header.mixHash = try hex(block, "mixHash")
    header.nonce = try hex(block, "nonce")
    if block["baseFeePerGas"] is String { header.baseFeePerGas = try quantity(block, "baseFeePerGas") }
    if block["withdrawalsRoot"] is String { header.withdrawalsRoot = try hex(block, "withdrawalsRoot") }
    if block["blobGasUsed"] is String { header.blobGasUsed = try quantity(block, "blobGasUsed").uint64 }
    if block["excessBlobGas"] is String { header.excessBlobGas = try quantity(block, "excessBlobGas").uint64 }
    if block["parentBeaconBlockRoot"] is String {
        header.parentBeaconBlockRoot = try hex(block, "parentBeaconBlockRoot")
    }
    if block["requestsHash"] is String { header.requestsHash = try hex(block, "requestsHash") }
    return header
}

private func blocks(_ all: [Exchange]) -> [(file: String, block: [String: Any])] {
    all.compactMap { exchange in
        guard let method = exchange.request["method"] as? String, method.hasPrefix("eth_getBlockBy"),
            let block = exchange.result as? [String: Any]
        else { return nil }
        return (exchange.file, block)
    }
}

@Test func recordedBlockHashesRecomputeFromTheirFields() throws {
    guard let all = try exchanges() else { return }
    let recorded = blocks(all)
    #expect(recorded.count >= 7)
    for (file, block) in recorded {
        let header = try header(from: block)
        #expect(Hex.encode(header.hash) == block["hash"] as? String, "\(file)")
        // The encoding decodes back to the same header.
        #expect(try BlockHeader(rlp: header.encoded) == header, "\(file)")
    }
}

@Test func recordedTransactionHashesAndSendersMatch() throws {
    guard let all = try exchanges() else { return }
    var checked = 0
    for (file, block) in blocks(all) {
        guard let transactions = block["transactions"] as? [[String: Any]] else { continue }
        var encodings: [[UInt8]] = []
        for object in transactions {
            #expect(object["type"] as? String == "0x0", "only legacy transactions are recorded here")
            let to = try (object["to"] as? String).map { try Address(bytes: try Hex.decode($0)) }
            let v = try quantity(object, "v")
            let chainId: UInt64? =
                v >= UInt256(35) ? (v - UInt256(35)).quotientAndRemainder(dividingBy: 2).quotient.uint64 : nil
            let transaction = Transaction.legacy(
                chainId: chainId, nonce: try uint64(object, "nonce"),
                gasPrice: try quantity(object, "gasPrice"), gasLimit: try uint64(object, "gas"),
                to: to, value: try quantity(object, "value"), data: try hex(object, "input"))
            let parity = UInt8(((v >= UInt256(35) ? v - UInt256(35) : v - UInt256(27)) % UInt256(2)).uint64!)
            let signature = try RecoverableSignature(
                r: try quantity(object, "r").bigEndianBytes, s: try quantity(object, "s").bigEndianBytes,
                recoveryID: parity)
            let signed = SignedTransaction(transaction: transaction, signature: signature)
            #expect(Hex.encode(signed.hash) == object["hash"] as? String, "\(file)")
            #expect(try signed.recoverSender().lowercaseHex == object["from"] as? String, "\(file)")
            #expect(try SignedTransaction(encoded: signed.encoded) == signed)
            encodings.append(signed.encoded)
            checked += 1
        }
        #expect(Hex.encode(MerklePatriciaTrie.orderedRoot(encodings)) == block["transactionsRoot"] as? String)
    }
    #expect(checked >= 8)
}

@Test func recordedAccountProofsVerifyAgainstTheirBlocksStateRoot() throws {
    guard let all = try exchanges(), let fcu = Fixtures.vector("execution-apis/headfcu.json") else { return }
    let head = try #require(
        ((try Fixtures.json(fcu) as? [String: Any])?["params"] as? [Any])?.first as? [String: Any])
    let headHash = try #require(head["headBlockHash"] as? String)
    var stateRoots: [String: [UInt8]] = [:]
    for (_, block) in blocks(all) { stateRoots[block["hash"] as! String] = try hex(block, "stateRoot") }
    var checked = 0
    for exchange in all where exchange.request["method"] as? String == "eth_getProof" {
        let params = try #require(exchange.request["params"] as? [Any])
        let tag = params.count > 2 ? params[2] as? String ?? "latest" : "latest"
        let root = try #require(stateRoots[tag == "latest" ? headHash : tag])
        let result = try #require(exchange.result as? [String: Any])
        let address = try hex(result, "address")
        let proof = try #require(result["accountProof"] as? [String]).map { try Hex.decode($0) }
        let proven = try SecureTrie.verifyProof(rootHash: root, key: address, proof: proof)
        let value = try #require(proven)
        let account = try Account(encoded: value)
        #expect(account.balance == (try quantity(result, "balance")))
        #expect(UInt256(account.nonce) == (try quantity(result, "nonce")))
        #expect(account.storageRoot == (try hex(result, "storageHash")))
        #expect(account.codeHash == (try hex(result, "codeHash")))
        var tampered = proof
        tampered[tampered.count - 1][tampered[tampered.count - 1].count - 1] ^= 1
        #expect(throws: TrieError.self) { try SecureTrie.verifyProof(rootHash: root, key: address, proof: tampered) }
        checked += 1
    }
    #expect(checked == 3)
}

/// Each recorded receipt's bloom is the bloom of its logs.
@Test func recordedReceiptBloomsMatchTheirLogs() throws {
    guard let all = try exchanges() else { return }
    var checked = 0
    for exchange in all where exchange.request["method"] as? String == "eth_getTransactionReceipt" {
        guard let receipt = exchange.result as? [String: Any] else { continue }
        let logs = try (receipt["logs"] as? [[String: Any]] ?? []).map { log in
            Log(
                address: try Address(bytes: try hex(log, "address")),
                topics: try (log["topics"] as? [String] ?? []).map { try Hex.decode($0) }, data: try hex(log, "data"))
        }
        let type: TransactionType = receipt["type"] as? String == "0x2" ? .dynamicFee : .legacy
        let rebuilt = Receipt(
            type: type, succeeded: receipt["status"] as? String == "0x1",
            cumulativeGasUsed: try uint64(receipt, "cumulativeGasUsed"), logs: logs)
        #expect(rebuilt.bloom.bytes == (try hex(receipt, "logsBloom")), "\(exchange.file)")
        #expect(try Receipt(encoded: rebuilt.encoded) == rebuilt)
        checked += 1
    }
    #expect(checked >= 5)
}

@Test func baseFeeFollowsEIP1559() {
    let base = UInt256(1_000_000_000)
    #expect(FeeRules.nextBaseFee(parentBaseFee: base, parentGasUsed: 15_000_000, parentGasLimit: 30_000_000) == base)
    #expect(
        FeeRules.nextBaseFee(parentBaseFee: base, parentGasUsed: 30_000_000, parentGasLimit: 30_000_000)
            == UInt256(1_125_000_000))
    #expect(
        FeeRules.nextBaseFee(parentBaseFee: base, parentGasUsed: 0, parentGasLimit: 30_000_000) == UInt256(875_000_000))
    // Above target by a little: the increase is at least 1 wei.
    #expect(FeeRules.nextBaseFee(parentBaseFee: 7, parentGasUsed: 15_000_001, parentGasLimit: 30_000_000) == 8)
    #expect(FeeRules.intrinsicGas(data: [0, 0, 1, 2]) == 21_000 + 2 * 4 + 2 * 16)
    #expect(FeeRules.intrinsicGas(data: [], accessListAddresses: 1, accessListStorageKeys: 2) == 21_000 + 2_400 + 3_800)
}

@Test func malformedTransactionsAndHeadersAreRejected() throws {
    let config = try devnetConfig()
    let key = try Secp256k1PrivateKey(bytes: Keccak256.hash([1]))
    let signed = try Transaction.dynamicFee(
        chainId: config.chainId, nonce: 0, maxPriorityFeePerGas: 1, maxFeePerGas: 2, gasLimit: 21_000, to: .zero,
        value: 1
    ).signed(with: key)
    #expect(try SignedTransaction(encoded: signed.encoded) == signed)
    var random = SeededRandom(seed: 1559)
    let header = try StateTransition(config: config).genesis().block.header
    var accepted = 0
    for _ in 0..<100_000 {
        let input = random.mutate(Bool.random(using: &random) ? signed.encoded : header.encoded)
        if let transaction = try? SignedTransaction(encoded: input) {
            accepted += 1
            #expect(transaction.encoded == input)
        }
        if let decoded = try? BlockHeader(rlp: input) { #expect(decoded.encoded == input) }
    }
    #expect(accepted < 100_000)
    #expect(throws: ChainError.self) { try SignedTransaction(encoded: [0x01] + signed.encoded.dropFirst()) }
    #expect(throws: ChainError.self) { try SignedTransaction(encoded: []) }
}
