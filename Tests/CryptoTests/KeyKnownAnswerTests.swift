import Codec
import Crypto
import Testing

/// RFC 8032 §7.1 tests 1 and 2.
@Test func ed25519KnownAnswers() throws {
    let key = try Ed25519PrivateKey(
        seed: try Hex.decode("9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60"))
    #expect(
        Hex.encode(key.publicKey.bytes, prefix: false)
            == "d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a")
    let signature = key.signature(for: [UInt8]())
    #expect(
        Hex.encode(signature, prefix: false)
            == "e5564300c360ac729086e2cc806e828a84877f1eb8e5d974d873e065224901555fb8821590a33bacc61e39701cf9b46b"
            + "d25bf5f0595bbe24655141438e7a100b")
    #expect(key.publicKey.isValidSignature(signature, for: [UInt8]()))
    #expect(!key.publicKey.isValidSignature(signature, for: [0]))
    let key2 = try Ed25519PrivateKey(
        seed: try Hex.decode("4ccd089b28ff96da9db6c346ec114e0f5b8a319f35aba624da8cf6ed4fb8a6fb"))
    let signature2 = key2.signature(for: [0x72])
    #expect(
        Hex.encode(signature2, prefix: false)
            == "92a009a9f0d4cab8720e820b5f642540a2b27b5416503f8fb3762223ebdb69da085ac1e43e15996e458f3613d0f11d8c"
            + "387b2eaeb4302aeeb00d291612bb0c00")
    var tampered = signature2
    tampered[10] ^= 1
    #expect(!key2.publicKey.isValidSignature(tampered, for: [0x72]))
    #expect(!key2.publicKey.isValidSignature(Array(signature2.prefix(63)), for: [0x72]))
    #expect(throws: CryptoError.self) { try Ed25519PrivateKey(seed: [1, 2, 3]) }
    #expect(throws: CryptoError.self) { try Ed25519PublicKey(bytes: [UInt8](repeating: 0, count: 31)) }
    let generated = Ed25519PrivateKey.generate()
    #expect(try Ed25519PrivateKey(seed: generated.seed).publicKey == generated.publicKey)
}

/// RFC 7748 §6.1.
@Test func x25519KnownAnswers() throws {
    let alice = try X25519PrivateKey(
        bytes: try Hex.decode("77076d0a7318a57d3c16c17251b26645df4c2f87ebc0992ab177fba51db92c2a"))
    let bob = try X25519PrivateKey(
        bytes: try Hex.decode("5dab087e624a8a4b79e17f8b83800ee66f3bb1292618b6fd1c2f8b27ff88e0eb"))
    #expect(
        Hex.encode(alice.publicKey, prefix: false)
            == "8520f0098930a754748b7ddcb43ef75a0dbf3a0d26381af4eba4a98eaa9b4e6a")
    #expect(
        Hex.encode(bob.publicKey, prefix: false)
            == "de9edb7d7b7dc1b4d35b61c2ece435373f8343c85b78674dadfc7e146f882b4f")
    let shared = "4a5d9d5ba4ce2de1728e3bf480350f25e07e21c947d19e3376f09b3c1e161742"
    #expect(Hex.encode(try alice.sharedSecret(with: bob.publicKey), prefix: false) == shared)
    #expect(Hex.encode(try bob.sharedSecret(with: alice.publicKey), prefix: false) == shared)
    // A low-order point (all zero) must not yield a shared secret.
    #expect(throws: CryptoError.self) { try alice.sharedSecret(with: [UInt8](repeating: 0, count: 32)) }
    #expect(throws: CryptoError.self) { try alice.sharedSecret(with: [1]) }
}

