import P2P

/// What a peer runs: the same binary in three shapes, each with defaults that suit where it runs.
public enum NodeRole: String, Sendable, CaseIterable {
    /// An edge or IoT device: light client, gossip, DHT client, a small content cache, no model.
    case light
    /// Everything a light peer runs, plus the model, paid serving, the adapter cache and attribution.
    case inferencer
    /// A community's dataset host: a DHT server with a large store that provides its pins and attests claims.
    case seeder

    /// The settings a role starts from; every one of them can be changed by its flag or config key.
    public struct Defaults: Sendable, Equatable {
        /// The content store's disk quota in bytes.
        public var quotaBytes: UInt64
        /// Whether the DHT answers queries (server) or only asks (client).
        public var dhtMode: KademliaConfig.Mode
        /// Connections at most.
        public var maxConnections: Int
        /// Whether the role loads a model and serves the OpenAI API.
        public var servesInference: Bool
        /// Whether the role attests claims when the data directory holds a wallet key.
        public var attests: Bool
    }

    /// The defaults of this role.
    public var defaults: Defaults {
        switch self {
        case .light:
            Defaults(quotaBytes: 64 << 20, dhtMode: .client, maxConnections: 64, servesInference: false, attests: false)
        case .inferencer:
            Defaults(quotaBytes: 4 << 30, dhtMode: .client, maxConnections: 512, servesInference: true, attests: false)
        case .seeder:
            Defaults(
                quotaBytes: 64 << 30, dhtMode: .server, maxConnections: 1_024, servesInference: false, attests: true)
        }
    }
}
