import Codec
import Crypto
import Testing

/// Inputs of the Keccak boundary cases: byte i is (7i + 3) mod 256.
///
/// Expected digests from pycryptodome's Crypto.Hash.keccak (digest_bits=256); "" and "abc" are the well-known Ethereum
/// values.
@Test(arguments: [
    (0, "c5d2460186f7233c927e7db2dcc703c0e500b653ca82273b7bfad8045d85a470"),
    (135, "00ef96af9cf4b24c7f269d922294444a197d0a33638c2e56634c57e892103a8f"),
    (136, "742061bcad767ed4c4f5883b1dcb1aad11afdcc140dc469d953759b127b9f9ed"),
    (137, "e3371f61e770abf254c34239c3b0099ad90594507415bc81dd0a10b9692bbf2a"),
    (1000, "80cdc8dd52cbb3dbaea8f383209893fa2bb52efbd5aedbb4b26dcfe307fcdc9b"),
])
func keccak256KnownAnswers(length: Int, expected: String) {
    let input = (0..<length).map { UInt8(truncatingIfNeeded: $0 * 7 + 3) }
    #expect(Hex.encode(Keccak256.hash(input), prefix: false) == expected)
    // Streaming in uneven pieces gives the same digest as one call.
    var hasher = Keccak256()
    var offset = 0
    var piece = 1
    while offset < input.count {
        let end = min(input.count, offset + piece)
        hasher.update(input[offset..<end])
        offset = end
        piece = piece * 3 % 200 + 1
    }
    #expect(Hex.encode(hasher.finalize(), prefix: false) == expected)
}

@Test func keccak256Abc() {
    #expect(
        Hex.encode(Keccak256.hash(Array("abc".utf8)), prefix: false)
            == "4e03657aea45a94fc7d47ba826c8d667c0d1e6e33a64a036ec44f58fa12d6c45")
    #expect(
        Hex.encode(Keccak256.hash([UInt8](repeating: 0x61, count: 1 << 20)), prefix: false)
            == "f5f3e54ad3d703f8e9edfd7ce79341b1d9286a692fa6c13ff13ee6ea94dbf97d")
}

/// FIPS 180-4 / FIPS 202 / RFC 7693 example values.
@Test func shaAndBlakeKnownAnswers() throws {
    let abc = Array("abc".utf8)
    #expect(Hex.encode(SHA1.hash(abc), prefix: false) == "a9993e364706816aba3e25717850c26c9cd0d89d")
    #expect(Hex.encode(SHA1.hash([UInt8]()), prefix: false) == "da39a3ee5e6b4b0d3255bfef95601890afd80709")
    #expect(
        Hex.encode(SHA1.hash(Array("abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq".utf8)), prefix: false)
            == "84983e441c3bd26ebaae4aa1f95129e5e54670f1")
    #expect(
        Hex.encode(SHA256.hash(abc), prefix: false)
            == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad")
    #expect(
        Hex.encode(SHA512.hash(abc), prefix: false)
            == "ddaf35a193617abacc417349ae20413112e6fa4e89a97ea20a9eeee64b55d39a"
            + "2192992a274fc1a836ba3c23a3feebbd454d4423643ce80e2a9ac94fa54ca49f")
    #expect(
        Hex.encode(SHA3_512.hash([UInt8]()), prefix: false)
            == "a69f73cca23a9ac5c8b567dc185a756e97c982164fe25859e0d1dcc1475c80a6"
            + "15b2123af1f5f94c11e3e9402c3ac558f500199d95b6d3e301758586281dcd26")
    #expect(
        Hex.encode(SHA3_512.hash(abc), prefix: false)
            == "b751850b1a57168a5693cd924b6b096e08f621827444f70d884f5d0240d2712e"
            + "10e116e9192af3c91a7ec57647e3934057340b4cf408d5a56592f8274eec53f0")
    #expect(
        Hex.encode(try BLAKE2b.hash(abc), prefix: false)
            == "ba80a53f981c4d0d6a2797b69f12f6e94c212f14685ac4b74b12bb6fdbffa2d1"
            + "7d87c5392aab792dc252d5de4533cc9518d38aa8dbf1925ab92386edd4009923")
    #expect(
        Hex.encode(try BLAKE2b.hash([UInt8](), outputLength: 32), prefix: false)
            == "0e5751c026e543b2e8ab2eb06099daa1d1e5df47778f7787faab45cdf12fe3a8")
    #expect(
        Hex.encode(try BLAKE2b.hash(abc, outputLength: 16, key: Array(repeating: 0x6B, count: 64)), prefix: false)
            == "402d1d330dde5f7d1d9bbbe4e636aaf6")
    #expect(throws: CryptoError.self) { try BLAKE2b.hash(abc, outputLength: 65) }
    #expect(throws: CryptoError.self) { try BLAKE2b.hash(abc, key: Array(repeating: 0, count: 65)) }
}

/// RFC 4231 test cases 1 and 2; RFC 5869 test case A.1.
@Test func hmacAndHKDFKnownAnswers() throws {
    #expect(
        Hex.encode(
            HMACSHA256.authenticate(Array("Hi There".utf8), key: Array(repeating: 0x0B, count: 20)), prefix: false)
            == "b0344c61d8db38535ca8afceaf0bf12b881dc200c9833da726e9376c2e32cff7")
    let tag = HMACSHA256.authenticate(Array("what do ya want for nothing?".utf8), key: Array("Jefe".utf8))
    #expect(Hex.encode(tag, prefix: false) == "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843")
    #expect(HMACSHA256.isValid(tag: tag, for: Array("what do ya want for nothing?".utf8), key: Array("Jefe".utf8)))
    #expect(!HMACSHA256.isValid(tag: tag, for: Array("what do ya want for nothing!".utf8), key: Array("Jefe".utf8)))
    let ikm = [UInt8](repeating: 0x0B, count: 22)
    let salt = (0..<13).map { UInt8($0) }
    let info = (0xF0..<0xFA).map { UInt8($0) }
    let prk = HKDF.extract(salt: salt, inputKeyMaterial: ikm)
    #expect(Hex.encode(prk, prefix: false) == "077709362c2e32df0ddc3f0dc47bba6390b6c73bb50f9c3122ec844ad7c2b3e5")
    #expect(
        Hex.encode(try HKDF.expand(pseudoRandomKey: prk, info: info, length: 42), prefix: false)
            == "3cb25f25faacd57a90434f64d0362f2a2d2d0a90cf1a5a4c5db02d56ecc4c5bf34007208d5b887185865")
    #expect(throws: CryptoError.self) { try HKDF.expand(pseudoRandomKey: prk, info: info, length: 255 * 32 + 1) }
}
