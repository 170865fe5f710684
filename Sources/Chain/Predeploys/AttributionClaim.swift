import AttributionRules
import Codec
import Crypto

/// One paid answer of a claim: the payer's voucher, the serving peer's receipt, the response's bytes and the PoA-SA v1
/// proof.
///
/// Binary form (RLP): [channelId, cumulativeAmount, voucherSignature, receipt, receiptSignature, response, proof],
/// the receipt as `ServingReceipt`'s ten fields and the proof as `AttributionProof.encoded` with every Merkle path node
/// that is the empty subtree of its level (`SnapshotMerkleTree.zeroHashes`) written as the empty string; the voucher's
/// request hash is the receipt's. A claim is the RLP list of its items' encodings.
public struct ClaimItem: Equatable, Sendable {
    /// The channel the voucher draws on.
    public var channelID: [UInt8]
    /// The voucher's cumulative amount.
    public var cumulativeAmount: UInt256
    /// The payer's voucher signature (65 bytes).
    public var voucherSignature: [UInt8]
    /// The serving peer's receipt.
    public var receipt: ServingReceipt
    /// The serving peer's receipt signature (65 bytes).
    public var receiptSignature: [UInt8]
    /// The response's bytes.
    public var response: [UInt8]
    /// The attribution proof of the response.
    public var proof: AttributionProof

    /// An item from its parts.
    public init(
        channelID: [UInt8], cumulativeAmount: UInt256, voucherSignature: [UInt8], receipt: ServingReceipt,
        receiptSignature: [UInt8], response: [UInt8], proof: AttributionProof
    ) {
        self.channelID = channelID
        self.cumulativeAmount = cumulativeAmount
        self.voucherSignature = voucherSignature
        self.receipt = receipt
        self.receiptSignature = receiptSignature
        self.response = response
        self.proof = proof
    }

    /// An item signed by the payer (its voucher for `cumulativeAmount` on `channelID`) and the serving peer (its
    /// receipt), as a peer builds it.
    public static func signed(
        channelID: [UInt8], cumulativeAmount: UInt256, payer: Secp256k1PrivateKey, receipt: ServingReceipt,
        servingPeer: Secp256k1PrivateKey, response: [UInt8], proof: AttributionProof, chainId: UInt64,
        channels: Address = PaymentChannels.defaultAddress, claims: Address = AttributionClaims.defaultAddress
    ) throws(ChainError) -> ClaimItem {
        let voucher = PaymentVoucher(
            channelID: channelID, cumulativeAmount: cumulativeAmount, requestHash: receipt.requestHash)
        return ClaimItem(
            channelID: channelID, cumulativeAmount: cumulativeAmount,
            voucherSignature: try voucher.sign(with: payer, chainId: chainId, verifyingContract: channels),
            receipt: receipt,
            receiptSignature: try receipt.sign(with: servingPeer, chainId: chainId, verifyingContract: claims),
            response: response, proof: proof)
    }

    /// The bytes the item's proof takes in the claim (its compact form).
    public var proofBytes: Int { ClaimCodec.compact(proof).count }

    /// The voucher the item redeems.
    public var voucher: PaymentVoucher {
        PaymentVoucher(channelID: channelID, cumulativeAmount: cumulativeAmount, requestHash: receipt.requestHash)
    }

    /// The item's RLP form.
    public var encoded: [UInt8] {
        RLP.encode(
            .list([
                .bytes(channelID), .bytes(cumulativeAmount.minimalBigEndianBytes), .bytes(voucherSignature),
                receipt.rlp, .bytes(receiptSignature), .bytes(response), .bytes(ClaimCodec.compact(proof)),
            ]))
    }

    /// Decodes one item strictly.
    public init(encoded bytes: [UInt8]) throws(ChainError) {
        let item: RLPItem
        do {
            item = try RLP.decode(bytes)
        } catch {
            throw .refused(.malformedClaim("item: \(error)"))
        }
        try self.init(rlp: item)
    }

