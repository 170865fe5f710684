/// The options, flags and positional arguments given to one command, with typed accessors that turn a
/// malformed value into a usage error naming the option.
struct ParsedArguments: Sendable {
    /// The command path, such as `["openledger", "bench", "crypto"]`.
    let command: [String]
    var values: [String: String] = [:]
    /// Every value of each option given on the command line, in order (for repeatable options).
    var repeated: [String: [String]] = [:]
    var flags: Set<String> = []
    var positionals: [String] = []

    /// Whether the flag `--name` was given.
    func flag(_ name: String) -> Bool { flags.contains(name) }

    /// The value of `--name` (or its default), if any.
    func string(_ name: String) -> String? { values[name] }

    /// The value of `--name` as an integer within `range`.
    func int(_ name: String, in range: ClosedRange<Int> = Int.min...Int.max) throws(CLIError) -> Int? {
        guard let text = values[name] else { return nil }
        guard let value = Int(text), range.contains(value) else {
            throw .usage(
                "option --\(name) expects an integer in \(range.lowerBound)...\(range.upperBound), got '\(text)'",
                command: command)
        }
        return value
    }

    /// The value of `--name` as a finite number within `range`.
    func double(_ name: String, in range: ClosedRange<Double>) throws(CLIError) -> Double? {
        guard let text = values[name] else { return nil }
        guard let value = Double(text), value.isFinite, range.contains(value) else {
            throw .usage(
                "option --\(name) expects a number in \(range.lowerBound)...\(range.upperBound), got '\(text)'",
                command: command)
        }
        return value
    }
}
