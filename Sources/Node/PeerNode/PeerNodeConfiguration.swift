import Codec
import P2P

/// What `openledger node` composes, read from its settings: the role and the role's defaults, overridden by the
/// settings given.
///
/// Every bad value is an error naming its key.
///
/// The inferencer's model, serving and payment settings keep the meanings of `openledger serve`'s options and are read
/// where those are; this type reads the settings every role has.
public struct PeerNodeConfiguration: Sendable {
    /// The role.
    public var role: NodeRole
    /// The libp2p listen address.
    public var listen: Multiaddr
    /// Peers to join through, each ending in /p2p/<peer id> (the network config's list is added by the caller).
    public var bootstrap: [Multiaddr]
    /// The address of the HTTP port (/metrics, /status, and the OpenAI API of an inferencer).
    public var apiHost: String
    /// The HTTP port (0 picks one).
    public var apiPort: Int
    /// The ledger's JSON-RPC endpoint.
    public var rpcURL: String
    /// Seconds between two asks of the head by JSON-RPC.
    public var headIntervalSeconds: Double
    /// The content store's disk quota in bytes.
    public var quotaBytes: UInt64
    /// The DHT's mode.
    public var dhtMode: KademliaConfig.Mode
    /// libp2p connections at most.
    public var maxConnections: Int
    /// The snapshot index directories named by `attribution`.
    public var attribution: [String]
    /// Whether an inferencer serves for free.
    public var free: Bool
    /// Whether a seeder attests claims (when it has a wallet key).
    public var attests: Bool

    /// The default libp2p listen address.
    public static let defaultListen = "/ip4/127.0.0.1/tcp/4001"
    /// The default ledger endpoint.
    public static let defaultRPC = "http://127.0.0.1:8545"
    /// The default HTTP port.
    public static let defaultAPIPort = 8_080

    /// The configuration `settings` say, the rest from the role's defaults.
    public init(settings: PeerNodeSettings) throws(NodeError) {
        let roleText = settings.text("role") ?? NodeRole.inferencer.rawValue
        guard let role = NodeRole(rawValue: roleText) else {
            throw .nodeConfigInvalid(key: "role", reason: "expects light, inferencer or seeder, got '\(roleText)'")
        }
        let defaults = role.defaults
        self.role = role
        listen = try Self.multiaddr(settings.text("listen") ?? Self.defaultListen, key: "listen")
        bootstrap = try settings.list("bootstrap").map { text throws(NodeError) in
            let address = try Self.multiaddr(text, key: "bootstrap")
            guard address.peerID != nil else {
                throw .nodeConfigInvalid(key: "bootstrap", reason: "'\(text)' must end in /p2p/<peer id>")
            }
            return address
        }
        apiHost = settings.text("api-host") ?? "127.0.0.1"
        guard !apiHost.isEmpty else { throw .nodeConfigInvalid(key: "api-host", reason: "expects an address") }
        apiPort = try Self.integer(settings, "api-port", in: 0...65_535) ?? Self.defaultAPIPort
        rpcURL = settings.text("rpc") ?? Self.defaultRPC
        guard rpcURL.hasPrefix("http://") else {
            throw .nodeConfigInvalid(key: "rpc", reason: "expects an http:// URL, got '\(rpcURL)'")
        }
        headIntervalSeconds = try Self.number(settings, "head-interval", in: 0.01...3_600) ?? 1
        if let text = settings.text("quota") {
            guard let bytes = ByteSize.parse(text), bytes > 0 else {
                throw .nodeConfigInvalid(key: "quota", reason: "expects a size such as 64MiB, got '\(text)'")
            }
            quotaBytes = bytes
        } else {
            quotaBytes = defaults.quotaBytes
        }
        switch settings.text("dht") {
        case nil: dhtMode = defaults.dhtMode
        case "server": dhtMode = .server
        case "client": dhtMode = .client
        case let other?: throw .nodeConfigInvalid(key: "dht", reason: "expects server or client, got '\(other)'")
        }
        maxConnections = try Self.integer(settings, "max-connections", in: 1...100_000) ?? defaults.maxConnections
        attribution = settings.list("attribution")
        free = settings.flag("free")
        attests = defaults.attests && !settings.flag("no-attester")
        if role == .light && !attribution.isEmpty {
            throw .nodeConfigInvalid(key: "attribution", reason: "a light peer attributes nothing (role is light)")
        }
        if role == .inferencer && attribution.count > 1 {
            throw .nodeConfigInvalid(key: "attribution", reason: "an inferencer attributes against one snapshot")
        }
        let inferenceOnly = [
            "model", "slots", "context", "threads", "queue", "adapters", "adapter-cache-mb",
            "free", "prompt-price", "completion-price", "prices", "claim-batch", "claim-age", "no-claims",
        ]
        if !defaults.servesInference, let key = inferenceOnly.first(where: { settings.values[$0] != nil }) {
            throw .nodeConfigInvalid(key: key, reason: "only an inferencer serves inference (role is \(role.rawValue))")
        }
        if role != .seeder && settings.values["no-attester"] != nil {
            throw .nodeConfigInvalid(key: "no-attester", reason: "only a seeder attests (role is \(role.rawValue))")
        }
    }

    /// The host's settings: the connection limits scaled to `maxConnections`.
    public var hostConfig: HostConfig {
        var config = HostConfig()
        config.maxConnections = maxConnections
        config.connectionManager.highWater = max(2, maxConnections * 3 / 4)
        config.connectionManager.lowWater = max(1, maxConnections * 5 / 8)
        if role == .light {
            // An edge device: small stream windows and receive budgets keep its memory small.
            config.maxStreamWindow = 1 << 20
            config.connectionReceiveBudget = 4 << 20
        }
        return config
    }

    private static func multiaddr(_ text: String, key: String) throws(NodeError) -> Multiaddr {
        do {
            return try Multiaddr(text)
        } catch {
            throw .nodeConfigInvalid(key: key, reason: "'\(text)' is not a multiaddr: \(error)")
        }
    }

    private static func integer(_ settings: PeerNodeSettings, _ key: String, in range: ClosedRange<Int>)
        throws(NodeError) -> Int?
    {
        guard let text = settings.text(key) else { return nil }
        guard let value = Int(text), range.contains(value) else {
            throw .nodeConfigInvalid(
                key: key, reason: "expects an integer in \(range.lowerBound)...\(range.upperBound), got '\(text)'")
        }
        return value
    }

    private static func number(_ settings: PeerNodeSettings, _ key: String, in range: ClosedRange<Double>)
        throws(NodeError) -> Double?
    {
        guard let text = settings.text(key) else { return nil }
        guard let value = Double(text), value.isFinite, range.contains(value) else {
            throw .nodeConfigInvalid(
                key: key, reason: "expects a number in \(range.lowerBound)...\(range.upperBound), got '\(text)'")
        }
        return value
    }
}
