import Foundation
import TestSupport
import Testing

/// `bench crypto` measures ChaCha20-Poly1305 through libcrypto (what Noise seals with) against libsodium in the same
/// run, and the RSA and ECDSA peer keys.
@Test(.integration) func benchCryptoComparesTheCipherWithLibsodiumInTheSameRun() throws {
    let result = try Executable.run(["bench", "crypto", "--seconds", "0.01"])
    #expect(result.status == 0)
    let figures = try result.stdout.split(separator: "\n").compactMap {
        try JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any]
    }
    for bench in ["chacha20poly1305_seal", "chacha20poly1305_open"] {
        let sodium = try #require(
            figures.first { $0["bench"] as? String == bench && $0["impl"] as? String == "libsodium" })
        let ours = try #require(
            figures.first { $0["bench"] as? String == bench && $0["impl"] as? String == "openledger" })
        let sodiumRate = (sodium["mb_s"] as? NSNumber)?.doubleValue ?? 0
        let rate = (ours["mb_s"] as? NSNumber)?.doubleValue ?? 0
        let ratio = (ours["ratio"] as? NSNumber)?.doubleValue ?? 0
        #expect(sodiumRate > 0 && rate > 0)
        #expect(ours["reference"] as? String == "libsodium" && ours["backend"] as? String == "libcrypto")
        #expect(abs(ratio - rate / sodiumRate) < 0.01 * max(1, ratio))
    }
    for bench in ["rsa2048_sign", "rsa2048_verify", "ecdsa_p256_sign", "ecdsa_p256_verify"] {
        let figure = figures.first { $0["bench"] as? String == bench }
        #expect(((figure?["ops_s"] as? NSNumber)?.doubleValue ?? 0) > 0, "\(bench)")
    }
}
