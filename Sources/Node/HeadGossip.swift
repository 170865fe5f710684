import Codec
import Foundation
import LightClient
import P2P
import Runtime
import Synchronization

/// The network's gossip topics and the validation of what they carry.
public enum NetworkTopics {
    /// `/openledger/<chainId>/blocks/1`: signed heads, as `ol_getSignedHead` gives them.
    public static func blocks(chainId: UInt64) -> String { "/openledger/\(chainId)/blocks/1" }

    /// `/openledger/<chainId>/announce/1`: announcements of Datanet snapshots, adapters and reward claims
    /// (schemas in docs/gossip-topics.md).
    public static func announce(chainId: UInt64) -> String { "/openledger/\(chainId)/announce/1" }
}

/// Signed heads from gossip, accepted by the light client exactly as heads from JSON-RPC are.
public enum HeadGossip {
    /// The validator of the blocks topic: a head that `client` verifies and records is accepted (and goes to
    /// `onHead`); one that does not verify is rejected with the reason logged (the router then penalizes the
    /// peer that sent it); a head no newer than the verified one, or one our own server or disk could not check,
    /// is ignored (no penalty, no forwarding).
    public static func validator(
        client: LightClient, logger: Logger, onHead: @escaping @Sendable (VerifiedHeader) -> Void = { _ in }
    ) -> Gossip.Validator {
        let waiting = HeadsAwaitingParents()
        return { message, from in
            await withCheckedContinuation { continuation in
                // Accepting may fetch missing parents over JSON-RPC: it blocks, so it gets a thread of its own.
                let thread = Thread {
                    // One at a time: each verdict reads the verified head and may extend it.
                    let result = waiting.serially { verdict(message.data, from: from, client, logger, onHead, waiting) }
                    continuation.resume(returning: result)
                }
                thread.start()
            }
        }
    }

    private static func verdict(
        _ data: [UInt8], from: PeerID, _ client: LightClient, _ logger: Logger,
        _ onHead: @Sendable (VerifiedHeader) -> Void, _ waiting: HeadsAwaitingParents
    ) -> GossipsubValidationResult {
        var checked: (signed: (rlp: [UInt8], signature: [UInt8], chainId: UInt64?), number: UInt64)?
        do throws(LightClientError) {
            let signed = try SignedHeadJSON.decode(data)
            let head = try client.verifier.verify(rlp: signed.rlp, signature: signed.signature)
            checked = (signed, head.number)
            // A head no newer than the verified one is old news (gossip may reorder), not a fault.
            if let known = try client.knownHead(), head.number <= known.number { return .ignore }
            var accepted = try client.accept(signed)
            onHead(accepted)
            // Heads that came before this one, their parent, can link now.
            while let next = waiting.take(after: accepted.number) {
                guard let linked = try? client.accept(next) else { break }
                onHead(linked)
                accepted = linked
            }
            return .accept
        } catch {
            switch error {
            case .transport, .storage, .rpc, .notIncluded:
                // Our own server or disk failed: not the sender's fault. Validations run concurrently, so a head
                // may be checked before the one it links to: it waits for it (a peer without a server has no other
                // way to fill the gap).
                if let checked, let known = try? client.knownHead(), checked.number > known.number + 1 {
                    waiting.keep(checked.signed, number: checked.number, above: known.number)
                }
                logger.warning("gossiped head not checked", ["peer": "\(from)", "reason": "\(error)"])
                return .ignore
            case .malformedResponse, .verificationFailed:
                logger.warning("gossiped head refused", ["peer": "\(from)", "reason": "\(error)"])
                return .reject
            }
        }
    }
}

/// Sequencer-signed heads from gossip that could not be linked to the verified chain without a server, by number,
/// until the head before each is verified; at most `capacity`, the lowest kept.
final class HeadsAwaitingParents: Sendable {
    /// The most heads kept.
    static let capacity = 64

    private let heads = Mutex<[UInt64: (rlp: [UInt8], signature: [UInt8], chainId: UInt64?)]>([:])
    private let turn = Mutex<Void>(())

    /// Runs `body` while no other verdict of this validator runs.
    func serially<Result>(_ body: () -> Result) -> Result { turn.withLock { _ in body() } }

    /// Keeps `signed` (block `number`), forgetting the heads at or below `known` and the highest beyond capacity.
    func keep(_ signed: (rlp: [UInt8], signature: [UInt8], chainId: UInt64?), number: UInt64, above known: UInt64) {
        heads.withLock { heads in
            heads = heads.filter { $0.key > known }
            heads[number] = signed
            while heads.count > Self.capacity, let highest = heads.keys.max() { heads[highest] = nil }
        }
    }

    /// Removes and returns the head right after block `number`, forgetting those at or below it.
    func take(after number: UInt64) -> (rlp: [UInt8], signature: [UInt8], chainId: UInt64?)? {
        heads.withLock { heads in
            guard !heads.isEmpty else { return nil }
            heads = heads.filter { $0.key > number }
            return heads.removeValue(forKey: number + 1)
        }
    }
}
