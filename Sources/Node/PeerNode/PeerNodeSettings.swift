import Foundation

/// The settings of `openledger node` as given: the node config file's keys and the command line's flags, each checked
/// against `PeerNodeOption.all` (an unknown key, or a value of the wrong shape, is an error naming the key).
///
/// Values stay text here; `PeerNodeConfiguration` reads them.
public struct PeerNodeSettings: Sendable, Equatable {
    /// A setting's value, in the shape its option has.
    public enum Value: Sendable, Equatable {
        /// One value.
        case text(String)
        /// Several values, in order.
        case list([String])
        /// On or off.
        case flag(Bool)
    }

    /// The largest node config file read.
    public static let maximumFileBytes = 1 << 20
    /// The most values one list setting may hold.
    public static let maximumListCount = 256
    /// The longest value accepted.
    public static let maximumValueBytes = 4_096

    /// The values given, by key.
    public private(set) var values: [String: Value]

    /// Settings from `values`, each key known and each value in its option's shape and within the bounds.
    public init(_ values: [String: Value] = [:]) throws(NodeError) {
        for (key, value) in values {
            guard let option = PeerNodeOption.named(key) else {
                throw .nodeConfigInvalid(key: key, reason: "unknown setting")
            }
            switch (option.kind, value) {
            case (.value, .text(let text)): try Self.check(key, text)
            case (.list, .list(let items)):
                guard items.count <= Self.maximumListCount else {
                    throw .nodeConfigInvalid(key: key, reason: "more than \(Self.maximumListCount) values")
                }
                for item in items { try Self.check(key, item) }
            case (.flag, .flag): break
            case (.value, _): throw .nodeConfigInvalid(key: key, reason: "expects one value")
            case (.list, _): throw .nodeConfigInvalid(key: key, reason: "expects a list of values")
            case (.flag, _): throw .nodeConfigInvalid(key: key, reason: "expects true or false")
            }
        }
        self.values = values
    }

    private static func check(_ key: String, _ text: String) throws(NodeError) {
        guard text.utf8.count <= maximumValueBytes else {
            throw .nodeConfigInvalid(key: key, reason: "a value longer than \(maximumValueBytes) bytes")
        }
        guard !text.unicodeScalars.contains(where: { $0.value < 0x20 || $0.value == 0x7f }) else {
            throw .nodeConfigInvalid(key: key, reason: "a value holding control characters")
        }
    }

    /// The settings of a node config file: one JSON object whose keys are settings; a value is a string or number,
    /// an array of strings for a list, a boolean for a flag.
    public static func parse(json bytes: [UInt8]) throws(NodeError) -> PeerNodeSettings {
        guard bytes.count <= maximumFileBytes else {
            throw .nodeConfigInvalid(key: "(file)", reason: "larger than \(maximumFileBytes) bytes")
        }
        let object: [String: JSONValue]
        do {
            object = try JSONDecoder().decode([String: JSONValue].self, from: Data(bytes))
        } catch {
            throw .nodeConfigInvalid(key: "(file)", reason: "not a JSON object of settings")
        }
        var values: [String: Value] = [:]
        for (key, raw) in object {
            guard let option = PeerNodeOption.named(key) else {
                throw .nodeConfigInvalid(key: key, reason: "unknown setting")
            }
            switch (option.kind, raw) {
            case (.value, .string(let text)), (.value, .number(let text)): values[key] = .text(text)
            case (.list, .strings(let items)): values[key] = .list(items)
            case (.list, .string(let text)): values[key] = .list([text])
            case (.flag, .bool(let on)): values[key] = .flag(on)
            case (.value, _): throw .nodeConfigInvalid(key: key, reason: "expects a string or a number")
            case (.list, _): throw .nodeConfigInvalid(key: key, reason: "expects an array of strings")
            case (.flag, _): throw .nodeConfigInvalid(key: key, reason: "expects true or false")
            }
        }
        return try PeerNodeSettings(values)
    }

    /// The settings of the node config file at `path`.
    public static func load(path: String) throws(NodeError) -> PeerNodeSettings {
        guard let handle = FileHandle(forReadingAtPath: path) else { throw .nodeConfigUnreadable(path: path) }
        defer { try? handle.close() }
        // One byte past the bound tells a file that is too large from one that fits.
        guard let data = try? handle.read(upToCount: maximumFileBytes + 1), data.count <= maximumFileBytes else {
            throw .nodeConfigUnreadable(path: path)
        }
        return try parse(json: Array(data))
    }

    /// These settings with every value of `other` put over them: flags win over the file.
    public func overridden(by other: PeerNodeSettings) -> PeerNodeSettings {
        var merged = self
        merged.values.merge(other.values) { _, new in new }
        return merged
    }

    /// The value of the setting `key`, if given.
    public func text(_ key: String) -> String? {
        if case .text(let text)? = values[key] { return text }
        return nil
    }

    /// The values of the list setting `key` (none when not given).
    public func list(_ key: String) -> [String] {
        if case .list(let items)? = values[key] { return items }
        return []
    }

    /// Whether the flag `key` is on.
    public func flag(_ key: String) -> Bool {
        if case .flag(let on)? = values[key] { return on }
        return false
    }

    /// One value of a node config file, in the shapes a setting may take.
    private enum JSONValue: Decodable {
        case string(String)
        case number(String)
        case bool(Bool)
        case strings([String])
        case other

        init(from decoder: any Decoder) throws {
            let container = try decoder.singleValueContainer()
            if container.decodeNil() {
                self = .other
            } else if let on = try? container.decode(Bool.self) {
                self = .bool(on)
            } else if let integer = try? container.decode(Int64.self) {
                self = .number(String(integer))
            } else if let number = try? container.decode(Double.self) {
                self = .number(number.isFinite ? String(number) : "")
            } else if let text = try? container.decode(String.self) {
                self = .string(text)
            } else if let items = try? container.decode([String].self) {
                self = .strings(items)
            } else {
                self = .other
            }
        }
    }
}
