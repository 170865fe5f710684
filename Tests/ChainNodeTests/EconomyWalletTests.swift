import Foundation
import TestSupport
import Testing

/// web3.py, eth-account and pyrlp, nothing of ours, through a whole claim's life on a running devnet: stakes, a
/// voucher, a claim with a proof the script builds itself, attestations, finalization and withdrawn rewards, then an
/// inflated claim challenged and slashed; balances checked to the wei.
@Test(.integration, .timeLimit(.minutes(3)))
func realWalletRunsAClaimsLifeOnARunningDevnet() throws {
    guard let python = Fixtures.python() else { return }
    let node = try DevnetProcess(dataDirectory: DevnetProcess.temporaryDirectory("economy"))
    let (status, output) = try runWalletScript("economy_wallet.py", python: python, port: node.port)
    #expect(status == 0, "\(output)")
    #expect(output.contains("economy wallet checks passed"))
    #expect(node.interrupt() == 0)
}
