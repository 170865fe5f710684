import Codec
import Synchronization

/// What the host knows of other peers: dialable addresses, announced protocols, agent and key.
///
/// The addresses are those it can dial them on, the protocols those they announced in identify. Bounded: past
/// `capacity` peers the least recently updated is forgotten.
public final class PeerStore: Sendable {
    /// What is known of one peer.
    public struct Record: Equatable, Sendable {
        /// Addresses without their `/p2p` part, at most `maxAddressesPerPeer`: the latest dialed first.
        public var addresses: [Multiaddr] = []
        /// The protocols the peer announced in identify (at most 256).
        public var protocols: [String] = []
        /// The agent version the peer announced in identify, if any.
        public var agentVersion: String?
        /// The public key the peer sent in identify, if any.
        public var publicKey: LibP2PPublicKey?
        /// Whether identify has told something about the peer (its protocols, agent and key are then known).
        public var identified = false
        /// The newest signed peer record of the peer that verified (from identify or gossipsub PX).
        public var signedRecord: SignedPeerRecord?
        var updated: UInt64 = 0
    }

    /// The most peers kept; past it the least recently updated is forgotten.
    public let capacity: Int
    /// The most addresses kept per peer.
    public static let maxAddressesPerPeer = 16
    private struct State {
        var records: [PeerID: Record] = [:]
        var clock: UInt64 = 0
        /// Who waits in `identified(_:)`, per peer, by a number of their own (so that a cancelled one is removed).
        var waiters: [PeerID: [UInt64: CheckedContinuation<Record?, Never>]] = [:]
        var nextWaiter: UInt64 = 0
        /// The host closed: nobody waits any more.
        var closed = false
    }
    private let state = Mutex(State())

    /// An empty store that keeps at most `capacity` peers.
    public init(capacity: Int = 4_096) { self.capacity = capacity }

    /// What is known of `peer`, or nil if nothing is.
    public func record(_ peer: PeerID) -> Record? { state.withLock { $0.records[peer] } }

    /// The peers the store has a record of, in no particular order.
    public var peers: [PeerID] { state.withLock { Array($0.records.keys) } }

    /// Puts `address`, without its `/p2p` part, first in `peer`'s addresses, dropping the last past the bound.
    public func addAddress(_ address: Multiaddr, for peer: PeerID) {
        update(peer) { record in
            let plain = address.withoutPeer
            record.addresses.removeAll { $0 == plain }
            record.addresses.insert(plain, at: 0)
            if record.addresses.count > Self.maxAddressesPerPeer { record.addresses.removeLast() }
        }
    }

    /// `identified(_:)` bounded: nil when identify has not finished within `seconds`.
    public func identified(_ peer: PeerID, within seconds: Double) async -> Record? {
        await withTaskGroup(of: Record?.self) { group in
            group.addTask { await self.identified(peer) }
            group.addTask {
                try? await Task.sleep(for: .seconds(seconds))
                return nil
            }
            let first = await group.next() ?? nil
            group.cancelAll()
            return first
        }
    }

    /// Waits until identify has told something about `peer` (returns at once when it already has); nil when the
    /// task is cancelled or the host closes first.
    ///
    /// A peer that never answers identify keeps the caller waiting, so callers bound the wait themselves (by
    /// cancelling it).
    public func identified(_ peer: PeerID) async -> Record? {
        let waiter = state.withLock { state in
            state.nextWaiter += 1
            return state.nextWaiter
        }
        return await withTaskCancellationHandler {
            await withCheckedContinuation { continuation in
                // `.some(answer)` to resume at once; nil once waiting.
                let answer = state.withLock { state -> Record?? in
                    if let record = state.records[peer], record.identified { return .some(record) }
                    // Cancelled before this: the handler found nothing to remove.
                    if state.closed || Task.isCancelled { return .some(nil) }
                    state.waiters[peer, default: [:]][waiter] = continuation
                    return nil
                }
                if let answer { continuation.resume(returning: answer) }
            }
        } onCancel: {
            let cancelled = state.withLock { state -> CheckedContinuation<Record?, Never>? in
                let removed = state.waiters[peer]?.removeValue(forKey: waiter)
                if state.waiters[peer]?.isEmpty == true { state.waiters[peer] = nil }
                return removed
            }
            cancelled?.resume(returning: nil)
        }
    }

    /// How many wait in `identified(_:)` (tests).
    var waiterCount: Int { state.withLock { $0.waiters.values.reduce(0) { $0 + $1.count } } }

    /// The host closed: whoever waits in `identified(_:)` gets nil, and so does every later wait for a peer not
    /// identified yet.
    public func close() {
        let waiting = state.withLock { state in
            state.closed = true
            defer { state.waiters = [:] }
            return state.waiters.values.flatMap(\.values)
        }
        for waiter in waiting { waiter.resume(returning: nil) }
    }

    /// Records what identify told about `peer`, and wakes whoever waits for it.
    public func apply(_ message: IdentifyMessage, for peer: PeerID) {
        update(peer) { record in
            record.identified = true
            record.protocols = Array(message.protocols.prefix(256))
            record.agentVersion = message.agentVersion
            record.publicKey = message.publicKey
            for address in message.listenAddresses.prefix(Self.maxAddressesPerPeer).reversed() {
                let plain = address.withoutPeer
                if !record.addresses.contains(plain) { record.addresses.append(plain) }
            }
            record.addresses = Array(record.addresses.prefix(Self.maxAddressesPerPeer))
            if let envelope = message.signedPeerRecord, let signed = try? SignedPeerRecord(envelope: envelope) {
                Self.keep(signed, for: peer, in: &record)
            }
        }
    }

    /// Keeps a signed peer record that verified and names `peer`, unless a newer one is kept.
    ///
    /// Its addresses become dialable. False when it names another peer or is older than the one kept.
    @discardableResult
    public func addSignedRecord(_ signed: SignedPeerRecord, for peer: PeerID) -> Bool {
        guard signed.peer == peer else { return false }
        var kept = false
        update(peer) { record in kept = Self.keep(signed, for: peer, in: &record) }
        return kept
    }

    @discardableResult
    private static func keep(_ signed: SignedPeerRecord, for peer: PeerID, in record: inout Record) -> Bool {
        guard signed.peer == peer, signed.sequence >= record.signedRecord?.sequence ?? 0 else { return false }
        record.signedRecord = signed
        for address in signed.addresses.prefix(maxAddressesPerPeer) where !record.addresses.contains(address) {
            record.addresses.append(address)
        }
        record.addresses = Array(record.addresses.prefix(maxAddressesPerPeer))
        return true
    }

    private func update(_ peer: PeerID, _ change: (inout Record) -> Void) {
        let (record, waiters) = state.withLock { state in
            state.clock += 1
            var record = state.records[peer] ?? Record()
            change(&record)
            record.updated = state.clock
            state.records[peer] = record
            if state.records.count > capacity,
                let oldest = state.records.min(by: { $0.value.updated < $1.value.updated })?.key
            {
                state.records[oldest] = nil
            }
            guard record.identified, let waiting = state.waiters.removeValue(forKey: peer) else {
                return (record, [CheckedContinuation<Record?, Never>]())
            }
            return (record, Array(waiting.values))
        }
        for waiter in waiters { waiter.resume(returning: record) }
    }
}
