import Codec
import Crypto
import Foundation
import TestSupport
import Testing

private func cases(_ name: String) throws -> [[String: Any]]? {
    guard let data = Fixtures.interop(name) else { return nil }
    return (try Fixtures.json(data) as? [String: Any])?["cases"] as? [[String: Any]]
}

private func hex(_ object: [String: Any], _ key: String) throws -> [UInt8] {
    try Hex.decode(object[key] as? String ?? "missing")
}

/// Keccak-256 against pycryptodome over seeded random inputs (lengths 0…3000 and the rate boundaries).
@Test func keccakAgreesWithPycryptodome() throws {
    guard let cases = try cases("keccak.json") else { return }
    #expect(cases.count >= 1000)
    for testCase in cases {
        #expect(
            Hex.encode(Keccak256.hash(try hex(testCase, "input")), prefix: false) == testCase["keccak256"] as? String)
    }
}

/// Keys, addresses, signatures, recovery and EIP-191 against eth-account, byte for byte (both sides use
/// RFC 6979 nonces, so signatures must be identical).
@Test func secp256k1AgreesWithEthAccount() throws {
    guard let cases = try cases("secp256k1.json") else { return }
    #expect(cases.count >= 1000)
    for testCase in cases {
        let key = try Secp256k1PrivateKey(bytes: try hex(testCase, "privateKey"))
        let publicKey = key.publicKey
        #expect(Array(publicKey.uncompressed.dropFirst()) == (try hex(testCase, "publicKey")))
        let address = try Address(bytes: publicKey.ethereumAddress)
        #expect(address.checksummed == testCase["address"] as? String)
        let digest = try hex(testCase, "digest")
        let signature = try key.signRecoverable(digest: digest)
        #expect(signature.r == (try hex(testCase, "r")))
        #expect(signature.s == (try hex(testCase, "s")))
        #expect(Int(signature.recoveryID) + 27 == testCase["v"] as? Int)
        #expect(try signature.recoverPublicKey(digest: digest) == publicKey)
        #expect(publicKey.isValidSignature(signature.compact, digest: digest))
        let message = try hex(testCase, "message")
        let personalHash = EIP191.personalMessageHash(message)
        #expect(personalHash == (try hex(testCase, "personalHash")))
        let personal = try key.signRecoverable(digest: personalHash)
        #expect(personal.rsv == (try hex(testCase, "personalSignature")))
        let theirs = try RecoverableSignature(rsv: try hex(testCase, "personalSignature"))
        #expect(try Address(bytes: theirs.recoverPublicKey(digest: personalHash).ethereumAddress) == address)
    }
}
