import Codec
import Runtime

/// The connection manager as a pure state machine: which connections to refuse, and which peers to close when
/// too many are open.
///
/// The shell reports every connection (opened at accept or dial, connected once the upgrade names its peer,
/// disconnected), the application's protections and weighted tags, and a periodic trim tick; the policy answers
/// with actions. When more than `highWater` connections are open, a trim closes the least useful peers until at
/// most `lowWater` remain. Never trimmed: protected peers (any protection tag, e.g. the gossip mesh or the DHT's
/// closest peers) and peers whose first connection is younger than `gracePeriod`. The others go in this order:
/// lowest sum of tag weights first; on a tie inbound peers before outbound ones (the peers we chose to dial are
/// worth more, and an attacker can only add inbound ones); then the newest first (long-lived peers have proven
/// themselves, a fresh flood has not); then by peer id bytes, so that the order is the same everywhere. Inbound
/// connections from an IP address that already has `maxConnectionsPerIP` are refused.
public struct ConnectionManagerPolicy: Sendable {
    /// The shell's name for one connection: unique among the connections it has opened and not yet disconnected.
    public typealias ConnectionID = UInt64

    /// What the shell and the application report.
    public enum Event: Sendable, Equatable {
        /// A connection was accepted (inbound) or dialed (outbound), before its upgrade, from or to `ip`.
        case opened(ConnectionID, ip: String, outbound: Bool)
        /// The connection's upgrade finished: it is to `peer`.
        case connected(ConnectionID, peer: PeerID)
        /// The connection closed (whether or not it ever connected).
        case disconnected(ConnectionID)
        /// Protects `peer` under `tag` until unprotected; kept while the peer is not connected too.
        case protect(PeerID, tag: String)
        /// Removes `peer`'s protection under `tag`.
        case unprotect(PeerID, tag: String)
        /// Makes `peers` exactly the peers protected under `tag`: protects the new ones, unprotects the others.
        case protectOnly(Set<PeerID>, tag: String)
        /// Sets the weight of `tag` on a connected `peer` (dropped when its last connection closes).
        case tag(PeerID, tag: String, weight: Int)
        /// Removes `tag` from `peer`.
        case untag(PeerID, tag: String)
        /// Trims if more than `highWater` connections are open.
        case trim
    }

    /// Why an inbound connection was refused.
    public enum Refusal: Sendable, Equatable, CustomStringConvertible {
        /// The address has `open` connections already, the most `limit` allows.
        case perIPLimit(ip: String, open: Int, limit: Int)

        /// The reason, for the shell's log line.
        public var description: String {
            switch self {
            case .perIPLimit(let ip, let open, let limit):
                "connection manager: \(open) connections from \(ip) already (limit \(limit))"
            }
        }
    }

    /// Why the policy closes a peer.
    public enum CloseReason: Sendable, Equatable, CustomStringConvertible {
        /// Trimmed: `open` connections were over the high watermark; the peer's tags added up to `value`.
        case trimmed(open: Int, lowWater: Int, highWater: Int, value: Int)
        /// As many peers are connected as the policy tracks.
        case tooManyPeers(limit: Int)

        /// The reason, for the connection's closing log line.
        public var description: String {
            switch self {
            case .trimmed(let open, let low, let high, let value):
                "connection manager: trimmed (\(open) connections over the high watermark \(high), down to \(low);"
                    + " peer value \(value))"
            case .tooManyPeers(let limit): "connection manager: \(limit) peers connected already"
            }
        }
    }

    /// What the shell carries out.
    public enum Action: Sendable, Equatable {
        /// Close the just-opened connection at once (it was not recorded).
        case refuse(ConnectionID, Refusal)
        /// Close every connection to `peer`.
        case close(PeerID, CloseReason)
        /// A protection or tag was not recorded (for the shell's log).
        case rejected(ConnectionManagerError)
    }

    private struct ConnectionEntry: Sendable {
        var ip: String
        var outbound: Bool
        var peer: PeerID?
    }

    private struct PeerEntry: Sendable {
        var connections: Set<ConnectionID> = []
        /// When the peer's first current connection connected (nil while it has none).
        var connectedAt: Instant?
        var protections: Set<String> = []
        var tags: [String: Int] = [:]
        /// A trim closed it; it counts no more until it connects again.
        var closing = false
        var isConnected: Bool { !connections.isEmpty }
        var value: Int { tags.values.reduce(0, +) }
    }

