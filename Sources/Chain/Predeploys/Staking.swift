import Codec
import Crypto

/// `Staking`: OPEN staked per role (serving peer, attester, agent), locked while it backs a claim bond or an
/// attestation, withdrawn after an unbonding period, and slashed only by the modules that prove a fault
/// (`AttributionClaims`, `Governance`) through `slash`, which has no ABI entry.
public struct Staking: Predeploy {
    /// The address the contract is installed at on every network.
    public static let defaultAddress = try! Address(hex: "0x4200000000000000000000000000000000000104")

    /// What a stake backs.
    public enum Role: UInt8, CaseIterable, Sendable, Hashable {
        /// A peer that serves inference and claims its fees.
        case servingPeer = 0
        /// A peer that attests to correct claims.
        case attester = 1
        /// A registered autonomous agent.
        case agent = 2

        /// The parameter that holds the role's minimum stake.
        var minimum: ProtocolParameter {
            switch self {
            case .servingPeer: .minimumServingPeerStake
            case .attester: .minimumAttesterStake
            case .agent: .minimumAgentStake
            }
        }

        /// The role of an ABI argument, or a typed refusal.
        static func of(_ raw: UInt8) throws(ChainError) -> Role {
            guard let role = Role(rawValue: raw) else { throw .refused(.unknownRole(raw)) }
            return role
        }
    }

    /// One staker's stake in one role.
    public struct Stake: Equatable, Sendable {
        /// Wei staked and not unbonding (what votes and attests).
        public var staked: UInt256 = .zero
        /// The part of `staked` that backs bonds and attestations.
        public var locked: UInt256 = .zero
        /// Wei requested out and waiting for `releaseAt`; still slashable.
        public var unbonding: UInt256 = .zero
        /// The block timestamp from which `unbonding` may be withdrawn.
        public var releaseAt: UInt64 = 0

        /// Staked and not locked.
        public var free: UInt256 { staked - locked }
    }

    /// Where a stake is stored: the mapping at slot 1 from keccak256(staker ‖ uint8 role) to staked, locked,
    /// unbonding, releaseAt.
    public enum StakeLayout: StorageLayout {
        /// Staking at its default address.
        public static var contract: Address { Staking.defaultAddress }
        static let staked = StorageField<UInt256>(0)
        static let locked = StorageField<UInt256>(1)
        static let unbonding = StorageField<UInt256>(2)
        static let releaseAt = StorageField<UInt64>(3)

        /// `stakes[keccak256(staker ‖ role)]` of the mapping at slot 1.
        public static func base(_ key: (staker: Address, role: Role)) -> UInt256 {
            ContractStorage.mappingSlot(1, key: Keccak256.hash(key.staker.bytes + [key.role.rawValue]))
        }

        /// The stake (all zero when none).
        public static func read(_ record: StorageRecord, from reader: some StorageReader) throws(ChainError) -> Stake {
            Stake(
                staked: try record.get(staked, from: reader), locked: try record.get(locked, from: reader),
                unbonding: try record.get(unbonding, from: reader), releaseAt: try record.get(releaseAt, from: reader))
        }

        static func write(_ stake: Stake, to record: StorageRecord, in state: inout WorldState) {
            record.set(staked, stake.staked, in: &state)
            record.set(locked, stake.locked, in: &state)
            record.set(unbonding, stake.unbonding, in: &state)
            record.set(releaseAt, stake.releaseAt, in: &state)
        }
    }

    /// The total staked (not unbonding) in a role: the mapping at slot 2 from the role's number.
    public enum RoleTotalLayout: StorageLayout {
        /// Staking at its default address.
        public static var contract: Address { Staking.defaultAddress }
        static let total = StorageField<UInt256>(0)

        /// `totals[role]` of the mapping at slot 2.
        public static func base(_ role: Role) -> UInt256 { ContractStorage.mappingSlot(2, key: UInt256(role.rawValue)) }

        /// The role's total stake.
        public static func read(_ record: StorageRecord, from reader: some StorageReader) throws(ChainError) -> UInt256
        {
            try record.get(total, from: reader)
        }
    }

