/// What was wrong with a key, a signature or a ciphertext.
public enum CryptoError: Error, Equatable, Sendable, CustomStringConvertible {
    /// A key of the wrong length or not a valid key for its curve.
    case invalidKey(String)
    /// A signature that is malformed or not acceptable (high s, zero or out-of-range r or s, bad recovery id).
    case invalidSignature(String)
    /// Public-key recovery from a signature failed.
    case recoveryFailed
    /// An AEAD ciphertext failed authentication, or an input had the wrong size.
    case authenticationFailed
    /// An input to a primitive had the wrong size.
    case invalidLength(String)
    /// A DER structure (a PKIX public key, a PKCS#1 or SEC1 private key) that does not parse as the expected key.
    case malformedDER(String)
    /// An RSA key whose modulus size is outside the accepted range.
    case rsaKeySize(bits: Int, allowed: ClosedRange<Int>)
    /// An elliptic-curve key on a curve that is not accepted (the curve's OpenSSL name).
    case unsupportedCurve(String)
    /// libcrypto failed an operation it should not fail (key generation, signing), named here.
    case libraryFailure(String)

    /// The kind of failure and what was wrong, as a user reads it.
    public var description: String {
        switch self {
        case .invalidKey(let why): "invalid key: \(why)"
        case .invalidSignature(let why): "invalid signature: \(why)"
        case .recoveryFailed: "public key recovery failed"
        case .authenticationFailed: "authentication failed"
        case .invalidLength(let why): "invalid length: \(why)"
        case .malformedDER(let why): "malformed DER: \(why)"
        case .rsaKeySize(let bits, let allowed):
            "RSA key of \(bits) bits, accepted are \(allowed.lowerBound)–\(allowed.upperBound)"
        case .unsupportedCurve(let name): "unsupported elliptic curve \(name)"
        case .libraryFailure(let what): "libcrypto failed: \(what)"
        }
    }
}
