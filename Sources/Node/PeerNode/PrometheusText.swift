/// One metric family in the Prometheus text exposition format: its name, help, type and samples.
public struct PrometheusMetric: Sendable, Equatable {
    /// The metric types this node exposes.
    public enum Kind: String, Sendable {
        /// Only goes up (restarts at zero with the process); names end in `_total`.
        case counter
        /// Goes up and down.
        case gauge
    }

    /// One sample: its label pairs, in order, and its value.
    public struct Sample: Sendable, Equatable {
        /// Label names and values.
        public var labels: [Label]
        /// The value.
        public var value: Double

        /// A sample of `value` with `labels`.
        public init(_ value: Double, labels: [Label] = []) {
            self.labels = labels
            self.value = value
        }
    }

    /// A label's name and value.
    public struct Label: Sendable, Equatable {
        /// The name (letters, digits, underscores; not starting with a digit).
        public var name: String
        /// The value (any text: it is escaped).
        public var value: String

        /// The label `name="value"`.
        public init(_ name: String, _ value: String) {
            self.name = name
            self.value = value
        }
    }

    /// The family's name.
    public var name: String
    /// One line saying what it measures.
    public var help: String
    /// Its type.
    public var kind: Kind
    /// Its samples; a family without any is left out of the text.
    public var samples: [Sample]

    /// A family with these parts.
    public init(_ name: String, _ kind: Kind, _ help: String, _ samples: [Sample]) {
        self.name = name
        self.help = help
        self.kind = kind
        self.samples = samples
    }

    /// A family with one unlabelled sample of `value`, or none when `value` is nil.
    public init(_ name: String, _ kind: Kind, _ help: String, value: Double?) {
        self.init(name, kind, help, value.map { [Sample($0)] } ?? [])
    }
}

/// The Prometheus text exposition format (version 0.0.4), written from metric families.
public enum PrometheusText {
    /// The Content-Type of the text.
    public static let contentType = "text/plain; version=0.0.4; charset=utf-8"

    /// The text of `metrics`: for each family with samples, `# HELP`, `# TYPE` and one line per sample.
    ///
    /// Characters a name may not hold become underscores; help text escapes backslashes and line feeds, label
    /// values backslashes, double quotes and line feeds.
    public static func render(_ metrics: [PrometheusMetric]) -> String {
        var text = ""
        for metric in metrics where !metric.samples.isEmpty {
            let name = sanitize(metric.name, colons: true)
            text += "# HELP \(name) \(escapeHelp(metric.help))\n"
            text += "# TYPE \(name) \(metric.kind.rawValue)\n"
            for sample in metric.samples {
                text += name
                if !sample.labels.isEmpty {
                    let pairs = sample.labels.map {
                        "\(sanitize($0.name, colons: false))=\"\(escapeLabelValue($0.value))\""
                    }
                    text += "{" + pairs.joined(separator: ",") + "}"
                }
                text += " " + format(sample.value) + "\n"
            }
        }
        return text
    }

    /// `text` with backslashes and line feeds escaped, as `# HELP` lines need.
    public static func escapeHelp(_ text: String) -> String {
        var out = ""
        for character in text {
            switch character {
            case "\\": out += "\\\\"
            case "\n": out += "\\n"
            default: out.append(character)
            }
        }
        return out
    }

    /// `text` with backslashes, double quotes and line feeds escaped, as label values need.
    public static func escapeLabelValue(_ text: String) -> String {
        var out = ""
        for character in text {
            switch character {
            case "\\": out += "\\\\"
            case "\"": out += "\\\""
            case "\n": out += "\\n"
            default: out.append(character)
            }
        }
        return out
    }

    /// A sample value: whole numbers without a fraction, `NaN`, `+Inf` and `-Inf` as the format spells them.
    public static func format(_ value: Double) -> String {
        if value.isNaN { return "NaN" }
        if value.isInfinite { return value > 0 ? "+Inf" : "-Inf" }
        if value == value.rounded(), abs(value) < 1e15 { return String(Int64(value)) }
        return String(value)
    }

    /// A metric name (`colons`) or label name: any other character becomes `_`, and a leading digit gets `_` before it.
    static func sanitize(_ name: String, colons: Bool) -> String {
        var out = ""
        for scalar in name.unicodeScalars {
            let allowed =
                (scalar >= "a" && scalar <= "z") || (scalar >= "A" && scalar <= "Z") || (scalar >= "0" && scalar <= "9")
                || scalar == "_" || (colons && scalar == ":")
            out.unicodeScalars.append(allowed ? scalar : "_")
        }
        if out.isEmpty || out.first!.isNumber { out = "_" + out }
        return out
    }
}
