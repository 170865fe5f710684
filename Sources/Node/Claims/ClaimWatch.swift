import Chain
import Codec

/// The claims a block submitted to `AttributionClaims`, read from its transactions and their receipts, for an
/// attester to judge.
public enum ClaimWatch {
    /// Each successful `submitClaim(bytes)` call to `AttributionClaims.defaultAddress` in `block`, with the claim id
    /// and claimant of its `ClaimSubmitted` log and the claim's decoded answers, in block order.
    ///
    /// `receipts` are the block's, one per transaction in order (as the light client verifies them against the
    /// header); when their count differs nothing is paired and the answer is empty. Anything hostile or malformed
    /// (calldata that does not decode, a claim the ledger would refuse to decode, a log missing or disagreeing with
    /// the call, a sender other than the claimant) is skipped.
    public static func submittedClaims(in block: Block, receipts: [Receipt]) -> [(
        claimId: UInt256, claimant: Address, items: [ClaimItem]
    )] {
        guard receipts.count == block.transactions.count, let method = submitClaim else { return [] }
        var claims: [(claimId: UInt256, claimant: Address, items: [ClaimItem])] = []
        for (transaction, receipt) in zip(block.transactions, receipts) {
            let call = transaction.transaction
            guard receipt.succeeded, call.to == AttributionClaims.defaultAddress,
                call.data.starts(with: method.selector),
                let arguments = try? method.signature.decodeCall(call.data), arguments.count == 1,
                case .bytes(let bytes) = arguments[0],
                let items = decodeClaim(bytes),
                let submitted = submittedEvent(receipt), submitted.items == UInt64(items.count),
                (try? transaction.recoverSender()) == submitted.claimant
            else { continue }
            claims.append((submitted.claimId, submitted.claimant, items))
        }
        return claims
    }

    /// The predeploy's `submitClaim(bytes)` method.
    private static var submitClaim: PredeployMethod<AttributionClaims>? {
        AttributionClaims.method(named: "submitClaim")
    }

    /// The items of a claim's bytes, decoded as the ledger decodes them (1 … `AttributionClaims.maxItems` items), or
    /// nil.
    static func decodeClaim(_ bytes: [UInt8]) -> [ClaimItem]? {
        guard let items = try? ClaimItem.decodeClaim(bytes, maximum: AttributionClaims.maxItems), !items.isEmpty else {
            return nil
        }
        return items.map(\.item)
    }

    /// The claim id, claimant and item count of the receipt's one `ClaimSubmitted` log, or nil.
    private static func submittedEvent(_ receipt: Receipt) -> (claimId: UInt256, claimant: Address, items: UInt64)? {
        var found: [(claimId: UInt256, claimant: Address, items: UInt64)] = []
        for log in receipt.logs where log.address == AttributionClaims.defaultAddress {
            guard let event = try? PredeployEvents.decode(log), event.name == "ClaimSubmitted",
                case .uint(let id)? = event["claimId"], case .address(let claimant)? = event["claimant"],
                case .uint(let items)? = event["items"], let count = items.uint64
            else { continue }
            found.append((id, claimant, count))
        }
        return found.count == 1 ? found[0] : nil
    }
}