    init(rlp item: RLPItem) throws(ChainError) {
        let fields = try ClaimCodec.list(item, count: 7, "item")
        channelID = try ClaimCodec.bytes32(fields[0], "channelId")
        cumulativeAmount = try ClaimCodec.uint(fields[1], "cumulativeAmount")
        voucherSignature = try ClaimCodec.bytes(fields[2], "voucher signature", count: 65)
        receipt = try ServingReceipt(rlp: fields[3])
        receiptSignature = try ClaimCodec.bytes(fields[4], "receipt signature", count: 65)
        response = try ClaimCodec.bytes(fields[5], "response")
        guard response.count <= ClaimCodec.maxResponseBytes else {
            throw .refused(.malformedClaim("response of \(response.count) bytes"))
        }
        proof = try ClaimCodec.expand(try ClaimCodec.bytes(fields[6], "proof"))
    }

    /// The RLP form of a claim of `items`.
    public static func encodeClaim(_ items: [ClaimItem]) -> [UInt8] {
        RLP.encodeList(encoded: items.map(\.encoded))
    }

    /// The items of a claim's bytes, with each item's canonical encoding (what the ledger hashes).
    public static func decodeClaim(_ bytes: [UInt8], maximum: Int) throws(ChainError) -> [(
        item: ClaimItem, encoded: [UInt8]
    )] {
        let root: RLPItem
        do {
            root = try RLP.decode(bytes)
        } catch {
            throw .refused(.malformedClaim("\(error)"))
        }
        guard case .list(let entries) = root else { throw .refused(.malformedClaim("a claim is a list of items")) }
        guard !entries.isEmpty, entries.count <= maximum else {
            throw .refused(.claimSize(items: entries.count, maximum: maximum))
        }
        var items: [(item: ClaimItem, encoded: [UInt8])] = []
        for entry in entries {
            let item = try ClaimItem(rlp: entry)
            items.append((item, RLP.encode(entry)))
        }
        return items
    }
}

/// The five fraud proofs a challenger may bring against a claim's item.
public enum FraudKind: UInt8, CaseIterable, Sendable {
    /// The record credited for a span does not hold its bytes first at the claimed offset.
    case badSpan = 0
    /// A record holds a match of at least L longer than the span list implies.
    case shortOrMissingSpan = 1
    /// A record holding a span's bytes is owed a credit the span does not give it.
    case wrongCredit = 2
    /// The weights recomputed from the proof's spans differ from the claimed ones.
    case wrongArithmetic = 3
    /// The serving peer signed a receipt for the same request with another response hash.
    case wrongResponse = 4
}

/// The evidence of a challenge, by kind.
///
/// Binary form (RLP): badSpan [spanIndex, witness]; shortOrMissingSpan [position, length, offset, witness];
/// wrongCredit [spanIndex, offset, witness]; wrongArithmetic []; wrongResponse [receipt, receiptSignature]; a witness
/// is [index, contributor, bytes, [path…]].
public enum FraudEvidence: Equatable, Sendable {
    /// See `FraudKind.badSpan`.
    case badSpan(span: Int, witness: AttributionWitness)
    /// See `FraudKind.shortOrMissingSpan`.
    case shortOrMissingSpan(position: Int, length: Int, offset: UInt64, witness: AttributionWitness)
    /// See `FraudKind.wrongCredit`.
    case wrongCredit(span: Int, offset: UInt64, witness: AttributionWitness)
    /// See `FraudKind.wrongArithmetic`.
    case wrongArithmetic
    /// See `FraudKind.wrongResponse`.
    case wrongResponse(receipt: ServingReceipt, signature: [UInt8])

    /// The evidence's kind.
    public var kind: FraudKind {
        switch self {
        case .badSpan: .badSpan
        case .shortOrMissingSpan: .shortOrMissingSpan
        case .wrongCredit: .wrongCredit
        case .wrongArithmetic: .wrongArithmetic
        case .wrongResponse: .wrongResponse
        }
    }

