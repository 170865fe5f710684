import Codec
import Crypto

/// `Governance`: stake-weighted proposals for parameter changes, treasury grants and agent slashes.
///
/// Holders vote with their stake at the block before the proposal; a proposal that reaches quorum with more for than against is executed after a
/// timelock. It keeps the protocol parameters (`ParameterLayout`) and holds the community-and-ecosystem allocation as
/// the treasury (its balance).
public struct Governance: Predeploy {
    /// The address the contract is installed at on every network.
    public static let defaultAddress = try! Address(hex: "0x4200000000000000000000000000000000000106")
    /// The longest description a proposal may carry.
    public static let maxDescriptionBytes = 1_024

    /// What a proposal does when executed.
    public enum Kind: UInt8, Sendable {
        /// Sets a protocol parameter.
        case parameter = 0
        /// Grants OPEN from the treasury to an address.
        case grant = 1
        /// Slashes a registered agent's stake into the treasury.
        case slashAgent = 2
    }

    /// How a vote counts.
    public enum Support: UInt8, Sendable {
        /// Against the proposal.
        case against = 0
        /// For the proposal.
        case inFavor = 1
        /// Counted for the quorum only.
        case abstain = 2
    }

    /// A proposal as stored.
    public struct Proposal: Equatable, Sendable {
        /// Who proposed it.
        public var proposer: Address
        /// What it does.
        public var kind: Kind
        /// The parameter a parameter proposal sets.
        public var parameter: UInt8
        /// The parameter's new value, or the amount granted or slashed.
        public var value: UInt256
        /// The grant's recipient or the agent slashed.
        public var target: Address
        /// The block whose end-of-block stakes weigh the votes.
        public var snapshotBlock: UInt64
        /// The timestamp the vote closes at.
        public var votingEnds: UInt64
        /// Stake voting for.
        public var forVotes: UInt256
        /// Stake voting against.
        public var againstVotes: UInt256
        /// Stake abstaining.
        public var abstainVotes: UInt256
        /// The votes that make the quorum.
        public var quorumVotes: UInt256
        /// Whether it was executed.
        public var executed: Bool
    }

    /// Where a proposal is stored: slot 0 holds the counter, slot 2 the mapping proposalId → the fields below and
    /// its description at +12.
    public enum ProposalLayout: StorageLayout {
        /// Governance at its default address.
        public static var contract: Address { Governance.defaultAddress }
        static let count = StorageField<UInt256>(0)
        static let proposer = StorageField<Address>(0)
        static let kind = StorageField<UInt64>(1)
        static let parameter = StorageField<UInt64>(2)
        static let value = StorageField<UInt256>(3)
        static let target = StorageField<Address>(4)
        static let snapshotBlock = StorageField<UInt64>(5)
        static let votingEnds = StorageField<UInt64>(6)
        static let forVotes = StorageField<UInt256>(7)
        static let againstVotes = StorageField<UInt256>(8)
        static let abstainVotes = StorageField<UInt256>(9)
        static let executed = StorageField<Bool>(10)
        static let quorumVotes = StorageField<UInt256>(11)
        static let description = StorageBytesField(12, maxLength: Governance.maxDescriptionBytes)

        /// `proposals[id]` of the mapping at slot 2.
        public static func base(_ id: UInt256) -> UInt256 { ContractStorage.mappingSlot(2, key: id) }

        /// The stored proposal, or nil.
        public static func read(_ record: StorageRecord, from reader: some StorageReader) throws(ChainError)
            -> Proposal?
        {
            let proposer = try record.get(proposer, from: reader)
            guard proposer != .zero else { return nil }
            guard let kind = Kind(rawValue: UInt8(truncatingIfNeeded: try record.get(kind, from: reader))) else {
                throw .invalidBlock("corrupt proposal record")
            }
            return Proposal(
                proposer: proposer, kind: kind,
                parameter: UInt8(truncatingIfNeeded: try record.get(parameter, from: reader)),
                value: try record.get(value, from: reader), target: try record.get(target, from: reader),
                snapshotBlock: try record.get(snapshotBlock, from: reader),
                votingEnds: try record.get(votingEnds, from: reader),
                forVotes: try record.get(forVotes, from: reader),
                againstVotes: try record.get(againstVotes, from: reader),
                abstainVotes: try record.get(abstainVotes, from: reader),
                quorumVotes: try record.get(quorumVotes, from: reader),
                executed: try record.get(executed, from: reader))
        }

