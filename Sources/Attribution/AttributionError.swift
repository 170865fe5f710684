import AttributionRules
import FileIO

/// What is wrong with an attribution input, index or proof.
public enum AttributionError: Error, Equatable, Sendable, CustomStringConvertible {
    /// A proof that does not decode or does not check out (the rules' error).
    case proof(AttributionProofError)
    /// An index (shard bytes or a set of shards) that is damaged or does not fit together; says what.
    case malformedIndex(String)
    /// Records the index refuses; says which and why.
    case malformedRecords(String)
    /// A shard file could not be opened, mapped or written.
    case storage(FileIOError)

    /// The message a user sees.
    public var description: String {
        switch self {
        case .proof(let error): error.description
        case .malformedIndex(let why): "malformed attribution index: \(why)"
        case .malformedRecords(let why): "malformed records: \(why)"
        case .storage(let error): "attribution index storage: \(error)"
        }
    }
}
