/// One setting of `openledger node`: its key (the node config file's key and, with `--` before it, the flag's name),
/// the shape of its value, and its help.
///
/// The command line's options and the config file's keys are both this table, so every key is a flag and every flag a
/// key.
public struct PeerNodeOption: Sendable, Equatable {
    /// The shape of a setting's value.
    public enum Kind: Sendable, Equatable {
        /// One value: a string (or a JSON number in the file).
        case value
        /// Several values: a repeatable flag, a JSON array of strings in the file.
        case list
        /// On or off: a flag without a value, a JSON boolean in the file.
        case flag
    }

    /// The key and flag name.
    public let key: String
    /// The shape of its value.
    public let kind: Kind
    /// What the value is, for help lines (`PORT`, `URL`); empty for flags.
    public let valueName: String
    /// One line of help, saying the default.
    public let help: String

    /// Every setting, in the order help lists them.
    ///
    /// The network config and logging settings have the help every command gives them (logging defaults to logfmt at
    /// info).
    public static let all: [PeerNodeOption] = [
        .init("role", .value, "ROLE", "light, inferencer or seeder (default: inferencer)."),
        .init("listen", .value, "MULTIADDR", "libp2p listen address (default: /ip4/127.0.0.1/tcp/4001)."),
        .init(
            "bootstrap", .list, "MULTIADDR",
            "A peer to join through (/…/p2p/<peer id>); the network config's list is used too."),
        .init(
            "api-host", .value, "ADDRESS", "HTTP address of /metrics, /status and the OpenAI API (default: 127.0.0.1)."),
        .init("api-port", .value, "PORT", "HTTP port (0 picks one; default: 8080)."),
        .init(
            "rpc", .value, "URL",
            "The ledger's JSON-RPC endpoint, followed by the light client (default: http://127.0.0.1:8545)."),
        .init("head-interval", .value, "SECONDS", "How often the head is asked of --rpc (default: 1)."),
        .init("quota", .value, "SIZE", "Content store disk quota, e.g. 64MiB (default by role: 64MiB, 4GiB, 64GiB)."),
        .init("dht", .value, "MODE", "DHT mode: server or client (default by role: client, client, server)."),
        .init("max-connections", .value, "N", "libp2p connections at most (default by role: 64, 512, 1024)."),
        .init("data-dir", .value, "DIR", "Node data directory (identity, content, wallet, ledgers)."),
        .init("config", .value, "FILE", "Network config (default: netconfig/devnet.json)."),
        .init("log-format", .value, "FORMAT", "Log lines on standard error: logfmt or json."),
        .init(
            "log-level", .value, "LEVEL",
            "Least severe level logged: trace, debug, info, warning, error."),
        .init(
            "model", .value, "PATH", "inferencer: GGUF model (default: $OPENLEDGER_MODEL, else the one make fetches)."),
        .init("slots", .value, "N", "inferencer: generations running at once (default: 4)."),
        .init("context", .value, "N", "inferencer: context length per generation (default: 2048)."),
        .init("threads", .value, "N", "inferencer: threads for the matrix products (default: 2)."),
        .init("queue", .value, "N", "inferencer: requests waiting at most, then 429 (default: 64)."),
        .init("adapters", .value, "DIR", "inferencer: LoRA adapters a request may name (default: DIR/adapters)."),
        .init("adapter-cache-mb", .value, "MB", "inferencer: memory for loaded adapters (default: 512)."),
        .init("free", .flag, "", "inferencer: serve without payment (no vouchers, receipts or claims)."),
        .init(
            "attribution", .list, "DIR",
            "Snapshot indexes: the inferencer attributes answers against one; the seeder attests claims over each."),
        .init(
            "prompt-price", .value, "AMOUNT", "inferencer: price per prompt token, wei or OPEN (default: 1000 gwei)."),
        .init(
            "completion-price", .value, "AMOUNT",
            "inferencer: price per completion token, wei or OPEN (default: 4000 gwei)."),
        .init("prices", .value, "FILE", "inferencer: JSON prices by model or adapter, as `serve --prices`."),
        .init("claim-batch", .value, "N", "inferencer: claim once this many receipts wait (default: 100)."),
        .init(
            "claim-age", .value, "SECONDS",
            "inferencer: claim once the oldest waiting receipt is this old (default: 600)."),
        .init("no-claims", .flag, "", "inferencer: keep receipts without claiming them."),
        .init("no-attester", .flag, "", "seeder: do not attest claims, even with a wallet key."),
    ]

    /// The setting named `key`, if there is one.
    public static func named(_ key: String) -> PeerNodeOption? { all.first { $0.key == key } }

    private init(_ key: String, _ kind: Kind, _ valueName: String, _ help: String) {
        self.key = key
        self.kind = kind
        self.valueName = valueName
        self.help = help
    }
}
