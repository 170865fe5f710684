import Chain
import Codec
import Crypto
import Foundation
import Runtime
import SQLite
import Synchronization

/// Where signed heads come from: JSON-RPC now, gossip later; the client verifies both the same way.
public protocol HeadSource: Sendable {
    /// The newest signed head: header RLP, sequencer signature, and the chain id the source claims.
    func latestSignedHead() throws(LightClientError) -> (rlp: [UInt8], signature: [UInt8], chainId: UInt64?)
    /// The signed header at `number`, if the source has it.
    func signedHeader(_ number: UInt64) throws(LightClientError) -> (rlp: [UInt8], signature: [UInt8])?
}

/// A signed head as `ol_getSignedHead` returns it and the blocks gossip topic carries it: a JSON object with
/// `rlp`, `signature` and `chainId` (and the decoded `header`, which is not trusted).
public enum SignedHeadJSON {
    /// The most bytes a signed head may take.
    public static let maxBytes = 64 * 1024

    /// The head's parts from the JSON object's bytes; malformed or oversized input is a `malformedResponse`.
    public static func decode(_ bytes: [UInt8]) throws(LightClientError) -> (
        rlp: [UInt8], signature: [UInt8], chainId: UInt64?
    ) {
        guard bytes.count <= maxBytes else {
            throw .malformedResponse("signed head of \(bytes.count) bytes exceeds \(maxBytes)")
        }
        let parsed: Any
        do {
            parsed = try JSONSerialization.jsonObject(with: Data(bytes))
        } catch {
            throw .malformedResponse("signed head is not JSON")
        }
        let object = try RPCValues.object(parsed, "signed head")
        return (
            try RPCValues.bytes(object["rlp"], "head rlp"), try RPCValues.bytes(object["signature"], "head signature"),
            try object["chainId"].map { value throws(LightClientError) in try RPCValues.uint64(value, "head chainId") }
        )
    }

    /// The JSON object's bytes for a head (the form `ol_getSignedHead` returns, without the decoded header).
    public static func encode(rlp: [UInt8], signature: [UInt8], chainId: UInt64) -> [UInt8] {
        Array(
            "{\"rlp\":\"\(Hex.encode(rlp))\",\"signature\":\"\(Hex.encode(signature))\",\"chainId\":\"0x\(String(chainId, radix: 16))\"}"
                .utf8)
    }
}

/// Signed heads from `ol_getSignedHead` and `ol_getBlockSignature`.
public struct RPCHeadSource: HeadSource {
    /// The server asked.
    public let rpc: RPCClient

    /// Heads from the server behind `rpc`.
    public init(rpc: RPCClient) { self.rpc = rpc }

    /// The server's newest signed head, from `ol_getSignedHead`.
    public func latestSignedHead() throws(LightClientError) -> (rlp: [UInt8], signature: [UInt8], chainId: UInt64?) {
        let result = try RPCValues.object(try rpc.call("ol_getSignedHead"), "ol_getSignedHead")
        return (
            try RPCValues.bytes(result["rlp"], "head rlp"), try RPCValues.bytes(result["signature"], "head signature"),
            try result["chainId"].map { value throws(LightClientError) in try RPCValues.uint64(value, "head chainId") }
        )
    }

    /// The signed header at `number`, from `ol_getBlockSignature`; nil if the server has no such block.
    public func signedHeader(_ number: UInt64) throws(LightClientError) -> (rlp: [UInt8], signature: [UInt8])? {
        let result = try rpc.call("ol_getBlockSignature", [UInt256(number).hexQuantity])
        if result is NSNull { return nil }
        let object = try RPCValues.object(result, "ol_getBlockSignature")
        return (try RPCValues.bytes(object["rlp"], "header rlp"), try RPCValues.bytes(object["signature"], "signature"))
    }
}

/// A light client of the L2.
///
/// Every value it returns was checked: heads by the sequencer's signature and the trust root, state by Merkle proofs
/// against a verified header's state root, receipts by rebuilding the receipts root. A server that lies is reported
/// with what failed.
public final class LightClient: Sendable {
    /// What the client trusts: chain id, sequencer and anchor block.
    public let trust: TrustRoot
    /// The signature checker built from `trust`.
    public let verifier: HeaderVerifier
    /// The server that proofs, receipts and transactions are asked of.
    public let rpc: RPCClient
    /// Where new signed heads come from.
    public let headSource: any HeadSource
    /// The verified headers kept so far.
    public let headers: HeaderStore
    /// How far back the client walks parent links to connect a new head to the verified chain.
    public static let maxWalkBack: UInt64 = 256
    /// Where the client's time comes from: deadlines and poll intervals of `waitForInclusion`.
    public let clock: any Runtime.Clock
    let nextNonces = Mutex<[Address: UInt64]>([:])