    /// A staker's voting stake (staked over every role) through time: the mapping at slot 3 from the staker to a
    /// count and checkpoints from keccak256(base), each word blockNumber·2^192 + stake; the zero address holds the
    /// total of all stakers.
    public enum CheckpointLayout: StorageLayout {
        /// Staking at its default address.
        public static var contract: Address { Staking.defaultAddress }
        static let count = StorageField<UInt64>(0)
        static let points = StorageArrayField<UInt256>(0)

        /// `checkpoints[staker]` of the mapping at slot 3.
        public static func base(_ staker: Address) -> UInt256 { ContractStorage.mappingSlot(3, key: staker.bytes) }

        /// Every checkpoint as (block, stake), oldest first.
        public static func read(_ record: StorageRecord, from reader: some StorageReader) throws(ChainError)
            -> [(block: UInt64, stake: UInt256)]
        {
            let count = try record.get(Self.count, from: reader)
            var out: [(block: UInt64, stake: UInt256)] = []
            for index in 0..<count { out.append(unpack(try record.get(points, index, from: reader))) }
            return out
        }

        /// The stake in force at the end of block `block`: the last checkpoint at or before it (binary search).
        public static func stake(_ staker: Address, atBlock block: UInt64, from reader: some StorageReader)
            throws(ChainError) -> UInt256
        {
            let record = record(staker)
            var low: UInt64 = 0
            var high = try record.get(count, from: reader)
            while low < high {
                let middle = low + (high - low) / 2
                if unpack(try record.get(points, middle, from: reader)).block <= block {
                    low = middle + 1
                } else {
                    high = middle
                }
            }
            return low == 0 ? .zero : unpack(try record.get(points, low - 1, from: reader)).stake
        }

        static func unpack(_ word: UInt256) -> (block: UInt64, stake: UInt256) {
            ((word >> 192).uint64!, word & ((UInt256(1) << 192) - 1))
        }

        /// Records that `staker`'s voting stake changed by `delta` (up or down) in block `block`.
        static func move(_ staker: Address, by delta: UInt256, up: Bool, block: UInt64, in state: inout WorldState)
            throws(ChainError)
        {
            let record = record(staker)
            let count = try record.get(Self.count, from: state)
            let last =
                count == 0 ? (block: 0, stake: UInt256.zero) : unpack(try record.get(points, count - 1, from: state))
            let stake = up ? last.stake + delta : last.stake - delta
            let word = UInt256(block) << 192 | stake
            if count > 0 && last.block == block {
                record.set(points, count - 1, word, in: &state)
            } else {
                record.set(points, count, word, in: &state)
                record.set(Self.count, count + 1, in: &state)
            }
        }
    }

    /// The module's address.
    public let address: Address

    /// The module at its default address (other modules reach it there).
    public init() { address = Self.defaultAddress }

    /// Every function and view.
    public static let methods: [PredeployMethod<Staking>] = [
        .init("stake(uint8 role)", returns: "uint256", gas: 40_000, .payable, handler: stake),
        .init("requestUnstake(uint8 role, uint256 amount)", returns: "uint64", gas: 40_000, handler: requestUnstake),
        .init("withdraw(uint8 role)", returns: "uint256", gas: 30_000, handler: withdraw),
        .init(
            "stakeOf(address staker, uint8 role)", returns: "uint256,uint256,uint256,uint64", .view, handler: stakeOf),
        .init("totalStaked(uint8 role)", returns: "uint256", .view, handler: totalStaked),
        .init(
            "votingStakeAt(address staker, uint64 blockNumber)", returns: "uint256", .view, handler: votingStakeAt),
    ]
    /// Every event.
    public static let events = [staked, unstakeRequested, withdrawn, slashed, locked, unlocked]

    static let staked = PredeployEvent(
        "Staked(address indexed staker, uint8 indexed role, uint256 amount, uint256 staked)")
    static let unstakeRequested = PredeployEvent(
        "UnstakeRequested(address indexed staker, uint8 indexed role, uint256 amount, uint64 releaseAt)")
    static let withdrawn = PredeployEvent("Withdrawn(address indexed staker, uint8 indexed role, uint256 amount)")
    static let slashed = PredeployEvent(
        "Slashed(address indexed staker, uint8 indexed role, uint256 amount, address recipient)")
    static let locked = PredeployEvent("StakeLocked(address indexed staker, uint8 indexed role, uint256 amount)")
    static let unlocked = PredeployEvent("StakeUnlocked(address indexed staker, uint8 indexed role, uint256 amount)")

