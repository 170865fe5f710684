/// Why training, its data, a checkpoint or an export failed.
public enum TrainingError: Error, Equatable, Sendable, CustomStringConvertible {
    /// A records file or record is unreadable or malformed (the line number, 1-based, when known).
    case records(line: Int, String)
    /// An option is out of range or inconsistent.
    case configuration(String)
    /// A checkpoint is unreadable, damaged, or belongs to another run.
    case checkpoint(String)
    /// A file could not be read or written.
    case io(String)
    /// An adapter could not be written or read back.
    case export(String)

    /// A one-line explanation.
    public var description: String {
        switch self {
        case .records(let line, let message): line > 0 ? "records line \(line): \(message)" : "records: \(message)"
        case .configuration(let message): "configuration: \(message)"
        case .checkpoint(let message): "checkpoint: \(message)"
        case .io(let message): message
        case .export(let message): "export: \(message)"
        }
    }
}
