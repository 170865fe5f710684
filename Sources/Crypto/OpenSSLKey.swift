import COpenSSL

/// One OpenSSL `EVP_PKEY` owned by this object and freed when it is released.
///
/// The key is never modified after creation; OpenSSL documents concurrent signing and verification with one
/// unmodified `EVP_PKEY` as safe, which is what makes sharing across threads sound. Every operation clears the
/// calling thread's OpenSSL error queue before it returns, so failures never pile up there.
final class OpenSSLKey: @unchecked Sendable {
    let pointer: OpaquePointer

    private init(_ pointer: OpaquePointer) { self.pointer = pointer }

    deinit { EVP_PKEY_free(pointer) }

    /// Parses a whole PKIX `SubjectPublicKeyInfo`; nil when it does not parse or has bytes after the key.
    static func publicKey(der: [UInt8]) -> OpenSSLKey? {
        defer { ERR_clear_error() }
        var consumed = 0
        guard !der.isEmpty, let key = COpenSSL_parse_public_key(der, der.count, &consumed) else { return nil }
        let owned = OpenSSLKey(key)
        return consumed == der.count ? owned : nil
    }

    /// Parses a whole type-specific private key (PKCS#1 `RSAPrivateKey`, SEC1 `ECPrivateKey`); nil when it does not.
    static func privateKey(type: Int32, der: [UInt8]) -> OpenSSLKey? {
        defer { ERR_clear_error() }
        var consumed = 0
        guard !der.isEmpty, let key = COpenSSL_parse_private_key(type, der, der.count, &consumed) else { return nil }
        let owned = OpenSSLKey(key)
        return consumed == der.count ? owned : nil
    }

    /// A new key of `algorithm` ("RSA", "EC") from OpenSSL's own random generator; `configure` sets its parameters.
    static func generate(algorithm: String, configure: (OpaquePointer) -> Int32) -> OpenSSLKey? {
        defer { ERR_clear_error() }
        guard let context = EVP_PKEY_CTX_new_from_name(nil, algorithm, nil) else { return nil }
        defer { EVP_PKEY_CTX_free(context) }
        guard EVP_PKEY_keygen_init(context) == 1, configure(context) == 1 else { return nil }
        var key: OpaquePointer?
        guard EVP_PKEY_generate(context, &key) == 1, let key else { return nil }
        return OpenSSLKey(key)
    }

    /// The key's type: `EVP_PKEY_RSA` or `EVP_PKEY_EC`.
    var baseID: Int32 { EVP_PKEY_get_base_id(pointer) }

    /// The key size in bits (the modulus for RSA, the group order for EC).
    var bits: Int { Int(EVP_PKEY_get_bits(pointer)) }

    /// The EC group's OpenSSL short name (`prime256v1`, `secp384r1`, …), or nil for keys without one.
    var groupName: String? {
        defer { ERR_clear_error() }
        var name = [CChar](repeating: 0, count: 64)
        var length = 0
        guard EVP_PKEY_get_group_name(pointer, &name, name.count, &length) == 1 else { return nil }
        return String(decoding: name.prefix(length).map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }

    /// The RSA public exponent when it fits in 64 bits, or nil.
    var rsaPublicExponent: UInt64? {
        defer { ERR_clear_error() }
        var exponent: OpaquePointer?
        guard EVP_PKEY_get_bn_param(pointer, OSSL_PKEY_PARAM_RSA_E, &exponent) == 1, let exponent else { return nil }
        defer { BN_free(exponent) }
        guard BN_num_bits(exponent) <= 64 else { return nil }
        var bytes = [UInt8](repeating: 0, count: 8)
        guard BN_bn2binpad(exponent, &bytes, 8) == 8 else { return nil }
        return bytes.reduce(0) { $0 << 8 | UInt64($1) }
    }

    /// Whether OpenSSL's consistency check of a private key passes (for RSA: primes, modulus, CRT values).
    var privateKeyIsConsistent: Bool {
        defer { ERR_clear_error() }
        guard let context = EVP_PKEY_CTX_new_from_pkey(nil, pointer, nil) else { return false }
        defer { EVP_PKEY_CTX_free(context) }
        return EVP_PKEY_check(context) == 1
    }

    /// The PKIX `SubjectPublicKeyInfo` DER.
    var publicKeyDER: [UInt8] {
        defer { ERR_clear_error() }
        let length = COpenSSL_public_key_der(pointer, nil)
        precondition(length > 0, "an OpenSSL key always encodes its public half")
        var out = [UInt8](repeating: 0, count: Int(length))
        precondition(COpenSSL_public_key_der(pointer, &out) == length)
        return out
    }

    /// The type-specific private key DER (PKCS#1 for RSA, SEC1 for EC).
    var privateKeyDER: [UInt8] {
        defer { ERR_clear_error() }
        let length = COpenSSL_private_key_der(pointer, nil)
        precondition(length > 0, "a private OpenSSL key always encodes itself")
        var out = [UInt8](repeating: 0, count: Int(length))
        precondition(COpenSSL_private_key_der(pointer, &out) == length)
        return out
    }

    /// The signature of SHA-256(`message`): PKCS#1 v1.5 for RSA, DER ECDSA for EC; nil when OpenSSL fails.
    func sign(_ message: some Sequence<UInt8>) -> [UInt8]? {
        defer { ERR_clear_error() }
        guard let context = EVP_MD_CTX_new() else { return nil }
        defer { EVP_MD_CTX_free(context) }
        guard EVP_DigestSignInit(context, nil, EVP_sha256(), nil, pointer) == 1 else { return nil }
        return Sodium.withContiguousBytes(message) { bytes, count -> [UInt8]? in
            // EVP_DigestSign is one shot: the message goes in once, with the buffer sized by the key's maximum.
            var length = Int(EVP_PKEY_get_size(pointer))
            guard length > 0 else { return nil }
            var out = [UInt8](repeating: 0, count: length)
            guard EVP_DigestSign(context, &out, &length, bytes, count) == 1 else { return nil }
            return Array(out.prefix(length))
        }
    }

    /// Whether `signature` signs SHA-256(`message`) with this key (PKCS#1 v1.5 for RSA, DER ECDSA for EC).
    func verify(_ signature: [UInt8], _ message: some Sequence<UInt8>) -> Bool {
        defer { ERR_clear_error() }
        guard !signature.isEmpty, let context = EVP_MD_CTX_new() else { return false }
        defer { EVP_MD_CTX_free(context) }
        guard EVP_DigestVerifyInit(context, nil, EVP_sha256(), nil, pointer) == 1 else { return false }
        return Sodium.withContiguousBytes(message) { bytes, count in
            EVP_DigestVerify(context, signature, signature.count, bytes, count) == 1
        }
    }
}
