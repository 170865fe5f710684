import TestSupport
import Testing

@testable import P2PProtocols

@Test func multistreamNegotiatesTheFirstSupportedProtocol() throws {
    var initiator = MultistreamSelect(role: .initiator(proposals: ["/tls/1.0.0", "/noise"]))
    var listener = MultistreamSelect(role: .listener(supported: ["/noise", "/yamux/1.0.0"]))
    var toListener = initiator.start()
    var toInitiator = listener.start()
    // Exchange until both are done; bytes are delivered in odd-sized pieces to exercise buffering.
    for _ in 0..<10 where initiator.outcome == nil || listener.outcome == nil {
        var replies: [UInt8] = []
        while !toListener.isEmpty {
            let piece = Array(toListener.prefix(3))
            toListener.removeFirst(piece.count)
            replies += try listener.receive(piece)
        }
        toInitiator += replies
        toListener += try initiator.receive(toInitiator)
        toInitiator = []
    }
    #expect(initiator.outcome == .selected("/noise"))
    #expect(listener.outcome == .selected("/noise"))
    #expect(MultistreamSelect.encode("/noise") == [7] + Array("/noise\n".utf8))
}

@Test func multistreamRefusesMalformedAndUnsupported() throws {
    var initiator = MultistreamSelect(role: .initiator(proposals: ["/x"]))
    _ = initiator.start()
    _ = try initiator.receive(MultistreamSelect.encode(MultistreamSelect.protocolID) + MultistreamSelect.encode("na"))
    #expect(initiator.outcome == .unsupported)
    var listener = MultistreamSelect(role: .listener(supported: ["/a"]))
    #expect(throws: MultistreamSelect.NegotiationError.self) {
        try listener.receive(MultistreamSelect.encode("/wrong/1.0.0"))
    }
    var oversized = MultistreamSelect(role: .listener(supported: ["/a"]))
    #expect(throws: MultistreamSelect.NegotiationError.self) {
        try oversized.receive([0xFF, 0x7F] + [UInt8](repeating: 0x61, count: 10))
    }
    var random = SeededRandom(seed: 3)
    for _ in 0..<100_000 {
        var fuzzed = MultistreamSelect(role: .listener(supported: ["/noise"]))
        _ = try? fuzzed.receive(
            random.mutate(MultistreamSelect.encode(MultistreamSelect.protocolID) + MultistreamSelect.encode("/noise")))
    }
}

@Test func yamuxHeadersRoundTripAndRejectNonsense() throws {
    let frame = YamuxFrame(type: .windowUpdate, flags: [.syn, .ack], streamID: 0x0102_0304, length: 262_144)
    #expect(frame.header == [0, 1, 0, 3, 1, 2, 3, 4, 0, 4, 0, 0])
    #expect(try YamuxFrame.parse(frame.header) == frame)
    #expect(try YamuxFrame.parse(frame.header.prefix(11)) == nil)
    #expect(throws: YamuxFrame.FrameError.unsupportedVersion(1)) {
        try YamuxFrame.parse([1] + frame.header.dropFirst())
    }
    #expect(throws: YamuxFrame.FrameError.unknownType(9)) { try YamuxFrame.parse([0, 9] + frame.header.dropFirst(2)) }
    #expect(throws: YamuxFrame.FrameError.self) { try YamuxFrame.parse([0, 0, 0, 0x10, 0, 0, 0, 1, 0, 0, 0, 1]) }
    #expect(throws: YamuxFrame.FrameError.self) { try YamuxFrame.parse([0, 0, 0, 0, 0, 0, 0, 1, 0xFF, 0, 0, 0]) }
    var random = SeededRandom(seed: 4)
    for _ in 0..<100_000 {
        let bytes = random.bytes(12)
        if let parsed = try? YamuxFrame.parse(bytes) { #expect(parsed.header == bytes) }
    }
}