        static func write(_ proposal: Proposal, to record: StorageRecord, in state: inout WorldState) {
            record.set(proposer, proposal.proposer, in: &state)
            record.set(kind, UInt64(proposal.kind.rawValue), in: &state)
            record.set(parameter, UInt64(proposal.parameter), in: &state)
            record.set(value, proposal.value, in: &state)
            record.set(target, proposal.target, in: &state)
            record.set(snapshotBlock, proposal.snapshotBlock, in: &state)
            record.set(votingEnds, proposal.votingEnds, in: &state)
            record.set(forVotes, proposal.forVotes, in: &state)
            record.set(againstVotes, proposal.againstVotes, in: &state)
            record.set(abstainVotes, proposal.abstainVotes, in: &state)
            record.set(quorumVotes, proposal.quorumVotes, in: &state)
            record.set(executed, proposal.executed, in: &state)
        }
    }

    /// A voter's vote on a proposal (support + 1; zero for none): the mapping at slot 3 from keccak256(id ‖ voter).
    public enum VoteLayout: StorageLayout {
        /// Governance at its default address.
        public static var contract: Address { Governance.defaultAddress }
        static let vote = StorageField<UInt64>(0)

        /// `votes[keccak256(proposalId ‖ voter)]` of the mapping at slot 3.
        public static func base(_ key: (proposal: UInt256, voter: Address)) -> UInt256 {
            ContractStorage.mappingSlot(3, key: Keccak256.hash(key.proposal.bigEndianBytes + key.voter.bytes))
        }

        /// The vote, or nil when the voter has not voted.
        public static func read(_ record: StorageRecord, from reader: some StorageReader) throws(ChainError) -> Support?
        {
            let raw = try record.get(vote, from: reader)
            return raw == 0 ? nil : Support(rawValue: UInt8(truncatingIfNeeded: raw - 1))
        }
    }

    /// The module's address.
    public let address: Address

    /// The module at its default address (other modules reach it there).
    public init() { address = Self.defaultAddress }

    /// Every function and view.
    public static let methods: [PredeployMethod<Governance>] = [
        .init(
            "propose(uint8 parameter, uint256 value, string description)", returns: "uint256", gas: 80_000,
            handler: propose),
        .init(
            "proposeGrant(address recipient, uint256 amount, string description)", returns: "uint256", gas: 80_000,
            handler: proposeGrant),
        .init(
            "proposeAgentSlash(address agent, uint256 amount, string description)", returns: "uint256", gas: 80_000,
            handler: proposeAgentSlash),
        .init("vote(uint256 proposalId, uint8 support)", gas: 40_000, handler: vote),
        .init("execute(uint256 proposalId)", gas: 50_000, handler: execute),
        .init("parameter(uint8 parameter)", returns: "uint256", .view, handler: parameterView),
        .init(
            "getProposal(uint256 proposalId)",
            returns: "address,uint8,uint8,uint256,address,uint64,uint64,uint256,uint256,uint256,uint256,bool", .view,
            handler: getProposal),
        .init("treasury()", returns: "uint256", .view, handler: treasury),
    ]
    /// Every event.
    public static let events = [proposed, voted, executed, parameterChanged, granted]

    /// Refuses OPEN in the contract's name: none of its functions takes it.
    public static func valueRefusal(function: String) -> ChainError { .contractNotPayable(contract: "Governance") }

    static let proposed = PredeployEvent(
        "ProposalCreated(uint256 indexed proposalId, address indexed proposer, uint8 kind, uint8 parameter, uint256 value, address target, uint64 votingEnds, string description)"
    )
    static let voted = PredeployEvent(
        "VoteCast(uint256 indexed proposalId, address indexed voter, uint8 support, uint256 weight)")
    static let executed = PredeployEvent("ProposalExecuted(uint256 indexed proposalId)")
    static let parameterChanged = PredeployEvent("ParameterChanged(uint8 indexed parameter, uint256 value)")
    static let granted = PredeployEvent(
        "TreasuryGrant(uint256 indexed proposalId, address indexed recipient, uint256 amount)")

    /// Writes every parameter's genesis value.
    public func genesis(config: NetworkConfig, state: inout WorldState) throws(ChainError) {
        for (parameter, value) in ProtocolParameters(genesis: config).values {
            ParameterLayout.write(parameter, value, in: &state)
        }
    }

    /// The stored proposal, or nil.
    public func proposal(_ id: UInt256, state: some StorageReader) throws(ChainError) -> Proposal? {
        try ProposalLayout.read(id, in: address, from: state)
    }

