import Crypto

/// The 2048-bit log bloom of receipts and headers (Yellow Paper §4.3.1): each address and topic sets three
/// bits chosen from its keccak256.
public struct Bloom: Hashable, Sendable {
    /// The 256 bytes, big-endian bit order as in the header.
    public private(set) var bytes: [UInt8]

    /// The empty bloom.
    public init() { bytes = [UInt8](repeating: 0, count: 256) }

    /// A bloom from its 256 bytes; nil for any other length.
    public init?(bytes: [UInt8]) {
        guard bytes.count == 256 else { return nil }
        self.bytes = bytes
    }

    /// Adds `data` (an address or a topic).
    public mutating func add(_ data: some Collection<UInt8>) {
        for (index, mask) in Self.bits(of: data) { bytes[index] |= mask }
    }

    /// Adds every bit of `other`.
    public mutating func formUnion(_ other: Bloom) {
        for index in 0..<256 { bytes[index] |= other.bytes[index] }
    }

    /// Whether `data` may have been added (false means certainly not).
    public func mayContain(_ data: some Collection<UInt8>) -> Bool {
        Self.bits(of: data).allSatisfy { bytes[$0.index] & $0.mask != 0 }
    }

    private static func bits(of data: some Collection<UInt8>) -> [(index: Int, mask: UInt8)] {
        let hash = Keccak256.hash(data)
        return stride(from: 0, to: 6, by: 2).map { i in
            let bit = (Int(hash[i]) << 8 | Int(hash[i + 1])) & 2047
            return (255 - bit / 8, UInt8(1) << UInt8(bit % 8))
        }
    }
}
