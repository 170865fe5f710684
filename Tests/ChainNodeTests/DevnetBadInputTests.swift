import Chain
import Codec
import Crypto
import Foundation
import TestSupport
import Testing

func devnetConfig() throws -> NetworkConfig {
    try NetworkConfig.parse(Data(contentsOf: Fixtures.packageRoot.appendingPathComponent("netconfig/devnet.json")))
}

func signedTransfer(
    _ key: Secp256k1PrivateKey, nonce: UInt64, chainId: UInt64, value: UInt256 = 1, gas: UInt64 = 21_000,
    maxFee: UInt256 = 50_000_000_000, to: Address = .zero
) throws -> [UInt8] {
    try Transaction.dynamicFee(
        chainId: chainId, nonce: nonce, maxPriorityFeePerGas: 1_000_000_000, maxFeePerGas: maxFee, gasLimit: gas,
        to: to,
        value: value
    ).signed(with: key).encoded
}

private func errorOf(_ response: [String: Any]?) -> (code: Int, message: String)? {
    guard let error = response?["error"] as? [String: Any], let code = error["code"] as? Int else { return nil }
    return (code, error["message"] as? String ?? "")
}

/// Every kind of bad input gets an error object (or an HTTP error), the node keeps serving, and nothing changes.
@Test(.integration, .timeLimit(.minutes(5)))
func badInputGetsErrorsAndChangesNothing() throws {
    let config = try devnetConfig()
    let node = try DevnetProcess(dataDirectory: DevnetProcess.temporaryDirectory("bad"))
    let client = RPCTestClient(port: node.port)
    let key = try Secp256k1PrivateKey(bytes: config.devAccounts[0].privateKey)
    let account = config.devAccounts[0].address.lowercaseHex
    let balanceBefore = client.result("eth_getBalance", [account, "latest"]) as? String
    #expect(balanceBefore != nil)

    func rawError(_ body: String) -> (code: Int, message: String)? {
        errorOf(
            client.raw(Array(body.utf8)).flatMap {
                try? JSONSerialization.jsonObject(with: Data($0.body)) as? [String: Any]
            })
    }
    #expect(rawError("{not json")?.code == -32700)
    #expect(rawError(#"{"jsonrpc":"1.0","id":1,"method":"eth_chainId"}"#)?.code == -32600)
    #expect(rawError(#"{"jsonrpc":"2.0","id":1,"method":"eth_noSuchThing"}"#)?.code == -32601)
    #expect(errorOf(client.call("eth_getBalance", ["0x1234", "latest"]))?.code == -32602)
    #expect(errorOf(client.call("eth_getBalance", [42]))?.code == -32602)
    #expect(errorOf(client.call("eth_getBlockByNumber", ["0xzz", false]))?.code == -32602)
    #expect(rawError("[]")?.code == -32600)

    // An oversized body is refused at the HTTP layer.
    let oversized = HTTPTestClient(port: node.port)
    oversized?.send(Array("POST / HTTP/1.1\r\nContent-Length: \(6 * 1024 * 1024)\r\n\r\n".utf8))
    oversized?.send([UInt8](repeating: 0x20, count: 64 * 1024))
    #expect(oversized?.readResponse()?.status == 413)

    func send(_ raw: [UInt8]) -> (code: Int, message: String)? {
        errorOf(client.call("eth_sendRawTransaction", [Hex.encode(raw)]))
    }
    #expect(send([0xF8, 0x01, 0x02])?.code == -32000)  // malformed RLP
    #expect(send(try signedTransfer(key, nonce: 0, chainId: 1))?.message.contains("chain id") == true)
    var badSignature = try signedTransfer(key, nonce: 0, chainId: config.chainId)
    badSignature[badSignature.count - 40] ^= 0xFF  // corrupt r
    #expect(send(badSignature) != nil)
    #expect(
        send(try signedTransfer(key, nonce: 1_000, chainId: config.chainId))?.message.contains("nonce too high") == true
    )
    #expect(
        send(try signedTransfer(key, nonce: 0, chainId: config.chainId, value: NetworkConfig.totalSupply))?
            .message.contains("insufficient funds") == true)
    #expect(
        send(try signedTransfer(key, nonce: 0, chainId: config.chainId, gas: 20_000))?.message.contains(
            "intrinsic gas too low") == true)
    // A valid transaction goes through; sending it again once mined is "nonce too low".
    let good = try signedTransfer(key, nonce: 0, chainId: config.chainId, to: config.devAccounts[1].address)
    let hash = client.result("eth_sendRawTransaction", [Hex.encode(good)]) as? String
    #expect(hash != nil)
    let mined = poll { (client.result("eth_getTransactionReceipt", [hash ?? ""]) as? [String: Any]) != nil }
    #expect(mined, "the valid transaction was not mined in \(patientSeconds) s")
    #expect(send(good)?.message.contains("nonce too low") == true)

    // Slow and half-open clients do not stop others from being served.
    let slow = HTTPTestClient(port: node.port)
    #expect(slow?.send(Array("POST / HTTP/1.1\r\nContent-Length: 100\r\n\r\n{\"jsonrpc\"".utf8)) == true)
    let silent = (0..<50).compactMap { _ in HTTPTestClient(port: node.port) }
    #expect(silent.count == 50)
    #expect(client.result("eth_chainId") as? String == "0xf5f8e1")
    // Garbage on a raw socket gets a 400 and a closed connection; the node keeps serving.
    let garbage = HTTPTestClient(port: node.port)
    garbage?.send(Array("\u{01}\u{02}GARBAGE\r\n\r\n".utf8))
    #expect(garbage?.readResponse()?.status == 400)
    #expect(client.result("eth_blockNumber") is String)

    // Nothing bad took effect: only the one good transfer (and its fee) moved the balance.
    let after = client.result("eth_getBalance", [account, "latest"]) as? String
    let receipt = client.result("eth_getTransactionReceipt", [hash ?? ""]) as? [String: Any]
    let gasUsed = UInt256(hex: receipt?["gasUsed"] as? String ?? "") ?? .zero
    let price = UInt256(hex: receipt?["effectiveGasPrice"] as? String ?? "") ?? .zero
    #expect(UInt256(hex: balanceBefore ?? "") == (UInt256(hex: after ?? "") ?? .zero) + UInt256(1) + gasUsed * price)
    #expect(node.interrupt() == 0)
}
