/// Why an adapter cannot be read or used: each case names the file, and the tensor or key where there is one.
public enum LoRAError: Error, Equatable, Sendable, CustomStringConvertible {
    /// The file or folder cannot be read (path, reason).
    case io(String, String)
    /// The bytes are not a well-formed file of the format (path, what is wrong).
    case malformed(String, String)
    /// A tensor of the file does not fit: an unknown name, a missing half, a shape or rank that does not fit
    /// the base model (path, tensor, what is wrong).
    case tensor(String, String, String)
    /// The adapter asks for something this engine does not implement (path, what).
    case unsupported(String, String)
    /// The adapter was made for another base model (path, why).
    case baseMismatch(String, String)
    /// No adapter of that name is known (the name).
    case unknownAdapter(String)
    /// The adapter does not fit the cache's byte budget (name, its bytes, the budget).
    case tooLarge(String, Int, Int)
    /// The adapter exists but cannot be had now: its file could not be fetched or its record read (name, why).
    case unavailable(String, String)

    /// The message a user sees.
    public var description: String {
        switch self {
        case .io(let path, let why): "adapter \(path): \(why)"
        case .malformed(let path, let why): "adapter \(path) is malformed: \(why)"
        case .tensor(let path, let name, let why): "adapter \(path): tensor \(name): \(why)"
        case .unsupported(let path, let what): "adapter \(path) is not supported: \(what)"
        case .baseMismatch(let path, let why): "adapter \(path) does not fit the base model: \(why)"
        case .unknownAdapter(let name): "unknown adapter \(name)"
        case .tooLarge(let name, let bytes, let budget):
            "adapter \(name) needs \(bytes) bytes, more than the cache's budget of \(budget)"
        case .unavailable(let name, let why): "adapter \(name) is not available: \(why)"
        }
    }
}
