import Runtime

/// The process's logging setup: one sink (format, level, output) and a logger per module over it.
///
/// Lines are `time=… level=… module=… msg=… key=value…` (logfmt, the default) or one JSON object per line
/// with the same keys (`--log-format json`); lines below `--log-level` (default `info`) are dropped.
public struct NodeLogging: Sendable {
    /// The sink every module's logger writes to.
    public let sink: LogSink

    /// Logging in `format` at `level` and above, each line handed to `output` without its newline.
    public init(
        format: LogFormat, level: LogLevel, clock: any Clock = SystemClock(),
        output: @escaping @Sendable (String) -> Void
    ) {
        sink = LogSink(format: format, level: level, clock: clock, output: output)
    }

    /// Logging as the command line names it: `format` is `logfmt` or `json`, `level` a `LogLevel` name; nil
    /// means the default (logfmt, info).
    public init(
        format: String?, level: String?, clock: any Clock = SystemClock(),
        output: @escaping @Sendable (String) -> Void
    ) throws(NodeError) {
        let parsedFormat = try Self.format(format ?? LogFormat.logfmt.rawValue)
        let parsedLevel = try Self.level(level ?? LogLevel.info.description)
        self.init(format: parsedFormat, level: parsedLevel, clock: clock, output: output)
    }

    /// The logger of `module` (`devnet`, `p2p`, `rpc`, …).
    public func logger(_ module: String) -> Logger {
        Logger(module: module, sink: sink)
    }

    /// The format named `text`.
    public static func format(_ text: String) throws(NodeError) -> LogFormat {
        guard let format = LogFormat(rawValue: text) else { throw .invalidLogFormat(text) }
        return format
    }

    /// The level named `text`.
    public static func level(_ text: String) throws(NodeError) -> LogLevel {
        guard let level = LogLevel(name: text) else { throw .invalidLogLevel(text) }
        return level
    }
}
