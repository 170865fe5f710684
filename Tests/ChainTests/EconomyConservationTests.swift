import AttributionRules
import Codec
import Crypto
import TestSupport
import Testing

@testable import Chain

/// The books of every module, checked after every block: Σ balances + burned = 10^27 wei, and each module's balance is
/// exactly what it owes (stakes, escrows and rewards, channel deposits).
func checkBooks(_ f: EconomyFixture, channels: [[UInt8]], sourceLocation: SourceLocation = #_sourceLocation) throws {
    let state = f.chain.state
    #expect(try totalSupply(state, f.chain.accounts) == NetworkConfig.totalSupply, sourceLocation: sourceLocation)
    var stakes = UInt256.zero
    var rewards = UInt256.zero
    for account in f.chain.config.devAccounts.map(\.address) {
        for role in Staking.Role.allCases {
            let stake = try Staking.stake(account, role, state)
            #expect(stake.locked <= stake.staked, sourceLocation: sourceLocation)
            stakes += stake.staked + stake.unbonding
        }
        rewards += try AttributionClaims.RewardLayout.read(account, from: state)
    }
    #expect(try state.account(Staking.defaultAddress).balance == stakes, sourceLocation: sourceLocation)
    var escrow = UInt256.zero
    let count = try StorageRecord(contract: AttributionClaims.defaultAddress, base: .zero)
        .get(AttributionClaims.ClaimLayout.count, from: state)
    var id = UInt256(1)
    while id <= count {
        let claim = try #require(try AttributionClaims.ClaimLayout.read(id, from: state))
        if claim.status == .pending { escrow += claim.fees }
        id += 1
    }
    #expect(
        try state.account(AttributionClaims.defaultAddress).balance == escrow + rewards, sourceLocation: sourceLocation)
    var deposits = UInt256.zero
    for channel in channels {
        let stored = try #require(try PaymentChannels.ChannelLayout.read(channel, from: state))
        if stored.status != .closed { deposits += stored.deposit - stored.redeemed }
    }
    #expect(try state.account(PaymentChannels.defaultAddress).balance == deposits, sourceLocation: sourceLocation)
}

/// A claim the workload submitted, with the evidence against it (nil for an honest one).
private struct Submitted {
    var id: UInt256
    var item: ClaimItem
    var evidence: FraudEvidence
}

