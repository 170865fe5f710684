import Codec
import Crypto
import TestSupport
import Testing

@testable import P2PProtocols

/// An RPC with every part set, ids and payloads drawn from `random`.
func gossipSampleRPC(_ random: inout SeededRandom) -> GossipsubRPC {
    func id() -> GossipsubMessageID { GossipsubMessageID(random.bytes(Int(random.next() % 40) + 1)) }
    var control = GossipsubRPC.Control()
    control.ihave = [.init(topic: "blocks", messageIDs: [id(), id()]), .init(topic: "", messageIDs: [])]
    control.iwant = [[id()], [id(), id(), id()]]
    control.graft = ["blocks", "announce"]
    control.prune = [
        .init(topic: "blocks", peers: [.init(peerID: random.bytes(38), signedRecord: random.bytes(90))], backoff: 60),
        .init(topic: "announce", peers: [.init(peerID: random.bytes(38), signedRecord: nil)], backoff: nil),
        .init(topic: "x"),
    ]
    control.idontwant = [[id(), id()]]
    let message = GossipsubMessage(
        from: random.bytes(38), data: random.bytes(Int(random.next() % 3_000)), seqno: random.bytes(8),
        topic: "blocks", signature: random.bytes(64), key: random.bytes(36))
    let bare = GossipsubMessage(from: nil, data: [], seqno: nil, topic: "τοπικό")
    return GossipsubRPC(
        subscriptions: [.init(subscribe: true, topic: "blocks"), .init(subscribe: false, topic: "old")],
        messages: [message, bare], control: control)
}

@Test func rpcRoundTripsAndEncodedSizeMatchesTheEncoding() throws {
    var random = SeededRandom(seed: 14)
    for _ in 0..<50 {
        let rpc = gossipSampleRPC(&random)
        let bytes = rpc.encoded()
        #expect(rpc.encodedSize == bytes.count)
        let decoded = try GossipsubRPC(decoding: bytes[...], limits: .init())
        #expect(decoded == rpc)
    }
    for rpc in [GossipsubRPC(), GossipsubRPC(control: GossipsubRPC.Control())] {
        #expect(rpc.encodedSize == rpc.encoded().count)
    }
    // A varint length of two bytes (a 200-byte payload) is sized right.
    let big = GossipsubRPC(messages: [
        GossipsubMessage(from: nil, data: [UInt8](repeating: 7, count: 200), seqno: nil, topic: "t")
    ])
    #expect(big.encodedSize == big.encoded().count)
}

@Test func rpcEncodingMatchesTheProtobufByHand() throws {
    // SubOpts {subscribe: true, topicid: "t"} inside RPC field 1, written out byte by byte.
    let rpc = GossipsubRPC(subscriptions: [.init(subscribe: true, topic: "t")])
    #expect(rpc.encoded() == [0x0A, 0x05, 0x08, 0x01, 0x12, 0x01, 0x74])
    // ControlMessage {graft: [{topicID: "a"}]} inside RPC field 3.
    var control = GossipsubRPC.Control()
    control.graft = ["a"]
    #expect(GossipsubRPC(control: control).encoded() == [0x1A, 0x05, 0x1A, 0x03, 0x0A, 0x01, 0x61])
}

@Test func unknownFieldsAreSkipped() throws {
    var random = SeededRandom(seed: 4)
    let rpc = gossipSampleRPC(&random)
    // py-libp2p's senderRecord (RPC field 4), and unknown fields in a message and in the control part.
    var writer = ProtobufWriter()
    writer.bytes(4, random.bytes(120))
    writer.varint(9, 77)
    let withRecord = rpc.encoded() + writer.bytes
    #expect(try GossipsubRPC(decoding: withRecord[...], limits: .init()) == rpc)

    var message = ProtobufWriter()
    message.bytes(2, [1, 2, 3])
    message.string(4, "t")
    message.fixed64(15, 5)
    var outer = ProtobufWriter()
    outer.bytes(2, message.bytes)
    let decoded = try GossipsubRPC(decoding: outer.bytes[...], limits: .init())
    #expect(decoded.messages == [GossipsubMessage(from: nil, data: [1, 2, 3], seqno: nil, topic: "t")])
}

