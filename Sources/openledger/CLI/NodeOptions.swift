import Node
import Runtime

/// The options every node command shares, declared once: `--config`, `--data-dir`, `--log-format` and
/// `--log-level`, and their translation into `Node`'s types (errors become usage or failure errors).
enum NodeOptions {
    /// `--config FILE`: the network config.
    static let config = OptionSpec(
        name: "config", valueName: "FILE", help: "Network config (default: netconfig/devnet.json).")

    /// `--data-dir DIR` with a command's own help (what it keeps there).
    static func dataDirectory(_ help: String) -> OptionSpec {
        OptionSpec(name: "data-dir", valueName: "DIR", help: help)
    }

    /// `--log-format logfmt|json`.
    static let logFormat = OptionSpec(
        name: "log-format", valueName: "FORMAT", help: "Log lines on standard error: logfmt or json.",
        defaultValue: LogFormat.logfmt.rawValue)

    /// `--log-level LEVEL`.
    static let logLevel = OptionSpec(
        name: "log-level", valueName: "LEVEL", help: "Least severe level logged: trace, debug, info, warning, error.",
        defaultValue: LogLevel.info.description)

    /// The logging options, for commands that run services.
    static let logging = [logFormat, logLevel]

    /// Loads the network config named by `--config` (or the default one).
    static func configuration(_ arguments: ParsedArguments) throws(CLIError) -> NodeConfiguration {
        do {
            return try ConfigLoader.standard().load(arguments.string("config"))
        } catch {
            throw .failure(error.description)
        }
    }

    /// The data directory named by `--data-dir`, or the default one.
    static func dataDirectory(_ arguments: ParsedArguments) -> DataDirectory {
        DataDirectory.at(arguments.string("data-dir"))
    }

    /// Logging as `--log-format` and `--log-level` say, writing to the command's standard error.
    static func logging(_ arguments: ParsedArguments, _ output: CommandOutput) throws(CLIError) -> NodeLogging {
        do {
            return try NodeLogging(
                format: arguments.string("log-format"), level: arguments.string("log-level"),
                output: { output.errorLine($0) })
        } catch {
            throw .usage(error.description, command: arguments.command)
        }
    }

    /// A failure carrying the message of a `Node` error.
    static func failure(_ error: NodeError) -> CLIError {
        .failure(error.description)
    }
}