/// 1,000 seeded workloads of mixed operations — payments, claims (honest and dishonest), attestations, challenges
/// (sound and not), finalizations, withdrawals, stakes, unstakes, slashes, proposals, votes and executions — each
/// from the same set-up economy; after every block the supply and every module's books balance to the wei.
@Test func supplyAndBooksBalanceAfterEveryBlockOfRandomWorkloads() throws {
    var base = try EconomyFixture()
    base.chain.validates = false
    try checkBooks(base, channels: [base.channelID])
    let honest = try base.honestProof(base.standardAnswer)
    let claims = EconomyFixture.claims
    let staking = EconomyFixture.staking
    let governance = EconomyFixture.governance
    var outcomes: [String: Int] = [:]
    for seed in 0..<1_000 {
        var random = SeededRandom(seed: UInt64(seed))
        func pick(_ n: Int) -> Int { Int(random.next() % UInt64(n)) }
        var f = base
        var channels = [f.channelID]
        var submitted: [Submitted] = []
        var proposals: [UInt256] = []
        for _ in 0..<6 {
            let account = pick(10)
            var receipt: Receipt? = nil
            let operation = pick(12)
            switch operation {
            case 0:
                receipt = try f.chain.send(
                    from: account, to: f.chain.address(pick(10)), function: "noop()", [],
                    value: UInt256(random.next() % 1_000_000))
            case 1:
                receipt = try f.chain.send(
                    from: EconomyFixture.payer, to: PaymentChannels.defaultAddress, function: "topUp(bytes32)",
                    [.fixedBytes(f.channelID)], value: UInt256(1 + random.next() % 1_000) * oneOpen / 100)
            case 2:
                // The peer redeems a voucher directly, outside any claim.
                f.cumulative = try #require(try f.chain.channels.channel(f.channelID, state: f.chain.state)).redeemed
                receipt = try f.chain.send(
                    from: EconomyFixture.servingPeer, to: PaymentChannels.defaultAddress,
                    function: "redeem(bytes32,uint256,bytes32,bytes)",
                    try f.chain.voucher(f.channelID, f.cumulative + oneOpen / 10, key: EconomyFixture.payer))
            case 3, 4:
                f.cumulative = try #require(try f.chain.channels.channel(f.channelID, state: f.chain.state)).redeemed
                let kind = FraudKind.allCases[pick(FraudKind.allCases.count)]
                let fraud = try FraudCase.make(kind, &f, honest: honest)
                let dishonest = operation == 3
                // Signed again from the channel's redeemed amount: `make` drew vouchers for both items.
                let chosen = dishonest ? fraud.wrongItem : fraud.honestItem
                f.cumulative = try #require(try f.chain.channels.channel(f.channelID, state: f.chain.state)).redeemed
                var item = try f.item(chosen.response, proof: chosen.proof, receipt: chosen.receipt)
                // Now and then a replay of an earlier claim's item, which is refused.
                if let old = submitted.randomElement(using: &random), pick(4) == 0 { item = old.item }
                let sent = try f.chain.send(
                    from: EconomyFixture.servingPeer, to: claims, function: Call.submitClaim,
                    [.bytes(ClaimItem.encodeClaim([item]))])
                if sent.succeeded, let log = sent.logs.first(where: { $0.address == claims }) {
                    submitted.append(
                        Submitted(
                            id: try #require(UInt256(bigEndian: log.topics[1])), item: item,
                            evidence: dishonest ? fraud.wrongEvidence : fraud.honestEvidence))
                }
                receipt = sent
            case 5:
                guard let claim = submitted.randomElement(using: &random) else { continue }
                receipt = try f.chain.send(
                    from: [1, 2, 3, 9][pick(4)], to: claims, function: Call.attest, [.uint(claim.id)])
            case 6:
                guard let claim = submitted.randomElement(using: &random) else { continue }
                receipt = try f.chain.send(
                    from: EconomyFixture.challenger, to: claims, function: Call.challenge,
                    EconomyFixture.challenge(claim.id, item: 0, claim.item, claim.evidence))
            case 7:
                guard let claim = submitted.randomElement(using: &random) else { continue }
                receipt = try f.chain.send(from: account, to: claims, function: Call.finalize, [.uint(claim.id)])
            case 8:
                receipt = try f.chain.send(from: account, to: claims, function: Call.withdrawRewards, [])
            case 9:
                let role = UInt256(pick(3))
                switch pick(3) {
                case 0:
                    receipt = try f.chain.send(
                        from: account, to: staking, function: Call.stake, [.uint(role)],
                        value: UInt256(500 + random.next() % 2_000) * oneOpen)
                case 1:
                    receipt = try f.chain.send(
                        from: account, to: staking, function: Call.requestUnstake,
                        [.uint(role), .uint(UInt256(1 + random.next() % 3_000) * oneOpen)])
                default:
                    receipt = try f.chain.send(from: account, to: staking, function: Call.withdraw, [.uint(role)])
                }
            case 10:
                if proposals.isEmpty || pick(3) == 0 {
                    let parameterChange = pick(2) == 0
                    let sent = try f.chain.send(
                        from: [1, 2, 3, 9][pick(4)], to: governance,
                        function: parameterChange ? Call.propose : Call.proposeGrant,
                        parameterChange
                            ? [.uint(3), .uint(UInt256(60 + random.next() % 2_000)), .string("window")]
                            : [
                                .address(f.chain.address(pick(10))), .uint(UInt256(random.next() % 100) * oneOpen),
                                .string(""),
                            ])
                    if sent.succeeded, let log = sent.logs.first {
                        proposals.append(try #require(UInt256(bigEndian: log.topics[1])))
                    }
                    receipt = sent
                } else {
                    let id = proposals[pick(proposals.count)]
                    receipt =
                        pick(2) == 0
                        ? try f.chain.send(
                            from: account, to: governance, function: Call.vote, [.uint(id), .uint(UInt256(pick(3)))])
                        : try f.chain.send(from: account, to: governance, function: Call.execute, [.uint(id)])
                }
            default:
                try f.chain.advance(seconds: 100 + random.next() % 700)
            }
            if let receipt { outcomes["\(operation) \(receipt.succeeded)", default: 0] += 1 }
            try checkBooks(f, channels: channels)
        }
        channels.removeAll()
    }
    // The workloads exercised both outcomes of claims, attestations, challenges and finalizations.
    for operation in [3, 4, 5, 6, 7, 10] {
        #expect(
            outcomes["\(operation) true", default: 0] > 0 && outcomes["\(operation) false", default: 0] > 0,
            "\(operation): \(outcomes)")
    }
}
