/// One node of the `openledger` command tree: a name, its options and either subcommands or an action.
///
/// Commands are plain values, so the whole tree is data that the parser, the help printer and the tests
/// all walk the same way.
struct CommandSpec: Sendable {
    /// The word that selects this command (`bench`, `crypto`, …).
    let name: String
    /// One line for the parent's command list and the top of `--help`.
    let summary: String
    /// Longer text printed under the usage line of `--help`.
    var discussion: String = ""
    /// Positional arguments, in order.
    var arguments: [ArgumentSpec] = []
    /// Named options (`--name VALUE`) and flags (`--name`).
    var options: [OptionSpec] = []
    /// Subcommands; a command with both runs its action when no subcommand is named before its options.
    var subcommands: [CommandSpec] = []
    /// What the command does with its parsed arguments; writes to `output` and throws `CLIError` on failure.
    var action: (@Sendable (ParsedArguments, inout CommandOutput) throws(CLIError) -> Void)? = nil
}

/// A positional argument.
struct ArgumentSpec: Sendable {
    let name: String
    let help: String
    var optional = false
}

/// A named option with a value (`--rpc URL`) or, when `valueName` is nil, a boolean flag (`--json`).
struct OptionSpec: Sendable {
    let name: String
    var valueName: String? = nil
    let help: String
    var defaultValue: String? = nil
    /// Whether the option may be given more than once (every value is kept, in order).
    var repeatable = false
    /// A one-letter alias (`o` for `-o`).
    var short: Character? = nil

    var isFlag: Bool { valueName == nil }
}

/// Where a command writes: standard output and standard error, captured in tests.
struct CommandOutput: Sendable {
    var write: @Sendable (String) -> Void
    var writeError: @Sendable (String) -> Void

    /// Writes one line to standard output.
    func line(_ text: String) { write(text + "\n") }

    /// Writes one line to standard error.
    func errorLine(_ text: String) { writeError(text + "\n") }
}

/// Why a command did not succeed, and the exit status that says so.
enum CLIError: Error, Equatable, CustomStringConvertible {
    /// The command line itself is wrong: exit 64 (EX_USAGE) with the usage of `command`.
    case usage(String, command: [String])
    /// The command ran and failed: exit 1 with the message.
    case failure(String)

    var exitStatus: Int32 {
        switch self {
        case .usage: 64
        case .failure: 1
        }
    }

    var description: String {
        switch self {
        case .usage(let message, _), .failure(let message): message
        }
    }
}
