import Codec

/// One `/ipfs/kad/1.0.0` message (the spec's `Message` protobuf): a request, or the answer to one.
public struct KademliaMessage: Sendable, Equatable {
    /// The protocol id of the DHT.
    public static let protocolID = "/ipfs/kad/1.0.0"

    /// The RPC a message belongs to (the protobuf enum's values).
    public enum MessageType: UInt64, Sendable, CaseIterable {
        /// Store a record.
        case putValue = 0
        /// Fetch a record.
        case getValue = 1
        /// Announce a provider.
        case addProvider = 2
        /// Ask for providers of a key.
        case getProviders = 3
        /// Ask for the peers closest to a key.
        case findNode = 4
        /// Liveness check.
        case ping = 5
    }

    /// The RPC.
    public var type: MessageType
    /// The target key (a peer id's bytes, a CID's multihash, a record key).
    public var key: [UInt8]
    /// The record of PUT_VALUE, and of a GET_VALUE answer.
    public var record: KademliaRecord?
    /// Peers closer to the key (answers).
    public var closerPeers: [KademliaPeerInfo]
    /// Providers of the key (ADD_PROVIDER, GET_PROVIDERS answers).
    public var providerPeers: [KademliaPeerInfo]
    /// The deprecated cluster level (field 10), kept for round trips.
    public var clusterLevel: UInt64

    /// A message of `type` about `key`.
    public init(
        type: MessageType, key: [UInt8] = [], record: KademliaRecord? = nil, closerPeers: [KademliaPeerInfo] = [],
        providerPeers: [KademliaPeerInfo] = [], clusterLevel: UInt64 = 0
    ) {
        self.type = type
        self.key = key
        self.record = record
        self.closerPeers = closerPeers
        self.providerPeers = providerPeers
        self.clusterLevel = clusterLevel
    }
}

/// A peer as messages carry it: id, addresses, and what the sender knows of its connection.
public struct KademliaPeerInfo: Sendable, Equatable {
    /// The spec's `ConnectionType`.
    public enum Connection: UInt64, Sendable {
        /// Not connected, no recent knowledge.
        case notConnected = 0
        /// Connected right now.
        case connected = 1
        /// Recently connected.
        case canConnect = 2
        /// Recently failed to connect.
        case cannotConnect = 3
    }

    /// The peer.
    public var id: PeerID
    /// Its addresses.
    public var addresses: [Multiaddr]
    /// The sender's knowledge of the connection.
    public var connection: Connection

    /// A peer with `addresses`.
    public init(id: PeerID, addresses: [Multiaddr], connection: Connection = .notConnected) {
        self.id = id
        self.addresses = addresses
        self.connection = connection
    }
}

/// A value record (the spec's `Record`: key 1, value 2, timeReceived 5; author 3 and signature 4 are obsolete and
/// skipped).
public struct KademliaRecord: Sendable, Equatable {
    /// The record's key (equal to the message's key).
    public var key: [UInt8]
    /// The value.
    public var value: [UInt8]
    /// RFC 3339 time at which the sender received it (set by servers, informative only).
    public var timeReceived: String

    /// A record of `value` under `key`.
    public init(key: [UInt8], value: [UInt8], timeReceived: String = "") {
        self.key = key
        self.value = value
        self.timeReceived = timeReceived
    }
}