    /// The RLP form (without the kind, which the call names).
    public var encoded: [UInt8] {
        func number(_ value: some BinaryInteger) -> RLPItem { .bytes(UInt256(value).minimalBigEndianBytes) }
        func witness(_ w: AttributionWitness) -> RLPItem {
            .list([number(w.index), .bytes(w.contributor.bytes), .bytes(w.bytes), .list(w.path.map { .bytes($0) })])
        }
        switch self {
        case .badSpan(let span, let w): return RLP.encode(.list([number(span), witness(w)]))
        case .shortOrMissingSpan(let position, let length, let offset, let w):
            return RLP.encode(.list([number(position), number(length), number(offset), witness(w)]))
        case .wrongCredit(let span, let offset, let w):
            return RLP.encode(.list([number(span), number(offset), witness(w)]))
        case .wrongArithmetic: return RLP.encode(.list([]))
        case .wrongResponse(let receipt, let signature): return RLP.encode(.list([receipt.rlp, .bytes(signature)]))
        }
    }

    /// Decodes evidence of `kind` strictly.
    public init(kind: FraudKind, encoded bytes: [UInt8]) throws(ChainError) {
        let item: RLPItem
        do {
            item = try RLP.decode(bytes)
        } catch {
            throw .refused(.malformedEvidence("\(error)"))
        }
        func fail(_ why: String) -> ChainError { .refused(.malformedEvidence(why)) }
        func small(_ item: RLPItem, _ what: String) throws(ChainError) -> Int {
            guard let value = Int(exactly: try ClaimCodec.uint64(item, what)), value <= Int(Int32.max) else {
                throw fail("\(what) out of range")
            }
            return value
        }
        func witness(_ item: RLPItem) throws(ChainError) -> AttributionWitness {
            let fields = try ClaimCodec.list(item, count: 4, "witness")
            let contributor: Address
            do {
                contributor = try Address(bytes: try ClaimCodec.bytes(fields[1], "witness contributor", count: 20))
            } catch let error as ChainError {
                throw error
            } catch {
                throw fail("witness contributor")
            }
            let bytes = try ClaimCodec.bytes(fields[2], "witness bytes")
            guard bytes.count <= ClaimCodec.maxRecordBytes else { throw fail("witness of \(bytes.count) bytes") }
            guard case .list(let nodes) = fields[3], nodes.count == SnapshotMerkleTree.depth else {
                throw fail("witness path")
            }
            var path: [[UInt8]] = []
            for node in nodes { path.append(try ClaimCodec.bytes32(node, "witness path node")) }
            return AttributionWitness(
                index: try ClaimCodec.uint64(fields[0], "witness index"), contributor: contributor, bytes: bytes,
                path: path)
        }
        do {
            switch kind {
            case .badSpan:
                let fields = try ClaimCodec.list(item, count: 2, "evidence")
                self = .badSpan(span: try small(fields[0], "span"), witness: try witness(fields[1]))
            case .shortOrMissingSpan:
                let fields = try ClaimCodec.list(item, count: 4, "evidence")
                self = .shortOrMissingSpan(
                    position: try small(fields[0], "position"), length: try small(fields[1], "length"),
                    offset: try ClaimCodec.uint64(fields[2], "offset"), witness: try witness(fields[3]))
            case .wrongCredit:
                let fields = try ClaimCodec.list(item, count: 3, "evidence")
                self = .wrongCredit(
                    span: try small(fields[0], "span"), offset: try ClaimCodec.uint64(fields[1], "offset"),
                    witness: try witness(fields[2]))
            case .wrongArithmetic:
                _ = try ClaimCodec.list(item, count: 0, "evidence")
                self = .wrongArithmetic
            case .wrongResponse:
                let fields = try ClaimCodec.list(item, count: 2, "evidence")
                self = .wrongResponse(
                    receipt: try ServingReceipt(rlp: fields[0]),
                    signature: try ClaimCodec.bytes(fields[1], "receipt signature", count: 65))
            }
        } catch .refused(.malformedClaim(let why)) {
            throw fail(why)
        }
    }
}