@Test func decodingEnforcesItsBounds() {
    var limits = GossipsubRPC.Limits()
    limits.maxSubscriptions = 2
    let three = GossipsubRPC(subscriptions: (0..<3).map { .init(subscribe: true, topic: "t\($0)") })
    #expect(throws: GossipsubError.tooMany(what: "subscriptions", limit: 2)) {
        try GossipsubRPC(decoding: three.encoded()[...], limits: limits)
    }
    limits = GossipsubRPC.Limits(maxSize: 10)
    #expect(throws: GossipsubError.rpcTooLarge(size: 13, limit: 10)) {
        try GossipsubRPC(decoding: [UInt8](repeating: 0, count: 13)[...], limits: limits)
    }
    limits = GossipsubRPC.Limits(maxMessageIDs: 3)
    var control = GossipsubRPC.Control()
    control.iwant = [
        [GossipsubMessageID([1]), GossipsubMessageID([2])], [GossipsubMessageID([3]), GossipsubMessageID([4])],
    ]
    #expect(throws: GossipsubError.tooMany(what: "message ids", limit: 3)) {
        try GossipsubRPC(decoding: GossipsubRPC(control: control).encoded()[...], limits: limits)
    }
    limits = GossipsubRPC.Limits(maxControlEntries: 1)
    #expect(throws: GossipsubError.tooMany(what: "control entries", limit: 1)) {
        try GossipsubRPC(decoding: GossipsubRPC(control: control).encoded()[...], limits: limits)
    }
    limits = GossipsubRPC.Limits(maxTopicLength: 3)
    #expect(throws: GossipsubError.fieldTooLong(field: "SubOpts.topicid", length: 4, limit: 3)) {
        try GossipsubRPC(
            decoding: GossipsubRPC(subscriptions: [.init(subscribe: true, topic: "abcd")]).encoded()[...],
            limits: limits)
    }
    // Not UTF-8, a message without its topic, a known field of the wrong wire type.
    #expect(throws: GossipsubError.invalidUTF8(field: "SubOpts.topicid")) {
        try GossipsubRPC(decoding: [0x0A, 0x04, 0x12, 0x02, 0xC3, 0x28][...], limits: .init())
    }
    #expect(throws: GossipsubError.missingField("Message.topic")) {
        try GossipsubRPC(decoding: [0x12, 0x03, 0x12, 0x01, 0x41][...], limits: .init())
    }
    #expect(throws: GossipsubError.wrongWireType(field: "RPC.publish")) {
        try GossipsubRPC(decoding: [0x10, 0x01][...], limits: .init())
    }
    #expect(throws: GossipsubError.self) { try GossipsubRPC(decoding: [0x0A, 0x09, 0x08][...], limits: .init()) }
}

@Test func mutatedRPCsNeverCrashTheDecoder() {
    var random = SeededRandom(seed: 2_026)
    var decoded = 0
    var refused = 0
    for _ in 0..<3_000 {
        let seed = gossipSampleRPC(&random).encoded()
        let input = random.mutate(seed)
        do {
            let rpc = try GossipsubRPC(decoding: input[...], limits: .init())
            decoded += 1
            // What decodes re-encodes to something that decodes to the same value.
            #expect(try GossipsubRPC(decoding: rpc.encoded()[...], limits: .init()) == rpc)
        } catch {
            refused += 1
        }
    }
    #expect(decoded > 0 && refused > 0)
    for _ in 0..<500 {
        _ = try? GossipsubRPC(decoding: random.bytes(Int(random.next() % 200))[...], limits: .init())
    }
}

@Test func signingBytesAreThePrefixedMessageWithoutSignatureAndKey() {
    let message = GossipsubMessage(
        from: [1, 2], data: [3], seqno: [0, 0, 0, 0, 0, 0, 0, 9], topic: "t", signature: [9, 9], key: [8])
    var writer = ProtobufWriter()
    writer.bytes(1, [1, 2])
    writer.bytes(2, [3])
    writer.bytes(3, [0, 0, 0, 0, 0, 0, 0, 9])
    writer.string(4, "t")
    #expect(message.signingBytes == Array("libp2p-pubsub:".utf8) + writer.bytes)
    #expect(message.encodedSize == message.encoded().count)
}

@Test func theKeptDefaultIDFollowsTheAuthorAndSequenceNumber() {
    var message = GossipsubMessage(from: [1, 2], data: [3], seqno: [0, 0, 0, 0, 0, 0, 0, 9], topic: "t")
    #expect(message.fromAndSeqnoID == GossipsubMessageID([1, 2, 0, 0, 0, 0, 0, 0, 0, 9]))
    message.seqno = [0, 0, 0, 0, 0, 0, 0, 10]
    #expect(message.fromAndSeqnoID == GossipsubMessageID([1, 2, 0, 0, 0, 0, 0, 0, 0, 10]))
    message.from = nil
    #expect(message.fromAndSeqnoID == GossipsubMessageID([0, 0, 0, 0, 0, 0, 0, 10]))
}
