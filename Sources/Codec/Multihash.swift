import Crypto

/// A self-describing hash: varint function code, varint digest length, digest (multiformats/multihash).
public struct Multihash: Hashable, Sendable, CustomStringConvertible {
    /// Hash functions by multicodec code.
    public enum Function: UInt64, Sendable, CaseIterable {
        case identity = 0x00
        case sha1 = 0x11
        case sha2x256 = 0x12
        case sha2x512 = 0x13
        case sha3x512 = 0x14
        case keccak256 = 0x1B
        case blake2b256 = 0xB220

        /// The multicodec table name.
        public var name: String {
            switch self {
            case .identity: "identity"
            case .sha1: "sha1"
            case .sha2x256: "sha2-256"
            case .sha2x512: "sha2-512"
            case .sha3x512: "sha3-512"
            case .keccak256: "keccak-256"
            case .blake2b256: "blake2b-256"
            }
        }

        /// The length of a full digest (identity: unbounded).
        public var digestLength: Int {
            switch self {
            case .identity: Int.max
            case .sha1: 20
            case .sha2x256, .keccak256, .blake2b256: 32
            case .sha2x512, .sha3x512: 64
            }
        }

        /// The full digest of `data`.
        public func digest(_ data: [UInt8]) -> [UInt8] {
            switch self {
            case .identity: data
            case .sha1: SHA1.hash(data)
            case .sha2x256: SHA256.hash(data)
            case .sha2x512: SHA512.hash(data)
            case .sha3x512: SHA3_512.hash(data)
            case .keccak256: Keccak256.hash(data)
            case .blake2b256: try! BLAKE2b.hash(data, outputLength: 32)
            }
        }
    }

    /// The largest digest accepted when decoding (an identity multihash can carry data).
    public static let maxDigestLength = 1024

    /// The hash function's multicodec code, known to this module or not.
    public let code: UInt64
    /// The digest bytes, possibly truncated.
    public let digest: [UInt8]

    /// A multihash from its parts.
    public init(code: UInt64, digest: [UInt8]) {
        self.code = code
        self.digest = digest
    }

    /// The multihash of `data` with `function`, optionally truncated to `length` bytes.
    public init(hashing data: [UInt8], with function: Function, length: Int? = nil) {
        let full = function.digest(data)
        self.init(code: function.rawValue, digest: Array(full.prefix(length ?? full.count)))
    }

    /// The sha2-256 multihash of `data`.
    public static func sha256(_ data: [UInt8]) -> Multihash { Multihash(hashing: data, with: .sha2x256) }

    /// The hash function, if it is one this module knows.
    public var function: Function? { Function(rawValue: code) }

    /// The binary form.
    public var bytes: [UInt8] {
        var out = Varint.encode(code)
        Varint.append(UInt64(digest.count), to: &out)
        return out + digest
    }

    /// The binary form in hex, without `0x`.
    public var description: String { Hex.encode(bytes, prefix: false) }

    /// Hashes the code and the digest in one pass (the synthesized hash feeds the digest byte by byte, which
    /// dominates dictionaries keyed by peer id).
    public func hash(into hasher: inout Hasher) {
        hasher.combine(code)
        digest.withUnsafeBytes { hasher.combine(bytes: $0) }
    }

    /// Reads a multihash at `position`, advancing past it.
    public static func read(_ bytes: [UInt8], at position: inout Int) throws(CodecError) -> Multihash {
        let code: UInt64
        let length: UInt64
        do {
            code = try Varint.read(bytes, at: &position)
            length = try Varint.read(bytes, at: &position)
        } catch {
            throw .invalidMultihash("\(error)")
        }
        guard length <= UInt64(maxDigestLength) else { throw .invalidMultihash("digest of \(length) bytes") }
        guard Int(length) <= bytes.count - position else {
            throw .invalidMultihash("digest of \(length) bytes, \(bytes.count - position) left")
        }
        if let function = Function(rawValue: code), function != .identity, Int(length) > function.digestLength {
            throw .invalidMultihash("\(length)-byte digest is longer than \(function.name) makes")
        }
        let digest = Array(bytes[position..<position + Int(length)])
        position += Int(length)
        return Multihash(code: code, digest: digest)
    }

    /// Decodes exactly one multihash spanning `bytes`.
    public init(bytes: [UInt8]) throws(CodecError) {
        var position = 0
        self = try Self.read(bytes, at: &position)
        guard position == bytes.count else { throw .invalidMultihash("\(bytes.count - position) trailing byte(s)") }
    }
}
