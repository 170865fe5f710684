import FileIO
import Inference

/// Why training, its data, a checkpoint, or writing or reading its adapter cannot go on: each case names the input
/// that was wrong.
public enum TrainingError: Error, Equatable, Sendable, CustomStringConvertible {
    /// A records file or record is unreadable or malformed (the line number, 1-based, when known).
    case records(line: Int, String)
    /// An option is out of range or inconsistent.
    case configuration(String)
    /// A checkpoint is unreadable, damaged, or belongs to another run.
    case checkpoint(String)
    /// A file could not be read or written.
    case io(String)
    /// A tensor cannot be written as given: its name, shape or value count is wrong (tensor, what is wrong).
    case tensorShape(String, String)
    /// A tensor holds a value that is not finite, or not finite once rounded to the stored type (tensor).
    case nonFiniteValue(String)
    /// A metadata key cannot be written: empty, given twice, or one the format sets itself (key, why).
    case metadataKey(String, String)
    /// The adapter does not fit the base model it is written for (what does not fit).
    case baseMismatch(String)
    /// A file of the adapter could not be written.
    case fileWrite(FileIOError)
    /// A folder for the adapter could not be created (path, the system's reason).
    case directory(String, String)
    /// An adapter could not be read back (the reader's error).
    case adapterRead(LoRAError)
    /// An adapter was read but cannot be held as trainable parameters (path, why).
    case adapterUnsupported(String, String)

    /// The message a user sees.
    public var description: String {
        switch self {
        case .records(let line, let message): line > 0 ? "records line \(line): \(message)" : "records: \(message)"
        case .configuration(let message): "configuration: \(message)"
        case .checkpoint(let message): "checkpoint: \(message)"
        case .io(let message): message
        case .tensorShape(let tensor, let why): "tensor \(tensor): \(why)"
        case .nonFiniteValue(let tensor): "tensor \(tensor) holds a value that is not finite"
        case .metadataKey(let key, let why): "metadata key \(key): \(why)"
        case .baseMismatch(let why): "the adapter does not fit the base model: \(why)"
        case .fileWrite(let error): "\(error)"
        case .directory(let path, let why): "cannot create the folder \(path): \(why)"
        case .adapterRead(let error): "\(error)"
        case .adapterUnsupported(let path, let why): "adapter \(path) cannot be trained on: \(why)"
        }
    }
}
