import Foundation
import TestSupport
import Testing

/// web3.py and eth-account, nothing of ours, against a running devnet: transfers, registries, events,
/// a channel redeemed with an EIP-712 voucher, and proofs verified with py-trie.
@Test(.integration, .timeLimit(.minutes(3)))
func realWalletAgainstRunningDevnet() throws {
    guard let python = Fixtures.python() else { return }
    let node = try DevnetProcess(dataDirectory: DevnetProcess.temporaryDirectory("wallet"))
    let (status, output) = try runWalletScript("wallet_devnet.py", python: python, port: node.port)
    #expect(status == 0, "\(output)")
    #expect(output.contains("wallet checks passed"))
    #expect(node.printed.contains("0xf39Fd6e51aad88F6F4ce6aB8827279cffFb92266"))
    #expect(node.interrupt() == 0)
}
