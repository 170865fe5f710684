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

    /// The kind of failure and what was wrong, as a user reads it.
    public var description: String {
        switch self {
        case .invalidKey(let why): "invalid key: \(why)"
        case .invalidSignature(let why): "invalid signature: \(why)"
        case .recoveryFailed: "public key recovery failed"
        case .authenticationFailed: "authentication failed"
        case .invalidLength(let why): "invalid length: \(why)"
        }
    }
}
