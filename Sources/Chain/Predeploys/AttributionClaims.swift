import AttributionRules
import Codec
import Crypto

/// `AttributionClaims`: a serving peer claims the fees of the answers it served, with their attribution proofs; staked
/// attesters attest, anyone may challenge with a fraud proof within the window, and finalization splits each fee by the
/// basis-point parameters into rewards (docs/economy.md).
public struct AttributionClaims: Predeploy {
    /// The address the contract is installed at on every network.
    public static let defaultAddress = try! Address(hex: "0x4200000000000000000000000000000000000105")
    /// The most answers one claim carries.
    public static let maxItems = 256
    /// The most attesters one claim takes (bounds a challenge's work).
    public static let maxAttesters = 64
    /// 10,000 basis points.
    static let basisPoints: UInt256 = 10_000

    /// Where a claim is in its life.
    public enum Status: UInt8, Sendable {
        /// No such claim.
        case none = 0
        /// Submitted, open to attestations and challenges.
        case pending = 1
        /// Paid out into rewards.
        case finalized = 2
        /// Proven wrong: fees refunded, bond slashed.
        case voided = 3
    }

    /// A claim as stored (its items, attesters, payouts and refunds are arrays of the same record).
    public struct Claim: Equatable, Sendable {
        /// The serving peer (or agent) that submitted it.
        public var claimant: Address
        /// Where it is in its life.
        public var status: Status
        /// The block timestamp of submission.
        public var submittedAt: UInt64
        /// The end of the challenge window.
        public var windowEnds: UInt64
        /// The claimant's stake the claim locks.
        public var bond: UInt256
        /// The role whose stake backs the bond.
        public var bondRole: Staking.Role
        /// The number of answers.
        public var itemCount: UInt64
        /// The escrowed fees, in wei.
        public var fees: UInt256
        /// The attester stake that attested.
        public var attestedStake: UInt256
        /// The attested stake that finalizes before the window ends.
        public var quorumStake: UInt256
        /// How many attesters attested.
        public var attesterCount: UInt64
        /// PoA-SA v1 L at submission.
        public var minSpan: UInt64
        /// PoA-SA v1 K at submission.
        public var maxRecords: UInt64
        /// The wei finalization burns.
        public var burn: UInt256
        /// How many recipients finalization pays.
        public var payoutCount: UInt64
        /// How many channels a void refunds.
        public var refundCount: UInt64
    }

    /// Where a claim is stored: slot 0 holds the claim counter, slot 1 the mapping claimId → the fields below, and
    /// the arrays item hashes (+16), attesters (+17), attester locks (+18), payout recipients (+19) and amounts
    /// (+20), refund channels (+21) and amounts (+22).
    public enum ClaimLayout: StorageLayout {
        /// The claims contract at its default address.
        public static var contract: Address { AttributionClaims.defaultAddress }
        static let count = StorageField<UInt256>(0)
        static let claimant = StorageField<Address>(0)
        static let status = StorageField<UInt64>(1)
        static let submittedAt = StorageField<UInt64>(2)
        static let windowEnds = StorageField<UInt64>(3)
        static let bond = StorageField<UInt256>(4)
        static let bondRole = StorageField<UInt64>(5)
        static let itemCount = StorageField<UInt64>(6)
        static let fees = StorageField<UInt256>(7)
        static let attestedStake = StorageField<UInt256>(8)
        static let quorumStake = StorageField<UInt256>(9)
        static let attesterCount = StorageField<UInt64>(10)
        static let minSpan = StorageField<UInt64>(11)
        static let maxRecords = StorageField<UInt64>(12)
        static let burn = StorageField<UInt256>(13)
        static let payoutCount = StorageField<UInt64>(14)
        static let refundCount = StorageField<UInt64>(15)
        /// keccak256 of each item's canonical encoding.
        public static let itemHashes = StorageArrayField<Bytes32>(16)
        /// The attesters, in attestation order.
        public static let attesters = StorageArrayField<Address>(17)
        /// The stake each attestation locked (what a void takes).
        public static let attesterLocks = StorageArrayField<UInt256>(18)
        /// Who finalization pays, by rising address.
        public static let payoutRecipients = StorageArrayField<Address>(19)
        /// What finalization pays each.
        public static let payoutAmounts = StorageArrayField<UInt256>(20)
        /// The channels a void refunds.
        public static let refundChannels = StorageArrayField<Bytes32>(21)
        /// What a void refunds each.
        public static let refundAmounts = StorageArrayField<UInt256>(22)

