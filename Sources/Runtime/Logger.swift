import Synchronization

/// How severe a log line is; lines below the sink's level are dropped.
public enum LogLevel: Int, Comparable, Sendable, CaseIterable, CustomStringConvertible {
    case trace, debug, info, warning, error

    /// Orders levels by severity.
    public static func < (lhs: LogLevel, rhs: LogLevel) -> Bool { lhs.rawValue < rhs.rawValue }

    /// The level's name in log lines and on the command line.
    public var description: String {
        switch self {
        case .trace: "trace"
        case .debug: "debug"
        case .info: "info"
        case .warning: "warning"
        case .error: "error"
        }
    }

    /// The level named `name` (`trace`, `debug`, `info`, `warning` or `warn`, `error`), or nil.
    public init?(name: String) {
        switch name {
        case "trace": self = .trace
        case "debug": self = .debug
        case "info": self = .info
        case "warning", "warn": self = .warning
        case "error": self = .error
        default: return nil
        }
    }
}

/// The shape of a log line.
public enum LogFormat: String, Sendable, CaseIterable {
    /// `key=value` pairs, quoted where needed: `time=… level=info module=p2p msg="…" peer=…`.
    case logfmt
    /// One JSON object per line with the same keys.
    case json
}

/// Where log lines go: a format, a minimum level, a clock for the timestamps and an output.
///
/// One sink serves a whole process; each module logs through a `Logger` that carries its own fields.
public final class LogSink: Sendable {
    /// The line format.
    public let format: LogFormat
    /// Lines below this level are dropped.
    public let level: LogLevel
    private let clock: any Clock
    private let output: @Sendable (String) -> Void

    /// A sink that drops everything.
    public static let discarding = LogSink(format: .logfmt, level: .error, clock: SystemClock()) { _ in }

    /// A sink handing each formatted line (without newline) to `output`, such as a test's collector.
    public init(format: LogFormat, level: LogLevel, clock: any Clock, output: @escaping @Sendable (String) -> Void) {
        self.format = format
        self.level = level
        self.clock = clock
        self.output = output
    }

    /// Formats and writes one line.
    func emit(level: LogLevel, message: String, fields: [(String, String)]) {
        guard level >= self.level else { return }
        let all = [("time", clock.wallNow().rfc3339), ("level", level.description)] + fields
        output(format == .json ? Self.json(all, message: message) : Self.logfmt(all, message: message))
    }

    /// `key=value` pairs: `time`, `level`, the module's fields, `msg`, then the line's own fields.
    static func logfmt(_ fields: [(String, String)], message: String) -> String {
        var parts = fields.map { "\($0.0)=\(quotedIfNeeded($0.1))" }
        let messageAt = fields.firstIndex(where: { $0.0 == "module" }).map { $0 + 1 } ?? min(2, parts.count)
        parts.insert("msg=\(quotedIfNeeded(message))", at: messageAt)
        return parts.joined(separator: " ")
    }

    static func quotedIfNeeded(_ value: String) -> String {
        let plain =
            !value.isEmpty
            && value.unicodeScalars.allSatisfy {
                $0.value > 0x20 && $0.value != 0x7F && $0 != "\"" && $0 != "=" && $0 != "\\"
            }
        if plain { return value }
        return jsonString(value)
    }

    static func json(_ fields: [(String, String)], message: String) -> String {
        var out = "{"
        var first = true
        func add(_ key: String, _ value: String) {
            if !first { out += "," }
            first = false
            out += jsonString(key) + ":" + jsonString(value)
        }
        for (key, value) in fields {
            add(key, value)
            if key == "module" { add("msg", message) }
        }
        if !fields.contains(where: { $0.0 == "module" }) { add("msg", message) }
        return out + "}"
    }

    static func jsonString(_ value: String) -> String {
        var out = "\""
        for scalar in value.unicodeScalars {
            switch scalar {
            case "\"": out += "\\\""
            case "\\": out += "\\\\"
            case "\n": out += "\\n"
            case "\r": out += "\\r"
            case "\t": out += "\\t"
            default:
                if scalar.value < 0x20 || scalar.value == 0x7F {
                    out += "\\u" + hex4(scalar.value)
                } else {
                    out.unicodeScalars.append(scalar)
                }
            }
        }
        return out + "\""
    }

    private static func hex4(_ value: UInt32) -> String {
        let text = String(value, radix: 16)
        return String(repeating: "0", count: max(0, 4 - text.count)) + text
    }
}

/// A module's logger: a sink plus the fields every line of the module carries (`module=p2p`, a peer id, …).
///
/// Cheap to copy; `with` adds fields for a narrower scope.
public struct Logger: Sendable {
    /// The sink lines go to.
    public let sink: LogSink
    /// Fields on every line, after `time` and `level`.
    public let fields: [(String, String)]

    /// A logger for `module` writing to `sink`.
    public init(module: String, sink: LogSink) {
        self.sink = sink
        fields = [("module", module)]
    }

    private init(sink: LogSink, fields: [(String, String)]) {
        self.sink = sink
        self.fields = fields
    }

    /// A logger that drops everything (the default of library types whose caller gave none).
    public static let discarding = Logger(module: "none", sink: .discarding)

    /// This logger with `extra` fields added to every line.
    public func with(_ extra: KeyValuePairs<String, String>) -> Logger {
        Logger(sink: sink, fields: fields + extra.map { ($0.key, $0.value) })
    }

    /// Whether a line at `level` would be written (to skip building expensive messages).
    public func isEnabled(_ level: LogLevel) -> Bool { level >= sink.level }

    /// Writes `message` at `level` with the logger's fields and `extra`.
    public func log(
        _ level: LogLevel, _ message: @autoclosure () -> String, _ extra: KeyValuePairs<String, String> = [:]
    ) {
        guard level >= sink.level else { return }
        sink.emit(level: level, message: message(), fields: fields + extra.map { ($0.key, $0.value) })
    }

    /// A `trace` line.
    public func trace(_ message: @autoclosure () -> String, _ extra: KeyValuePairs<String, String> = [:]) {
        log(.trace, message(), extra)
    }

    /// A `debug` line.
    public func debug(_ message: @autoclosure () -> String, _ extra: KeyValuePairs<String, String> = [:]) {
        log(.debug, message(), extra)
    }

    /// An `info` line.
    public func info(_ message: @autoclosure () -> String, _ extra: KeyValuePairs<String, String> = [:]) {
        log(.info, message(), extra)
    }

    /// A `warning` line.
    public func warning(_ message: @autoclosure () -> String, _ extra: KeyValuePairs<String, String> = [:]) {
        log(.warning, message(), extra)
    }

    /// An `error` line.
    public func error(_ message: @autoclosure () -> String, _ extra: KeyValuePairs<String, String> = [:]) {
        log(.error, message(), extra)
    }
}
