import AttributionRules
import Codec
import Crypto
import TestSupport
import Testing

@testable import Chain

private let staking = EconomyFixture.staking
private let governance = EconomyFixture.governance
private let agents = AgentRegistry.defaultAddress

@Test func stakesUnbondAndWithdrawToTheWei() throws {
    var f = try EconomyFixture()
    let minimum = 1_000 * oneOpen
    #expect(
        try f.chain.refusal(from: 9, to: staking, Call.stake, [.uint(1)], value: 999 * oneOpen)
            == .belowMinimumStake(role: .attester, minimum: minimum))
    #expect(try f.chain.refusal(from: 9, to: staking, Call.stake, [.uint(7)], value: minimum) == .unknownRole(7))
    try f.chain.send(from: 9, to: staking, function: Call.stake, [.uint(1)], value: 2_000 * oneOpen).expectSuccess()
    #expect(try f.stake(9, .attester).staked == 2_000 * oneOpen)
    #expect(try Staking.RoleTotalLayout.read(.attester, from: f.chain.state) == 12_000 * oneOpen)
    try f.chain.send(from: 9, to: staking, function: Call.requestUnstake, [.uint(1), .uint(500 * oneOpen)])
        .expectSuccess()
    // What stays must be zero or the minimum.
    #expect(
        try f.chain.refusal(from: 9, to: staking, Call.requestUnstake, [.uint(1), .uint(1_000 * oneOpen)])
            == .belowMinimumStake(role: .attester, minimum: minimum))
    let stake = try f.stake(9, .attester)
    #expect(stake.staked == 1_500 * oneOpen && stake.unbonding == 500 * oneOpen)
    #expect(
        try f.chain.refusal(from: 9, to: staking, Call.withdraw, [.uint(1)])
            == .nothingToWithdraw(releaseAt: stake.releaseAt))
    try f.chain.advance(seconds: 1_200)
    let before = try f.chain.balance(9)
    let receipt = try f.chain.send(from: 9, to: staking, function: Call.withdraw, [.uint(1)])
    try receipt.expectSuccess()
    let price = try #require(f.chain.head.baseFeePerGas) + 1
    #expect(try f.chain.balance(9) == before + 500 * oneOpen - price * UInt256(receipt.cumulativeGasUsed))
    #expect(try f.stake(9, .attester).unbonding == .zero)
    #expect(try f.chain.refusal(from: 9, to: staking, Call.withdraw, [.uint(1)]) == .nothingToWithdraw(releaseAt: 0))
}

@Test func lockedStakeStaysAndSlashesNeverTakeMoreThanIsStaked() throws {
    var f = try EconomyFixture()
    try f.submit([try f.item(f.standardAnswer)])
    let peer = EconomyFixture.servingPeer
    // The bond is locked: only 9,900 of the 10,000 OPEN are free.
    #expect(
        try f.chain.refusal(from: peer, to: staking, Call.requestUnstake, [.uint(0), .uint(10_000 * oneOpen)])
            == .insufficientFreeStake(role: .servingPeer, free: 9_900 * oneOpen, needed: 10_000 * oneOpen))
    try f.chain.send(from: peer, to: staking, function: Call.requestUnstake, [.uint(0), .uint(8_900 * oneOpen)])
        .expectSuccess()
    // A slash of far more than the stake takes exactly what is staked and unbonding, and burns it.
    var invocation = PredeployInvocation(
        context: CallContext(
            caller: AttributionClaims.defaultAddress, value: .zero, blockNumber: f.chain.head.number + 1,
            timestamp: f.chain.head.timestamp, chainId: f.chain.config.chainId), state: f.chain.state)
    let burned = try StateTransition.burned(invocation.state)
    let held = try invocation.state.account(staking).balance
    let taken = try Staking.slash(
        f.chain.address(peer), .servingPeer, UInt256(1) << 200, to: nil, &invocation)
    #expect(taken == 10_000 * oneOpen)
    #expect(
        try Staking.stake(f.chain.address(peer), .servingPeer, invocation.state)
            == Staking.Stake(releaseAt: try f.stake(peer, .servingPeer).releaseAt))
    #expect(try StateTransition.burned(invocation.state) == burned + taken)
    #expect(try invocation.state.account(staking).balance == held - taken)
    // Nobody can call a slash: Staking's ABI has no such function.
    #expect(Staking.method(named: "slash") == nil)
}

@Test func votingStakeIsCheckpointedPerBlock() throws {
    var f = try EconomyFixture()
    let before = f.chain.head.number
    try f.chain.send(from: 9, to: staking, function: Call.stake, [.uint(2)], value: 1_000 * oneOpen).expectSuccess()
    let staked = f.chain.head.number
    try f.chain.send(from: 9, to: staking, function: Call.stake, [.uint(1)], value: 1_500 * oneOpen).expectSuccess()
    let address = f.chain.address(9)
    #expect(try Staking.CheckpointLayout.stake(address, atBlock: before, from: f.chain.state) == .zero)
    #expect(try Staking.CheckpointLayout.stake(address, atBlock: staked, from: f.chain.state) == 1_000 * oneOpen)
    #expect(try Staking.CheckpointLayout.stake(address, atBlock: staked + 1, from: f.chain.state) == 2_500 * oneOpen)
    #expect(
        try f.chain.view(
            staking, "votingStakeAt(address,uint64)", [.address(.zero), .uint(UInt256(staked))], returns: [.uint(256)])
            == [.uint(21_000 * oneOpen)])
}