        /// `claims[id]` of the mapping at slot 1.
        public static func base(_ id: UInt256) -> UInt256 { ContractStorage.mappingSlot(1, key: id) }

        /// The stored claim, or nil.
        public static func read(_ record: StorageRecord, from reader: some StorageReader) throws(ChainError) -> Claim? {
            guard let status = Status(rawValue: UInt8(truncatingIfNeeded: try record.get(status, from: reader))),
                status != .none
            else { return nil }
            guard let role = Staking.Role(rawValue: UInt8(truncatingIfNeeded: try record.get(bondRole, from: reader)))
            else { throw .invalidBlock("corrupt claim record") }
            return Claim(
                claimant: try record.get(claimant, from: reader), status: status,
                submittedAt: try record.get(submittedAt, from: reader),
                windowEnds: try record.get(windowEnds, from: reader),
                bond: try record.get(bond, from: reader), bondRole: role,
                itemCount: try record.get(itemCount, from: reader),
                fees: try record.get(fees, from: reader), attestedStake: try record.get(attestedStake, from: reader),
                quorumStake: try record.get(quorumStake, from: reader),
                attesterCount: try record.get(attesterCount, from: reader),
                minSpan: try record.get(minSpan, from: reader),
                maxRecords: try record.get(maxRecords, from: reader), burn: try record.get(burn, from: reader),
                payoutCount: try record.get(payoutCount, from: reader),
                refundCount: try record.get(refundCount, from: reader))
        }

        static func write(_ claim: Claim, to record: StorageRecord, in state: inout WorldState) {
            record.set(claimant, claim.claimant, in: &state)
            record.set(status, UInt64(claim.status.rawValue), in: &state)
            record.set(submittedAt, claim.submittedAt, in: &state)
            record.set(windowEnds, claim.windowEnds, in: &state)
            record.set(bond, claim.bond, in: &state)
            record.set(bondRole, UInt64(claim.bondRole.rawValue), in: &state)
            record.set(itemCount, claim.itemCount, in: &state)
            record.set(fees, claim.fees, in: &state)
            record.set(attestedStake, claim.attestedStake, in: &state)
            record.set(quorumStake, claim.quorumStake, in: &state)
            record.set(attesterCount, claim.attesterCount, in: &state)
            record.set(minSpan, claim.minSpan, in: &state)
            record.set(maxRecords, claim.maxRecords, in: &state)
            record.set(burn, claim.burn, in: &state)
            record.set(payoutCount, claim.payoutCount, in: &state)
            record.set(refundCount, claim.refundCount, in: &state)
        }
    }

    /// The withdrawable rewards of an address: the mapping at slot 2.
    public enum RewardLayout: StorageLayout {
        /// The claims contract at its default address.
        public static var contract: Address { AttributionClaims.defaultAddress }
        static let amount = StorageField<UInt256>(0)

        /// `rewards[address]` of the mapping at slot 2.
        public static func base(_ owner: Address) -> UInt256 { ContractStorage.mappingSlot(2, key: owner.bytes) }

        /// The rewards owed.
        public static func read(_ record: StorageRecord, from reader: some StorageReader) throws(ChainError) -> UInt256
        {
            try record.get(amount, from: reader)
        }
    }

    /// The claim that carries a request's receipt (zero for none): the mapping at slot 3 from the request hash.
    public enum ReceiptClaimLayout: StorageLayout {
        /// The claims contract at its default address.
        public static var contract: Address { AttributionClaims.defaultAddress }
        static let claim = StorageField<UInt256>(0)

        /// `receiptClaims[requestHash]` of the mapping at slot 3.
        public static func base(_ requestHash: [UInt8]) -> UInt256 { ContractStorage.mappingSlot(3, key: requestHash) }

