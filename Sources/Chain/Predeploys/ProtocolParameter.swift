import AttributionRules
import Codec

/// A protocol parameter of the economy, kept in `Governance`'s storage (so every module and a light client read the
/// same provable value) and changed only by a passed proposal within the bounds below.
public enum ProtocolParameter: UInt8, CaseIterable, Sendable, Hashable, CustomStringConvertible {
    /// The fee split in basis points, packed: burn + servingPeer·2^16 + adapterOwner·2^32 + dataContributors·2^48.
    case feeSplit = 0
    /// PoA-SA v1 L, in bytes.
    case attributionMinSpan = 1
    /// PoA-SA v1 K.
    case attributionMaxRecords = 2
    /// Seconds a claim can be challenged after submission.
    case challengeWindowSeconds = 3
    /// The serving peer's stake a claim locks, in wei.
    case claimBond = 4
    /// The share of all attester stake whose attestations finalize a claim early, in basis points.
    case attestationQuorumBasisPoints = 5
    /// The share of its stake an attester of a voided claim loses, in basis points.
    case attesterPenaltyBasisPoints = 6
    /// The least stake of a serving peer, in wei.
    case minimumServingPeerStake = 7
    /// The least stake of an attester, in wei.
    case minimumAttesterStake = 8
    /// The least stake of a registered agent, in wei (the `AgentRegistry` rule).
    case minimumAgentStake = 9
    /// Seconds between an unstake request and its withdrawal.
    case unbondingSeconds = 10
    /// The stake a proposer needs, in wei.
    case proposalThreshold = 11
    /// Seconds a proposal is open to votes.
    case votingSeconds = 12
    /// Seconds between the end of a passed vote and its execution.
    case timelockSeconds = 13
    /// The share of the total stake at the snapshot that must vote, in basis points.
    case governanceQuorumBasisPoints = 14
    /// The most one proposal may grant from the treasury, in wei.
    case maximumGrant = 15

    /// The parameter's name, as in docs/economy.md and the network config's `economy` object.
    public var description: String {
        switch self {
        case .feeSplit: "feeSplit"
        case .attributionMinSpan: "attributionMinSpan"
        case .attributionMaxRecords: "attributionMaxRecords"
        case .challengeWindowSeconds: "challengeWindowSeconds"
        case .claimBond: "claimBond"
        case .attestationQuorumBasisPoints: "attestationQuorumBasisPoints"
        case .attesterPenaltyBasisPoints: "attesterPenaltyBasisPoints"
        case .minimumServingPeerStake: "minimumServingPeerStake"
        case .minimumAttesterStake: "minimumAttesterStake"
        case .minimumAgentStake: "minimumAgentStake"
        case .unbondingSeconds: "unbondingSeconds"
        case .proposalThreshold: "proposalThreshold"
        case .votingSeconds: "votingSeconds"
        case .timelockSeconds: "timelockSeconds"
        case .governanceQuorumBasisPoints: "governanceQuorumBasisPoints"
        case .maximumGrant: "maximumGrant"
        }
    }

    private static let open = NetworkConfig.weiPerOpen
    private static let day: UInt256 = 86_400

    /// The values a proposal may set (for `feeSplit`, each packed share; `isAllowed` also checks their sum).
    public var bounds: ClosedRange<UInt256> {
        switch self {
        case .feeSplit: 0...(UInt256(1) << 64) - 1
        case .attributionMinSpan: 8...4_096
        case .attributionMaxRecords: 1...16
        case .challengeWindowSeconds: 60...(30 * Self.day)
        case .claimBond: Self.open...(1_000_000 * Self.open)
        case .attestationQuorumBasisPoints: 1...10_000
        case .attesterPenaltyBasisPoints: 0...10_000
        case .minimumServingPeerStake, .minimumAttesterStake, .minimumAgentStake: Self.open...(10_000_000 * Self.open)
        case .unbondingSeconds: 60...(90 * Self.day)
        case .proposalThreshold: Self.open...(100_000_000 * Self.open)
        case .votingSeconds: 60...(30 * Self.day)
        case .timelockSeconds: 0...(30 * Self.day)
        case .governanceQuorumBasisPoints: 1...10_000
        case .maximumGrant: 0...(100_000_000 * Self.open)
        }
    }

    /// The value at genesis when the network config names none.
    public var defaultValue: UInt256 {
        switch self {
        case .feeSplit: Self.packFeeSplit(burn: 1_000, servingPeer: 3_000, adapterOwner: 2_000, dataContributors: 4_000)
        case .attributionMinSpan: 32
        case .attributionMaxRecords: 4
        case .challengeWindowSeconds: 600
        case .claimBond: 100 * Self.open
        case .attestationQuorumBasisPoints: 5_000
        case .attesterPenaltyBasisPoints: 1_000
        case .minimumServingPeerStake, .minimumAttesterStake, .minimumAgentStake: 1_000 * Self.open
        case .unbondingSeconds: 1_200
        case .proposalThreshold: 1_000 * Self.open
        case .votingSeconds: 600
        case .timelockSeconds: 60
        case .governanceQuorumBasisPoints: 2_000
        case .maximumGrant: 10_000_000 * Self.open
        }
    }

