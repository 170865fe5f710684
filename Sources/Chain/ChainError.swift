import Codec

/// Why the chain rules refused an input: malformed encodings, and transactions or blocks that break a rule.
/// Each case names what was wrong with which input, so a JSON-RPC error or a log line can say it plainly.
public enum ChainError: Error, Equatable, Sendable, CustomStringConvertible {
    /// An RLP structure is not the shape this type needs (wrong item count, a list where a string belongs …).
    case malformed(what: String, why: String)
    /// The signature of a transaction does not verify or recover.
    case invalidSignature(String)
    /// A transaction that decodes but may not be executed (nonce, balance, gas, chain id …).
    case invalidTransaction(String)
    /// A block that breaks a rule (parent, number, roots, gas, base fee …).
    case invalidBlock(String)
    /// A predeploy call that reverted, with the reason it gives.
    case reverted(String)

    public var description: String {
        switch self {
        case .malformed(let what, let why): "malformed \(what): \(why)"
        case .invalidSignature(let why): "invalid signature: \(why)"
        case .invalidTransaction(let why): "invalid transaction: \(why)"
        case .invalidBlock(let why): "invalid block: \(why)"
        case .reverted(let why): "execution reverted: \(why)"
        }
    }
}