        /// The claim id, or zero.
        public static func read(_ record: StorageRecord, from reader: some StorageReader) throws(ChainError) -> UInt256
        {
            try record.get(claim, from: reader)
        }
    }

    /// Whether an attester attested a claim: the mapping at slot 4 from keccak256(claimId ‖ attester).
    public enum AttestationLayout: StorageLayout {
        /// The claims contract at its default address.
        public static var contract: Address { AttributionClaims.defaultAddress }
        static let attested = StorageField<Bool>(0)

        /// `attested[keccak256(claimId ‖ attester)]` of the mapping at slot 4.
        public static func base(_ key: (claim: UInt256, attester: Address)) -> UInt256 {
            ContractStorage.mappingSlot(4, key: Keccak256.hash(key.claim.bigEndianBytes + key.attester.bytes))
        }

        /// Whether the attester attested.
        public static func read(_ record: StorageRecord, from reader: some StorageReader) throws(ChainError) -> Bool {
            try record.get(attested, from: reader)
        }
    }

    /// The module's address.
    public let address: Address

    /// The module at its default address (other modules reach it there).
    public init() { address = Self.defaultAddress }

    /// Every function and view.
    public static let methods: [PredeployMethod<AttributionClaims>] = [
        .init("submitClaim(bytes claim)", returns: "uint256", gas: 60_000, handler: submitClaim),
        .init("attest(uint256 claimId)", gas: 50_000, handler: attest),
        .init(
            "challenge(uint256 claimId, uint64 item, uint8 kind, bytes itemData, bytes evidence)", gas: 80_000,
            handler: challenge),
        .init("finalize(uint256 claimId)", gas: 50_000, handler: finalize),
        .init("withdrawRewards()", returns: "uint256", gas: 30_000, handler: withdrawRewards),
        .init(
            "getClaim(uint256 claimId)",
            returns: "address,uint8,uint64,uint64,uint256,uint64,uint256,uint256,uint256,uint64", .view,
            handler: getClaim),
        .init("claimItemHash(uint256 claimId, uint64 item)", returns: "bytes32", .view, handler: claimItemHash),
        .init(
            "claimAttester(uint256 claimId, uint64 index)", returns: "address,uint256", .view, handler: claimAttester),
        .init("claimPayout(uint256 claimId, uint64 index)", returns: "address,uint256", .view, handler: claimPayout),
        .init("rewardsOf(address owner)", returns: "uint256", .view, handler: rewardsOf),
        .init("receiptClaim(bytes32 requestHash)", returns: "uint256", .view, handler: receiptClaim),
    ]
    /// Every event.
    public static let events = [submitted, attested, voided, finalized, rewardsWithdrawn]

    /// Refuses OPEN in the contract's name: none of its functions takes it.
    public static func valueRefusal(function: String) -> ChainError {
        .contractNotPayable(contract: "AttributionClaims")
    }

    static let submitted = PredeployEvent(
        "ClaimSubmitted(uint256 indexed claimId, address indexed claimant, uint64 items, uint256 fees, uint64 windowEnds)"
    )
    static let attested = PredeployEvent(
        "ClaimAttested(uint256 indexed claimId, address indexed attester, uint256 stake, uint256 attestedStake)")
    static let voided = PredeployEvent(
        "ClaimVoided(uint256 indexed claimId, address indexed challenger, uint8 kind, uint64 item, uint256 slashed)")
    static let finalized = PredeployEvent("ClaimFinalized(uint256 indexed claimId, uint256 fees, uint256 burned)")
    static let rewardsWithdrawn = PredeployEvent("RewardsWithdrawn(address indexed owner, uint256 amount)")

    /// Gas per item and per recipient of a claim.
    static let gasPerItem: UInt64 = 40_000
    static let gasPerRecipient: UInt64 = 25_000

    /// The stored claim, or nil.
    public func claim(_ id: UInt256, state: some StorageReader) throws(ChainError) -> Claim? {
        try ClaimLayout.read(id, in: address, from: state)
    }

