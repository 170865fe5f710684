import Codec
import Foundation
import LightClient
import P2P
import Runtime

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
        { message, from in
            await withCheckedContinuation { continuation in
                // Accepting may fetch missing parents over JSON-RPC: it blocks, so it gets a thread of its own.
                let thread = Thread {
                    continuation.resume(returning: verdict(message.data, from: from, client, logger, onHead))
                }
                thread.start()
            }
        }
    }

    private static func verdict(
        _ data: [UInt8], from: PeerID, _ client: LightClient, _ logger: Logger,
        _ onHead: @Sendable (VerifiedHeader) -> Void
    ) -> GossipsubValidationResult {
        do throws(LightClientError) {
            let signed = try SignedHeadJSON.decode(data)
            let head = try client.verifier.verify(rlp: signed.rlp, signature: signed.signature)
            // A head no newer than the verified one is old news (gossip may reorder), not a fault.
            if let known = try client.knownHead(), head.number <= known.number { return .ignore }
            onHead(try client.accept(signed))
            return .accept
        } catch {
            switch error {
            case .transport, .storage, .rpc, .notIncluded:
                // Our own server or disk failed: not the sender's fault.
                logger.warning("gossiped head not checked", ["peer": "\(from)", "reason": "\(error)"])
                return .ignore
            case .malformedResponse, .verificationFailed:
                logger.warning("gossiped head refused", ["peer": "\(from)", "reason": "\(error)"])
                return .reject
            }
        }
    }
}