    /// The settings.
    public let config: ConnectionManagerConfig
    private var connections: [ConnectionID: ConnectionEntry] = [:]
    private var perIP: [String: Int] = [:]
    private var peers: [PeerID: PeerEntry] = [:]
    /// Connected connections of peers not being closed: what the watermarks compare.
    public private(set) var openConnections = 0
    /// Peers with at least one connected connection.
    public private(set) var connectedPeers = 0
    private var unconnectedProtected = 0

    /// A policy with `config`'s settings and no connections.
    public init(config: ConnectionManagerConfig = ConnectionManagerConfig()) {
        self.config = config
    }

    /// Handles one event at `now` and returns what to do, in order.
    public mutating func on(_ event: Event, now: Instant) -> [Action] {
        switch event {
        case .opened(let id, let ip, let outbound):
            return open(id, ip: ip, outbound: outbound)
        case .connected(let id, let peer):
            return connect(id, peer: peer, now: now)
        case .disconnected(let id):
            disconnect(id)
            return []
        case .protect(let peer, let tag):
            return protect(peer, tag: tag).map { [.rejected($0)] } ?? []
        case .unprotect(let peer, let tag):
            unprotect(peer, tag: tag)
            return []
        case .protectOnly(let chosen, let tag):
            if let error = validate(tag) { return [.rejected(error)] }
            for peer in peers.keys where peers[peer]?.protections.contains(tag) == true && !chosen.contains(peer) {
                unprotect(peer, tag: tag)
            }
            // Sorted, so that which ones a full table rejects is the same on every run.
            return chosen.sorted(by: Self.precedes).compactMap { peer in protect(peer, tag: tag).map(Action.rejected) }
        case .tag(let peer, let tag, let weight):
            return setTag(peer, tag: tag, weight: weight).map { [.rejected($0)] } ?? []
        case .untag(let peer, let tag):
            peers[peer]?.tags[tag] = nil
            return []
        case .trim:
            return trim(now: now)
        }
    }

    // MARK: Inspection

    /// Whether `peer` is protected under any tag.
    public func isProtected(_ peer: PeerID) -> Bool { !(peers[peer]?.protections.isEmpty ?? true) }

    /// The tags `peer` is protected under.
    public func protections(of peer: PeerID) -> Set<String> { peers[peer]?.protections ?? [] }

    /// The sum of `peer`'s tag weights (0 for a peer not tracked).
    public func value(of peer: PeerID) -> Int { peers[peer]?.value ?? 0 }

    /// Connections with `ip`, upgrading or connected, either direction.
    public func connections(withIP ip: String) -> Int { perIP[ip] ?? 0 }

    /// Peers tracked: connected ones and protected ones that are not.
    public var trackedPeers: Int { peers.count }

    /// Whether a trim at `now` may close `peer`: connected, not protected, not closing, and past its grace period.
    public func isTrimmable(_ peer: PeerID, now: Instant) -> Bool {
        guard let entry = peers[peer] else { return false }
        return isTrimmable(entry, now: now)
    }

    private func isTrimmable(_ entry: PeerEntry, now: Instant) -> Bool {
        guard entry.isConnected, !entry.closing, entry.protections.isEmpty, let since = entry.connectedAt else {
            return false
        }
        return now.seconds(since: since) >= config.gracePeriod
    }

    // MARK: Connections

    private func limitsIP(_ ip: String) -> Bool { !(config.exemptLoopback && ip.hasPrefix("127.")) }

    private mutating func open(_ id: ConnectionID, ip: String, outbound: Bool) -> [Action] {
        // A reused id would corrupt the counts; the shell never does it, and ignoring it keeps the books right.
        guard connections[id] == nil else { return [] }
        let open = perIP[ip] ?? 0
        if !outbound, limitsIP(ip), open >= config.maxConnectionsPerIP {
            return [.refuse(id, .perIPLimit(ip: ip, open: open, limit: config.maxConnectionsPerIP))]
        }
        connections[id] = ConnectionEntry(ip: ip, outbound: outbound, peer: nil)
        perIP[ip] = open + 1
        return []
    }

    private mutating func connect(_ id: ConnectionID, peer: PeerID, now: Instant) -> [Action] {
        guard var connection = connections[id], connection.peer == nil else { return [] }
        var entry = peers[peer] ?? PeerEntry()
        if !entry.isConnected {
            guard connectedPeers < config.maxConnectedPeers else {
                return [.close(peer, .tooManyPeers(limit: config.maxConnectedPeers))]
            }
            if !entry.protections.isEmpty { unconnectedProtected -= 1 }
            connectedPeers += 1
            entry.connectedAt = now
        } else if entry.closing {
            // It came back while a trim's close was under way: it counts again, and a later trim may close it.
            entry.closing = false
            openConnections += entry.connections.count
        }
        entry.connections.insert(id)
        openConnections += 1
        peers[peer] = entry
        connection.peer = peer
        connections[id] = connection
        return []
    }