    private func pending(_ id: UInt256, _ state: WorldState) throws(ChainError) -> Claim {
        guard let claim = try claim(id, state: state) else { throw .refused(.unknownClaim(id)) }
        guard claim.status == .pending else { throw .refused(.claimNotPending(id)) }
        return claim
    }

    // MARK: Submission

    private func submitClaim(_ call: inout PredeployInvocation, bytes: [UInt8]) throws(ChainError) -> [ABIValue] {
        let context = call.context
        let claimant = context.caller
        let parameters = try ProtocolParameters.read(from: call.state)
        let items = try ClaimItem.decodeClaim(bytes, maximum: Self.maxItems)
        let rules = parameters.attribution
        var channels: [[UInt8]: PaymentChannels.Channel] = [:]
        var requests: Set<[UInt8]> = []
        var payouts: [Address: UInt256] = [:]
        var refunds: [[UInt8]: UInt256] = [:]
        var fees = UInt256.zero
        var burn = UInt256.zero
        let split = parameters.feeSplit
        for (index, (item, _)) in items.enumerated() {
            // The voucher: an open channel to the claimant, signed by its payer, above what it redeemed.
            var known = channels[item.channelID]
            if known == nil { known = try PaymentChannels.ChannelLayout.read(item.channelID, from: call.state) }
            guard var channel = known, channel.status != .closed, channel.payee == claimant
            else { throw .refused(.channelNotPayable(channel: item.channelID)) }
            let voucher = item.voucher
            let payer = try? voucher.signer(
                of: item.voucherSignature, chainId: context.chainId, verifyingContract: PaymentChannels.defaultAddress)
            guard payer == channel.payer else { throw .refused(.voucherSignature(item: index)) }
            guard voucher.cumulativeAmount > channel.redeemed else {
                throw .refused(.voucherAlreadyRedeemed(item: index, redeemed: channel.redeemed))
            }
            guard voucher.cumulativeAmount <= channel.deposit else {
                throw .refused(.voucherExceedsDeposit(item: index))
            }
            // The receipt: the claimant's, for a request no claim carries yet, at the voucher's increment.
            let receipt = item.receipt
            guard
                receipt.signer(of: item.receiptSignature, chainId: context.chainId, verifyingContract: address)
                    == claimant
            else { throw .refused(.receiptSignature(item: index)) }
            guard !requests.contains(receipt.requestHash),
                try ReceiptClaimLayout.read(receipt.requestHash, in: address, from: call.state) == .zero
            else { throw .refused(.receiptAlreadyClaimed(requestHash: receipt.requestHash)) }
            requests.insert(receipt.requestHash)
            guard receipt.price == voucher.cumulativeAmount - channel.redeemed else {
                throw .refused(.voucherReceiptMismatch(item: index))
            }
            guard Keccak256.hash(item.response) == receipt.responseHash else {
                throw .refused(.responseMismatch(item: index))
            }
            guard ServingReceipt.attributionRoot(of: item.proof) == receipt.attributionRoot else {
                throw .refused(.attributionMismatch(item: index))
            }
            guard let adapter = try ModelRegistry.AdapterLayout.read(receipt.adapterID, from: call.state) else {
                throw .refused(.unknownAdapter(receipt.adapterID))
            }
            // The proof: over a committed snapshot, with sound paths and bounded weights.
            guard try DatanetRegistry.CommittedRootLayout.read(item.proof.snapshotRoot, from: call.state) != nil else {
                throw .refused(.snapshotNotCommitted(root: item.proof.snapshotRoot))
            }
            let commitment = AttributionCommitment(
                snapshotRoot: item.proof.snapshotRoot, recordCount: item.proof.recordCount, parameters: rules)
            do {
                try AttributionVerifier.checkSubmission(item.proof, response: item.response, against: commitment)
            } catch {
                throw .refused(.invalidProof(item: index, reason: "\(error)"))
            }
            // Escrow the increment and work out where it goes at finalization.
            let fee = try PaymentChannels.redeemToEscrow(
                item.channelID, &channel, cumulativeAmount: voucher.cumulativeAmount, escrow: address,
                state: &call.state)
            channels[item.channelID] = channel
            refunds[item.channelID, default: .zero] += fee
            fees += fee
            let share = Self.split(fee, split, contributors: item.proof.contributors)
            burn += share.burn
            payouts[claimant, default: .zero] += share.servingPeer
            payouts[adapter.owner, default: .zero] += share.adapterOwner
            for (contributor, amount) in share.contributors { payouts[contributor, default: .zero] += amount }
        }
        // The bond: from the agent stake of a registered agent, the serving-peer stake otherwise.
        let bond = parameters[.claimBond]
        let bondRole: Staking.Role = try AgentRegistry.isAgent(claimant, call.state) ? .agent : .servingPeer
        let free = try Staking.stake(claimant, bondRole, call.state).free
        guard free >= bond else { throw .refused(.bondNotCovered(free: free, bond: bond)) }
        try Staking.lock(claimant, bondRole, bond, &call)

        let counter = StorageRecord(contract: address, base: .zero)
        let id = try counter.get(ClaimLayout.count, from: call.state) &+ 1
        counter.set(ClaimLayout.count, id, in: &call.state)
        let totalAttesterStake = try Staking.RoleTotalLayout.read(.attester, from: call.state)
        let window = parameters.small(.challengeWindowSeconds)
        let (windowEnds, overflow) = context.timestamp.addingReportingOverflow(window)
        guard !overflow else { throw .reverted("challenge window overflows the clock") }
        let recipients = payouts.filter { $0.value > .zero }.sorted { $0.key < $1.key }
        let refundList = refunds.sorted { $0.key.lexicographicallyPrecedes($1.key) }
        let claim = Claim(
            claimant: claimant, status: .pending, submittedAt: context.timestamp, windowEnds: windowEnds, bond: bond,
            bondRole: bondRole, itemCount: UInt64(items.count), fees: fees, attestedStake: .zero,
            quorumStake: totalAttesterStake * parameters[.attestationQuorumBasisPoints] / Self.basisPoints,
            attesterCount: 0, minSpan: UInt64(rules.minSpan), maxRecords: UInt64(rules.maxRecords), burn: burn,
            payoutCount: UInt64(recipients.count), refundCount: UInt64(refundList.count))
        let record = ClaimLayout.record(id, in: address)
        ClaimLayout.write(claim, to: record, in: &call.state)
        record.set(ClaimLayout.itemHashes, items.map { Bytes32(Keccak256.hash($0.encoded)) }, in: &call.state)
        record.set(ClaimLayout.payoutRecipients, recipients.map(\.key), in: &call.state)
        record.set(ClaimLayout.payoutAmounts, recipients.map(\.value), in: &call.state)
        record.set(ClaimLayout.refundChannels, refundList.map { Bytes32($0.key) }, in: &call.state)
        record.set(ClaimLayout.refundAmounts, refundList.map(\.value), in: &call.state)
        for request in requests {
            ReceiptClaimLayout.record(request, in: address).set(ReceiptClaimLayout.claim, id, in: &call.state)
        }
        call.gas +=
            UInt64(items.count) * Self.gasPerItem + UInt64(recipients.count + refundList.count) * Self.gasPerRecipient
        call.logs.append(
            Self.submitted.log(
                address,
                [.uint(id), .address(claimant), .uint(UInt256(items.count)), .uint(fees), .uint(UInt256(windowEnds))]))
        return [.uint(id)]
    }

