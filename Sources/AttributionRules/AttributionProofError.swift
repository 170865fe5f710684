/// What is wrong with an attribution proof: it does not decode, or it does not check out.
public enum AttributionProofError: Error, Equatable, Sendable, CustomStringConvertible {
    /// The binary form is not a strict, canonical proof; says which field.
    case malformedProof(String)
    /// The proof decodes but disagrees with the response, the snapshot or the rules; says where first.
    case invalidProof(String)

    /// The message a user sees.
    public var description: String {
        switch self {
        case .malformedProof(let why): "malformed attribution proof: \(why)"
        case .invalidProof(let why): "invalid attribution proof: \(why)"
        }
    }
}
