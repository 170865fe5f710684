import CSodium

/// ChaCha20-Poly1305 AEAD, IETF variant (RFC 8439): 32-byte key, 12-byte nonce, 16-byte tag.
///
/// Sealing and opening run libcrypto's EVP implementation, several times faster than libsodium's on CPUs with
/// AVX-512 or AVX2 assembly; `Libsodium` keeps libsodium's for cross-checks and the benchmark's reference. Both give
/// the same bytes.
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
        let count = plaintext.count
        out.withUnsafeMutableBufferPointer { out in
            OpenSSLAEAD.seal(
                plaintext, count: count, associatedData: associatedData, associatedCount: associatedData.count,
                key: key, nonce: nonce, output: out.baseAddress, tag: out.baseAddress! + count)
        }
        return out
    }

    /// Checks the tag and decrypts ciphertext ‖ tag; throws `.authenticationFailed` on any tampering.
    public static func open(
        _ sealed: [UInt8], key: [UInt8], nonce: [UInt8], associatedData: [UInt8] = []
    ) throws(CryptoError) -> [UInt8] {
        try check(key: key, nonce: nonce)
        guard sealed.count >= tagLength else { throw .authenticationFailed }
        let count = sealed.count - tagLength
        var out = [UInt8](repeating: 0, count: count)
        let valid = sealed.withUnsafeBufferPointer { sealed in
            out.withUnsafeMutableBufferPointer { out in
                OpenSSLAEAD.open(
                    sealed.baseAddress, count: count, associatedData: associatedData,
                    associatedCount: associatedData.count, key: key, nonce: nonce, tag: sealed.baseAddress! + count,
                    output: out.baseAddress)
            }
        }
        guard valid else { throw .authenticationFailed }
        return out
    }

    private static func check(key: [UInt8], nonce: [UInt8]) throws(CryptoError) {
        guard key.count == keyLength else { throw .invalidKey("ChaCha20-Poly1305 key of \(key.count) bytes") }
        guard nonce.count == nonceLength else {
            throw .invalidLength("ChaCha20-Poly1305 nonce of \(nonce.count) bytes")
        }
    }
}

extension ChaCha20Poly1305 {
    /// Seals in place into `out` (exactly `plaintext.count + tagLength` bytes; `plaintext` may be its front): no
    /// allocation, for bulk framing.
    ///
    /// The caller checks key and nonce lengths.
    public static func seal(
        _ plaintext: UnsafeRawBufferPointer, key: UnsafePointer<UInt8>, nonce: UnsafePointer<UInt8>,
        into out: UnsafeMutableRawBufferPointer
    ) {
        precondition(out.count == plaintext.count + tagLength)
        let output = out.baseAddress!.assumingMemoryBound(to: UInt8.self)
        OpenSSLAEAD.seal(
            plaintext.baseAddress?.assumingMemoryBound(to: UInt8.self), count: plaintext.count, associatedData: nil,
            associatedCount: 0, key: key, nonce: nonce, output: output, tag: output + plaintext.count)
    }

    /// Opens in place into `out` (exactly `sealed.count - tagLength` bytes; it may be the front of `sealed`); false
    /// when the tag does not verify.
    public static func open(
        _ sealed: UnsafeRawBufferPointer, key: UnsafePointer<UInt8>, nonce: UnsafePointer<UInt8>,
        into out: UnsafeMutableRawBufferPointer
    ) -> Bool {
        guard sealed.count >= tagLength, out.count == sealed.count - tagLength else { return false }
        let input = sealed.baseAddress!.assumingMemoryBound(to: UInt8.self)
        return OpenSSLAEAD.open(
            input, count: out.count, associatedData: nil, associatedCount: 0, key: key, nonce: nonce,
            tag: input + out.count, output: out.baseAddress?.assumingMemoryBound(to: UInt8.self))
    }
}

extension ChaCha20Poly1305 {
    /// libsodium's ChaCha20-Poly1305 (IETF), the same construction: for cross-checks and benchmark references.
    public enum Libsodium {
        /// Seals into `out` (exactly `plaintext.count + tagLength` bytes) with libsodium.
        public static func seal(
            _ plaintext: UnsafeRawBufferPointer, key: UnsafePointer<UInt8>, nonce: UnsafePointer<UInt8>,
            into out: UnsafeMutableRawBufferPointer
        ) {
            precondition(out.count == plaintext.count + tagLength)
            Sodium.ensureInitialized()
            var length: UInt64 = 0
            crypto_aead_chacha20poly1305_ietf_encrypt(
                out.baseAddress!.assumingMemoryBound(to: UInt8.self), &length,
                plaintext.baseAddress?.assumingMemoryBound(to: UInt8.self), UInt64(plaintext.count), nil, 0, nil,
                nonce, key)
        }

        /// Opens into `out` (exactly `sealed.count - tagLength` bytes) with libsodium; false when the tag fails.
        public static func open(
            _ sealed: UnsafeRawBufferPointer, key: UnsafePointer<UInt8>, nonce: UnsafePointer<UInt8>,
            into out: UnsafeMutableRawBufferPointer
        ) -> Bool {
            guard sealed.count >= tagLength, out.count == sealed.count - tagLength else { return false }
            Sodium.ensureInitialized()
            var length: UInt64 = 0
            return crypto_aead_chacha20poly1305_ietf_decrypt(
                out.baseAddress?.assumingMemoryBound(to: UInt8.self), &length, nil,
                sealed.baseAddress!.assumingMemoryBound(to: UInt8.self), UInt64(sealed.count), nil, 0, nonce, key)
                == 0
        }
    }
}
