import AttributionRules
import Codec
import Crypto

/// The serving peer's signed receipt for one answer: request, response, adapter, tokens, price and sampling.
///
/// It is signed EIP-712 over the `AttributionClaims` domain (docs/economy.md). A claim carries one per answer; a
/// second receipt of the same peer for the same request with another response hash proves the wrong-response fraud.
public struct ServingReceipt: Hashable, Sendable {
    /// The hash of the request (the voucher's `requestHash`).
    public var requestHash: [UInt8]
    /// keccak256 of the response's bytes.
    public var responseHash: [UInt8]
    /// The `ModelRegistry` adapter that served the answer.
    public var adapterID: UInt256
    /// Prompt tokens.
    public var promptTokens: UInt64
    /// Completion tokens.
    public var completionTokens: UInt64
    /// The wei charged for the answer: the voucher's increment.
    public var price: UInt256
    /// Sampling temperature × 1000.
    public var temperatureMillis: UInt32
    /// Nucleus top-p × 1000.
    public var topPMillis: UInt32
    /// Top-k (0 for none).
    public var topK: UInt32
    /// The sampler's seed.
    public var seed: UInt64
    /// keccak256 of the answer's attribution proof as a claim carries it (compact form), or 32 zero bytes for an
    /// answer without attribution: the receipt binds the peer to one attribution.
    public var attributionRoot: [UInt8]

    /// The attribution root of an answer without attribution.
    public static let noAttribution = [UInt8](repeating: 0, count: 32)

    /// The attribution root of `proof`: keccak256 of its compact encoding (`ClaimItem`'s proof bytes).
    public static func attributionRoot(of proof: AttributionProof) -> [UInt8] {
        Keccak256.hash(ClaimCodec.compact(proof))
    }

    /// A receipt from its fields.
    public init(
        requestHash: [UInt8], responseHash: [UInt8], adapterID: UInt256, promptTokens: UInt64, completionTokens: UInt64,
        price: UInt256, temperatureMillis: UInt32, topPMillis: UInt32, topK: UInt32, seed: UInt64,
        attributionRoot: [UInt8] = ServingReceipt.noAttribution
    ) {
        self.attributionRoot = attributionRoot
        self.requestHash = requestHash
        self.responseHash = responseHash
        self.adapterID = adapterID
        self.promptTokens = promptTokens
        self.completionTokens = completionTokens
        self.price = price
        self.temperatureMillis = temperatureMillis
        self.topPMillis = topPMillis
        self.topK = topK
        self.seed = seed
    }

    /// The EIP-712 type string.
    public static let typeString =
        "Receipt(bytes32 requestHash,bytes32 responseHash,uint256 adapterId,uint64 promptTokens,uint64 completionTokens,uint256 price,uint32 temperatureMillis,uint32 topPMillis,uint32 topK,uint64 seed,bytes32 attributionRoot)"
    /// keccak256 of the type string.
    public static let typeHash = Keccak256.hash(Array(typeString.utf8))
    /// The domain name.
    public static let domainName = "OpenLedger AttributionClaims"
    /// The domain version.
    public static let domainVersion = "1"

    /// The digest the serving peer signs, for the claims contract `verifyingContract` on chain `chainId`.
    public func digest(chainId: UInt64, verifyingContract: Address) -> [UInt8] {
        let structHash = Keccak256.hash(
            Self.typeHash + requestHash + responseHash + adapterID.bigEndianBytes + UInt256(promptTokens).bigEndianBytes
                + UInt256(completionTokens).bigEndianBytes + price.bigEndianBytes
                + UInt256(temperatureMillis).bigEndianBytes + UInt256(topPMillis).bigEndianBytes
                + UInt256(topK).bigEndianBytes + UInt256(seed).bigEndianBytes + attributionRoot)
        let domain = PaymentVoucher.domainSeparator(
            name: Self.domainName, version: Self.domainVersion, chainId: chainId, verifyingContract: verifyingContract)
        return Keccak256.hash([0x19, 0x01] + domain + structHash)
    }

