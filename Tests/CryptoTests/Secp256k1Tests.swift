import Codec
import Crypto
import TestSupport
import Testing

private let order = UInt256(hex: "fffffffffffffffffffffffffffffffebaaedce6af48a03bbfd25e8cd0364141")!

private func signature() throws -> (Secp256k1PrivateKey, [UInt8], RecoverableSignature) {
    let key = try Secp256k1PrivateKey(bytes: Keccak256.hash(Array("cow".utf8)))
    let digest = Keccak256.hash(Array("message".utf8))
    return (key, digest, try key.signRecoverable(digest: digest))
}

@Test func invalidPrivateKeysAreRejected() {
    #expect(throws: CryptoError.self) { try Secp256k1PrivateKey(bytes: [UInt8](repeating: 0, count: 32)) }
    #expect(throws: CryptoError.self) { try Secp256k1PrivateKey(bytes: order.bigEndianBytes) }
    #expect(throws: CryptoError.self) { try Secp256k1PrivateKey(bytes: [UInt8](repeating: 1, count: 31)) }
    #expect(throws: CryptoError.self) { try Secp256k1PublicKey(bytes: [2] + [UInt8](repeating: 0xFF, count: 32)) }
    #expect(throws: CryptoError.self) { try Secp256k1PublicKey(bytes: [4] + [UInt8](repeating: 1, count: 64)) }
}

@Test func publicKeyEncodingsRoundTrip() throws {
    let key = Secp256k1PrivateKey.generate()
    let publicKey = key.publicKey
    #expect(publicKey.compressed.count == 33)
    #expect(try Secp256k1PublicKey(bytes: publicKey.compressed) == publicKey)
    #expect(try Secp256k1PublicKey(bytes: publicKey.uncompressed) == publicKey)
}

@Test func highSZeroAndOutOfRangeSignaturesAreRejected() throws {
    let (key, digest, good) = try signature()
    let s = UInt256(bigEndian: good.s)!
    let highS = (order - s).bigEndianBytes
    #expect(throws: CryptoError.self) { try RecoverableSignature(r: good.r, s: highS, recoveryID: 1 - good.recoveryID) }
    #expect(!key.publicKey.isValidSignature(good.r + highS, digest: digest))
    #expect(throws: CryptoError.self) {
        try RecoverableSignature(r: [UInt8](repeating: 0, count: 32), s: good.s, recoveryID: 0)
    }
    #expect(throws: CryptoError.self) {
        try RecoverableSignature(r: good.r, s: [UInt8](repeating: 0, count: 32), recoveryID: 0)
    }
    #expect(throws: CryptoError.self) { try RecoverableSignature(r: order.bigEndianBytes, s: good.s, recoveryID: 0) }
    #expect(throws: CryptoError.self) {
        try RecoverableSignature(r: Array(good.r.prefix(31)), s: good.s, recoveryID: 0)
    }
    #expect(throws: CryptoError.self) { try RecoverableSignature(r: good.r, s: good.s, recoveryID: 2) }
    #expect(throws: CryptoError.self) { try RecoverableSignature(rsv: good.rsv.dropLast() + [29]) }
    #expect(throws: CryptoError.self) { try RecoverableSignature(rsv: Array(good.rsv.prefix(64))) }
    #expect(throws: CryptoError.self) { try good.recoverPublicKey(digest: [1, 2, 3]) }
    // The other recovery id recovers some other key (or none), never the signer.
    let flipped = try RecoverableSignature(r: good.r, s: good.s, recoveryID: 1 - good.recoveryID)
    #expect((try? flipped.recoverPublicKey(digest: digest)) != key.publicKey)
    #expect(try good.recoverPublicKey(digest: digest) == key.publicKey)
}

@Test func fuzzedSignaturesAndKeysNeverCrash() throws {
    var random = SeededRandom(seed: 21)
    let (key, digest, good) = try signature()
    let seeds = [good.rsv, key.publicKey.compressed, key.publicKey.uncompressed]
    var accepted = 0
    for _ in 0..<100_000 {
        let input = random.mutate(seeds.randomElement(using: &random)!)
        if let signature = try? RecoverableSignature(rsv: input) {
            accepted += 1
            if let recovered = try? signature.recoverPublicKey(digest: digest), input == good.rsv {
                #expect(recovered == key.publicKey)
            }
        }
        if (try? Secp256k1PublicKey(bytes: input)) != nil { accepted += 1 }
    }
    #expect(accepted < 200_000)
}
