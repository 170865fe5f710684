import Codec

/// One pubsub RPC: `RPC` in the libp2p pubsub protobuf.
///
/// Subscriptions (1), messages (2) and control (3). Unknown fields (py-libp2p's field 4, `senderRecord`) are skipped when decoding.
public struct GossipsubRPC: Sendable, Equatable {
    /// A subscription change (`SubOpts`: 1 subscribe, 2 topic id).
    public struct Subscription: Sendable, Equatable {
        /// Joins when true, leaves when false.
        public var subscribe: Bool
        /// The topic.
        public var topic: String

        /// A subscription change.
        public init(subscribe: Bool, topic: String) {
            self.subscribe = subscribe
            self.topic = topic
        }
    }

    /// IHAVE: ids of messages in the sender's cache for a topic.
    public struct IHave: Sendable, Equatable {
        /// The topic.
        public var topic: String
        /// The ids.
        public var messageIDs: [GossipsubMessageID]

        /// An IHAVE.
        public init(topic: String, messageIDs: [GossipsubMessageID]) {
            self.topic = topic
            self.messageIDs = messageIDs
        }
    }

    /// A peer offered by PX in a PRUNE (`PeerInfo`: 1 peer id, 2 signed peer record).
    public struct PeerInfo: Sendable, Equatable {
        /// The peer id bytes.
        public var peerID: [UInt8]?
        /// The signed peer record envelope.
        public var signedRecord: [UInt8]?

        /// A PX entry.
        public init(peerID: [UInt8]?, signedRecord: [UInt8]?) {
            self.peerID = peerID
            self.signedRecord = signedRecord
        }
    }

    /// PRUNE: leave the sender's mesh for a topic, with PX peers and a backoff in seconds.
    public struct Prune: Sendable, Equatable {
        /// The topic.
        public var topic: String
        /// Peers offered in exchange.
        public var peers: [PeerInfo]
        /// The backoff in seconds (v1.1).
        public var backoff: UInt64?

        /// A PRUNE.
        public init(topic: String, peers: [PeerInfo] = [], backoff: UInt64? = nil) {
            self.topic = topic
            self.peers = peers
            self.backoff = backoff
        }
    }

    /// The control part (`ControlMessage`: 1 ihave, 2 iwant, 3 graft, 4 prune, 5 idontwant).
    public struct Control: Sendable, Equatable {
        /// IHAVE announcements.
        public var ihave: [IHave] = []
        /// IWANT requests, one id list each.
        public var iwant: [[GossipsubMessageID]] = []
        /// GRAFT topics.
        public var graft: [String] = []
        /// PRUNEs.
        public var prune: [Prune] = []
        /// IDONTWANT id lists (v1.2).
        public var idontwant: [[GossipsubMessageID]] = []

        /// An empty control message.
        public init() {}

        /// True when it carries nothing.
        public var isEmpty: Bool {
            ihave.isEmpty && iwant.isEmpty && graft.isEmpty && prune.isEmpty && idontwant.isEmpty
        }
    }

    /// Subscription changes.
    public var subscriptions: [Subscription] = []
    /// Messages.
    public var messages: [GossipsubMessage] = []
    /// Control, when any.
    public var control: Control?

    /// An RPC of its parts.
    public init(subscriptions: [Subscription] = [], messages: [GossipsubMessage] = [], control: Control? = nil) {
        self.subscriptions = subscriptions
        self.messages = messages
        self.control = control
    }
}