    /// A client of `rpc` that trusts `trust`, keeping verified headers at `storePath` (in memory when nil) and
    /// reading time from `clock`.
    public init(
        trust: TrustRoot, rpc: RPCClient, headSource: (any HeadSource)? = nil, storePath: String? = nil,
        clock: any Runtime.Clock = SystemClock()
    ) throws(LightClientError) {
        self.trust = trust
        self.clock = clock
        verifier = HeaderVerifier(trust: trust)
        self.rpc = rpc
        self.headSource = headSource ?? RPCHeadSource(rpc: rpc)
        do {
            headers = try HeaderStore(path: storePath)
        } catch {
            throw .storage(error)
        }
    }

    // MARK: Heads

    /// The newest verified head known locally, or nil before the first sync.
    public func knownHead() throws(LightClientError) -> VerifiedHeader? {
        do {
            return try headers.head()
        } catch {
            throw .storage(error)
        }
    }

    private func stored(_ number: UInt64) throws(LightClientError) -> VerifiedHeader? {
        do {
            return try headers.header(number)
        } catch {
            throw .storage(error)
        }
    }

    private func remember(_ header: VerifiedHeader) throws(LightClientError) {
        do {
            try headers.put(header)
        } catch {
            throw .storage(error)
        }
    }

    /// Fetches, verifies and records the signed head: chain id, sequencer signature, the trust anchor, and
    /// parent links back to the verified chain (a head behind the verified one is refused as a replay).
    @discardableResult
    public func syncHead() throws(LightClientError) -> VerifiedHeader {
        try accept(try headSource.latestSignedHead())
    }

    /// Verifies and records a signed head that arrived by any route (JSON-RPC, gossip) exactly as `syncHead`
    /// does: chain id, sequencer signature, the trust anchor, parent links (missing parents are fetched from
    /// `headSource`); a head behind the verified one is refused as a replay.
    @discardableResult
    public func accept(
        _ signed: (rlp: [UInt8], signature: [UInt8], chainId: UInt64?)
    ) throws(LightClientError) -> VerifiedHeader {
        if let claimed = signed.chainId, claimed != trust.chainId {
            throw .verificationFailed("head from chain id \(claimed), this client follows chain \(trust.chainId)")
        }
        let head = try verifier.verify(rlp: signed.rlp, signature: signed.signature)
        guard let known = try knownHead() else {
            try checkAnchor(head)
            try remember(head)
            return head
        }
        guard head.number >= known.number else {
            throw .verificationFailed(
                "replayed old head: block \(head.number) is behind the verified head \(known.number)")
        }
        if head.number == known.number && head.hash == known.hash { return known }
        // Walk back by parent links until the new chain meets a verified header (or the walk limit).
        var segment = [head]
        var child = head
        while child.number > 0 && segment.count < Int(Self.maxWalkBack) {
            let number = child.number - 1
            if let ours = try stored(number), ours.hash == child.header.parentHash { break }
            guard let fetched = try headSource.signedHeader(number) else {
                throw .verificationFailed("server has no header \(number) to link head \(head.number)")
            }
            let parent = try verifier.verify(rlp: fetched.rlp, signature: fetched.signature)
            guard parent.number == number, parent.hash == child.header.parentHash else {
                throw .verificationFailed(
                    "parent link broken at block \(number): header hash differs from block \(child.number)'s parentHash"
                )
            }
            segment.append(parent)
            child = parent
            if number <= trust.anchorNumber {
                try checkAnchor(parent)
                break
            }
        }
        // A reorg of the unsafe head replaces the verified headers it supersedes.
        do {
            try headers.truncate(from: segment.last!.number)
        } catch {
            throw .storage(error)
        }
        for header in segment.reversed() { try remember(header) }
        return head
    }

    /// The anchor (genesis or checkpoint) must be the block the trust root names.
    private func checkAnchor(_ head: VerifiedHeader) throws(LightClientError) {
        let anchor: VerifiedHeader
        if head.number == trust.anchorNumber {
            anchor = head
        } else {
            guard head.number > trust.anchorNumber, let fetched = try headSource.signedHeader(trust.anchorNumber) else {
                throw .verificationFailed(
                    "cannot reach the trusted block \(trust.anchorNumber) from head \(head.number)")
            }
            anchor = try verifier.verify(rlp: fetched.rlp, signature: fetched.signature)
        }
        guard anchor.hash == trust.anchorHash else {
            throw .verificationFailed(
                "block \(trust.anchorNumber) is \(Hex.encode(anchor.hash)), the trust root says \(Hex.encode(trust.anchorHash))"
            )
        }
        try remember(anchor)
    }

    /// The verified header at `number`: from the window, or fetched and checked by its signature.
    public func header(_ number: UInt64) throws(LightClientError) -> VerifiedHeader {
        if let known = try stored(number) { return known }
        guard let fetched = try headSource.signedHeader(number) else {
            throw .verificationFailed("server has no header \(number)")
        }
        let header = try verifier.verify(rlp: fetched.rlp, signature: fetched.signature)
        guard header.number == number else {
            throw .verificationFailed("asked for header \(number), got a signed header for \(header.number)")
        }
        return header
    }

    /// The head to read state at: the known one, or a fresh sync.
    public func currentHead() throws(LightClientError) -> VerifiedHeader {
        if let known = try knownHead() { return known }
        return try syncHead()
    }
}
