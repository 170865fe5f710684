import Codec
import Synchronization

/// What the host knows of other peers: addresses it can dial them on, the protocols they announced in
/// identify, their agent and key. Bounded: past `capacity` peers the least recently updated is forgotten.
public final class PeerStore: Sendable {
    public struct Record: Equatable, Sendable {
        public var addresses: [Multiaddr] = []
        public var protocols: [String] = []
        public var agentVersion: String?
        public var publicKey: LibP2PPublicKey?
        var updated: UInt64 = 0
    }

    public let capacity: Int
    public static let maxAddressesPerPeer = 16
    private let state = Mutex<(records: [PeerID: Record], clock: UInt64)>(([:], 0))

    public init(capacity: Int = 4_096) { self.capacity = capacity }

    public func record(_ peer: PeerID) -> Record? { state.withLock { $0.records[peer] } }

    public var peers: [PeerID] { state.withLock { Array($0.records.keys) } }

    public func addAddress(_ address: Multiaddr, for peer: PeerID) {
        update(peer) { record in
            let plain = address.withoutPeer
            record.addresses.removeAll { $0 == plain }
            record.addresses.insert(plain, at: 0)
            if record.addresses.count > Self.maxAddressesPerPeer { record.addresses.removeLast() }
        }
    }

    /// Records what identify told about `peer`.
    public func apply(_ message: IdentifyMessage, for peer: PeerID) {
        update(peer) { record in
            record.protocols = Array(message.protocols.prefix(256))
            record.agentVersion = message.agentVersion
            record.publicKey = message.publicKey
            for address in message.listenAddresses.prefix(Self.maxAddressesPerPeer).reversed() {
                let plain = address.withoutPeer
                if !record.addresses.contains(plain) { record.addresses.append(plain) }
            }
            record.addresses = Array(record.addresses.prefix(Self.maxAddressesPerPeer))
        }
    }

    private func update(_ peer: PeerID, _ change: (inout Record) -> Void) {
        state.withLock { state in
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
        }
    }
}
