import Codec
import Crypto

/// The sequencer's signature of a block: secp256k1 over keccak256(0^32 ‖ chainId (uint256) ‖ blockHash). The
/// devnet signs with it, light clients check heads with it; the leading zero word keeps the digest apart from
/// any transaction or EIP-712 hash.
public enum SequencerSignature {
    /// The digest the sequencer signs for block `blockHash` of chain `chainId`.
    public static func digest(blockHash: [UInt8], chainId: UInt64) -> [UInt8] {
        Keccak256.hash([UInt8](repeating: 0, count: 32) + UInt256(chainId).bigEndianBytes + blockHash)
    }

    /// Signs block `blockHash` of chain `chainId`: 65 bytes r ‖ s ‖ v.
    public static func sign(blockHash: [UInt8], chainId: UInt64, key: Secp256k1PrivateKey) throws(CryptoError)
        -> [UInt8]
    {
        try key.signRecoverable(digest: digest(blockHash: blockHash, chainId: chainId)).rsv
    }

    /// The address whose key made `signature` over block `blockHash` of chain `chainId`.
    public static func signer(of signature: [UInt8], blockHash: [UInt8], chainId: UInt64) throws(CryptoError)
        -> Address
    {
        let recovered = try RecoverableSignature(rsv: signature)
            .recoverPublicKey(digest: digest(blockHash: blockHash, chainId: chainId))
        return try! Address(bytes: recovered.ethereumAddress)
    }
}