    /// One answer's fee split by the basis-point parameters, every division floored:
    /// burn = ⌊f·b/10⁴⌋, serving = ⌊f·s/10⁴⌋, adapter = ⌊f·a/10⁴⌋, data = f − the three (their remainders land in the
    /// data portion); contributor c gets ⌊data·w_c/SCALE⌋ and the rest of the data portion goes to the adapter owner.
    static func split(
        _ fee: UInt256, _ split: NetworkConfig.FeeSplit, contributors: [(address: Address, weight: UInt128)]
    ) -> (burn: UInt256, servingPeer: UInt256, adapterOwner: UInt256, contributors: [(Address, UInt256)]) {
        let burn = fee * UInt256(split.burn) / basisPoints
        let servingPeer = fee * UInt256(split.servingPeer) / basisPoints
        var adapterOwner = fee * UInt256(split.adapterOwner) / basisPoints
        let data = fee - burn - servingPeer - adapterOwner
        var attributed = UInt256.zero
        var shares: [(Address, UInt256)] = []
        for contributor in contributors {
            let share =
                data * UInt256(high: 0, low: contributor.weight) / UInt256(high: 0, low: AttributionCredit.scale)
            attributed += share
            shares.append((contributor.address, share))
        }
        adapterOwner += data - attributed
        return (burn, servingPeer, adapterOwner, shares)
    }

