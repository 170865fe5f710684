import TestSupport
import Testing

@testable import P2PProtocols

/// Moves bytes between two sessions until neither has anything to say; returns every event per side.
private func pump(
    _ client: inout YamuxSession, _ server: inout YamuxSession, toServer: [UInt8], toClient: [UInt8] = []
) throws -> (client: [YamuxSession.Event], server: [YamuxSession.Event]) {
    var toServer = toServer
    var toClient = toClient
    var clientEvents: [YamuxSession.Event] = []
    var serverEvents: [YamuxSession.Event] = []
    while !toServer.isEmpty || !toClient.isEmpty {
        let (serverSaw, serverReply) = try server.receive(toServer)
        serverEvents += serverSaw
        toServer = []
        let (clientSaw, clientReply) = try client.receive(toClient + serverReply)
        clientEvents += clientSaw
        toClient = []
        toServer = clientReply
    }
    return (clientEvents, serverEvents)
}

@Test func yamuxStreamsFlowControlCloseAndPing() throws {
    var client = YamuxSession(isClient: true)
    var server = YamuxSession(isClient: false)
    let (id, syn) = try client.openStream()
    #expect(id == 1)
    var events = try pump(&client, &server, toServer: syn)
    #expect(events.server == [.streamOpened(1)])
    // 600 KiB against a 256 KiB window: the sender is held back until the receiver credits what it consumed.
    let message = (0..<600 * 1024).map { UInt8(truncatingIfNeeded: $0) }
    var offset = 0
    var received: [UInt8] = []
    var rounds = 0
    var sentPerRound: [Int] = []
    while received.count < message.count && rounds < 20 {
        rounds += 1
        let (bytes, sent) = try client.send(id, Array(message[offset...]))
        offset += sent
        sentPerRound.append(sent)
        let (serverEvents, _) = try server.receive(bytes)
        var credit: [UInt8] = []
        for case .data(_, let data) in serverEvents {
            received += data
            credit += server.consumed(id, data.count)
        }
        _ = try client.receive(credit)
    }
    #expect(received == message)
    // Held to 256 KiB first; a reader that keeps up doubles its window (credit = consumed + growth).
    #expect(sentPerRound == [256 * 1024, 344 * 1024])
    // Everything consumed: the sender may now send the whole grown target, 1 MiB.
    #expect(client.sendWindow(id) == 1 << 20)
    events = try pump(&client, &server, toServer: client.close(id))
    #expect(events.server == [.remoteClosed(1)])
    events = try pump(&client, &server, toServer: client.ping(42))
    #expect(events.client == [.pong(42)])
}

@Test func yamuxRefusesViolationsAndEnforcesTheStreamCap() throws {
    var server = YamuxSession(isClient: false, maxStreams: 2)
    var client = YamuxSession(isClient: true, maxStreams: 10)
    for _ in 0..<3 { _ = try pump(&client, &server, toServer: try client.openStream().bytes) }
    #expect(server.openStreams == 2)
    #expect(client.openStreams == 2)  // the third was reset by the server
    // Data past the window, SYN with the wrong parity, data on stream 0.
    var fresh = YamuxSession(isClient: false)
    let overflow =
        YamuxFrame(type: .data, flags: .syn, streamID: 1, length: YamuxSession.initialWindow + 1).header
        + [UInt8](repeating: 0, count: Int(YamuxSession.initialWindow) + 1)
    #expect(throws: YamuxSession.SessionError.self) { try fresh.receive(overflow) }
    var other = YamuxSession(isClient: false)
    #expect(throws: YamuxSession.SessionError.self) {
        try other.receive(YamuxFrame(type: .windowUpdate, flags: .syn, streamID: 2, length: 0).header)
    }
    var third = YamuxSession(isClient: false)
    #expect(throws: YamuxSession.SessionError.self) {
        try third.receive(YamuxFrame(type: .data, streamID: 0, length: 1).header + [1])
    }
    var random = SeededRandom(seed: 12)
    for _ in 0..<100_000 {
        var session = YamuxSession(isClient: false)
        _ = try? session.receive(
            random.mutate(YamuxFrame(type: .data, flags: .syn, streamID: 1, length: 3).header + [1, 2, 3]))
    }
}

/// A data frame's payload is handed out as its pieces arrive, however the bytes are cut: the pieces add up to the
/// payload, FIN takes effect only after its frame's last byte, and the payload of a frame for a stream the session
/// does not know is skipped across calls without losing the frames after it.
@Test(arguments: [1 as UInt64, 2, 3, 4])
func yamuxHandsOutPayloadsPieceByPieceHoweverTheBytesAreCut(seed: UInt64) throws {
    var client = YamuxSession(isClient: true)
    var server = YamuxSession(isClient: false)
    let (id, syn) = try client.openStream()
    _ = try pump(&client, &server, toServer: syn)
    let first = (0..<200_000).map { UInt8(truncatingIfNeeded: $0 &* 7) }
    let (data, sent) = try client.send(id, first)
    #expect(sent == first.count)
    // A frame for a stream nobody opened (its payload must be skipped), then FIN for the real one.
    let stray = YamuxFrame(type: .data, streamID: 9, length: 3_000).header + [UInt8](repeating: 0xEE, count: 3_000)
    let wire = data + stray + client.close(id)
    var random = SeededRandom(seed: seed)
    var received: [UInt8] = []
    var events: [YamuxSession.Event] = []
    var replies: [UInt8] = []
    var offset = 0
    while offset < wire.count {
        let piece = min(wire.count - offset, 1 + Int(random.next() % 40_000))
        let (saw, reply) = try server.receive(Array(wire[offset..<(offset + piece)]))
        offset += piece
        replies += reply
        for event in saw {
            if case .data(let stream, let bytes) = event {
                #expect(stream == id)
                #expect(!bytes.isEmpty)
                received += bytes
            } else {
                events.append(event)
            }
            // The stream closes only after every byte of the payload was handed out.
            if case .remoteClosed = event { #expect(received.count == first.count) }
        }
    }
    #expect(received == first)
    #expect(events == [.remoteClosed(id)])
    // The stray frame was answered with a reset for its stream.
    #expect(replies == YamuxFrame(type: .windowUpdate, flags: .rst, streamID: 9, length: 0).header)
}
