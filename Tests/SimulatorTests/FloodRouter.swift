import Codec
import P2PProtocols
import Runtime
import Simulator

/// A tiny flood protocol speaking the gossipsub router's events and actions.
///
/// It signs what it publishes, checks every signature through the verifier it is given, validates, delivers once and forwards to every other peer,
/// and answers IWANT from everything it has seen. The engine's tests run on it, independently of the router.
struct FloodRouter: SimulatedRouter {
    let identity: LibP2PIdentity
    let local: PeerID
    let verifier: GossipsubRouter.SignatureVerifier
    var peers: [PeerID] = []
    var topics: [String] = []
    var seen: Set<GossipsubMessageID> = []
    var cache: [GossipsubMessageID: GossipsubMessage] = [:]
    var pending: [GossipsubMessageID: (GossipsubMessage, PeerID)] = [:]
    var sequence: UInt64 = 0

    init(
        local: LibP2PIdentity, config: GossipsubConfig, random: SeededRandom,
        verifier: GossipsubRouter.SignatureVerifier?
    ) {
        identity = local
        self.local = local.peerID
        self.verifier = verifier ?? { key, signature, message in key.isValidSignature(signature, for: message) }
    }

    static func id(_ message: GossipsubMessage) -> GossipsubMessageID {
        GossipsubMessageID((message.from ?? []) + (message.seqno ?? []))
    }

    static func signed(_ message: GossipsubMessage) -> [UInt8] {
        Array("flood:".utf8) + (message.seqno ?? []) + message.data
    }

    mutating func on(_ event: GossipsubRouter.Event, now: Instant) -> [GossipsubRouter.Action] {
        switch event {
        case .peerConnected(let peer, _, _, _):
            peers.append(peer)
            let subscriptions = topics.map { GossipsubRPC.Subscription(subscribe: true, topic: $0) }
            return subscriptions.isEmpty ? [] : [.send(to: peer, rpc: GossipsubRPC(subscriptions: subscriptions))]
        case .peerDisconnected(let peer):
            peers.removeAll { $0 == peer }
            return []
        case .subscribe(let topic):
            topics.append(topic)
            return []
        case .publish(let topic, let data):
            sequence += 1
            let seqno = (0..<8).map { UInt8(truncatingIfNeeded: sequence >> (56 - 8 * $0)) }
            var message = GossipsubMessage(from: local.multihash.bytes, data: data, seqno: seqno, topic: topic)
            message.signature = try? identity.sign(Self.signed(message))
            let id = Self.id(message)
            seen.insert(id)
            cache[id] = message
            return [.published(id)] + peers.map { .send(to: $0, rpc: GossipsubRPC(messages: [message])) }
        case .receivedRPC(let from, let rpc, _):
            var actions: [GossipsubRouter.Action] = []
            for message in rpc.messages {
                let id = Self.id(message)
                guard seen.insert(id).inserted else { continue }
                guard let author = try? PeerID(multihashBytes: message.from ?? []), let key = author.publicKey,
                    let signature = message.signature, verifier(key, signature, Self.signed(message))
                else { continue }
                pending[id] = (message, from)
                actions.append(.validate(message, id: id, from: from))
            }
            for ids in rpc.control?.iwant ?? [] {
                let found = ids.compactMap { cache[$0] }
                if !found.isEmpty { actions.append(.send(to: from, rpc: GossipsubRPC(messages: found))) }
            }
            return actions
        case .validated(let id, let result):
            guard let (message, from) = pending.removeValue(forKey: id), result == .accept else { return [] }
            cache[id] = message
            return [.deliver(message, id: id, from: from)]
                + peers.filter { $0 != from }.map { .send(to: $0, rpc: GossipsubRPC(messages: [message])) }
        default:
            return []
        }
    }
}