    // MARK: The module's own functions

    private func stake(_ call: inout PredeployInvocation, role raw: UInt8) throws(ChainError) -> [ABIValue] {
        let role = try Role.of(raw)
        let amount = call.context.value
        let caller = call.context.caller
        var stake = try Self.stake(caller, role, call.state)
        stake.staked += amount
        let minimum = try ParameterLayout.read(role.minimum, from: call.state)
        guard amount > .zero, stake.staked >= minimum else {
            throw .refused(.belowMinimumStake(role: role, minimum: minimum))
        }
        try Self.store(caller, role, stake, change: amount, up: true, &call)
        call.logs.append(
            Self.staked.log(address, [.address(caller), .uint(UInt256(raw)), .uint(amount), .uint(stake.staked)]))
        return [.uint(stake.staked)]
    }

    private func requestUnstake(_ call: inout PredeployInvocation, role raw: UInt8, amount: UInt256)
        throws(ChainError) -> [ABIValue]
    {
        let role = try Role.of(raw)
        let caller = call.context.caller
        let releaseAt = try Self.beginUnbonding(caller, role, amount, &call)
        call.logs.append(
            Self.unstakeRequested.log(
                address, [.address(caller), .uint(UInt256(raw)), .uint(amount), .uint(UInt256(releaseAt))]))
        return [.uint(UInt256(releaseAt))]
    }

    private func withdraw(_ call: inout PredeployInvocation, role raw: UInt8) throws(ChainError) -> [ABIValue] {
        let role = try Role.of(raw)
        let caller = call.context.caller
        var stake = try Self.stake(caller, role, call.state)
        guard stake.unbonding > .zero, call.context.timestamp >= stake.releaseAt else {
            throw .refused(.nothingToWithdraw(releaseAt: stake.releaseAt))
        }
        let amount = stake.unbonding
        stake.unbonding = .zero
        stake.releaseAt = 0
        StakeLayout.write(stake, to: StakeLayout.record((caller, role)), in: &call.state)
        try call.state.transfer(amount, from: address, to: caller)
        call.logs.append(Self.withdrawn.log(address, [.address(caller), .uint(UInt256(raw)), .uint(amount)]))
        return [.uint(amount)]
    }

    private func stakeOf(_ call: inout PredeployInvocation, staker: Address, role raw: UInt8) throws(ChainError)
        -> [ABIValue]
    {
        let stake = try Self.stake(staker, try Role.of(raw), call.state)
        return [.uint(stake.staked), .uint(stake.locked), .uint(stake.unbonding), .uint(UInt256(stake.releaseAt))]
    }

    private func totalStaked(_ call: inout PredeployInvocation, role raw: UInt8) throws(ChainError) -> [ABIValue] {
        [.uint(try RoleTotalLayout.read(try Role.of(raw), from: call.state))]
    }

    private func votingStakeAt(_ call: inout PredeployInvocation, staker: Address, block: UInt64) throws(ChainError)
        -> [ABIValue]
    {
        [.uint(try CheckpointLayout.stake(staker, atBlock: block, from: call.state))]
    }

    // MARK: What the other modules call

    /// `staker`'s stake in `role`.
    public static func stake(_ staker: Address, _ role: Role, _ reader: some StorageReader) throws(ChainError) -> Stake
    {
        try StakeLayout.read((staker, role), from: reader)
    }

    /// Stores a changed stake whose `staked` moved by `change`, keeping the role total and the checkpoints.
    private static func store(
        _ staker: Address, _ role: Role, _ stake: Stake, change: UInt256, up: Bool, _ call: inout PredeployInvocation
    ) throws(ChainError) {
        StakeLayout.write(stake, to: StakeLayout.record((staker, role)), in: &call.state)
        guard change > .zero else { return }
        let total = RoleTotalLayout.record(role)
        let before = try total.get(RoleTotalLayout.total, from: call.state)
        total.set(RoleTotalLayout.total, up ? before + change : before - change, in: &call.state)
        let block = call.context.blockNumber
        try CheckpointLayout.move(staker, by: change, up: up, block: block, in: &call.state)
        try CheckpointLayout.move(.zero, by: change, up: up, block: block, in: &call.state)
    }

