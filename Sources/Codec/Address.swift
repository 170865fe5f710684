import Crypto

/// A 20-byte Ethereum address, written in EIP-55 mixed-case checksum form.
public struct Address: Hashable, Comparable, Sendable, CustomStringConvertible {
    /// The 20 bytes.
    public let bytes: [UInt8]

    /// The zero address.
    public static let zero = Address(unchecked: [UInt8](repeating: 0, count: 20))

    /// An address from exactly 20 bytes.
    public init(bytes: [UInt8]) throws(CodecError) {
        guard bytes.count == 20 else { throw .invalidAddress("\(bytes.count) bytes, expected 20") }
        self.bytes = bytes
    }

    init(unchecked bytes: [UInt8]) { self.bytes = bytes }

    /// Parses `0x` + 40 hex digits.
    ///
    /// All-lower and all-upper case are accepted as they are; mixed case must be the EIP-55 checksum.
    public init(hex text: some StringProtocol) throws(CodecError) {
        guard text.hasPrefix("0x") || text.hasPrefix("0X") else { throw .invalidAddress("missing 0x prefix") }
        let digits = text.dropFirst(2)
        guard digits.utf8.count == 40 else { throw .invalidAddress("\(digits.utf8.count) hex digits, expected 40") }
        let bytes: [UInt8]
        do {
            bytes = try Hex.decode(digits)
        } catch {
            throw .invalidAddress("\(error)")
        }
        self.bytes = bytes
        let hasLower = digits.utf8.contains { $0 >= UInt8(ascii: "a") && $0 <= UInt8(ascii: "f") }
        let hasUpper = digits.utf8.contains { $0 >= UInt8(ascii: "A") && $0 <= UInt8(ascii: "F") }
        if hasLower && hasUpper && String(digits) != String(checksummed.dropFirst(2)) {
            throw .invalidAddress("mixed-case address fails its EIP-55 checksum")
        }
    }

    /// The EIP-55 checksummed text: a letter is upper case when the matching nibble of
    /// keccak256(lowercase hex) is 8 or more.
    public var checksummed: String {
        let lower = Array(Hex.encode(bytes, prefix: false).utf8)
        let hash = Keccak256.hash(lower)
        var out = Array("0x".utf8)
        for (index, char) in lower.enumerated() {
            let nibble = index % 2 == 0 ? hash[index / 2] >> 4 : hash[index / 2] & 0x0F
            out.append(char >= UInt8(ascii: "a") && nibble >= 8 ? char - 32 : char)
        }
        return String(decoding: out, as: UTF8.self)
    }

    /// `0x` + 40 lower-case hex digits.
    public var lowercaseHex: String { Hex.encode(bytes) }

    /// The EIP-55 checksummed form.
    public var description: String { checksummed }

    /// Orders addresses by their bytes.
    public static func < (a: Address, b: Address) -> Bool { a.bytes.lexicographicallyPrecedes(b.bytes) }
}