    // MARK: Proposals

    private func propose(_ call: inout PredeployInvocation, raw: UInt8, value: UInt256, description: String)
        throws(ChainError) -> [ABIValue]
    {
        guard let parameter = ProtocolParameter(rawValue: raw) else { throw .refused(.unknownParameter(raw)) }
        guard parameter.isAllowed(value) else {
            throw .refused(.parameterOutOfBounds(parameter: parameter, value: value))
        }
        return try create(.parameter, parameter: raw, value: value, target: .zero, description, &call)
    }

    private func proposeGrant(
        _ call: inout PredeployInvocation, recipient: Address, amount: UInt256, description: String
    )
        throws(ChainError) -> [ABIValue]
    {
        let bound = try ParameterLayout.read(.maximumGrant, from: call.state)
        guard amount > .zero, amount <= bound, recipient != .zero else {
            throw .refused(.grantTooLarge(amount: amount, bound: bound))
        }
        return try create(.grant, parameter: 0, value: amount, target: recipient, description, &call)
    }

    private func proposeAgentSlash(
        _ call: inout PredeployInvocation, agent: Address, amount: UInt256, description: String
    )
        throws(ChainError) -> [ABIValue]
    {
        guard try AgentRegistry.isAgent(agent, call.state) else { throw .refused(.notAnAgent(agent)) }
        return try create(.slashAgent, parameter: 0, value: amount, target: agent, description, &call)
    }

    private func create(
        _ kind: Kind, parameter: UInt8, value: UInt256, target: Address, _ description: String,
        _ call: inout PredeployInvocation
    ) throws(ChainError) -> [ABIValue] {
        let text = Array(description.utf8)
        guard text.count <= Self.maxDescriptionBytes else { throw .reverted("description over 1,024 bytes") }
        let context = call.context
        // Votes weigh the stakes at the end of the block before the proposal, so none can be added for the vote.
        let snapshot = context.blockNumber &- 1
        let stake = try Staking.CheckpointLayout.stake(context.caller, atBlock: snapshot, from: call.state)
        let threshold = try ParameterLayout.read(.proposalThreshold, from: call.state)
        guard stake >= threshold else { throw .refused(.belowProposalThreshold(stake: stake, threshold: threshold)) }
        let parameters = try ProtocolParameters.read(from: call.state)
        let (votingEnds, overflow) = context.timestamp.addingReportingOverflow(parameters.small(.votingSeconds))
        guard !overflow else { throw .reverted("voting period overflows the clock") }
        let total = try Staking.CheckpointLayout.stake(.zero, atBlock: snapshot, from: call.state)
        let counter = StorageRecord(contract: address, base: .zero)
        let id = try counter.get(ProposalLayout.count, from: call.state) &+ 1
        counter.set(ProposalLayout.count, id, in: &call.state)
        let proposal = Proposal(
            proposer: context.caller, kind: kind, parameter: parameter, value: value, target: target,
            snapshotBlock: snapshot, votingEnds: votingEnds, forVotes: .zero, againstVotes: .zero, abstainVotes: .zero,
            quorumVotes: total * parameters[.governanceQuorumBasisPoints] / 10_000, executed: false)
        let record = ProposalLayout.record(id, in: address)
        ProposalLayout.write(proposal, to: record, in: &call.state)
        record.set(ProposalLayout.description, text, in: &call.state)
        call.gas += UInt64(text.count / 32 + 1) * 20_000
        call.logs.append(
            Self.proposed.log(
                address,
                [
                    .uint(id), .address(context.caller), .uint(UInt256(kind.rawValue)), .uint(UInt256(parameter)),
                    .uint(value), .address(target), .uint(UInt256(votingEnds)), .string(description),
                ]))
        return [.uint(id)]
    }

    // MARK: Votes and execution

