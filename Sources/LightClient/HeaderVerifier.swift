import Chain
import Codec
import Crypto

/// A header whose sequencer signature has been checked against the trust root.
public struct VerifiedHeader: Hashable, Sendable {
    public let header: BlockHeader
    public let hash: [UInt8]
    public let signature: [UInt8]

    public var number: UInt64 { header.number }
}

/// What the client trusts: the chain id, the sequencer's address, and the genesis hash (or a checkpoint).
public struct TrustRoot: Sendable, Equatable {
    public var chainId: UInt64
    public var sequencer: Address
    /// The hash of block 0, or of a checkpoint block the user vouches for.
    public var anchorHash: [UInt8]
    public var anchorNumber: UInt64

    public init(chainId: UInt64, sequencer: Address, anchorHash: [UInt8], anchorNumber: UInt64 = 0) {
        self.chainId = chainId
        self.sequencer = sequencer
        self.anchorHash = anchorHash
        self.anchorNumber = anchorNumber
    }

    /// The trust root of a network config: its chain id, sequencer and genesis hash (computed locally).
    public init(config: NetworkConfig) throws(ChainError) {
        self.init(
            chainId: config.chainId, sequencer: config.sequencer,
            anchorHash: try StateTransition.standard(config: config).genesis().block.hash)
    }
}

/// Pure signature checking: a header's RLP and the sequencer's signature become a `VerifiedHeader` or an error
/// naming what failed. No IO, so the same code checks heads from JSON-RPC and from gossip.
public struct HeaderVerifier: Sendable {
    public let trust: TrustRoot

    public init(trust: TrustRoot) { self.trust = trust }

    /// Decodes `rlp`, hashes it locally and checks that the sequencer signed that hash for this chain.
    public func verify(rlp: [UInt8], signature: [UInt8]) throws(LightClientError) -> VerifiedHeader {
        let header: BlockHeader
        do {
            header = try BlockHeader(rlp: rlp)
        } catch {
            throw .verificationFailed("header: \(error)")
        }
        let hash = Keccak256.hash(rlp)
        let signer: Address
        do {
            signer = try SequencerSignature.signer(of: signature, blockHash: hash, chainId: trust.chainId)
        } catch {
            throw .verificationFailed("sequencer signature of block \(header.number): \(error)")
        }
        guard signer == trust.sequencer else {
            throw .verificationFailed(
                "sequencer signature of block \(header.number) (chain \(trust.chainId)) recovers \(signer), not the sequencer \(trust.sequencer)"
            )
        }
        return VerifiedHeader(header: header, hash: hash, signature: signature)
    }
}
