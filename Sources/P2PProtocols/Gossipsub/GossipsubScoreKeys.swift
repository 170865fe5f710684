import Codec

/// A peer id as a dictionary key that hashes only the last 8 bytes of its digest.
///
/// The score keeper looks a peer up on every call, and hashing a whole 34–38-byte digest byte by byte costs several
/// times the rest of a `score` call. The tail of a digest is public-key or SHA-256 bytes, and the hasher is seeded per
/// process, so flooding one bucket would take keys ground to a chosen 8-byte tail. Equality still compares the whole
/// id.
struct GossipsubScorePeerKey: Hashable, Sendable {
    /// The peer.
    let peer: PeerID
    /// The digest's last 8 bytes: hashed, and compared first (digests share their first bytes: key type, length).
    private let tail: UInt64

    init(_ peer: PeerID) {
        self.peer = peer
        let digest = peer.multihash.digest
        tail = GossipsubScoreKeyBytes.word(digest, endingAt: digest.count)
    }

    static func == (lhs: Self, rhs: Self) -> Bool { lhs.tail == rhs.tail && lhs.peer == rhs.peer }

    func hash(into hasher: inout Hasher) { hasher.combine(tail) }
}

/// A message id as a dictionary key that hashes only its length and its last 16 bytes.
///
/// Those are the author's key tail and the sequence number of a `from ‖ seqno` id, or hash bytes of a content id.
/// Equality compares them first (the ids of one author share every byte before them), then the whole id.
struct GossipsubScoreMessageKey: Hashable, Sendable {
    /// The message id.
    let id: GossipsubMessageID
    private let tail: UInt64
    private let beforeTail: UInt64

    init(_ id: GossipsubMessageID) {
        self.id = id
        let bytes = id.bytes
        tail = GossipsubScoreKeyBytes.word(bytes, endingAt: bytes.count) ^ UInt64(truncatingIfNeeded: bytes.count) << 56
        beforeTail = GossipsubScoreKeyBytes.word(bytes, endingAt: bytes.count - 8)
    }

    static func == (lhs: Self, rhs: Self) -> Bool {
        lhs.tail == rhs.tail && lhs.beforeTail == rhs.beforeTail && lhs.id == rhs.id
    }

    func hash(into hasher: inout Hasher) {
        hasher.combine(tail)
        hasher.combine(beforeTail)
    }
}

/// Byte-folding for the keys above.
enum GossipsubScoreKeyBytes {
    /// The up to 8 bytes of `bytes` before `end`, big-endian in a word (fewer when the array is shorter).
    static func word(_ bytes: [UInt8], endingAt end: Int) -> UInt64 {
        var word: UInt64 = 0
        var index = max(0, end - 8)
        while index < end {
            word = word << 8 | UInt64(bytes[index])
            index += 1
        }
        return word
    }
}
