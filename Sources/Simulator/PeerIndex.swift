import Codec

/// Peer id → node number, an open-addressing table keyed by the peer id's fingerprint (through its table hash),
/// checked against the full id on a hit: the lookup of every `.send` action.
struct PeerIndex {
    private var table: [Int32]
    private let mask: Int

    /// A table of `peers`, each at its position.
    init(_ peers: [PeerID]) {
        var capacity = 16
        while capacity < peers.count * 2 { capacity <<= 1 }
        mask = capacity - 1
        table = Array(repeating: -1, count: capacity)
        for (node, peer) in peers.enumerated() {
            var bucket = Self.hash(peer) & mask
            while table[bucket] >= 0 { bucket = (bucket + 1) & mask }
            table[bucket] = Int32(node)
        }
    }

    /// The peer id's table hash under a fixed seed: a mix of the fingerprint it carries, reading none of its bytes.
    @inline(__always)
    private static func hash(_ peer: PeerID) -> Int { peer._rawHashValue(seed: 0) }

    /// The node whose peer id is `peer`, if any.
    @inline(__always)
    func find(_ peer: PeerID, in peers: [PeerID]) -> Int32? {
        var bucket = Self.hash(peer) & mask
        while true {
            let node = table[bucket]
            guard node >= 0 else { return nil }
            if peers[Int(node)] == peer { return node }
            bucket = (bucket + 1) & mask
        }
    }
}