    // MARK: Attestation

    private func attest(_ call: inout PredeployInvocation, id: UInt256) throws(ChainError) -> [ABIValue] {
        var claim = try pending(id, call.state)
        let attester = call.context.caller
        guard call.context.timestamp < claim.windowEnds else {
            throw .refused(.challengeWindowClosed(claim: id, endedAt: claim.windowEnds))
        }
        guard attester != claim.claimant else { throw .refused(.claimantCannotAttest) }
        let seen = AttestationLayout.record((id, attester), in: address)
        guard !(try seen.get(AttestationLayout.attested, from: call.state)) else {
            throw .refused(.alreadyAttested(claim: id))
        }
        let stake = try Staking.stake(attester, .attester, call.state).staked
        guard stake > .zero else { throw .refused(.notAnAttester) }
        guard claim.attesterCount < UInt64(Self.maxAttesters) else {
            throw .refused(.tooManyAttesters(maximum: Self.maxAttesters))
        }
        let penalty = try ParameterLayout.read(.attesterPenaltyBasisPoints, from: call.state)
        let lock = stake * penalty / Self.basisPoints
        try Staking.lock(attester, .attester, lock, &call)
        seen.set(AttestationLayout.attested, true, in: &call.state)
        let record = ClaimLayout.record(id, in: address)
        record.set(ClaimLayout.attesters, claim.attesterCount, attester, in: &call.state)
        record.set(ClaimLayout.attesterLocks, claim.attesterCount, lock, in: &call.state)
        claim.attesterCount += 1
        claim.attestedStake += stake
        ClaimLayout.write(claim, to: record, in: &call.state)
        call.logs.append(
            Self.attested.log(address, [.uint(id), .address(attester), .uint(stake), .uint(claim.attestedStake)]))
        return []
    }

    // MARK: Challenges

    private func challenge(
        _ call: inout PredeployInvocation, id: UInt256, itemIndex: UInt64, rawKind: UInt8, itemData: [UInt8],
        evidenceBytes: [UInt8]
    ) throws(ChainError) -> [ABIValue] {
        var claim = try pending(id, call.state)
        guard call.context.timestamp < claim.windowEnds else {
            throw .refused(.challengeWindowClosed(claim: id, endedAt: claim.windowEnds))
        }
        guard let kind = FraudKind(rawValue: rawKind) else { throw .refused(.unknownFraudKind(rawKind)) }
        guard itemIndex < claim.itemCount else { throw .refused(.noSuchItem(claim: id, item: itemIndex)) }
        let record = ClaimLayout.record(id, in: address)
        guard try record.get(ClaimLayout.itemHashes, itemIndex, from: call.state).bytes == Keccak256.hash(itemData)
        else {
            throw .refused(.itemMismatch(item: itemIndex))
        }
        let item = try ClaimItem(encoded: itemData)
        let evidence = try FraudEvidence(kind: kind, encoded: evidenceBytes)
        let rules = AttributionParameters(minSpan: Int(claim.minSpan), maxRecords: Int(claim.maxRecords))
        let verdict = Self.judge(
            item, evidence, parameters: rules, claimant: claim.claimant, chainId: call.context.chainId, claims: address)
        guard case .fraud = verdict else { throw .refused(.challengeFailed(verdict)) }

        // Void: fees back to the channels, the bond slashed half to the challenger and half burned, attesters penalized.
        for index in 0..<claim.refundCount {
            let channel = try record.get(ClaimLayout.refundChannels, index, from: call.state).bytes
            let amount = try record.get(ClaimLayout.refundAmounts, index, from: call.state)
            try PaymentChannels.refundFromEscrow(channel, amount, escrow: address, state: &call.state)
        }
        let slashed = try Staking.slash(claim.claimant, claim.bondRole, claim.bond, to: address, &call)
        try Staking.unlock(claim.claimant, claim.bondRole, claim.bond, &call)
        let challengerShare = slashed / 2
        try call.state.transfer(challengerShare, from: address, to: call.context.caller)
        try call.state.burn(slashed - challengerShare, from: address)
        for index in 0..<claim.attesterCount {
            let attester = try record.get(ClaimLayout.attesters, index, from: call.state)
            let lock = try record.get(ClaimLayout.attesterLocks, index, from: call.state)
            _ = try Staking.slash(attester, .attester, lock, to: nil, &call)
            try Staking.unlock(attester, .attester, lock, &call)
        }
        claim.status = .voided
        ClaimLayout.write(claim, to: record, in: &call.state)
        call.gas += (claim.refundCount + claim.attesterCount) * UInt64(Self.gasPerRecipient)
        call.logs.append(
            Self.voided.log(
                address,
                [
                    .uint(id), .address(call.context.caller), .uint(UInt256(rawKind)), .uint(UInt256(itemIndex)),
                    .uint(slashed),
                ]))
        return []
    }