    /// The receipt as standard EIP-712 typed data (what `eth_signTypedData_v4` or eth-account signs).
    public func typedData(chainId: UInt64, verifyingContract: Address) -> EIP712TypedData {
        let fields: [(String, String)] = [
            ("requestHash", "bytes32"), ("responseHash", "bytes32"), ("adapterId", "uint256"),
            ("promptTokens", "uint64"), ("completionTokens", "uint64"), ("price", "uint256"),
            ("temperatureMillis", "uint32"), ("topPMillis", "uint32"), ("topK", "uint32"), ("seed", "uint64"),
            ("attributionRoot", "bytes32"),
        ]
        return EIP712TypedData(
            types: [
                "EIP712Domain": [
                    .init(name: "name", type: "string"), .init(name: "version", type: "string"),
                    .init(name: "chainId", type: "uint256"), .init(name: "verifyingContract", type: "address"),
                ],
                "Receipt": fields.map { .init(name: $0.0, type: $0.1) },
            ],
            primaryType: "Receipt",
            domain: [
                "name": .string(Self.domainName), "version": .string(Self.domainVersion),
                "chainId": .number(String(chainId)), "verifyingContract": .string(verifyingContract.lowercaseHex),
            ],
            message: [
                "requestHash": .string(Hex.encode(requestHash)), "responseHash": .string(Hex.encode(responseHash)),
                "adapterId": .number(adapterID.description), "promptTokens": .number(String(promptTokens)),
                "completionTokens": .number(String(completionTokens)), "price": .number(price.description),
                "temperatureMillis": .number(String(temperatureMillis)), "topPMillis": .number(String(topPMillis)),
                "topK": .number(String(topK)), "seed": .number(String(seed)),
                "attributionRoot": .string(Hex.encode(attributionRoot)),
            ])
    }

    /// Signs the receipt as the serving peer: 65 bytes r ‖ s ‖ v.
    public func sign(with key: Secp256k1PrivateKey, chainId: UInt64, verifyingContract: Address) throws(ChainError)
        -> [UInt8]
    {
        do {
            return try key.signRecoverable(digest: digest(chainId: chainId, verifyingContract: verifyingContract)).rsv
        } catch {
            throw .invalidSignature("\(error)")
        }
    }

    /// The address that signed `signature` over this receipt, or nil when it does not recover.
    public func signer(of signature: [UInt8], chainId: UInt64, verifyingContract: Address) -> Address? {
        guard
            let recovered = try? RecoverableSignature(rsv: signature)
                .recoverPublicKey(digest: digest(chainId: chainId, verifyingContract: verifyingContract))
        else { return nil }
        return try? Address(bytes: recovered.ethereumAddress)
    }

    /// The receipt's RLP form: its eleven fields in type order, integers minimal big-endian (as a claim item holds it).
    public var encoded: [UInt8] { RLP.encode(rlp) }

    /// Decodes a receipt's RLP form strictly.
    public init(encoded bytes: [UInt8]) throws(ChainError) {
        let item: RLPItem
        do {
            item = try RLP.decode(bytes)
        } catch {
            throw .refused(.malformedClaim("receipt: \(error)"))
        }
        try self.init(rlp: item)
    }

    /// RLP fields: [requestHash, responseHash, adapterId, promptTokens, completionTokens, price, temperatureMillis,
    /// topPMillis, topK, seed, attributionRoot].
    var rlp: RLPItem {
        .list([
            .bytes(requestHash), .bytes(responseHash), .bytes(adapterID.minimalBigEndianBytes),
            .bytes(UInt256(promptTokens).minimalBigEndianBytes),
            .bytes(UInt256(completionTokens).minimalBigEndianBytes),
            .bytes(price.minimalBigEndianBytes), .bytes(UInt256(temperatureMillis).minimalBigEndianBytes),
            .bytes(UInt256(topPMillis).minimalBigEndianBytes), .bytes(UInt256(topK).minimalBigEndianBytes),
            .bytes(UInt256(seed).minimalBigEndianBytes), .bytes(attributionRoot),
        ])
    }

    /// The receipt of its RLP fields.
    init(rlp item: RLPItem) throws(ChainError) {
        let fields = try ClaimCodec.list(item, count: 11, "receipt")
        requestHash = try ClaimCodec.bytes32(fields[0], "receipt requestHash")
        responseHash = try ClaimCodec.bytes32(fields[1], "receipt responseHash")
        adapterID = try ClaimCodec.uint(fields[2], "receipt adapterId")
        promptTokens = try ClaimCodec.uint64(fields[3], "receipt promptTokens")
        completionTokens = try ClaimCodec.uint64(fields[4], "receipt completionTokens")
        price = try ClaimCodec.uint(fields[5], "receipt price")
        temperatureMillis = try ClaimCodec.uint32(fields[6], "receipt temperatureMillis")
        topPMillis = try ClaimCodec.uint32(fields[7], "receipt topPMillis")
        topK = try ClaimCodec.uint32(fields[8], "receipt topK")
        seed = try ClaimCodec.uint64(fields[9], "receipt seed")
        attributionRoot = try ClaimCodec.bytes32(fields[10], "receipt attributionRoot")
    }
}
