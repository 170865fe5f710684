/// Percentiles of a latency distribution, simulated milliseconds.
public struct LatencyPercentiles: Sendable, Equatable {
    /// The median.
    public var p50: Double
    /// The 90th percentile.
    public var p90: Double
    /// The 99th percentile.
    public var p99: Double
    /// The largest.
    public var max: Double

    /// Percentiles of `values` (nearest rank); zeros when empty.
    public init(_ values: [Double]) {
        let sorted = values.sorted()
        func rank(_ quantile: Double) -> Double {
            guard !sorted.isEmpty else { return 0 }
            let index = Int((quantile * Double(sorted.count)).rounded(.up)) - 1
            return sorted[Swift.max(0, Swift.min(sorted.count - 1, index))]
        }
        p50 = rank(0.5)
        p90 = rank(0.9)
        p99 = rank(0.99)
        max = sorted.last ?? 0
    }
}

/// What one simulation measured.
public struct SimulationReport: Sendable {
    /// Nodes simulated.
    public var nodes: Int
    /// Messages published.
    public var messages: Int
    /// Delivered (message, node) pairs over expected ones: honest nodes other than the publisher, online at the end
    /// and throughout the presence window after the message's publication.
    public var deliveryRatio: Double
    /// The same with a window of zero: every node online at the end and at the publication.
    public var strictDeliveryRatio: Double
    /// The pairs expected.
    public var expectedDeliveries: Int
    /// The pairs delivered.
    public var deliveries: Int
    /// Publication-to-delivery latency of the delivered pairs.
    public var latency: LatencyPercentiles
    /// The shortest-path lower bound of the same pairs: link latency plus one message's serialization per hop,
    /// over the topology at the start.
    public var lowerBound: LatencyPercentiles
    /// Each message's latency percentiles (how dissemination changes over the run).
    public var latencyByMessage: [LatencyPercentiles]
    /// Copies received beyond the first, per delivered pair.
    public var duplicatesPerDelivery: Double
    /// Of `duplicatesPerDelivery`, the copies that left their sender before the receiver's IDONTWANT, sent the moment
    /// its first copy arrived and travelling with no queueing, could have reached that sender: the floor under any
    /// IDONTWANT on this run's schedule.
    public var unsuppressibleDuplicatesPerDelivery: Double
    /// Bytes sent by honest nodes (every RPC: messages, control, subscriptions), per honest node per message.
    public var bytesPerNodePerMessage: Double
    /// RPCs sent and lost (loss or partition).
    public var rpcsSent: Int
    /// RPCs lost to loss or a partition.
    public var rpcsLost: Int
    /// Simulated seconds until the run stopped (everything delivered, or the end of the drain).
    public var simulatedSeconds: Double
    /// Events processed.
    public var events: UInt64
    /// The trace hash: equal for two runs of one seed.
    public var traceHash: TraceHash
    /// Honest deliveries of spam: messages with a forged signature, or that the application rejects.
    public var invalidDelivered: Int
    /// Spam messages honest applications were asked to validate and rejected.
    public var invalidRejected: Int
    /// The eclipse target's delivery ratio (nil without an eclipse).
    public var targetDeliveryRatio: Double?
    /// The routers' counters summed over the honest nodes online at the end (forwarded, IHAVE, IWANT, …).
    public var routerCounters: [(String, Int)]
    /// Message copies dropped from uplink queues because the receiver's IDONTWANT arrived first.
    public var queuedCopiesDropped: Int
    /// Connections the routers closed.
    public var disconnects: Int
    /// Signature checks asked and real verifications done (the memo's effect).
    public var signatureChecks: (asked: Int, verified: Int)
}
