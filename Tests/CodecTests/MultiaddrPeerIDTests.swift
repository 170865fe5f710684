import Codec
import Foundation
import TestSupport
import Testing

@Test func peerIDVectors() throws {
    guard let data = Fixtures.vector("libp2p/peer-ids.json") else { return }
    let vectors = try #require(try Fixtures.json(data) as? [String: Any])
    let keys = try #require(vectors["vectors"] as? [[String: Any]])
    #expect(keys.count == 4)
    for vector in keys {
        let protobuf = try Hex.decode(try #require(vector["public_key_protobuf_hex"] as? String))
        let peer = PeerID(publicKeyProtobuf: protobuf)
        #expect(peer.description == vector["peer_id"] as? String)
        #expect(Hex.encode(peer.multihash.bytes, prefix: false) == vector["peer_id_multihash_hex"] as? String)
        #expect(peer.cidString == vector["peer_id_cidv1_base32"] as? String)
        #expect(try PeerID(string: peer.description) == peer)
        #expect(try PeerID(string: peer.cidString) == peer)
        let key = try LibP2PPublicKey(protobuf: protobuf)
        #expect(key.type.rawValue == UInt64(try #require(vector["key_type_code"] as? Int)))
        #expect(key.protobuf == protobuf)
        if protobuf.count <= 42 { #expect(peer.publicKey == key) }
    }
    for example in try #require(vectors["string_representation_examples"] as? [[String: Any]]) {
        let text = try #require(example["peer_id"] as? String)
        #expect(try PeerID(string: text).description.isEmpty == false, "\(text)")
    }
}

@Test func protobufKnownAnswers() throws {
    // From the protobuf encoding guide: field 1 = 150, field 2 = "testing".
    var writer = ProtobufWriter()
    writer.varint(1, 150)
    writer.string(2, "testing")
    #expect(Hex.encode(writer.bytes, prefix: false) == "089601120774657374696e67")
    var reader = ProtobufReader(writer.bytes)
    let fields = try reader.readAll()
    #expect(fields.map(\.number) == [1, 2])
    #expect(fields[0].varint == 150)
    #expect(fields[1].bytes == Array("testing".utf8))
    var signed = ProtobufWriter()
    signed.sint(1, -1)
    signed.fixed32(2, 0x0102_0304)
    signed.fixed64(3, 1)
    #expect(Hex.encode(signed.bytes, prefix: false) == "0801150403020119" + "0100000000000000")
    #expect(Varint.encode(300) == [0xAC, 0x02])
    #expect(try Varint.decode([0xAC, 0x02]) == 300)
    for bad: [UInt8] in [
        [0x80], [0x80, 0x00], [0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0x01], [0x01, 0x01],
    ] {
        #expect(throws: CodecError.self, "\(bad)") { try Varint.decode(bad) }
    }
    for bad: [UInt8] in [
        [0x08], [0x0B], [0x0C], [0x0E, 0x00], [0x00, 0x01], [0x12, 0x05, 0x61], [0x09, 0x01], [0x0D, 0x01, 0x02],
    ] {
        var badReader = ProtobufReader(bad)
        #expect(throws: CodecError.self, "\(bad)") { try badReader.readAll() }
    }
}

@Test(arguments: [
    ("/ip4/127.0.0.1/tcp/4001", "047f000001060fa1"),
    ("/ip6/::1/tcp/4001", "29000000000000000000000000000000010" + "60fa1"),
    ("/dns4/example.com/tcp/443", "360b6578616d706c652e636f6d0601bb"),
    ("/ip4/1.2.3.4/udp/1234/quic-v1", "0401020304910204d2cc03"),
])
func multiaddrKnownForms(text: String, hex: String) throws {
    let address = try Multiaddr(text)
    #expect(Hex.encode(address.bytes, prefix: false) == hex)
    #expect(address.description == text)
    #expect(try Multiaddr(bytes: try Hex.decode(hex)) == address)
}

@Test func multiaddrWithPeerIDAndCanonicalIPv6() throws {
    let text = "/ip4/1.2.3.4/tcp/1/p2p/QmcgpsyWgH8Y8ajJz1Cu72KnS5uo2Aa2LpzU7kinSupNKC"
    let address = try Multiaddr(text)
    #expect(address.description == text)
    #expect(address.peerID?.description == "QmcgpsyWgH8Y8ajJz1Cu72KnS5uo2Aa2LpzU7kinSupNKC")
    #expect(address.withoutPeer.description == "/ip4/1.2.3.4/tcp/1")
    #expect(try Multiaddr("/ip4/1.2.3.4/tcp/1/ipfs/QmcgpsyWgH8Y8ajJz1Cu72KnS5uo2Aa2LpzU7kinSupNKC") == address)
    #expect(try Multiaddr("/ip6/2001:0DB8:0:0:0:0:0:1/tcp/1").description == "/ip6/2001:db8::1/tcp/1")
    #expect(try Multiaddr("/ip6/2001:db8:0:1:1:1:1:1/udp/1").description == "/ip6/2001:db8:0:1:1:1:1:1/udp/1")
    #expect(try Multiaddr("/ip6/::ffff:1.2.3.4/tcp/1").description == "/ip6/::ffff:102:304/tcp/1")
}

@Test func malformedMultiaddrsAreRejected() throws {
    for bad in [
        "", "ip4/1.2.3.4", "/ip4", "/ip4/256.1.1.1", "/ip4/1.2.3", "/ip4/01.2.3.4", "/ip4/1.2.3.4/tcp/65536",
        "/ip4/1.2.3.4/tcp/-1", "/ip4/1.2.3.4/tcp/08", "/ip6/1:2:3:4:5:6:7:8:9", "/ip6/1::2::3", "/ip6/12345::",
        "/ip6/::g", "/dns4/", "/dns4/" + String(repeating: "a", count: 300), "/foo/1", "/p2p/notapeer",
        "/ip4/1.2.3.4/tcp",
    ] {
        #expect(throws: CodecError.self, "\(bad)") { try Multiaddr(bad) }
    }
    for bad: [UInt8] in [[], [0x04, 0x7F], [0x06], [0xFF, 0xFF, 0x03], [0x36, 0x05, 0x61], [0x36, 0x00]] {
        #expect(throws: CodecError.self, "\(bad)") { try Multiaddr(bytes: bad) }
    }
}

@Test func fuzzedMultiaddrsAndPeerIDsNeverCrash() throws {
    var random = SeededRandom(seed: 4001)
    let address = try Multiaddr("/ip4/1.2.3.4/tcp/1/p2p/QmcgpsyWgH8Y8ajJz1Cu72KnS5uo2Aa2LpzU7kinSupNKC")
    let texts = [address.description, "/ip6/2001:db8::1/udp/9/quic-v1", "/dns6/a.b/tcp/2"].map { Array($0.utf8) }
    var protobufReads = 0
    for _ in 0..<100_000 {
        let bytes = random.mutate(address.bytes)
        if let decoded = try? Multiaddr(bytes: bytes) { #expect(decoded.bytes == bytes) }
        let text = String(decoding: random.mutate(texts.randomElement(using: &random)!), as: UTF8.self)
        if let parsed = try? Multiaddr(text) { #expect(try Multiaddr(parsed.description) == parsed) }
        if let peer = try? PeerID(
            string: String(
                decoding: random.mutate(Array("12D3KooWBtg3aaRMjxwedh83aGiUkwSxDwUZkzuJcfaqUmo7R3pq".utf8)),
                as: UTF8.self))
        {
            #expect(try PeerID(string: peer.description) == peer)
        }
        var reader = ProtobufReader(random.mutate([0x08, 0x96, 0x01, 0x12, 0x07] + Array("testing".utf8)))
        if (try? reader.readAll()) != nil { protobufReads += 1 }
        _ = try? Varint.decode(random.mutate([0xAC, 0x02]))
    }
    #expect(protobufReads > 0)
}

@Test func fingerprintsFollowEveryByteAndTheLength() {
    let base = Array(0..<40).map { UInt8($0) }
    let fingerprint = Fingerprint.of(base)
    #expect(Fingerprint.of(base) == fingerprint)
    for index in base.indices {
        var changed = base
        changed[index] ^= 1
        #expect(Fingerprint.of(changed) != fingerprint, "byte \(index)")
    }
    #expect(Fingerprint.of([0]) != Fingerprint.of([0, 0]))
    #expect(Fingerprint.of([]) != Fingerprint.of([0]))
    #expect(Fingerprint.of(base, salt: 1) != fingerprint)
}

/// An unkeyed word-at-a-time fingerprint of 16 bytes, `state = mix(state ^ word)`, and keys that all collide under
/// it: the second word of each cancels what its first word did to the state, as anyone who knows the function can
/// arrange.
private enum UnkeyedMix {
    static let start: UInt64 = 0x9E37_79B9_7F4A_7C15 &+ 16 &* 0xD6E8_FEB8_6659_FD93

    static func mix(_ value: UInt64) -> UInt64 {
        var z = value &* 0xBF58_476D_1CE4_E5B9
        z ^= z >> 31
        z = z &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 29)
    }

    static func fingerprint(_ key: [UInt8]) -> UInt64 {
        let words = key.withUnsafeBytes { raw in
            [0, 8].map { raw.loadUnaligned(fromByteOffset: $0, as: UInt64.self) }
        }
        return mix(words.reduce(start) { mix($0 ^ $1) })
    }

    static func collidingKeys(_ count: Int) -> [[UInt8]] {
        func bytes(_ words: [UInt64]) -> [UInt8] {
            words.flatMap { word in (0..<8).map { UInt8(truncatingIfNeeded: word >> (8 * $0)) } }
        }
        let target = mix(start)  // the state after the first word of the key (0, 0), less its second word
        return (0..<count).map { index in
            let first = UInt64(index) &* 0x0123_4567_89AB_CDEF
            return bytes([first, mix(start ^ first) ^ target])
        }
    }
}

@Test func fingerprintsOfGroundCollisionsSpreadOverATable() {
    let keys = UnkeyedMix.collidingKeys(4_096)
    #expect(Set(keys).count == keys.count)
    #expect(Set(keys.map(UnkeyedMix.fingerprint)).count == 1)
    // Under the unkeyed mix every one of these has one fingerprint; the keyed fingerprint tells them all apart and
    // spreads them over a table as it spreads any keys.
    let fingerprints = keys.map { Fingerprint.of($0) }
    #expect(Set(fingerprints).count == keys.count)
    var buckets = [Int](repeating: 0, count: 256)
    for fingerprint in fingerprints { buckets[Fingerprint.tableHash(fingerprint, seed: 99) & 255] += 1 }
    #expect(buckets.max()! < 40, "fullest bucket \(buckets.max()!) of an expected 16")
}

@Test func tableHashesDependOnTheSeedAndSpreadConsecutiveFingerprints() {
    #expect(Fingerprint.tableHash(7, seed: 1) == Fingerprint.tableHash(7, seed: 1))
    #expect(Fingerprint.tableHash(7, seed: 1) != Fingerprint.tableHash(7, seed: 2))
    #expect(Fingerprint.tableHash(7, seed: 1) != Fingerprint.tableHash(8, seed: 1))
    // Consecutive fingerprints under one seed fill a 1,024-bucket table's low bits about evenly.
    var buckets = [Int](repeating: 0, count: 1_024)
    for value in UInt64(0)..<16_384 { buckets[Fingerprint.tableHash(value, seed: 12_345) & 1_023] += 1 }
    #expect(buckets.max()! < 48, "fullest bucket \(buckets.max()!) of an expected 16")
    #expect(buckets.min()! > 0)
}

@Test func peerIDsHashAndCompareByTheirMultihash() throws {
    let a = PeerID(publicKeyProtobuf: [8, 1, 18, 32] + Array(repeating: 1, count: 32))
    let same = try PeerID(multihashBytes: a.multihash.bytes)
    let other = PeerID(publicKeyProtobuf: [8, 1, 18, 32] + Array(repeating: 2, count: 32))
    #expect(a == same)
    #expect(a.hashValue == same.hashValue)
    #expect(a._rawHashValue(seed: 99) == same._rawHashValue(seed: 99))
    #expect(a != other)
    // The same digest under another hash function is another peer id.
    let sha = PeerID(publicKeyProtobuf: Array(repeating: 3, count: 64))
    #expect(sha.multihash.code == Multihash.Function.sha2x256.rawValue)
    #expect(try PeerID(multihashBytes: sha.multihash.bytes) == sha)
    var table: [PeerID: Int] = [a: 1, other: 2, sha: 3]
    table[same] = 4
    #expect(table.count == 3)
    #expect(table[a] == 4)
}
