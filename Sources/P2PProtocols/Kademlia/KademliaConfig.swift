/// The DHT's parameters (defaults follow the spec and go-libp2p-kad-dht, with Optimistic Provide on).
public struct KademliaConfig: Sendable {
    /// Whether the node answers requests (server) or only asks (client: edge devices).
    public enum Mode: Sendable, Equatable {
        /// Answers requests and is admitted to others' tables (the shell advertises the protocol).
        case server
        /// Asks only: answers nothing; the shell does not advertise the protocol.
        case client
    }

    /// Server or client.
    public var mode: Mode = .server
    /// Bucket size, replication factor and lookup width (k).
    public var k = 20
    /// Concurrent queries per lookup (α).
    public var alpha = 10
    /// Seconds a single query may take.
    public var queryTimeout = 10.0
    /// Seconds a whole lookup may take.
    public var lookupTimeout = 60.0
    /// Seconds after which a query still in flight stops holding the walk (nil: never).
    ///
    /// It frees one of the α slots and one of the k places (go-libp2p's "move on when a query is slow"); its answer
    /// is still used if it comes.
    public var slowQueryAfter: Double? = 1.0
    /// Optimistic Provide: during a provide's walk, store on every peer found whose distance puts it among the k
    /// closest with `optimisticProvideCertainty` (by the network size estimate), end the walk once the k nearest
    /// known peers are close enough, and finish once `optimisticProvideReturnRatio` of k stores succeeded.
    public var optimisticProvide = true
    /// How sure a peer must be, by its distance alone, to be among the k closest before it gets an early store.
    public var optimisticProvideCertainty = 0.9
    /// The walk ends early when the k nearest known peers are within the distance the true k-th closest exceeds
    /// with this probability.
    public var optimisticProvideSetCertainty = 0.9
    /// The fraction of k successful stores after which an optimistic provide reports back (the rest go on).
    public var optimisticProvideReturnRatio = 0.75
    /// Seconds between random-walk refreshes of one bucket.
    public var refreshInterval = 600.0
    /// A contested bucket's least recently seen entry is pinged when not seen for this many seconds.
    public var pingAfter = 60.0
    /// Consecutive failed queries after which a peer leaves the table.
    public var maxFailures = 2
    /// Entries per bucket's replacement cache.
    public var replacementCacheSize = 20
    /// Peers of one IPv4 /24 per bucket.
    public var maxPeersPerSubnet = 2
    /// Seconds a provider record lives.
    public var providerTTL = 48 * 3_600.0
    /// Seconds between republications of our own provider records.
    public var republishInterval = 22 * 3_600.0
    /// Seconds a value record lives.
    public var recordTTL = 36 * 3_600.0
    /// ADD_PROVIDER requests accepted per peer per `addProviderWindow` (py-libp2p's limit: 10 per 10 s).
    public var addProviderLimit = 10
    /// The rate limit's window, seconds.
    public var addProviderWindow = 10.0
    /// Provider records held in all.
    public var maxProviderRecords = 100_000
    /// Providers held per key.
    public var maxProvidersPerKey = 64
    /// Value records held.
    public var maxValueRecords = 10_000
    /// Keys we provide ourselves (republished).
    public var maxProvidedKeys = 10_000
    /// Candidates one lookup keeps (the nearest; farther ones are forgotten).
    public var maxLookupCandidates = 200
    /// Lookups running at once; more are refused.
    public var maxConcurrentLookups = 256
    /// Addresses kept per peer.
    public var maxAddressesPerPeer = 16
    /// Decoding bounds (the shell decodes with them; the DHT checks records against `maxValueLength`).
    public var limits = KademliaMessage.Limits()

    /// The defaults.
    public init() {}
}