    /// The verdict of a fraud proof against one item of a claim, judged with the PoA rules against the snapshot the
    /// item's proof cites (committed at submission) and the claim's L and K.
    public static func judge(
        _ item: ClaimItem, _ evidence: FraudEvidence, parameters: AttributionParameters, claimant: Address,
        chainId: UInt64, claims: Address = defaultAddress
    ) -> FraudVerdict {
        let commitment = AttributionCommitment(
            snapshotRoot: item.proof.snapshotRoot, recordCount: item.proof.recordCount, parameters: parameters)
        let proof = item.proof
        let response = item.response
        switch evidence {
        case .badSpan(let span, let witness):
            return AttributionFraudCheck.badSpan(
                proof, response: response, spanIndex: span, witness: witness, against: commitment)
        case .shortOrMissingSpan(let position, let length, let offset, let witness):
            return AttributionFraudCheck.shortOrMissingSpan(
                proof, response: response, position: position, length: length, offset: offset, witness: witness,
                against: commitment)
        case .wrongCredit(let span, let offset, let witness):
            return AttributionFraudCheck.wrongCredit(
                proof, response: response, spanIndex: span, offset: offset, witness: witness, against: commitment)
        case .wrongArithmetic:
            return AttributionFraudCheck.wrongArithmetic(proof)
        case .wrongResponse(let receipt, let signature):
            return AttributionFraudCheck.wrongResponse(
                claimedRequest: item.receipt.requestHash, claimedResponse: item.receipt.responseHash,
                otherRequest: receipt.requestHash, otherResponse: receipt.responseHash,
                signedByServingPeer: receipt.signer(of: signature, chainId: chainId, verifyingContract: claims)
                    == claimant)
        }
    }

    // MARK: Finalization and rewards

    private func finalize(_ call: inout PredeployInvocation, id: UInt256) throws(ChainError) -> [ABIValue] {
        var claim = try pending(id, call.state)
        let quorum = claim.attestedStake > .zero && claim.attestedStake >= claim.quorumStake
        guard quorum || call.context.timestamp >= claim.windowEnds else {
            throw .refused(.notFinalizable(claim: id, windowEnds: claim.windowEnds))
        }
        let record = ClaimLayout.record(id, in: address)
        for index in 0..<claim.payoutCount {
            let recipient = try record.get(ClaimLayout.payoutRecipients, index, from: call.state)
            let amount = try record.get(ClaimLayout.payoutAmounts, index, from: call.state)
            let reward = RewardLayout.record(recipient, in: address)
            reward.set(
                RewardLayout.amount, try reward.get(RewardLayout.amount, from: call.state) + amount, in: &call.state)
        }
        try call.state.burn(claim.burn, from: address)
        try Staking.unlock(claim.claimant, claim.bondRole, claim.bond, &call)
        for index in 0..<claim.attesterCount {
            let attester = try record.get(ClaimLayout.attesters, index, from: call.state)
            try Staking.unlock(
                attester, .attester, try record.get(ClaimLayout.attesterLocks, index, from: call.state), &call)
        }
        claim.status = .finalized
        ClaimLayout.write(claim, to: record, in: &call.state)
        call.gas += (claim.payoutCount + claim.attesterCount) * Self.gasPerRecipient
        call.logs.append(Self.finalized.log(address, [.uint(id), .uint(claim.fees), .uint(claim.burn)]))
        return []
    }

