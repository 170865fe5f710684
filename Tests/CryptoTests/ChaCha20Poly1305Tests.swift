import Crypto
import TestSupport
import Testing

/// libcrypto's ChaCha20-Poly1305 (the one the package seals with) and libsodium's give the same bytes, and each opens
/// the other's, for seeded sizes across Noise's frame range; in-place sealing equals sealing into a new buffer.
@Test func chaCha20Poly1305AgreesWithLibsodium() throws {
    var random = SeededRandom(seed: 20)
    let sizes =
        [0, 1, 15, 16, 17, 63, 64, 65, 255, 256, 4_095, 65_519, 65_535]
        + (0..<200).map { _ in
            Int(random.next() % 70_000)
        }
    for size in sizes {
        let key = random.bytes(32)
        let nonce = random.bytes(12)
        let plaintext = random.bytes(size)
        var ours = [UInt8](repeating: 0, count: size + 16)
        var theirs = [UInt8](repeating: 0, count: size + 16)
        plaintext.withUnsafeBytes { input in
            ours.withUnsafeMutableBytes { ChaCha20Poly1305.seal(input, key: key, nonce: nonce, into: $0) }
            theirs.withUnsafeMutableBytes { ChaCha20Poly1305.Libsodium.seal(input, key: key, nonce: nonce, into: $0) }
        }
        #expect(ours == theirs, "size \(size)")
        #expect(try ChaCha20Poly1305.seal(plaintext, key: key, nonce: nonce) == theirs)
        // In place: the plaintext at the front of the output buffer, as Noise frames are sealed.
        var inPlace = plaintext + [UInt8](repeating: 0, count: 16)
        inPlace.withUnsafeMutableBytes { buffer in
            ChaCha20Poly1305.seal(
                UnsafeRawBufferPointer(rebasing: buffer[0..<size]), key: key, nonce: nonce, into: buffer)
        }
        #expect(inPlace == theirs)
        var opened = [UInt8](repeating: 0, count: size)
        var openedBySodium = [UInt8](repeating: 0, count: size)
        let valid = theirs.withUnsafeBytes { sealed in
            opened.withUnsafeMutableBytes { ChaCha20Poly1305.open(sealed, key: key, nonce: nonce, into: $0) }
        }
        let validBySodium = ours.withUnsafeBytes { sealed in
            openedBySodium.withUnsafeMutableBytes {
                ChaCha20Poly1305.Libsodium.open(sealed, key: key, nonce: nonce, into: $0)
            }
        }
        #expect(valid && validBySodium && opened == plaintext && openedBySodium == plaintext)
        var tampered = theirs
        tampered[Int(random.next() % UInt64(tampered.count))] ^= 0x80
        let tamperedValid = tampered.withUnsafeBytes { sealed in
            opened.withUnsafeMutableBytes { ChaCha20Poly1305.open(sealed, key: key, nonce: nonce, into: $0) }
        }
        #expect(!tamperedValid)
        #expect(throws: CryptoError.authenticationFailed) {
            try ChaCha20Poly1305.open(tampered, key: key, nonce: nonce)
        }
    }
}

/// Associated data is authenticated: the array API seals with it as libsodium does (checked against the RFC 8439
/// vector elsewhere) and refuses a changed one.
@Test func chaCha20Poly1305AssociatedData() throws {
    var random = SeededRandom(seed: 21)
    for _ in 0..<100 {
        let key = random.bytes(32)
        let nonce = random.bytes(12)
        let plaintext = random.bytes(Int(random.next() % 2_000))
        let associated = random.bytes(Int(random.next() % 100))
        let sealed = try ChaCha20Poly1305.seal(plaintext, key: key, nonce: nonce, associatedData: associated)
        #expect(try ChaCha20Poly1305.open(sealed, key: key, nonce: nonce, associatedData: associated) == plaintext)
        #expect(throws: CryptoError.authenticationFailed) {
            try ChaCha20Poly1305.open(sealed, key: key, nonce: nonce, associatedData: associated + [1])
        }
    }
}