    private mutating func disconnect(_ id: ConnectionID) {
        guard let connection = connections.removeValue(forKey: id) else { return }
        let remaining = (perIP[connection.ip] ?? 1) - 1
        perIP[connection.ip] = remaining > 0 ? remaining : nil
        guard let peer = connection.peer, var entry = peers[peer] else { return }
        entry.connections.remove(id)
        if !entry.closing { openConnections -= 1 }
        if !entry.isConnected {
            connectedPeers -= 1
            entry.connectedAt = nil
            entry.closing = false
            entry.tags = [:]
            if !entry.protections.isEmpty { unconnectedProtected += 1 }
        }
        peers[peer] = entry.isConnected || !entry.protections.isEmpty ? entry : nil
    }

    // MARK: Protections and tags

    private func validate(_ tag: String) -> ConnectionManagerError? {
        if tag.isEmpty { return .emptyTag }
        let length = tag.utf8.count
        return length > config.maxTagLength ? .tagTooLong(length: length, limit: config.maxTagLength) : nil
    }

    private mutating func protect(_ peer: PeerID, tag: String) -> ConnectionManagerError? {
        if let error = validate(tag) { return error }
        var entry = peers[peer] ?? PeerEntry()
        guard !entry.protections.contains(tag) else { return nil }
        guard entry.protections.count < config.maxTagsPerPeer else {
            return .tooManyTags(peer, limit: config.maxTagsPerPeer)
        }
        if !entry.isConnected && entry.protections.isEmpty {
            guard unconnectedProtected < config.maxUnconnectedProtected else {
                return .tooManyPeers(limit: config.maxUnconnectedProtected)
            }
            unconnectedProtected += 1
        }
        entry.protections.insert(tag)
        peers[peer] = entry
        return nil
    }

    private mutating func unprotect(_ peer: PeerID, tag: String) {
        guard var entry = peers[peer], entry.protections.remove(tag) != nil else { return }
        if entry.isConnected {
            peers[peer] = entry
        } else if entry.protections.isEmpty {
            unconnectedProtected -= 1
            peers[peer] = nil
        } else {
            peers[peer] = entry
        }
    }

    private mutating func setTag(_ peer: PeerID, tag: String, weight: Int) -> ConnectionManagerError? {
        if let error = validate(tag) { return error }
        guard var entry = peers[peer], entry.isConnected else { return .notConnected(peer) }
        guard entry.tags[tag] != nil || entry.tags.count < config.maxTagsPerPeer else {
            return .tooManyTags(peer, limit: config.maxTagsPerPeer)
        }
        entry.tags[tag] = min(max(weight, -config.maxTagWeight), config.maxTagWeight)
        peers[peer] = entry
        return nil
    }

    // MARK: Trimming

    /// Closes the least useful trimmable peers until at most `lowWater` connections remain, when more than
    /// `highWater` are open; fewer when too few peers may be trimmed.
    private mutating func trim(now: Instant) -> [Action] {
        let open = openConnections
        guard open > config.highWater else { return [] }
        var candidates: [(peer: PeerID, entry: PeerEntry, outbound: Bool)] = []
        for (peer, entry) in peers where isTrimmable(entry, now: now) {
            let outbound = entry.connections.contains { connections[$0]?.outbound == true }
            candidates.append((peer, entry, outbound))
        }
        candidates.sort { a, b in
            let (valueA, valueB) = (a.entry.value, b.entry.value)
            if valueA != valueB { return valueA < valueB }
            if a.outbound != b.outbound { return !a.outbound }
            let (sinceA, sinceB) = (a.entry.connectedAt!, b.entry.connectedAt!)
            if sinceA != sinceB { return sinceA > sinceB }
            return Self.precedes(a.peer, b.peer)
        }
        var excess = open - config.lowWater
        var actions: [Action] = []
        for candidate in candidates where excess > 0 {
            excess -= candidate.entry.connections.count
            openConnections -= candidate.entry.connections.count
            peers[candidate.peer]?.closing = true
            let reason = CloseReason.trimmed(
                open: open, lowWater: config.lowWater, highWater: config.highWater, value: candidate.entry.value)
            actions.append(.close(candidate.peer, reason))
        }
        return actions
    }

    /// A total order on peer ids (their multihash bytes), for the same choices on every run.
    private static func precedes(_ a: PeerID, _ b: PeerID) -> Bool {
        a.multihash.bytes.lexicographicallyPrecedes(b.multihash.bytes)
    }
}
