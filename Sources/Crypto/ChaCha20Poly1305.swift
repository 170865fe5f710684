import CSodium

/// ChaCha20-Poly1305 AEAD, IETF variant (RFC 8439): 32-byte key, 12-byte nonce, 16-byte tag.
public enum ChaCha20Poly1305 {
    /// The key size in bytes.
    public static let keyLength = 32
    /// The nonce size in bytes.
    public static let nonceLength = 12
    /// The size in bytes of the authentication tag appended to each ciphertext.
    public static let tagLength = 16

    /// Encrypts `plaintext` and authenticates it with `associatedData`; returns ciphertext ‖ tag.
    public static func seal(
        _ plaintext: [UInt8], key: [UInt8], nonce: [UInt8], associatedData: [UInt8] = []
    ) throws(CryptoError) -> [UInt8] {
        try check(key: key, nonce: nonce)
        var out = [UInt8](repeating: 0, count: plaintext.count + tagLength)
        var length: UInt64 = 0
        crypto_aead_chacha20poly1305_ietf_encrypt(
            &out, &length, plaintext, UInt64(plaintext.count), associatedData, UInt64(associatedData.count), nil,
            nonce, key)
        return out
    }

    /// Checks the tag and decrypts ciphertext ‖ tag; throws `.authenticationFailed` on any tampering.
    public static func open(
        _ sealed: [UInt8], key: [UInt8], nonce: [UInt8], associatedData: [UInt8] = []
    ) throws(CryptoError) -> [UInt8] {
        try check(key: key, nonce: nonce)
        guard sealed.count >= tagLength else { throw .authenticationFailed }
        var out = [UInt8](repeating: 0, count: sealed.count - tagLength)
        var length: UInt64 = 0
        guard
            crypto_aead_chacha20poly1305_ietf_decrypt(
                &out, &length, nil, sealed, UInt64(sealed.count), associatedData, UInt64(associatedData.count),
                nonce, key) == 0
        else { throw .authenticationFailed }
        return out
    }

    private static func check(key: [UInt8], nonce: [UInt8]) throws(CryptoError) {
        Sodium.ensureInitialized()
        guard key.count == keyLength else { throw .invalidKey("ChaCha20-Poly1305 key of \(key.count) bytes") }
        guard nonce.count == nonceLength else {
            throw .invalidLength("ChaCha20-Poly1305 nonce of \(nonce.count) bytes")
        }
    }
}

extension ChaCha20Poly1305 {
    /// Seals in place into `out` (exactly `plaintext.count + tagLength` bytes): no allocation, for bulk framing.
    ///
    /// The caller checks key and nonce lengths.
    public static func seal(
        _ plaintext: UnsafeRawBufferPointer, key: UnsafePointer<UInt8>, nonce: UnsafePointer<UInt8>,
        into out: UnsafeMutableRawBufferPointer
    ) {
        precondition(out.count == plaintext.count + tagLength)
        Sodium.ensureInitialized()
        var length: UInt64 = 0
        crypto_aead_chacha20poly1305_ietf_encrypt(
            out.baseAddress!.assumingMemoryBound(to: UInt8.self), &length,
            plaintext.baseAddress?.assumingMemoryBound(to: UInt8.self), UInt64(plaintext.count), nil, 0, nil, nonce,
            key)
    }

    /// Opens in place into `out` (exactly `sealed.count - tagLength` bytes); false when the tag does not verify.
    public static func open(
        _ sealed: UnsafeRawBufferPointer, key: UnsafePointer<UInt8>, nonce: UnsafePointer<UInt8>,
        into out: UnsafeMutableRawBufferPointer
    ) -> Bool {
        guard sealed.count >= tagLength, out.count == sealed.count - tagLength else { return false }
        Sodium.ensureInitialized()
        var length: UInt64 = 0
        return crypto_aead_chacha20poly1305_ietf_decrypt(
            out.baseAddress?.assumingMemoryBound(to: UInt8.self), &length, nil,
            sealed.baseAddress!.assumingMemoryBound(to: UInt8.self), UInt64(sealed.count), nil, 0, nonce, key) == 0
    }
}
