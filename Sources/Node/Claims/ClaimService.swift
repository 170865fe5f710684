import AttributionRules
import Chain
import Codec
import Crypto
import Foundation
import LightClient
import Runtime
import Synchronization

/// The serving peer's claims: it batches its receipts into `AttributionClaims` claims by count or age (or sooner,
/// when a channel's settle deadline nears), submits them through the light client with the bond, follows each to
/// finalization and finalizes it; channels whose answers cannot be claimed (no attribution, no on-chain adapter) are
/// redeemed directly on `PaymentChannels` instead.
///
/// Every step is recorded in the serving ledger first: a claim's receipts are attached to it before it is sent, and a
/// claim found `submitting` after a restart is looked up on the ledger (`ReceiptClaimLayout`) before it is sent again,
/// so a kill -9 loses no receipt and submits none twice (docs/claims.md).
public final class ClaimService: Service {
    /// When to claim.
    public struct Policy: Sendable {
        /// Claim once this many receipts wait.
        public var batchCount = 100
        /// Claim once the oldest waiting receipt is this old, in seconds.
        public var batchAgeSeconds: Double = 600
        /// Claim a closing channel's receipts once its settle deadline is this close, in seconds.
        public var settleMarginSeconds: UInt64 = 300
        /// Seconds between two looks at the ledger.
        public var pollSeconds: Double = 2
        /// A policy with the defaults.
        public init() {}
    }

    /// What one pass did.
    public struct Pass: Sendable, Equatable {
        /// Claims submitted and included.
        public var submitted = 0
        /// Direct redemptions included.
        public var redeemed = 0
        /// Claims finalized.
        public var finalized = 0
        /// Claims or redemptions the ledger refused.
        public var refused = 0
    }

    /// "claims".
    public let name = "claims"
    private let ledger: ServingLedger
    private let light: LightClient
    private let key: Secp256k1PrivateKey
    private let policy: Policy
    private let logger: Logger
    private let clock: any Clock
    private let claims: ContractCaller
    private let channels: ContractCaller
    private let loop = Mutex<PeriodicThread?>(nil)
    private let busy = Mutex<Void>(())
    private let submittedCount = Atomic<Int>(0)

    /// Claims submitted to the ledger since the service was made.
    public var submitted: Int { submittedCount.load(ordering: .relaxed) }

    /// A service claiming the receipts of `ledger`, signed by `key` (the serving peer's), through `light`.
    public init(
        ledger: ServingLedger, light: LightClient, key: Secp256k1PrivateKey, policy: Policy = Policy(),
        logger: Logger, clock: any Clock = SystemClock()
    ) {
        self.ledger = ledger
        self.light = light
        self.key = key
        self.policy = policy
        self.logger = logger
        self.clock = clock
        claims = ContractCaller(
            client: light, key: key, contract: AttributionClaims.defaultAddress,
            signature: { AttributionClaims.method(named: $0)?.signature })
        channels = ContractCaller(
            client: light, key: key, contract: PaymentChannels.defaultAddress,
            signature: { PaymentChannels.method(named: $0)?.signature })
    }

    /// Starts the passes on a thread of its own.
    public func start() throws(NodeError) {
        let thread = PeriodicThread(name: "claims", every: policy.pollSeconds, immediately: false) { [self] in
            _ = pass()
        }
        loop.withLock { $0 = thread }
    }

    /// Ends the passes after the one in progress.
    public func stop() {
        loop.withLock { $0 }?.stop()
    }

    /// One pass over the ledger and the claims.
    ///
    /// It resumes what a previous run left `submitting`, claims when due (always when `force`) and finalizes what can
    /// be. Failures are logged and retried on the next pass.
    @discardableResult
    public func pass(force: Bool = false) -> Pass {
        busy.withLock { _ in
            var result = Pass()
            do {
                let head = try light.syncHead()
                try resume(&result)
                if try due(force: force, head: head) { try claimWaiting(&result, force: force) }
                try finalize(&result, head: head)
            } catch {
                logger.warning("claims pass failed", ["error": "\(error)"])
            }
            submittedCount.add(result.submitted, ordering: .relaxed)
            return result
        }
    }

    // MARK: Steps