    private func withdrawRewards(_ call: inout PredeployInvocation) throws(ChainError) -> [ABIValue] {
        let owner = call.context.caller
        let reward = RewardLayout.record(owner, in: address)
        let amount = try reward.get(RewardLayout.amount, from: call.state)
        guard amount > .zero else { throw .refused(.noRewards) }
        reward.set(RewardLayout.amount, .zero, in: &call.state)
        try call.state.transfer(amount, from: address, to: owner)
        call.logs.append(Self.rewardsWithdrawn.log(address, [.address(owner), .uint(amount)]))
        return [.uint(amount)]
    }

    // MARK: Views

    private func getClaim(_ call: inout PredeployInvocation, id: UInt256) throws(ChainError) -> [ABIValue] {
        let claim = try claim(id, state: call.state)
        return [
            .address(claim?.claimant ?? .zero), .uint(UInt256(claim?.status.rawValue ?? 0)),
            .uint(UInt256(claim?.submittedAt ?? 0)), .uint(UInt256(claim?.windowEnds ?? 0)),
            .uint(claim?.bond ?? .zero),
            .uint(UInt256(claim?.itemCount ?? 0)), .uint(claim?.fees ?? .zero), .uint(claim?.attestedStake ?? .zero),
            .uint(claim?.quorumStake ?? .zero), .uint(UInt256(claim?.attesterCount ?? 0)),
        ]
    }

    private func claimItemHash(_ call: inout PredeployInvocation, id: UInt256, item: UInt64) throws(ChainError)
        -> [ABIValue]
    {
        guard let claim = try claim(id, state: call.state), item < claim.itemCount else {
            throw .refused(.noSuchItem(claim: id, item: item))
        }
        return [
            .fixedBytes(
                try ClaimLayout.record(id, in: address).get(ClaimLayout.itemHashes, item, from: call.state).bytes)
        ]
    }

    private func claimAttester(_ call: inout PredeployInvocation, id: UInt256, index: UInt64) throws(ChainError)
        -> [ABIValue]
    {
        guard let claim = try claim(id, state: call.state), index < claim.attesterCount else {
            throw .reverted("no attester \(index) of claim \(id)")
        }
        let record = ClaimLayout.record(id, in: address)
        return [
            .address(try record.get(ClaimLayout.attesters, index, from: call.state)),
            .uint(try record.get(ClaimLayout.attesterLocks, index, from: call.state)),
        ]
    }

    private func claimPayout(_ call: inout PredeployInvocation, id: UInt256, index: UInt64) throws(ChainError)
        -> [ABIValue]
    {
        guard let claim = try claim(id, state: call.state), index < claim.payoutCount else {
            throw .reverted("no payout \(index) of claim \(id)")
        }
        let record = ClaimLayout.record(id, in: address)
        return [
            .address(try record.get(ClaimLayout.payoutRecipients, index, from: call.state)),
            .uint(try record.get(ClaimLayout.payoutAmounts, index, from: call.state)),
        ]
    }

    private func rewardsOf(_ call: inout PredeployInvocation, owner: Address) throws(ChainError) -> [ABIValue] {
        [.uint(try RewardLayout.read(owner, in: address, from: call.state))]
    }

    private func receiptClaim(_ call: inout PredeployInvocation, requestHash: [UInt8]) throws(ChainError)
        -> [ABIValue]
    {
        [.uint(try ReceiptClaimLayout.read(requestHash, in: address, from: call.state))]
    }
}
