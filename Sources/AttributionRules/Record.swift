import Codec

/// A Datanet record: its contributor and its bytes.
public struct Record: Hashable, Sendable {
    /// The address credited for the record.
    public var contributor: Address
    /// The record's bytes (UTF-8 text).
    public var bytes: [UInt8]

    /// A record of `contributor` holding `bytes`.
    public init(contributor: Address, bytes: [UInt8]) {
        self.contributor = contributor
        self.bytes = bytes
    }
}