/// Strict RLP field readers for claims and evidence: each failure is a typed `malformedClaim`.
enum ClaimCodec {
    /// The proof's binary form with each path node that is its level's empty-subtree hash written as the empty string:
    /// a path in a snapshot of n records carries about log2(n) real nodes of its 32, so this keeps only those.
    static func compact(_ proof: AttributionProof) -> [UInt8] {
        RLP.encode(
            mapPaths(try! RLP.decode(proof.encoded)) { level, node in
                node == SnapshotMerkleTree.zeroHashes[level] ? [] : node
            })
    }

    /// The proof of its compact form (the empty string at level d is the empty-subtree hash Z_d).
    static func expand(_ bytes: [UInt8]) throws(ChainError) -> AttributionProof {
        do {
            let expanded = mapPaths(try RLP.decode(bytes)) { level, node in
                node.isEmpty ? SnapshotMerkleTree.zeroHashes[level] : node
            }
            return try AttributionProof(encoded: RLP.encode(expanded))
        } catch {
            throw .refused(.malformedClaim("proof: \(error)"))
        }
    }

    /// The proof's RLP with `change` applied to each node of each credited record's path (by level); any other shape is
    /// left as it is for `AttributionProof(encoded:)` to refuse.
    private static func mapPaths(_ item: RLPItem, _ change: (Int, [UInt8]) -> [UInt8]) -> RLPItem {
        guard case .list(var fields) = item, fields.count == 9, case .list(let spans) = fields[7] else { return item }
        fields[7] = .list(
            spans.map { span in
                guard case .list(var parts) = span, parts.count == 3, case .list(let records) = parts[2] else {
                    return span
                }
                parts[2] = .list(
                    records.map { record in
                        guard case .list(var values) = record, values.count == 5, case .list(let path) = values[4],
                            path.count <= SnapshotMerkleTree.depth
                        else { return record }
                        values[4] = .list(
                            path.enumerated().map { level, node in
                                guard case .bytes(let bytes) = node else { return node }
                                return .bytes(change(level, bytes))
                            })
                        return .list(values)
                    })
                return .list(parts)
            })
        return .list(fields)
    }

    /// The longest response an item may carry.
    static let maxResponseBytes = 65_536
    /// The longest record a witness may carry.
    static let maxRecordBytes = 65_536

    static func list(_ item: RLPItem, count: Int, _ what: String) throws(ChainError) -> [RLPItem] {
        guard case .list(let fields) = item, fields.count == count else {
            throw .refused(.malformedClaim("\(what) is not a list of \(count) fields"))
        }
        return fields
    }

    static func bytes(_ item: RLPItem, _ what: String, count: Int? = nil) throws(ChainError) -> [UInt8] {
        guard case .bytes(let bytes) = item, count == nil || bytes.count == count else {
            throw .refused(.malformedClaim("\(what) is not \(count.map { "\($0) bytes" } ?? "a byte string")"))
        }
        return bytes
    }

    static func bytes32(_ item: RLPItem, _ what: String) throws(ChainError) -> [UInt8] {
        try bytes(item, what, count: 32)
    }

    static func uint(_ item: RLPItem, _ what: String) throws(ChainError) -> UInt256 {
        let value = try bytes(item, what)
        guard value.count <= 32, value.first != 0, let number = UInt256(bigEndian: value) else {
            throw .refused(.malformedClaim("\(what) is not a minimal integer"))
        }
        return number
    }

    static func uint64(_ item: RLPItem, _ what: String) throws(ChainError) -> UInt64 {
        guard let value = try uint(item, what).uint64 else { throw .refused(.malformedClaim("\(what) over 64 bits")) }
        return value
    }

    static func uint32(_ item: RLPItem, _ what: String) throws(ChainError) -> UInt32 {
        guard let value = UInt32(exactly: try uint64(item, what)) else {
            throw .refused(.malformedClaim("\(what) over 32 bits"))
        }
        return value
    }
}