    /// The parameter named `name` (its `description`).
    public init?(name: String) {
        guard let found = Self.allCases.first(where: { $0.description == name }) else { return nil }
        self = found
    }

    /// Whether `value` is within the bounds; a fee split's four shares must also sum to 10,000.
    public func isAllowed(_ value: UInt256) -> Bool {
        guard bounds.contains(value) else { return false }
        guard self == .feeSplit else { return true }
        let split = Self.unpackFeeSplit(value)
        return split.burn + split.servingPeer + split.adapterOwner + split.dataContributors == 10_000
    }

    /// The packed word of a fee split.
    public static func packFeeSplit(burn: UInt64, servingPeer: UInt64, adapterOwner: UInt64, dataContributors: UInt64)
        -> UInt256
    {
        UInt256(burn) | UInt256(servingPeer) << 16 | UInt256(adapterOwner) << 32 | UInt256(dataContributors) << 48
    }

    /// The four shares of a packed fee split.
    public static func unpackFeeSplit(_ value: UInt256) -> NetworkConfig.FeeSplit {
        func share(_ shift: Int) -> UInt64 { ((value >> shift) & 0xFFFF).uint64! }
        return NetworkConfig.FeeSplit(
            burn: share(0), servingPeer: share(16), adapterOwner: share(32), dataContributors: share(48))
    }
}

/// The parameters in force: read from `Governance`'s storage through `ParameterLayout`.
public struct ProtocolParameters: Sendable, Equatable {
    /// Every parameter's value.
    public var values: [ProtocolParameter: UInt256]

    /// The value of `parameter`.
    public subscript(_ parameter: ProtocolParameter) -> UInt256 { values[parameter] ?? parameter.defaultValue }

    /// A parameter that holds at most 64 bits (seconds, basis points, L, K), as a UInt64.
    public func small(_ parameter: ProtocolParameter) -> UInt64 { self[parameter].uint64 ?? UInt64.max }

    /// The fee split in force.
    public var feeSplit: NetworkConfig.FeeSplit { ProtocolParameter.unpackFeeSplit(self[.feeSplit]) }

    /// L and K in force.
    public var attribution: AttributionParameters {
        AttributionParameters(
            minSpan: Int(small(.attributionMinSpan)), maxRecords: Int(small(.attributionMaxRecords)))
    }

    /// The values of a network config at genesis: its fee split, window, L and K, and its `economy` values over the
    /// defaults.
    public init(genesis config: NetworkConfig) {
        var values: [ProtocolParameter: UInt256] = [:]
        for parameter in ProtocolParameter.allCases { values[parameter] = parameter.defaultValue }
        let split = config.parameters.feeSplitBasisPoints
        values[.feeSplit] = ProtocolParameter.packFeeSplit(
            burn: split.burn, servingPeer: split.servingPeer, adapterOwner: split.adapterOwner,
            dataContributors: split.dataContributors)
        values[.challengeWindowSeconds] = UInt256(config.parameters.claimChallengeWindowSeconds)
        values[.attributionMinSpan] = UInt256(config.parameters.attributionMinSpan)
        values[.attributionMaxRecords] = UInt256(config.parameters.attributionMaxRecords)
        for (parameter, value) in config.economyParameters { values[parameter] = value }
        self.values = values
    }

    /// The values stored in `Governance`'s storage.
    public static func read(from reader: some StorageReader) throws(ChainError) -> ProtocolParameters {
        var values: [ProtocolParameter: UInt256] = [:]
        for parameter in ProtocolParameter.allCases {
            values[parameter] = try ParameterLayout.read(parameter, from: reader)
        }
        return ProtocolParameters(values: values)
    }

    /// Parameters from their values.
    public init(values: [ProtocolParameter: UInt256]) { self.values = values }
}

/// Where a parameter is stored: `Governance`'s mapping at slot 1 from the parameter's number.
public enum ParameterLayout: StorageLayout {
    /// `Governance` at its default address.
    public static var contract: Address { Governance.defaultAddress }
    static let value = StorageField<UInt256>(0)

    /// `parameters[id]` of the mapping at slot 1.
    public static func base(_ parameter: ProtocolParameter) -> UInt256 {
        ContractStorage.mappingSlot(1, key: UInt256(parameter.rawValue))
    }

    /// The parameter's value.
    public static func read(_ record: StorageRecord, from reader: some StorageReader) throws(ChainError) -> UInt256 {
        try record.get(value, from: reader)
    }

    /// Stores the parameter's value.
    static func write(_ parameter: ProtocolParameter, _ value: UInt256, in state: inout WorldState) {
        record(parameter).set(Self.value, value, in: &state)
    }
}
