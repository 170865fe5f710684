import Chain
import Codec
import FileIO

/// Why the node could not be set up or run: each case names the file, value or service at fault.
public enum NodeError: Error, CustomStringConvertible {
    /// The network config file could not be read (missing, a directory, no permission).
    case configUnreadable(path: String)
    /// The network config file was read but is not a valid config.
    case configInvalid(path: String, reason: ChainError)
    /// `--log-format` named no format.
    case invalidLogFormat(String)
    /// `--log-level` named no level.
    case invalidLogLevel(String)
    /// A directory of the data directory could not be created.
    case cannotCreateDirectory(path: String, reason: String)
    /// The identity key file exists but holds no valid key.
    case identityInvalid(path: String, reason: any Error)
    /// The identity key file exists but could not be read (no permission, a directory, an I/O error).
    case identityUnreadable(FileIOError)
    /// The identity key file could not be written.
    case identityUnwritable(FileIOError)
    /// The devnet chain store could not be opened.
    case chainUnavailable(directory: String, reason: any Error)
    /// The light client could not be set up (the trust root, the RPC URL or server, the header store); `reason` is
    /// the `ChainError` or `LightClientError` at fault.
    case lightClientUnavailable(reason: any Error)
    /// The server knows no block with the checkpoint hash the light client was to trust.
    case unknownCheckpoint([UInt8])
    /// A service failed to start; `reason` is its own error.
    case serviceFailed(service: String, reason: any Error)

    /// The message a user sees.
    public var description: String {
        switch self {
        case .configUnreadable(let path): "cannot read network config \(path)"
        case .configInvalid(let path, let reason): "\(path): \(reason)"
        case .invalidLogFormat(let text): "option --log-format expects logfmt or json, got '\(text)'"
        case .invalidLogLevel(let text):
            "option --log-level expects trace, debug, info, warning or error, got '\(text)'"
        case .cannotCreateDirectory(let path, let reason): "cannot create \(path): \(reason)"
        case .identityInvalid(let path, let reason): "\(path): \(reason)"
        case .identityUnreadable(let error): "\(error)"
        case .identityUnwritable(let error): "\(error)"
        case .chainUnavailable(let directory, let reason): "cannot open the chain in \(directory): \(reason)"
        case .lightClientUnavailable(let reason): "\(reason)"
        case .unknownCheckpoint(let hash): "the server does not know checkpoint \(Hex.encode(hash))"
        case .serviceFailed(_, let reason): "\(reason)"
        }
    }
}
