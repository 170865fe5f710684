import Codec
import Crypto

/// A micro-payment voucher: the payer's EIP-712 signature over {channelId, cumulativeAmount, requestHash},
/// redeemable on `PaymentChannels` for the increase over what the channel has already paid.
public struct PaymentVoucher: Hashable, Sendable {
    /// The channel the voucher draws on.
    public var channelID: [UInt8]
    /// The total the payer has authorized on the channel so far, in wei.
    public var cumulativeAmount: UInt256
    /// The hash of the request this voucher pays for.
    public var requestHash: [UInt8]

    /// A voucher for `cumulativeAmount` on channel `channelID`.
    public init(channelID: [UInt8], cumulativeAmount: UInt256, requestHash: [UInt8]) {
        self.channelID = channelID
        self.cumulativeAmount = cumulativeAmount
        self.requestHash = requestHash
    }

    /// The EIP-712 type: `Voucher(bytes32 channelId,uint256 cumulativeAmount,bytes32 requestHash)`.
    public static let typeHash = Keccak256.hash(
        Array("Voucher(bytes32 channelId,uint256 cumulativeAmount,bytes32 requestHash)".utf8))
    static let domainTypeHash = Keccak256.hash(
        Array("EIP712Domain(string name,string version,uint256 chainId,address verifyingContract)".utf8))
    /// The domain name and version.
    public static let domainName = "OpenLedger PaymentChannels"
    /// The EIP-712 domain version.
    public static let domainVersion = "1"

    /// The domain separator for the channels contract on chain `chainId`.
    public static func domainSeparator(chainId: UInt64, verifyingContract: Address) -> [UInt8] {
        domainSeparator(
            name: domainName, version: domainVersion, chainId: chainId, verifyingContract: verifyingContract)
    }

    /// The EIP-712 domain separator of {name, version, chainId, verifyingContract}: the one encoding of the domains of
    /// vouchers and serving receipts.
    static func domainSeparator(name: String, version: String, chainId: UInt64, verifyingContract: Address)
        -> [UInt8]
    {
        Keccak256.hash(
            domainTypeHash + Keccak256.hash(Array(name.utf8)) + Keccak256.hash(Array(version.utf8))
                + UInt256(chainId).bigEndianBytes + [UInt8](repeating: 0, count: 12) + verifyingContract.bytes)
    }

    /// The digest the payer signs.
    public func digest(chainId: UInt64, verifyingContract: Address) -> [UInt8] {
        digest(domainSeparator: Self.domainSeparator(chainId: chainId, verifyingContract: verifyingContract))
    }

    /// The digest the payer signs, under a domain separator computed once (`domainSeparator(chainId:…)`).
    public func digest(domainSeparator: [UInt8]) -> [UInt8] {
        let structHash = Keccak256.hash(Self.typeHash + channelID + cumulativeAmount.bigEndianBytes + requestHash)
        return Keccak256.hash([0x19, 0x01] + domainSeparator + structHash)
    }

    /// The address that signed `signature` under a domain separator computed once; nil when it does not recover.
    public func signer(of signature: [UInt8], domainSeparator: [UInt8]) -> Address? {
        guard
            let recovered = try? RecoverableSignature(rsv: signature)
                .recoverPublicKey(digest: digest(domainSeparator: domainSeparator))
        else { return nil }
        return try? Address(bytes: recovered.ethereumAddress)
    }

    /// The voucher as standard EIP-712 typed data (what a wallet's `eth_signTypedData_v4` signs).
    public func typedData(chainId: UInt64, verifyingContract: Address) -> EIP712TypedData {
        EIP712TypedData(
            types: [
                "EIP712Domain": [
                    .init(name: "name", type: "string"), .init(name: "version", type: "string"),
                    .init(name: "chainId", type: "uint256"), .init(name: "verifyingContract", type: "address"),
                ],
                "Voucher": [
                    .init(name: "channelId", type: "bytes32"), .init(name: "cumulativeAmount", type: "uint256"),
                    .init(name: "requestHash", type: "bytes32"),
                ],
            ],
            primaryType: "Voucher",
            domain: [
                "name": .string(Self.domainName), "version": .string(Self.domainVersion),
                "chainId": .number(String(chainId)), "verifyingContract": .string(verifyingContract.lowercaseHex),
            ],
            message: [
                "channelId": .string(Hex.encode(channelID)), "cumulativeAmount": .number(cumulativeAmount.description),
                "requestHash": .string(Hex.encode(requestHash)),
            ])
    }

    /// Signs the voucher as the payer: 65 bytes r ‖ s ‖ v.
    public func sign(with key: Secp256k1PrivateKey, chainId: UInt64, verifyingContract: Address) throws(ChainError)
        -> [UInt8]
    {
        do {
            return try key.signRecoverable(digest: digest(chainId: chainId, verifyingContract: verifyingContract)).rsv
        } catch {
            throw .invalidSignature("\(error)")
        }
    }

    /// The address that signed `signature` over this voucher.
    public func signer(of signature: [UInt8], chainId: UInt64, verifyingContract: Address) throws(ChainError)
        -> Address
    {
        do {
            let recovered = try RecoverableSignature(rsv: signature)
                .recoverPublicKey(digest: digest(chainId: chainId, verifyingContract: verifyingContract))
            return try Address(bytes: recovered.ethereumAddress)
        } catch {
            throw .invalidSignature("voucher signature: \(error)")
        }
    }
}
