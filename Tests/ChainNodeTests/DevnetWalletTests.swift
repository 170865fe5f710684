import Foundation
import TestSupport
import Testing

/// web3.py and eth-account, nothing of ours, against a running devnet: transfers, registries, events,
/// a channel redeemed with an EIP-712 voucher, and proofs verified with py-trie.
@Test(.integration, .timeLimit(.minutes(3)))
func realWalletAgainstRunningDevnet() throws {
    guard let python = Fixtures.python() else { return }
    let node = try DevnetProcess(dataDirectory: DevnetProcess.temporaryDirectory("wallet"))
    let script = Process()
    script.executableURL = python
    script.arguments = [
        Fixtures.packageRoot.appendingPathComponent("tools/interop/wallet_devnet.py").path,
        "--rpc", "http://127.0.0.1:\(node.port)",
    ]
    let pipe = Pipe()
    script.standardOutput = pipe
    script.standardError = pipe
    try script.run()
    let output = String(decoding: pipe.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
    script.waitUntilExit()
    #expect(script.terminationStatus == 0, "\(output)")
    #expect(output.contains("wallet checks passed"))
    #expect(node.printed.contains("0xf39Fd6e51aad88F6F4ce6aB8827279cffFb92266"))
    #expect(node.interrupt() == 0)
}