    /// Moves `amount` of free stake into unbonding until now + the unbonding period; returns the release time.
    ///
    /// What stays staked must be zero or at least the role's minimum (unless `allowBelowMinimum`).
    static func beginUnbonding(
        _ staker: Address, _ role: Role, _ amount: UInt256, _ call: inout PredeployInvocation,
        allowBelowMinimum: Bool = false
    ) throws(ChainError) -> UInt64 {
        var stake = try Self.stake(staker, role, call.state)
        guard amount > .zero, amount <= stake.free else {
            throw .refused(.insufficientFreeStake(role: role, free: stake.free, needed: amount))
        }
        let minimum = try ParameterLayout.read(role.minimum, from: call.state)
        let remaining = stake.staked - amount
        guard allowBelowMinimum || remaining == .zero || remaining >= minimum else {
            throw .refused(.belowMinimumStake(role: role, minimum: minimum))
        }
        let period = try ParameterLayout.read(.unbondingSeconds, from: call.state).uint64 ?? 0
        let (releaseAt, overflow) = call.context.timestamp.addingReportingOverflow(period)
        guard !overflow else { throw .reverted("unbonding period overflows the clock") }
        stake.staked = remaining
        stake.unbonding += amount
        stake.releaseAt = releaseAt
        try store(staker, role, stake, change: amount, up: false, &call)
        return releaseAt
    }

    /// Locks `amount` of `staker`'s free stake in `role` (a bond, an attestation).
    static func lock(_ staker: Address, _ role: Role, _ amount: UInt256, _ call: inout PredeployInvocation)
        throws(ChainError)
    {
        var stake = try Self.stake(staker, role, call.state)
        guard amount <= stake.free else {
            throw .refused(.insufficientFreeStake(role: role, free: stake.free, needed: amount))
        }
        stake.locked += amount
        StakeLayout.write(stake, to: StakeLayout.record((staker, role)), in: &call.state)
        call.logs.append(locked.log(defaultAddress, [.address(staker), .uint(UInt256(role.rawValue)), .uint(amount)]))
    }

    /// Releases up to `amount` of `staker`'s locked stake in `role` (less when a slash already took it).
    static func unlock(_ staker: Address, _ role: Role, _ amount: UInt256, _ call: inout PredeployInvocation)
        throws(ChainError)
    {
        var stake = try Self.stake(staker, role, call.state)
        let released = min(amount, stake.locked)
        stake.locked -= released
        StakeLayout.write(stake, to: StakeLayout.record((staker, role)), in: &call.state)
        call.logs.append(
            unlocked.log(defaultAddress, [.address(staker), .uint(UInt256(role.rawValue)), .uint(released)]))
    }

    /// Takes up to `amount` of `staker`'s stake in `role` to `recipient` (burned when nil); returns what was taken.
    ///
    /// Staked first, then unbonding, never more than both.
    ///
    /// Only `AttributionClaims` (a proven fraud) and `Governance` (a passed proposal) call this; it has no ABI entry.
    static func slash(
        _ staker: Address, _ role: Role, _ amount: UInt256, to recipient: Address?, _ call: inout PredeployInvocation
    ) throws(ChainError) -> UInt256 {
        var stake = try Self.stake(staker, role, call.state)
        let fromStaked = min(amount, stake.staked)
        let fromUnbonding = min(amount - fromStaked, stake.unbonding)
        stake.staked -= fromStaked
        stake.locked = min(stake.locked, stake.staked)
        stake.unbonding -= fromUnbonding
        try store(staker, role, stake, change: fromStaked, up: false, &call)
        let taken = fromStaked + fromUnbonding
        if let recipient {
            try call.state.transfer(taken, from: defaultAddress, to: recipient)
        } else {
            try call.state.burn(taken, from: defaultAddress)
        }
        call.logs.append(
            slashed.log(
                defaultAddress,
                [.address(staker), .uint(UInt256(role.rawValue)), .uint(taken), .address(recipient ?? .zero)]))
        return taken
    }
}
