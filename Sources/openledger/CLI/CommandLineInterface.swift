/// Parses `argv` against a `CommandSpec` tree, prints help and usage, runs the selected action and maps the
/// outcome to an exit status: 0 success, 64 usage error (EX_USAGE), 1 failure.
struct CommandLineInterface: Sendable {
    let root: CommandSpec
    let version: String

    /// Runs the command line `arguments` (without the program name) and returns the exit status.
    func run(_ arguments: [String], output: inout CommandOutput) -> Int32 {
        do {
            try dispatch(arguments, output: &output)
            return 0
        } catch {
            output.errorLine("error: \(error.description)")
            if case .usage(_, let path) = error, let spec = lookup(path) {
                output.errorLine(Self.usageLine(spec, path: path))
                output.errorLine("See '\(path.joined(separator: " ")) --help'.")
            }
            return error.exitStatus
        }
    }

    private func dispatch(_ arguments: [String], output: inout CommandOutput) throws(CLIError) {
        var spec = root
        var path = [root.name]
        var rest = arguments[...]
        // Walk down the subcommands named by the leading words; a command with an action of its own runs it when
        // no subcommand is named.
        while !spec.subcommands.isEmpty {
            guard let word = rest.first else {
                if spec.action != nil { break }
                throw .usage("missing subcommand", command: path)
            }
            if word == "--help" || word == "-h" {
                output.write(help(spec, path: path))
                return
            }
            if word == "--version" && path.count == 1 {
                output.line("\(root.name) \(version)")
                return
            }
            if word.hasPrefix("-") {
                if spec.action != nil { break }
                throw .usage("unknown option '\(word)'", command: path)
            }
            guard let next = spec.subcommands.first(where: { $0.name == word }) else {
                throw .usage("unknown command '\(word)'", command: path)
            }
            spec = next
            path.append(word)
            rest = rest.dropFirst()
        }
        if rest.contains("--help") || rest.contains("-h") {
            output.write(help(spec, path: path))
            return
        }
        let parsed = try parse(Array(rest), for: spec, path: path)
        guard let action = spec.action else {
            throw .failure("command '\(path.joined(separator: " "))' has nothing to run")
        }
        try action(parsed, &output)
    }

    /// Parses options, flags and positionals; anything unknown or missing is a usage error.
    func parse(_ arguments: [String], for spec: CommandSpec, path: [String]) throws(CLIError) -> ParsedArguments {
        var parsed = ParsedArguments(command: path)
        for option in spec.options where !option.isFlag {
            if let value = option.defaultValue { parsed.values[option.name] = value }
        }
        var index = 0
        var onlyPositionals = false
        while index < arguments.count {
            let word = arguments[index]
            index += 1
            if onlyPositionals || !word.hasPrefix("-") || word == "-" {
                parsed.positionals.append(word)
                continue
            }
            if word == "--" {
                onlyPositionals = true
                continue
            }
            let short = spec.options.first { $0.short.map { "-\($0)" } == word }
            guard word.hasPrefix("--") || short != nil else { throw .usage("unknown option '\(word)'", command: path) }
            let body = short.map { Substring($0.name) } ?? word.dropFirst(2)
            let name = String(body.prefix { $0 != "=" })
            let inlineValue = body.contains("=") ? String(body.drop { $0 != "=" }.dropFirst()) : nil
            guard let option = spec.options.first(where: { $0.name == name }) else {
                throw .usage("unknown option '--\(name)'", command: path)
            }
            if option.isFlag {
                guard inlineValue == nil else { throw .usage("flag '--\(name)' takes no value", command: path) }
                parsed.flags.insert(name)
            } else {
                let value: String
                if let inlineValue {
                    value = inlineValue
                } else {
                    guard index < arguments.count else {
                        throw .usage("option '--\(name)' needs a value \(option.valueName ?? "")", command: path)
                    }
                    value = arguments[index]
                    index += 1
                }
                parsed.values[name] = value
                if option.repeatable { parsed.repeated[name, default: []].append(value) }
            }
        }
        let required = spec.arguments.filter { !$0.optional }.count
        if parsed.positionals.count < required {
            throw .usage("missing argument <\(spec.arguments[parsed.positionals.count].name)>", command: path)
        }
        if parsed.positionals.count > spec.arguments.count {
            throw .usage("unexpected argument '\(parsed.positionals[spec.arguments.count])'", command: path)
        }
        return parsed
    }

    private func lookup(_ path: [String]) -> CommandSpec? {
        var spec = root
        for name in path.dropFirst() {
            guard let next = spec.subcommands.first(where: { $0.name == name }) else { return nil }
            spec = next
        }
        return spec
    }

    static func usageLine(_ spec: CommandSpec, path: [String]) -> String {
        var words = ["usage:"] + path
        if !spec.subcommands.isEmpty { words.append(spec.action == nil ? "<command>" : "[<command>]") }
        if !spec.options.isEmpty { words.append("[options]") }
        for argument in spec.arguments {
            words.append(argument.optional ? "[<\(argument.name)>]" : "<\(argument.name)>")
        }
        return words.joined(separator: " ")
    }

    /// The `--help` text of `spec`.
    func help(_ spec: CommandSpec, path: [String]) -> String {
        var text = "\(spec.summary)\n\n\(Self.usageLine(spec, path: path))\n"
        if !spec.discussion.isEmpty { text += "\n\(spec.discussion)\n" }
        var rows: [(String, String)] = []
        if !spec.subcommands.isEmpty {
            text += "\nCommands:\n"
            text += Self.table(spec.subcommands.map { ($0.name, $0.summary) })
        }
        if !spec.arguments.isEmpty {
            text += "\nArguments:\n"
            text += Self.table(spec.arguments.map { ("<\($0.name)>", $0.help) })
        }
        for option in spec.options {
            let left = option.isFlag ? "--\(option.name)" : "--\(option.name) \(option.valueName!)"
            let help = option.repeatable ? "\(option.help) Repeatable." : option.help
            let right = option.defaultValue.map { "\(help) (default: \($0))" } ?? help
            rows.append((left, right))
        }
        rows.append(("-h, --help", "Show this help."))
        if path.count == 1 { rows.append(("--version", "Print the version.")) }
        text += "\nOptions:\n" + Self.table(rows)
        return text
    }

    private static func table(_ rows: [(String, String)]) -> String {
        let width = min(28, rows.map(\.0.count).max() ?? 0)
        return rows.map { left, right in
            "  \(left)\(String(repeating: " ", count: max(2, width - left.count + 2)))\(right)\n"
        }.joined()
    }
}
