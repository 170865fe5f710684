import Codec

/// `AgentRegistry`: autonomous agents registered with a minimum agent stake, listed provably.
///
/// An agent's stake is `Staking`'s agent role; deregistration starts the unbonding of its free part. It is slashed by a passed governance proposal or by a proven fault of a claim they submitted.
public struct AgentRegistry: Predeploy {
    /// The address the contract is installed at on every network.
    public static let defaultAddress = try! Address(hex: "0x4200000000000000000000000000000000000107")
    /// The longest metadata CID.
    public static let maxMetadataBytes = 128

    /// An agent's standing.
    public enum Status: UInt8, Sendable {
        /// Never registered.
        case none = 0
        /// Registered and bonded.
        case active = 1
        /// Deregistered; its stake unbonds.
        case deregistered = 2
    }

    /// An agent as stored.
    public struct Agent: Equatable, Sendable {
        /// Its standing.
        public var status: Status
        /// Its position in the agent list.
        public var index: UInt64
        /// When it (last) registered.
        public var registeredAt: UInt64
        /// The CID of its metadata.
        public var metadataCID: [UInt8]
    }

    /// The agent list: slot 0 holds the count, the mapping at slot 1 from the index to the agent's address.
    public enum AgentListLayout: StorageLayout {
        /// The registry at its default address.
        public static var contract: Address { AgentRegistry.defaultAddress }
        static let count = StorageField<UInt64>(0)
        static let agent = StorageField<Address>(0)

        /// `agentList[index]` of the mapping at slot 1.
        public static func base(_ index: UInt64) -> UInt256 { ContractStorage.mappingSlot(1, key: UInt256(index)) }

        /// The address at `index`.
        public static func read(_ record: StorageRecord, from reader: some StorageReader) throws(ChainError) -> Address
        {
            try record.get(agent, from: reader)
        }
    }

    /// An agent's record: the mapping at slot 2 from its address to status, index, registeredAt, metadata CID.
    public enum AgentLayout: StorageLayout {
        /// The registry at its default address.
        public static var contract: Address { AgentRegistry.defaultAddress }
        static let status = StorageField<UInt64>(0)
        static let index = StorageField<UInt64>(1)
        static let registeredAt = StorageField<UInt64>(2)
        static let metadataCID = StorageBytesField(3, maxLength: AgentRegistry.maxMetadataBytes)

        /// `agents[address]` of the mapping at slot 2.
        public static func base(_ agent: Address) -> UInt256 { ContractStorage.mappingSlot(2, key: agent.bytes) }

        /// The agent, or nil when the address never registered.
        public static func read(_ record: StorageRecord, from reader: some StorageReader) throws(ChainError) -> Agent? {
            guard let status = Status(rawValue: UInt8(truncatingIfNeeded: try record.get(status, from: reader))),
                status != .none
            else { return nil }
            return Agent(
                status: status, index: try record.get(index, from: reader),
                registeredAt: try record.get(registeredAt, from: reader),
                metadataCID: try record.get(metadataCID, from: reader))
        }
    }

    /// The module's address.
    public let address: Address

    /// The module at its default address (other modules reach it there).
    public init() { address = Self.defaultAddress }

    /// Every function and view.
    public static let methods: [PredeployMethod<AgentRegistry>] = [
        .init("register(bytes metadataCID)", returns: "uint64", gas: 60_000, handler: register),
        .init("update(bytes metadataCID)", gas: 30_000, handler: update),
        .init("deregister()", returns: "uint64", gas: 40_000, handler: deregister),
        .init("agentCount()", returns: "uint64", .view, handler: agentCount),
        .init("agentAt(uint64 index)", returns: "address", .view, handler: agentAt),
        .init("agent(address account)", returns: "uint8,uint64,bytes,uint256", .view, handler: agentView),
    ]
    /// Every event.
    public static let events = [registered, updated, deregistered]

    /// Refuses OPEN in the contract's name: none of its functions takes it.
    public static func valueRefusal(function: String) -> ChainError { .contractNotPayable(contract: "AgentRegistry") }

    static let registered = PredeployEvent("AgentRegistered(address indexed agent, uint64 index, bytes metadataCID)")
    static let updated = PredeployEvent("AgentUpdated(address indexed agent, bytes metadataCID)")
    static let deregistered = PredeployEvent("AgentDeregistered(address indexed agent, uint64 releaseAt)")

