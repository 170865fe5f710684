import COpenSSL

/// An ECDSA public key as libp2p carries it: PKIX `SubjectPublicKeyInfo` DER on P-256, P-384 or P-521, verified with
/// DER signatures over SHA-256 (what go-libp2p signs with every curve).
public struct ECDSAPublicKey: Hashable, Sendable {
    /// The NIST curves accepted (those Go's `x509.ParsePKIXPublicKey` parses, less the weak P-224).
    public enum Curve: String, Sendable, CaseIterable {
        case p256 = "P-256"
        case p384 = "P-384"
        case p521 = "P-521"

        /// The curve of an OpenSSL group short name, or nil.
        init?(openSSLName name: String) {
            switch name {
            case "prime256v1", "P-256": self = .p256
            case "secp384r1", "P-384": self = .p384
            case "secp521r1", "P-521": self = .p521
            default: return nil
            }
        }

        /// The longest DER signature on this curve: SEQUENCE of two INTEGERs of the order's size plus a sign byte.
        var maxSignatureLength: Int {
            switch self {
            case .p256: 72
            case .p384: 104
            case .p521: 139
            }
        }
    }

    /// The longest DER accepted before parsing (a P-521 key with explicit parameters is under 400 bytes).
    public static let maxDERLength = 512

    /// The PKIX DER, exactly as parsed or produced.
    public let derRepresentation: [UInt8]
    /// The key's curve.
    public let curve: Curve
    let key: OpenSSLKey

    /// Parses a PKIX `SubjectPublicKeyInfo` holding a point on an accepted curve.
    public init(derRepresentation der: [UInt8]) throws(CryptoError) {
        guard der.count <= Self.maxDERLength else {
            throw .malformedDER("ECDSA public key of \(der.count) bytes, at most \(Self.maxDERLength)")
        }
        guard let key = OpenSSLKey.publicKey(der: der) else {
            throw .malformedDER("not a PKIX SubjectPublicKeyInfo with a point on its curve")
        }
        try self.init(key: key, der: der)
    }

    init(key: OpenSSLKey, der: [UInt8]) throws(CryptoError) {
        guard key.baseID == COpenSSL_key_type_ec() else { throw .invalidKey("PKIX key is not an elliptic-curve key") }
        guard let name = key.groupName else { throw .unsupportedCurve("(explicit or unnamed parameters)") }
        guard let curve = Curve(openSSLName: name) else { throw .unsupportedCurve(name) }
        self.key = key
        self.curve = curve
        self.derRepresentation = der
    }

    /// Whether `signature` is a DER ECDSA signature of SHA-256(`message`) by this key.
    public func isValidSignature(_ signature: [UInt8], for message: some Sequence<UInt8>) -> Bool {
        guard signature.count <= curve.maxSignatureLength else { return false }
        // OpenSSL re-encodes the parsed signature and rejects any that is not the same DER (no BER, no trailing bytes).
        return key.verify(signature, message)
    }

    /// Keys are equal when their DER is.
    public static func == (lhs: ECDSAPublicKey, rhs: ECDSAPublicKey) -> Bool {
        lhs.derRepresentation == rhs.derRepresentation
    }

    /// Hashes the DER.
    public func hash(into hasher: inout Hasher) { hasher.combine(derRepresentation) }
}

/// An ECDSA private key held by libcrypto, which clears the scalar when the key is released.
public final class ECDSAPrivateKey: Sendable {
    /// The public key.
    public let publicKey: ECDSAPublicKey
    private let key: OpenSSLKey

    private init(key: OpenSSLKey) throws(CryptoError) {
        self.key = key
        publicKey = try ECDSAPublicKey(key: key, der: key.publicKeyDER)
    }

    /// A new key on `curve` from libcrypto's random generator.
    public static func generate(curve: ECDSAPublicKey.Curve = .p256) throws(CryptoError) -> ECDSAPrivateKey {
        guard
            let key = OpenSSLKey.generate(
                algorithm: "EC", configure: { EVP_PKEY_CTX_set_group_name($0, curve.rawValue) })
        else { throw .libraryFailure("ECDSA key generation on \(curve.rawValue)") }
        return try ECDSAPrivateKey(key: key)
    }

    /// Parses a SEC1 `ECPrivateKey` DER naming its curve (the form go-libp2p stores) and checks the key.
    public convenience init(derRepresentation der: [UInt8]) throws(CryptoError) {
        guard der.count <= ECDSAPublicKey.maxDERLength else {
            throw .malformedDER("ECDSA private key of \(der.count) bytes")
        }
        guard let key = OpenSSLKey.privateKey(type: COpenSSL_key_type_ec(), der: der) else {
            throw .malformedDER("not a SEC1 ECPrivateKey")
        }
        try self.init(key: key)
        guard key.privateKeyIsConsistent else { throw .invalidKey("ECDSA private key fails its consistency check") }
    }

    /// The SEC1 `ECPrivateKey` DER, for storing the key; handle the copy with care.
    public var derRepresentation: [UInt8] { key.privateKeyDER }

    /// The DER ECDSA signature of SHA-256(`message`) (random nonce from libcrypto).
    public func signature(for message: some Sequence<UInt8>) throws(CryptoError) -> [UInt8] {
        guard let signature = key.sign(message) else { throw .libraryFailure("ECDSA signing") }
        return signature
    }
}
