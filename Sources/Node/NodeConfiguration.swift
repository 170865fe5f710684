import Chain
import Codec
import Crypto
import Foundation

/// A network config as the node loaded it: the file it came from, its bytes and the validated `NetworkConfig`.
public struct NodeConfiguration: Sendable {
    /// The file the config was read from (named in every error about it).
    public let path: String
    /// The file's bytes, for keys `NetworkConfig` does not model (the devnet's sequencer key).
    public let contents: Data
    /// The validated network config.
    public let network: NetworkConfig

    /// Parses and validates `contents`, read from `path`; an invalid config is an error naming `path`.
    public init(path: String, contents: Data) throws(NodeError) {
        self.path = path
        self.contents = contents
        do {
            network = try NetworkConfig.parse(contents)
        } catch {
            throw .configInvalid(path: path, reason: error)
        }
    }

    /// The devnet's sequencer key, which a devnet config carries in `sequencerPrivateKey` (public on purpose: a
    /// devnet has nothing to protect).
    public func sequencerKey() throws(NodeError) -> Secp256k1PrivateKey {
        func invalid(_ why: String) -> NodeError {
            .configInvalid(path: path, reason: .malformed(what: "network config", why: why))
        }
        guard let object = (try? JSONSerialization.jsonObject(with: contents)) as? [String: Any],
            let text = object["sequencerPrivateKey"] as? String
        else { throw invalid("devnet needs sequencerPrivateKey") }
        do {
            return try Secp256k1PrivateKey(bytes: try Hex.decode(text))
        } catch {
            throw invalid("sequencerPrivateKey: \(error)")
        }
    }
}

/// Loads the network config: the one place that decides which file is read and what a bad file means.
///
/// Rules: `--config FILE` names the file; without it, the first existing default candidate
/// (`netconfig/devnet.json` in the working directory, then beside the source tree the binary was built in).
/// A file that cannot be read or does not validate is an error naming the file; there is no fallback to
/// built-in values.
public struct ConfigLoader: Sendable {
    /// Where the default config is looked for, in order.
    public let candidates: [String]

    /// A loader looking for the default config at `candidates`.
    public init(candidates: [String]) {
        self.candidates = candidates
    }

    /// The standard search: `netconfig/devnet.json` in the working directory, then two levels above the
    /// directory of `executable` (the package root of a `.build/<configuration>/openledger` binary).
    public static func standard(executable: String = CommandLine.arguments.first ?? "openledger") -> ConfigLoader {
        ConfigLoader(candidates: [
            "netconfig/devnet.json",
            URL(fileURLWithPath: executable).deletingLastPathComponent()
                .appendingPathComponent("../../netconfig/devnet.json").standardized.path,
        ])
    }

    /// The default config file: the first candidate that exists, else the first candidate.
    public var defaultPath: String {
        candidates.first { FileManager.default.fileExists(atPath: $0) } ?? candidates.first ?? "netconfig/devnet.json"
    }

    /// Reads and validates the config at `path`, or at `defaultPath` when `path` is nil.
    public func load(_ path: String?) throws(NodeError) -> NodeConfiguration {
        let path = path ?? defaultPath
        let contents: Data
        do {
            contents = try Data(contentsOf: URL(fileURLWithPath: path))
        } catch {
            throw .configUnreadable(path: path)
        }
        return try NodeConfiguration(path: path, contents: contents)
    }
}
