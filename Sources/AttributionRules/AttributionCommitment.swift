/// What a claim is judged against: the snapshot `DatanetRegistry` committed (its root and record count) and the
/// network's parameters — never the values the proof itself names.
public struct AttributionCommitment: Hashable, Sendable {
    /// The committed snapshot root.
    public var snapshotRoot: [UInt8]
    /// The committed snapshot's number of records.
    public var recordCount: UInt64
    /// The network's L and K.
    public var parameters: AttributionParameters

    /// A commitment to the snapshot `snapshotRoot` of `recordCount` records under `parameters`.
    public init(snapshotRoot: [UInt8], recordCount: UInt64, parameters: AttributionParameters) {
        self.snapshotRoot = snapshotRoot
        self.recordCount = recordCount
        self.parameters = parameters
    }
}