    /// Claims found `submitting`: already on the ledger (the process died after sending), or sent again.
    private func resume(_ result: inout Pass) throws {
        for row in try ledger.claims(in: [.submitting]) {
            let receipts = try ledger.receipts(ofClaim: row.local)
            guard let first = receipts.first else {
                try ledger.updateClaim(row.local, state: .refused, reason: "no receipts")
                continue
            }
            if row.kind == "claim" {
                let (id, _) = try light.read(AttributionClaims.ReceiptClaimLayout.self, first.receipt.requestHash)
                if id != .zero {
                    try ledger.updateClaim(row.local, state: .included, claimID: id)
                    logger.info("claim found on the ledger", ["local": "\(row.local)", "claim": "\(id)"])
                    continue
                }
                try submitClaim(row.local, receipts, &result)
            } else {
                let last = receipts[receipts.count - 1]
                let (channel, _) = try light.read(PaymentChannels.ChannelLayout.self, last.voucher.voucher.channelID)
                if let channel, channel.redeemed >= last.voucher.voucher.cumulativeAmount {
                    try ledger.updateClaim(row.local, state: .included)
                    continue
                }
                try redeem(row.local, last, &result)
            }
        }
    }

    /// Whether waiting receipts should be claimed now.
    private func due(force: Bool, head: VerifiedHeader) throws -> Bool {
        let (count, oldest) = try ledger.unclaimedSummary()
        guard count > 0 else { return false }
        if force || count >= policy.batchCount { return true }
        if let oldest, Double(Int64(clock.wallNow().secondsSinceEpoch) - oldest) >= policy.batchAgeSeconds {
            return true
        }
        var seen: Set<[UInt8]> = []
        for receipt in try ledger.unclaimedReceipts(limit: 10_000)
        where seen.insert(receipt.voucher.voucher.channelID).inserted {
            let (channel, _) = try light.read(
                PaymentChannels.ChannelLayout.self, receipt.voucher.voucher.channelID, at: head)
            if let channel, channel.status == .closing,
                channel.closesAt <= head.header.timestamp + policy.settleMarginSeconds
            {
                return true
            }
        }
        return false
    }

    /// Claims the waiting receipts a run per channel (see `claimLeadingRuns`); when `force`, round after round until
    /// none waits.
    ///
    /// A pass takes one round, so that its claims' bonds are unlocked by finalization before the next.
    private func claimWaiting(_ result: inout Pass, force: Bool) throws {
        while try claimLeadingRuns(&result), force {}
    }

    /// Groups the waiting receipts by channel, in cumulative order, up to each channel's lowest running voucher, and
    /// takes each channel's leading run of answers alike: a run that can be claimed goes into a claim, a run that
    /// cannot (answers of the base model, or interrupted ones) is redeemed directly.
    ///
    /// A channel's later runs wait for the next round, once this one is on the ledger: vouchers are redeemed in
    /// cumulative order, so one answer that cannot be claimed must not send its channel's other answers past the
    /// attribution split. False when nothing was waiting.
    private func claimLeadingRuns(_ result: inout Pass) throws -> Bool {
        var byChannel: [([UInt8], [ServingLedger.StoredReceipt])] = []
        for receipt in try ledger.unclaimedReceipts(limit: 10_000) {
            let id = receipt.voucher.voucher.channelID
            if byChannel.last?.0 == id {
                byChannel[byChannel.count - 1].1.append(receipt)
            } else {
                byChannel.append((id, [receipt]))
            }
        }
        var items: [ServingLedger.StoredReceipt] = []
        var progressed = false
        for (channel, receipts) in byChannel {
            let floor = try ledger.runningFloor(channel: channel)
            let ready = receipts.filter { floor == nil || $0.voucher.voucher.cumulativeAmount < floor! }
            guard let first = ready.first else { continue }
            let claimable = try canClaim(first)
            var run: [ServingLedger.StoredReceipt] = []
            for stored in ready {
                guard try canClaim(stored) == claimable else { break }
                run.append(stored)
            }
            progressed = true
            if claimable {
                items += run
            } else {
                let fees = run.reduce(UInt256.zero) { $0 + $1.receipt.price }
                let local = try ledger.beginClaim(
                    kind: "redeem", requestHashes: run.map(\.receipt.requestHash), fees: fees,
                    at: Int64(clock.wallNow().secondsSinceEpoch))
                try redeem(local, run[run.count - 1], &result)
            }
        }
        var start = 0
        while start < items.count {
            let batch = Array(items[start..<min(items.count, start + AttributionClaims.maxItems)])
            start += batch.count
            let fees = batch.reduce(UInt256.zero) { $0 + $1.receipt.price }
            let local = try ledger.beginClaim(
                kind: "claim", requestHashes: batch.map(\.receipt.requestHash), fees: fees,
                at: Int64(clock.wallNow().secondsSinceEpoch))
            try submitClaim(local, batch, &result)
        }
        return progressed
    }

