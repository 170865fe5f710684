import Codec
import Crypto
import TestSupport
import Testing

@testable import P2PProtocols

/// A peer id drawn from `random` (an Ed25519 identity).
func kademliaPeer(_ random: inout SeededRandom) -> PeerID {
    LibP2PIdentity.ed25519(try! Ed25519PrivateKey(seed: random.bytes(32))).peerID
}

/// A message with every field set.
func kademliaSampleMessage(_ random: inout SeededRandom) -> KademliaMessage {
    let address = try! Multiaddr("/ip4/192.0.2.\(random.next() % 250)/tcp/4001")
    let peers = (0..<Int(random.next() % 5)).map { _ in
        KademliaPeerInfo(id: kademliaPeer(&random), addresses: [address], connection: .connected)
    }
    return KademliaMessage(
        type: KademliaMessage.MessageType.allCases[Int(random.next() % 6)], key: random.bytes(34),
        record: KademliaRecord(
            key: random.bytes(10), value: random.bytes(Int(random.next() % 500)),
            timeReceived: "2026-12-01T12:00:00Z"),
        closerPeers: peers, providerPeers: Array(peers.prefix(1)), clusterLevel: random.next() % 3)
}

@Test func kademliaMessagesRoundTripThroughCodecAndFraming() throws {
    var random = SeededRandom(seed: 15)
    for _ in 0..<50 {
        let message = kademliaSampleMessage(&random)
        #expect(try KademliaMessage(decoding: message.encoded()) == message)
        let framed = KademliaFraming.frame(message) + [0x01, 0x02]
        let parsed = try #require(try KademliaFraming.parse(framed))
        #expect(parsed.message == message)
        #expect(parsed.consumed == framed.count - 2)
        // Any strict prefix asks for more bytes.
        #expect(try KademliaFraming.parse(Array(framed.prefix(parsed.consumed - 1))) == nil)
    }
    #expect(
        try KademliaMessage(decoding: KademliaMessage(type: .putValue).encoded()) == KademliaMessage(type: .putValue))
}

@Test func kademliaDecodingSkipsUnknownFieldsInvalidPeersAndAddresses() throws {
    var random = SeededRandom(seed: 16)
    let good = kademliaPeer(&random)
    var writer = ProtobufWriter()
    writer.varint(1, 4)
    writer.bytes(2, good.multihash.bytes)
    writer.bytes(11, random.bytes(40))  // py-libp2p's senderRecord
    var bad = ProtobufWriter()
    bad.bytes(1, [0x12, 0x05, 1, 2, 3])  // a sha2-256 multihash of 5 bytes: not a peer id
    writer.bytes(8, bad.bytes)
    var peer = ProtobufWriter()
    peer.bytes(1, good.multihash.bytes)
    peer.bytes(2, [0xFF, 0xFF])  // not a multiaddr
    peer.bytes(2, try Multiaddr("/ip4/1.2.3.4/tcp/1").bytes)
    peer.bytes(4, random.bytes(20))  // py-libp2p's signedRecord
    writer.bytes(8, peer.bytes)
    let message = try KademliaMessage(decoding: writer.bytes)
    #expect(message.type == .findNode)
    #expect(message.closerPeers.map(\.id) == [good])
    #expect(message.closerPeers[0].addresses == [try Multiaddr("/ip4/1.2.3.4/tcp/1")])
}

@Test func kademliaHostileMessagesAreBoundedWithTypedErrors() throws {
    var random = SeededRandom(seed: 17)
    let limits = KademliaMessage.Limits()
    // Thousands of closer peers.
    var flood = ProtobufWriter()
    flood.varint(1, 4)
    let info = KademliaPeerInfo(id: kademliaPeer(&random), addresses: []).encoded()
    for _ in 0..<3_000 { flood.bytes(8, info) }
    #expect(throws: KademliaError.tooMany(what: "peers", limit: limits.maxPeers)) {
        try KademliaMessage(decoding: flood.bytes)
    }
    // An oversized value.
    let record = KademliaRecord(key: [1], value: random.bytes(limits.maxValueLength + 1))
    #expect(
        throws: KademliaError.fieldTooLong(
            field: "Record.value", length: limits.maxValueLength + 1,
            limit: limits.maxValueLength)
    ) {
        try KademliaMessage(decoding: KademliaMessage(type: .putValue, key: [1], record: record).encoded())
    }
    // An oversized message, and a frame announcing one.
    let huge = [UInt8](repeating: 0, count: limits.maxSize + 1)
    #expect(throws: KademliaError.messageTooLarge(size: huge.count, limit: limits.maxSize)) {
        try KademliaMessage(decoding: huge)
    }
    #expect(throws: KademliaError.frameTooLarge(length: 1 << 30, limit: limits.maxSize)) {
        try KademliaFraming.parse(Varint.encode(1 << 30))
    }
    // Unknown message type, wrong wire type, truncated protobuf.
    #expect(throws: KademliaError.unknownMessageType(9)) { try KademliaMessage(decoding: [0x08, 0x09]) }
    #expect(throws: KademliaError.wrongWireType(field: "Message.key")) { try KademliaMessage(decoding: [0x10, 0x01]) }
    #expect(throws: KademliaError.self) { try KademliaMessage(decoding: [0x12, 0x05, 0x01]) }
}

@Test func kademliaMutatedMessagesNeverCrash() {
    var random = SeededRandom(seed: 18)
    var decoded = 0
    for _ in 0..<3_000 {
        let bytes = random.mutate(KademliaFraming.frame(kademliaSampleMessage(&random)))
        if let parsed = try? KademliaFraming.parse(bytes) {
            decoded += 1
            // Whatever decodes re-encodes into something that decodes the same.
            #expect((try? KademliaMessage(decoding: parsed.message.encoded())) == parsed.message)
        }
    }
    #expect(decoded > 0)
}

@Test func kademliaKeysMeasureXORDistance() {
    let a = KademliaKey(0x8000_0000_0000_0000, 0, 0, 0)
    let b = KademliaKey(0x8000_0000_0000_0000, 0, 0, 1)
    let c = KademliaKey(0, 0, 0, 0)
    #expect(a.commonPrefixLength(with: b) == 255)
    #expect(a.commonPrefixLength(with: c) == 0)
    #expect(a.commonPrefixLength(with: a) == 256)
    #expect(a.distance(to: b) < a.distance(to: c))
    #expect(KademliaKey(digest: a.bytes) == a)
    var random = SeededRandom(seed: 19)
    let peer = kademliaPeer(&random)
    #expect(KademliaKey(peer: peer) == KademliaKey(digest: SHA256.hash(peer.multihash.bytes)))
}

@Test(arguments: [0, 1, 7, 15]) func kademliaRefreshKeysLandInTheirBucket(cpl: Int) {
    let local = KademliaKey(hashing: Array("local".utf8))
    var random = SeededRandom(seed: UInt64(cpl))
    for _ in 0..<20 {
        let key = KademliaRefreshKeys.key(commonPrefixLength: cpl, with: local, randomBits: random.next())
        #expect(KademliaKey(hashing: key).commonPrefixLength(with: local) == cpl)
        #expect((try? PeerID(multihashBytes: key)) != nil)
    }
}
