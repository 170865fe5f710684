import Codec
import Crypto

/// A point of the Kademlia key space: the SHA-256 of a peer id's bytes or of a record or provider key, as four
/// big-endian 64-bit words; the distance of two points is their XOR, compared as a 256-bit integer.
public struct KademliaKey: Hashable, Comparable, Sendable, CustomStringConvertible {
    /// The most significant word.
    public let w0: UInt64
    /// The second word.
    public let w1: UInt64
    /// The third word.
    public let w2: UInt64
    /// The least significant word.
    public let w3: UInt64

    /// A point from its four words.
    public init(_ w0: UInt64, _ w1: UInt64, _ w2: UInt64, _ w3: UInt64) {
        self.w0 = w0
        self.w1 = w1
        self.w2 = w2
        self.w3 = w3
    }

    /// A point from a 32-byte digest (shorter input is zero-padded, longer is cut).
    public init(digest: [UInt8]) {
        func word(_ offset: Int) -> UInt64 {
            var value: UInt64 = 0
            for index in offset..<offset + 8 {
                value = value << 8 | UInt64(index < digest.count ? digest[index] : 0)
            }
            return value
        }
        self.init(word(0), word(8), word(16), word(24))
    }

    /// The point of arbitrary key bytes: their SHA-256.
    public init(hashing bytes: [UInt8]) { self.init(digest: SHA256.hash(bytes)) }

    /// The point of a peer: the SHA-256 of its peer id's multihash bytes.
    public init(peer: PeerID) { self.init(hashing: peer.multihash.bytes) }

    /// The XOR distance to `other`.
    @inline(__always)
    public func distance(to other: KademliaKey) -> KademliaKey {
        KademliaKey(w0 ^ other.w0, w1 ^ other.w1, w2 ^ other.w2, w3 ^ other.w3)
    }

    /// How many leading bits this point shares with `other` (256 when equal).
    public func commonPrefixLength(with other: KademliaKey) -> Int {
        let d = distance(to: other)
        if d.w0 != 0 { return d.w0.leadingZeroBitCount }
        if d.w1 != 0 { return 64 + d.w1.leadingZeroBitCount }
        if d.w2 != 0 { return 128 + d.w2.leadingZeroBitCount }
        return 192 + d.w3.leadingZeroBitCount
    }

    /// The 32 bytes, big-endian.
    public var bytes: [UInt8] {
        var out: [UInt8] = []
        out.reserveCapacity(32)
        for word in [w0, w1, w2, w3] {
            for shift in stride(from: 56, through: 0, by: -8) { out.append(UInt8(truncatingIfNeeded: word >> shift)) }
        }
        return out
    }

    /// Lexicographic order of the words: the order of 256-bit integers (so of distances).
    @inline(__always)
    public static func < (lhs: KademliaKey, rhs: KademliaKey) -> Bool {
        if lhs.w0 != rhs.w0 { return lhs.w0 < rhs.w0 }
        if lhs.w1 != rhs.w1 { return lhs.w1 < rhs.w1 }
        if lhs.w2 != rhs.w2 { return lhs.w2 < rhs.w2 }
        return lhs.w3 < rhs.w3
    }

    /// The first 8 bytes in hex (for logs).
    public var description: String {
        let hex = String(w0, radix: 16)
        return String(repeating: "0", count: 16 - hex.count) + hex
    }
}

/// Keys whose SHA-256 starts with a given 16-bit prefix, for bucket refresh.
///
/// A random walk into bucket `cpl` needs a key the remote side hashes into that bucket, so the key's preimage must be found, as go-libp2p does with
/// its generated table. Built once per process, lazily (about 730,000 SHA-256 of 6 bytes).
enum KademliaRefreshKeys {
    /// The deepest bucket a refresh reaches (the prefix table covers 16 bits).
    static let maxCommonPrefixLength = 15

    /// seeds[prefix] is a seed whose key hashes to a digest starting with `prefix`.
    static let seeds: [UInt32] = {
        var table = [UInt32](repeating: .max, count: 1 << 16)
        var missing = 1 << 16
        var seed: UInt32 = 0
        while missing > 0 {
            let prefix = Int(KademliaKey(hashing: key(seed: seed)).w0 >> 48)
            if table[prefix] == .max {
                table[prefix] = seed
                missing -= 1
            }
            seed &+= 1
        }
        return table
    }()

    /// The key bytes of a seed: an identity multihash of the seed's 4 bytes (a syntactically valid peer id).
    static func key(seed: UInt32) -> [UInt8] {
        [
            0x00, 0x04, UInt8(seed >> 24), UInt8(truncatingIfNeeded: seed >> 16), UInt8(truncatingIfNeeded: seed >> 8),
            UInt8(truncatingIfNeeded: seed),
        ]
    }

    /// A key whose point shares exactly `cpl` leading bits with `local` (`cpl` ≤ 15), the rest of its 16-bit prefix
    /// drawn from `randomBits`.
    static func key(commonPrefixLength cpl: Int, with local: KademliaKey, randomBits: UInt64) -> [UInt8] {
        let localPrefix = local.w0 >> 48
        let flip: UInt64 = 1 << UInt64(15 - cpl)
        let mask = flip - 1
        let prefix = ((localPrefix ^ flip) & ~mask & 0xFFFF) | (randomBits & mask)
        return key(seed: seeds[Int(prefix)])
    }
}
