import COpenSSL

/// An RSA public key as libp2p carries it: PKIX `SubjectPublicKeyInfo` DER, verified with PKCS#1 v1.5 over SHA-256.
///
/// Only moduli of 2048 to 8192 bits are accepted, the bounds go-libp2p enforces for peers' keys; the public exponent
/// must be odd, at least 3 and below 2^31 (as Go's `crypto/rsa` requires).
public struct RSAPublicKey: Hashable, Sendable {
    /// The modulus sizes accepted, in bits.
    public static let allowedBits: ClosedRange<Int> = 2048...8192
    /// The longest DER accepted before parsing; large enough for an 8192-bit key and for the size check to name a
    /// larger one, small enough that a hostile input costs nothing.
    public static let maxDERLength = 4096

    /// The PKIX DER, exactly as parsed or produced.
    public let derRepresentation: [UInt8]
    /// The modulus size in bits.
    public let bits: Int
    let key: OpenSSLKey

    /// Parses and bounds a PKIX `SubjectPublicKeyInfo` holding an RSA key (rsaEncryption; RSA-PSS keys are not).
    public init(derRepresentation der: [UInt8]) throws(CryptoError) {
        guard der.count <= Self.maxDERLength else {
            throw .malformedDER("RSA public key of \(der.count) bytes, at most \(Self.maxDERLength)")
        }
        guard let key = OpenSSLKey.publicKey(der: der) else {
            throw .malformedDER("not a PKIX SubjectPublicKeyInfo")
        }
        try self.init(key: key, der: der)
    }

    init(key: OpenSSLKey, der: [UInt8]) throws(CryptoError) {
        guard key.baseID == COpenSSL_key_type_rsa() else { throw .invalidKey("PKIX key is not an RSA key") }
        guard Self.allowedBits.contains(key.bits) else { throw .rsaKeySize(bits: key.bits, allowed: Self.allowedBits) }
        guard let exponent = key.rsaPublicExponent, exponent >= 3, exponent < 1 << 31, exponent & 1 == 1 else {
            throw .invalidKey("RSA public exponent must be odd, at least 3 and below 2^31")
        }
        self.key = key
        self.derRepresentation = der
        self.bits = key.bits
    }

    /// Whether `signature` is a PKCS#1 v1.5 signature of SHA-256(`message`) by this key.
    public func isValidSignature(_ signature: [UInt8], for message: some Sequence<UInt8>) -> Bool {
        // A PKCS#1 v1.5 signature is exactly as long as the modulus.
        guard signature.count == (bits + 7) / 8 else { return false }
        return key.verify(signature, message)
    }

    /// Keys are equal when their DER is.
    public static func == (lhs: RSAPublicKey, rhs: RSAPublicKey) -> Bool {
        lhs.derRepresentation == rhs.derRepresentation
    }

    /// Hashes the DER.
    public func hash(into hasher: inout Hasher) { hasher.combine(derRepresentation) }
}

/// An RSA private key held by libcrypto, which clears its secret numbers when the key is released.
public final class RSAPrivateKey: Sendable {
    /// The public key.
    public let publicKey: RSAPublicKey
    private let key: OpenSSLKey

    private init(key: OpenSSLKey) throws(CryptoError) {
        self.key = key
        publicKey = try RSAPublicKey(key: key, der: key.publicKeyDER)
    }

    /// A new key of `bits` (2048…8192) with public exponent 65537, from libcrypto's random generator.
    public static func generate(bits: Int = 2048) throws(CryptoError) -> RSAPrivateKey {
        guard RSAPublicKey.allowedBits.contains(bits) else {
            throw .rsaKeySize(bits: bits, allowed: RSAPublicKey.allowedBits)
        }
        guard
            let key = OpenSSLKey.generate(
                algorithm: "RSA", configure: { EVP_PKEY_CTX_set_rsa_keygen_bits($0, Int32(bits)) })
        else { throw .libraryFailure("RSA key generation") }
        return try RSAPrivateKey(key: key)
    }

    /// Parses a PKCS#1 `RSAPrivateKey` DER (the form go-libp2p stores) and checks the key's consistency.
    public convenience init(derRepresentation der: [UInt8]) throws(CryptoError) {
        // An 8192-bit key with all CRT values is about 4.7 KB.
        guard der.count <= 8 * RSAPublicKey.maxDERLength else {
            throw .malformedDER("RSA private key of \(der.count) bytes")
        }
        guard let key = OpenSSLKey.privateKey(type: COpenSSL_key_type_rsa(), der: der) else {
            throw .malformedDER("not a PKCS#1 RSAPrivateKey")
        }
        try self.init(key: key)
        guard key.privateKeyIsConsistent else { throw .invalidKey("RSA private key fails its consistency check") }
    }

    /// The PKCS#1 `RSAPrivateKey` DER, for storing the key; handle the copy with care.
    public var derRepresentation: [UInt8] { key.privateKeyDER }

    /// The PKCS#1 v1.5 signature of SHA-256(`message`), as long as the modulus.
    public func signature(for message: some Sequence<UInt8>) throws(CryptoError) -> [UInt8] {
        guard let signature = key.sign(message) else { throw .libraryFailure("RSA signing") }
        return signature
    }
}