/// The id in a proposal's `ProposalCreated` log.
private func proposalID(_ receipt: Receipt) throws -> UInt256 {
    let log = try #require(receipt.logs.first)
    return try #require(UInt256(bigEndian: log.topics[1]))
}

/// Proposes as account 1, votes 1 for and 2 against, and returns the proposal id.
private func passedProposal(_ f: inout EconomyFixture, _ function: String, _ arguments: [ABIValue]) throws -> UInt256 {
    let receipt = try f.chain.send(from: 1, to: governance, function: function, arguments)
    try receipt.expectSuccess()
    let id = try proposalID(receipt)
    try f.chain.send(from: 1, to: governance, function: Call.vote, [.uint(id), .uint(1)]).expectSuccess()
    try f.chain.send(from: 2, to: governance, function: Call.vote, [.uint(id), .uint(0)]).expectSuccess()
    return id
}

@Test func aPassedProposalChangesAParameterAfterItsTimelock() throws {
    var f = try EconomyFixture()
    let window = UInt256(ProtocolParameter.challengeWindowSeconds.rawValue)
    let id = try passedProposal(&f, Call.propose, [.uint(window), .uint(1_200), .string("longer window")])
    let proposal = try #require(try Governance().proposal(id, state: f.chain.state))
    #expect(proposal.forVotes == 10_000 * oneOpen && proposal.againstVotes == 5_000 * oneOpen)
    #expect(proposal.quorumVotes == 4_000 * oneOpen)  // 20% of the 20,000 OPEN staked at the snapshot
    #expect(try f.chain.refusal(from: 9, to: governance, Call.execute, [.uint(id)]) == .proposalNotPassed(id))
    try f.chain.advance(seconds: 600)
    #expect(
        try f.chain.refusal(from: 9, to: governance, Call.execute, [.uint(id)])
            == .timelocked(until: proposal.votingEnds + 60))
    try f.chain.advance(seconds: 60)
    try f.chain.send(from: 9, to: governance, function: Call.execute, [.uint(id)]).expectSuccess()
    #expect(
        try f.chain.view(governance, "parameter(uint8)", [.uint(window)], returns: [.uint(256)]) == [.uint(1_200)])
    #expect(try f.chain.refusal(from: 9, to: governance, Call.execute, [.uint(id)]) == .proposalAlreadyExecuted(id))
    // Claims now get the longer window.
    let claim = try f.submit([try f.item(f.standardAnswer)])
    #expect(try f.claim(claim).windowEnds == f.chain.head.timestamp + 1_200)
}

@Test func proposalsAndVotesOutsideTheRulesAreRefused() throws {
    var f = try EconomyFixture()
    let bond = UInt256(ProtocolParameter.claimBond.rawValue)
    #expect(
        try f.chain.refusal(from: 1, to: governance, Call.propose, [.uint(bond), .uint(1), .string("")])
            == .parameterOutOfBounds(parameter: .claimBond, value: 1))
    let badSplit = ProtocolParameter.packFeeSplit(burn: 5_000, servingPeer: 5_000, adapterOwner: 1, dataContributors: 0)
    #expect(
        try f.chain.refusal(from: 1, to: governance, Call.propose, [.uint(0), .uint(badSplit), .string("")])
            == .parameterOutOfBounds(parameter: .feeSplit, value: badSplit))
    #expect(
        try f.chain.refusal(from: 1, to: governance, Call.propose, [.uint(99), .uint(1), .string("")])
            == .unknownParameter(99))
    #expect(
        try f.chain.refusal(from: 9, to: governance, Call.propose, [.uint(bond), .uint(200 * oneOpen), .string("")])
            == .belowProposalThreshold(stake: .zero, threshold: 1_000 * oneOpen))
    let receipt = try f.chain.send(
        from: 1, to: governance, function: Call.propose, [.uint(bond), .uint(200 * oneOpen), .string("x")])
    try receipt.expectSuccess()
    let id = try proposalID(receipt)
    // OPEN staked after the proposal's snapshot does not vote.
    #expect(
        try f.chain.refusal(from: 9, to: governance, Call.vote, [.uint(id), .uint(1)])
            == .noStakeAtSnapshot(proposal: id))
    try f.chain.send(from: 9, to: staking, function: Call.stake, [.uint(1)], value: 5_000 * oneOpen).expectSuccess()
    #expect(
        try f.chain.refusal(from: 9, to: governance, Call.vote, [.uint(id), .uint(1)])
            == .noStakeAtSnapshot(proposal: id))
    #expect(try f.chain.refusal(from: 1, to: governance, Call.vote, [.uint(id), .uint(3)]) == .unknownSupport(3))
    try f.chain.send(from: 2, to: governance, function: Call.vote, [.uint(id), .uint(0)]).expectSuccess()
    #expect(
        try f.chain.refusal(from: 2, to: governance, Call.vote, [.uint(id), .uint(1)]) == .alreadyVoted(proposal: id))
    try f.chain.advance(seconds: 600)
    #expect(
        try f.chain.refusal(from: 1, to: governance, Call.vote, [.uint(id), .uint(1)]) == .votingClosed(proposal: id))
    // Only against votes: it did not pass, whatever the timelock.
    try f.chain.advance(seconds: 60)
    #expect(try f.chain.refusal(from: 9, to: governance, Call.execute, [.uint(id)]) == .proposalNotPassed(id))
    #expect(try f.chain.refusal(from: 9, to: governance, Call.execute, [.uint(99)]) == .unknownProposal(99))
}