    /// Whether `account` is an active registered agent.
    public static func isAgent(_ account: Address, _ reader: some StorageReader) throws(ChainError) -> Bool {
        try AgentLayout.read(account, from: reader)?.status == .active
    }

    private func register(_ call: inout PredeployInvocation, cid: [UInt8]) throws(ChainError) -> [ABIValue] {
        let caller = call.context.caller
        guard cid.count <= Self.maxMetadataBytes else { throw .refused(.metadataTooLong(cid.count)) }
        let existing = try AgentLayout.read(caller, in: address, from: call.state)
        guard existing?.status != .active else { throw .refused(.alreadyRegistered) }
        let minimum = try ParameterLayout.read(.minimumAgentStake, from: call.state)
        guard try Staking.stake(caller, .agent, call.state).staked >= minimum else {
            throw .refused(.belowMinimumStake(role: .agent, minimum: minimum))
        }
        let list = StorageRecord(contract: address, base: .zero)
        let index: UInt64
        if let existing {
            index = existing.index
        } else {
            index = try list.get(AgentListLayout.count, from: call.state)
            list.set(AgentListLayout.count, index + 1, in: &call.state)
            AgentListLayout.record(index, in: address).set(AgentListLayout.agent, caller, in: &call.state)
        }
        let record = AgentLayout.record(caller, in: address)
        record.set(AgentLayout.status, UInt64(Status.active.rawValue), in: &call.state)
        record.set(AgentLayout.index, index, in: &call.state)
        record.set(AgentLayout.registeredAt, call.context.timestamp, in: &call.state)
        record.set(AgentLayout.metadataCID, cid, in: &call.state)
        call.logs.append(Self.registered.log(address, [.address(caller), .uint(UInt256(index)), .bytes(cid)]))
        return [.uint(UInt256(index))]
    }

    private func update(_ call: inout PredeployInvocation, cid: [UInt8]) throws(ChainError) -> [ABIValue] {
        let caller = call.context.caller
        guard cid.count <= Self.maxMetadataBytes else { throw .refused(.metadataTooLong(cid.count)) }
        guard try Self.isAgent(caller, call.state) else { throw .refused(.notAnAgent(caller)) }
        AgentLayout.record(caller, in: address).set(AgentLayout.metadataCID, cid, in: &call.state)
        call.logs.append(Self.updated.log(address, [.address(caller), .bytes(cid)]))
        return []
    }

    private func deregister(_ call: inout PredeployInvocation) throws(ChainError) -> [ABIValue] {
        let caller = call.context.caller
        guard try Self.isAgent(caller, call.state) else { throw .refused(.notAnAgent(caller)) }
        AgentLayout.record(caller, in: address).set(
            AgentLayout.status, UInt64(Status.deregistered.rawValue), in: &call.state)
        let free = try Staking.stake(caller, .agent, call.state).free
        var releaseAt: UInt64 = 0
        if free > .zero {
            // Everything free leaves at once; the locked rest follows by `requestUnstake` once its claims resolve.
            let stake = try Staking.stake(caller, .agent, call.state)
            releaseAt = try Staking.beginUnbonding(caller, .agent, free, &call, allowBelowMinimum: stake.locked > .zero)
        }
        call.logs.append(Self.deregistered.log(address, [.address(caller), .uint(UInt256(releaseAt))]))
        return [.uint(UInt256(releaseAt))]
    }

    private func agentCount(_ call: inout PredeployInvocation) throws(ChainError) -> [ABIValue] {
        [.uint(UInt256(try StorageRecord(contract: address, base: .zero).get(AgentListLayout.count, from: call.state)))]
    }

    private func agentAt(_ call: inout PredeployInvocation, index: UInt64) throws(ChainError) -> [ABIValue] {
        let count = try StorageRecord(contract: address, base: .zero).get(AgentListLayout.count, from: call.state)
        guard index < count else { throw .reverted("agent index out of range") }
        return [.address(try AgentListLayout.read(index, in: address, from: call.state))]
    }

    private func agentView(_ call: inout PredeployInvocation, account: Address) throws(ChainError) -> [ABIValue] {
        let agent = try AgentLayout.read(account, in: address, from: call.state)
        let stake = try Staking.stake(account, .agent, call.state).staked
        return [
            .uint(UInt256(agent?.status.rawValue ?? 0)), .uint(UInt256(agent?.registeredAt ?? 0)),
            .bytes(agent?.metadataCID ?? []), .uint(stake),
        ]
    }
}