    private func vote(_ call: inout PredeployInvocation, id: UInt256, raw: UInt8) throws(ChainError) -> [ABIValue] {
        guard var proposal = try proposal(id, state: call.state) else { throw .refused(.unknownProposal(id)) }
        guard let support = Support(rawValue: raw) else { throw .refused(.unknownSupport(raw)) }
        guard call.context.timestamp < proposal.votingEnds else { throw .refused(.votingClosed(proposal: id)) }
        let voter = call.context.caller
        let ballot = VoteLayout.record((id, voter), in: address)
        guard try VoteLayout.read(ballot, from: call.state) == nil else { throw .refused(.alreadyVoted(proposal: id)) }
        let weight = try Staking.CheckpointLayout.stake(voter, atBlock: proposal.snapshotBlock, from: call.state)
        guard weight > .zero else { throw .refused(.noStakeAtSnapshot(proposal: id)) }
        switch support {
        case .against: proposal.againstVotes += weight
        case .inFavor: proposal.forVotes += weight
        case .abstain: proposal.abstainVotes += weight
        }
        ballot.set(VoteLayout.vote, UInt64(raw) + 1, in: &call.state)
        ProposalLayout.write(proposal, to: ProposalLayout.record(id, in: address), in: &call.state)
        call.logs.append(Self.voted.log(address, [.uint(id), .address(voter), .uint(UInt256(raw)), .uint(weight)]))
        return []
    }

    /// Whether the vote on `proposal` is over with a quorum and more stake for than against.
    public static func passed(_ proposal: Proposal, at timestamp: UInt64) -> Bool {
        let turnout = proposal.forVotes + proposal.againstVotes + proposal.abstainVotes
        return timestamp >= proposal.votingEnds && turnout > .zero && turnout >= proposal.quorumVotes
            && proposal.forVotes > proposal.againstVotes
    }

    private func execute(_ call: inout PredeployInvocation, id: UInt256) throws(ChainError) -> [ABIValue] {
        guard var proposal = try proposal(id, state: call.state) else { throw .refused(.unknownProposal(id)) }
        guard !proposal.executed else { throw .refused(.proposalAlreadyExecuted(id)) }
        guard Self.passed(proposal, at: call.context.timestamp) else { throw .refused(.proposalNotPassed(id)) }
        let timelock = try ParameterLayout.read(.timelockSeconds, from: call.state).uint64 ?? 0
        let (until, overflow) = proposal.votingEnds.addingReportingOverflow(timelock)
        guard !overflow, call.context.timestamp >= until else { throw .refused(.timelocked(until: until)) }
        switch proposal.kind {
        case .parameter:
            guard let parameter = ProtocolParameter(rawValue: proposal.parameter), parameter.isAllowed(proposal.value)
            else { throw .refused(.unknownParameter(proposal.parameter)) }
            ParameterLayout.write(parameter, proposal.value, in: &call.state)
            call.logs.append(
                Self.parameterChanged.log(address, [.uint(UInt256(parameter.rawValue)), .uint(proposal.value)]))
        case .grant:
            let treasury = try call.state.account(address).balance
            guard proposal.value <= treasury else {
                throw .refused(.grantTooLarge(amount: proposal.value, bound: treasury))
            }
            try call.state.transfer(proposal.value, from: address, to: proposal.target)
            call.logs.append(Self.granted.log(address, [.uint(id), .address(proposal.target), .uint(proposal.value)]))
        case .slashAgent:
            _ = try Staking.slash(proposal.target, .agent, proposal.value, to: address, &call)
        }
        proposal.executed = true
        ProposalLayout.write(proposal, to: ProposalLayout.record(id, in: address), in: &call.state)
        call.logs.append(Self.executed.log(address, [.uint(id)]))
        return []
    }

    // MARK: Views

    private func parameterView(_ call: inout PredeployInvocation, raw: UInt8) throws(ChainError) -> [ABIValue] {
        guard let parameter = ProtocolParameter(rawValue: raw) else { throw .refused(.unknownParameter(raw)) }
        return [.uint(try ParameterLayout.read(parameter, from: call.state))]
    }

    private func getProposal(_ call: inout PredeployInvocation, id: UInt256) throws(ChainError) -> [ABIValue] {
        let p = try proposal(id, state: call.state)
        return [
            .address(p?.proposer ?? .zero), .uint(UInt256(p?.kind.rawValue ?? 0)), .uint(UInt256(p?.parameter ?? 0)),
            .uint(p?.value ?? .zero), .address(p?.target ?? .zero), .uint(UInt256(p?.snapshotBlock ?? 0)),
            .uint(UInt256(p?.votingEnds ?? 0)), .uint(p?.forVotes ?? .zero), .uint(p?.againstVotes ?? .zero),
            .uint(p?.abstainVotes ?? .zero), .uint(p?.quorumVotes ?? .zero), .bool(p?.executed ?? false),
        ]
    }

    private func treasury(_ call: inout PredeployInvocation) throws(ChainError) -> [ABIValue] {
        [.uint(try call.state.account(address).balance)]
    }
}