@Test func theTreasuryGrantsByPassedProposal() throws {
    var f = try EconomyFixture()
    let treasury = try f.chain.state.account(governance).balance
    #expect(treasury == 607_000_000 * oneOpen)  // the community allocation less the dev accounts
    #expect(
        try f.chain.refusal(
            from: 1, to: governance, Call.proposeGrant,
            [.address(f.chain.address(9)), .uint(10_000_001 * oneOpen), .string("")])
            == .grantTooLarge(amount: 10_000_001 * oneOpen, bound: 10_000_000 * oneOpen))
    let id = try passedProposal(
        &f, Call.proposeGrant, [.address(f.chain.address(9)), .uint(1_234 * oneOpen + 5), .string("grant")])
    try f.chain.advance(seconds: 660)
    let before = try f.chain.balance(9)
    try f.chain.send(from: 8, to: governance, function: Call.execute, [.uint(id)]).expectSuccess()
    #expect(try f.chain.balance(9) == before + 1_234 * oneOpen + 5)
    #expect(try f.chain.state.account(governance).balance == treasury - 1_234 * oneOpen - 5)
}

@Test func agentsRegisterAreListedAndAreSlashedByGovernance() throws {
    var f = try EconomyFixture()
    #expect(
        try f.chain.refusal(from: 5, to: agents, Call.register, [.bytes([9])])
            == .belowMinimumStake(role: .agent, minimum: 1_000 * oneOpen))
    try f.chain.send(from: 5, to: staking, function: Call.stake, [.uint(2)], value: 2_000 * oneOpen).expectSuccess()
    try f.chain.send(from: 5, to: agents, function: Call.register, [.bytes([9])]).expectSuccess()
    #expect(try f.chain.refusal(from: 5, to: agents, Call.register, [.bytes([9])]) == .alreadyRegistered)
    #expect(try f.chain.view(agents, "agentCount()", [], returns: [.uint(64)]) == [.uint(1)])
    #expect(
        try f.chain.view(agents, "agentAt(uint64)", [.uint(0)], returns: [.address]) == [.address(f.chain.address(5))])
    #expect(
        try f.chain.refusal(
            from: 1, to: governance, Call.proposeAgentSlash, [.address(f.chain.address(6)), .uint(1), .string("")])
            == .notAnAgent(f.chain.address(6)))
    let treasury = try f.chain.state.account(governance).balance
    let id = try passedProposal(
        &f, Call.proposeAgentSlash, [.address(f.chain.address(5)), .uint(500 * oneOpen), .string("fault")])
    try f.chain.advance(seconds: 660)
    try f.chain.send(from: 8, to: governance, function: Call.execute, [.uint(id)]).expectSuccess()
    #expect(try f.stake(5, .agent).staked == 1_500 * oneOpen)
    #expect(try f.chain.state.account(governance).balance == treasury + 500 * oneOpen)
    try f.chain.send(from: 5, to: agents, function: "update(bytes)", [.bytes([8])]).expectSuccess()
    #expect(try AgentRegistry.AgentLayout.read(f.chain.address(5), from: f.chain.state)?.metadataCID == [8])
    #expect(
        try f.chain.refusal(from: 6, to: agents, "update(bytes)", [.bytes([8])]) == .notAnAgent(f.chain.address(6)))
    // Deregistering starts the unbonding of the agent stake; registering again needs the minimum staked again.
    try f.chain.send(from: 5, to: agents, function: Call.deregister, []).expectSuccess()
    #expect(
        try f.chain.refusal(from: 5, to: agents, Call.register, [.bytes([9])])
            == .belowMinimumStake(role: .agent, minimum: 1_000 * oneOpen))
    #expect(try f.chain.refusal(from: 5, to: agents, Call.deregister, []) == .notAnAgent(f.chain.address(5)))
    #expect(try !AgentRegistry.isAgent(f.chain.address(5), f.chain.state))
    #expect(try f.stake(5, .agent).unbonding == 1_500 * oneOpen)
    #expect(
        try f.chain.view(
            agents, "agent(address)", [.address(f.chain.address(5))],
            returns: [.uint(8), .uint(64), .bytes, .uint(256)])[0]
            == .uint(2))
}