    /// Whether a claim can carry the answer: it names a ledger adapter and has its attribution proof stored.
    private func canClaim(_ stored: ServingLedger.StoredReceipt) throws -> Bool {
        guard stored.receipt.adapterID != .zero else { return false }
        return try ledger.proof(stored.receipt.requestHash) != nil
    }

    /// Sends claim `local` of `receipts` and records what the ledger did with it.
    private func submitClaim(_ local: Int64, _ receipts: [ServingLedger.StoredReceipt], _ result: inout Pass) throws {
        var items: [ClaimItem] = []
        for stored in receipts {
            guard let encoded = try ledger.proof(stored.receipt.requestHash) else {
                throw PaymentSetupError.ledger("receipt without its proof in claim \(local)")
            }
            items.append(
                ClaimItem(
                    channelID: stored.voucher.voucher.channelID,
                    cumulativeAmount: stored.voucher.voucher.cumulativeAmount,
                    voucherSignature: stored.voucher.signature, receipt: stored.receipt,
                    receiptSignature: stored.signature, response: stored.response,
                    proof: try AttributionProof(encoded: encoded)))
        }
        let data = try claims.calldata("submitClaim", [.bytes(ClaimItem.encodeClaim(items))])
        do {
            let (receipt, header, hash) = try claims.submit("submit claim", data: data)
            guard let event = try claims.event("ClaimSubmitted", in: receipt), case .uint(let id)? = event["claimId"]
            else {
                throw PaymentSetupError.ledger("the verified receipt of the claim has no ClaimSubmitted log")
            }
            try ledger.updateClaim(local, state: .included, claimID: id, transaction: hash)
            result.submitted += 1
            logger.info(
                "claim submitted",
                ["local": "\(local)", "claim": "\(id)", "items": "\(items.count)", "block": "\(header.number)"])
        } catch NodeError.transactionReverted(_, let transaction, _, let reason) {
            try ledger.updateClaim(local, state: .refused, transaction: transaction, reason: reason ?? "reverted")
            result.refused += 1
            logger.warning("claim refused", ["local": "\(local)", "reason": reason ?? "reverted"])
        }
    }

    /// Redeems the channel's voucher of `last` directly (for answers no claim can carry) and records it.
    private func redeem(_ local: Int64, _ last: ServingLedger.StoredReceipt, _ result: inout Pass) throws {
        let voucher = last.voucher
        let data = try channels.calldata(
            "redeem",
            [
                .fixedBytes(voucher.voucher.channelID), .uint(voucher.voucher.cumulativeAmount),
                .fixedBytes(voucher.voucher.requestHash), .bytes(voucher.signature),
            ])
        do {
            let (_, header, hash) = try channels.submit("redeem", data: data)
            try ledger.updateClaim(local, state: .included, transaction: hash)
            result.redeemed += 1
            logger.info("voucher redeemed", ["local": "\(local)", "block": "\(header.number)"])
        } catch NodeError.transactionReverted(_, let transaction, _, let reason) {
            try ledger.updateClaim(local, state: .refused, transaction: transaction, reason: reason ?? "reverted")
            result.refused += 1
            logger.warning("redemption refused", ["local": "\(local)", "reason": reason ?? "reverted"])
        }
    }

    /// Included claims: finalized or voided on the ledger, or finalized now when their window passed or their
    /// attestations reached the quorum.
    private func finalize(_ result: inout Pass, head: VerifiedHeader) throws {
        for row in try ledger.claims(in: [.included]) where row.kind == "claim" {
            guard let id = row.claimID else { continue }
            let (claim, _) = try light.read(AttributionClaims.ClaimLayout.self, id, at: head)
            guard let claim else { continue }
            switch claim.status {
            case .finalized:
                try ledger.updateClaim(row.local, state: .finalized)
            case .voided:
                try ledger.updateClaim(row.local, state: .voided)
                logger.warning("claim voided by a challenge", ["claim": "\(id)"])
            case .pending:
                let quorum = claim.attestedStake > .zero && claim.attestedStake >= claim.quorumStake
                guard quorum || head.header.timestamp >= claim.windowEnds else { continue }
                do {
                    _ = try claims.submit("finalize", data: try claims.calldata("finalize", [.uint(id)]))
                    try ledger.updateClaim(row.local, state: .finalized)
                    result.finalized += 1
                    logger.info("claim finalized", ["claim": "\(id)"])
                } catch NodeError.transactionReverted(_, _, _, let reason) {
                    logger.warning("finalize refused", ["claim": "\(id)", "reason": reason ?? "reverted"])
                }
            case .none:
                continue
            }
        }
    }
}
