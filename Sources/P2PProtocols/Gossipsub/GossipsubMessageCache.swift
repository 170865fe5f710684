import Codec

/// The message cache of gossipsub: the last `historyLength` heartbeat windows of forwarded messages, the newest
/// `historyGossip` of which are advertised by IHAVE; IWANT is answered from all of them.
struct GossipsubMessageCache: Sendable {
    struct Entry: Sendable {
        var message: GossipsubMessage
        /// How many times each peer asked for it by IWANT (bounded by gossipRetransmission).
        var requests: [PeerID: Int] = [:]
    }

    private var entries: [GossipsubMessageID: Entry] = [:]
    /// Windows, newest first: per topic, the ids in arrival order.
    private var windows: [TopicTable<[GossipsubMessageID]>]
    private let gossipWindows: Int

    init(historyLength: Int, historyGossip: Int) {
        windows = Array(repeating: TopicTable(), count: max(historyLength, 1))
        gossipWindows = min(max(historyGossip, 0), windows.count)
    }

    var count: Int { entries.count }

    /// Adds a message to the newest window (once).
    mutating func put(_ message: GossipsubMessage, id: GossipsubMessageID) {
        guard entries[id] == nil else { return }
        entries[id] = Entry(message: message)
        windows[0][message.topic, default: []].append(id)
    }

    func message(_ id: GossipsubMessageID) -> GossipsubMessage? { entries[id]?.message }

    /// The message for an IWANT from `peer`, counting the request; nil when not cached or asked too often.
    mutating func messageForRequest(_ id: GossipsubMessageID, from peer: PeerID, limit: Int) -> GossipsubMessage? {
        guard var entry = entries[id] else { return nil }
        let asked = entry.requests[peer, default: 0] + 1
        guard asked <= limit else { return nil }
        entry.requests[peer] = asked
        entries[id] = entry
        return entry.message
    }

    /// The ids of `topic` in the gossip windows, oldest window first.
    func gossipIDs(topic: String) -> [GossipsubMessageID] {
        // Counted first, so the result is allocated once at its size.
        var total = 0
        for window in 0..<gossipWindows { total += windows[window][topic]?.count ?? 0 }
        var ids: [GossipsubMessageID] = []
        ids.reserveCapacity(total)
        var window = gossipWindows
        while window > 0 {
            window -= 1
            if let topicIDs = windows[window][topic] { ids += topicIDs }
        }
        return ids
    }

    /// Whether any gossip window holds an id of `topic`.
    func hasGossip(topic: String) -> Bool {
        for window in 0..<gossipWindows where windows[window].contains(topic) { return true }
        return false
    }

    /// Ends the newest window: the oldest is forgotten.
    mutating func shift() {
        let oldest = windows.removeLast()
        for ids in oldest.values {
            for id in ids { entries[id] = nil }
        }
        windows.insert(TopicTable(), at: 0)
    }
}