/// RFC 8439 §2.8.2.
@Test func chaCha20Poly1305KnownAnswer() throws {
    let key = (0x80..<0xA0).map { UInt8($0) }
    let nonce = try Hex.decode("070000004041424344454647")
    let aad = try Hex.decode("50515253c0c1c2c3c4c5c6c7")
    let plaintext = Array(
        "Ladies and Gentlemen of the class of '99: If I could offer you only one tip for the future, sunscreen would be it."
            .utf8)
    let sealed = try ChaCha20Poly1305.seal(plaintext, key: key, nonce: nonce, associatedData: aad)
    #expect(
        Hex.encode(sealed, prefix: false)
            == "d31a8d34648e60db7b86afbc53ef7ec2a4aded51296e08fea9e2b5a736ee62d63dbea45e8ca9671282fafb69da92728b"
            + "1a71de0a9e060b2905d6a5b67ecd3b3692ddbd7f2d778b8c9803aee328091b58fab324e4fad675945585808b4831d7bc"
            + "3ff4def08e4b7a9de576d26586cec64b61161ae10b594f09e26a7e902ecbd0600691")
    #expect(try ChaCha20Poly1305.open(sealed, key: key, nonce: nonce, associatedData: aad) == plaintext)
    for index in [0, sealed.count / 2, sealed.count - 1] {
        var tampered = sealed
        tampered[index] ^= 0x80
        #expect(throws: CryptoError.authenticationFailed) {
            try ChaCha20Poly1305.open(tampered, key: key, nonce: nonce, associatedData: aad)
        }
    }
    #expect(throws: CryptoError.authenticationFailed) {
        try ChaCha20Poly1305.open(sealed, key: key, nonce: nonce, associatedData: [])
    }
    #expect(throws: CryptoError.authenticationFailed) {
        try ChaCha20Poly1305.open(Array(sealed.prefix(15)), key: key, nonce: nonce)
    }
    #expect(throws: CryptoError.self) { try ChaCha20Poly1305.seal(plaintext, key: [1], nonce: nonce) }
    #expect(throws: CryptoError.self) { try ChaCha20Poly1305.seal(plaintext, key: key, nonce: [1]) }
}

@Test func secureRandomIsNotConstant() {
    let a = SecureRandom.bytes(32)
    let b = SecureRandom.bytes(32)
    #expect(a.count == 32)
    #expect(a != b)
}

/// The accounts every Ethereum developer knows: anvil's and Hardhat's, from the standard test mnemonic.
@Test func hdWalletDerivesTheStandardTestAccounts() throws {
    let keys = try HDWallet.ethereumKeys(
        mnemonic: "test test test test test test test test test test test junk", count: 10)
    let addresses = try keys.map { try Address(bytes: $0.publicKey.ethereumAddress).checksummed }
    #expect(addresses[0] == "0xf39Fd6e51aad88F6F4ce6aB8827279cffFb92266")
    #expect(addresses[1] == "0x70997970C51812dc3A010C7d01b50e0d17dc79C8")
    #expect(addresses[2] == "0x3C44CdDdB6a900fa2b585dd299e03d12FA4293BC")
    #expect(addresses[9] == "0xa0Ee7A142d267C1f36714E4a8F75612F20a79720")
    #expect(
        keys[0].withUnsafeSecretBytes { Hex.encode(Array($0)) }
            == "0xac0974bec39a17e36ba4a6b4d238ff944bacb478cbed5efcae784d7bf4f2ff80")
    #expect(throws: CryptoError.self) { try HDWallet.ExtendedKey(seed: [1]).derive(path: "44'/60'") }
}

/// BIP-32 test vector 1 (the master key and m/0').
@Test func bip32TestVectorOne() throws {
    let master = try HDWallet.ExtendedKey(seed: try Hex.decode("000102030405060708090a0b0c0d0e0f"))
    #expect(
        master.key.withUnsafeSecretBytes { Hex.encode(Array($0), prefix: false) }
            == "e8f32e723decf4051aefac8e2c93c9c5b214313817cdb01a1494b917c8436b35")
    #expect(
        Hex.encode(master.chainCode, prefix: false)
            == "873dff81c02f525623fd1fe5167eac3a55a049de3d314bb42ee227ffed37d508")
    let child = try master.derive(path: "m/0'")
    #expect(
        child.key.withUnsafeSecretBytes { Hex.encode(Array($0), prefix: false) }
            == "edb2e14f9ee77d26dd93b4ecede8d16ed408ce149b6cd80b0715a2d911a0afea")
}
