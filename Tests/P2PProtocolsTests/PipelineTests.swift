import Codec
import Crypto
import TestSupport
import Testing

@testable import P2PProtocols

/// The whole libp2p upgrade between two in-process peers, bytes handed across by the test: multistream
/// selects /noise, Noise XX authenticates both peer ids, multistream (encrypted) selects /yamux/1.0.0, a Yamux
/// stream negotiates /ipfs/ping/1.0.0 and a ping is echoed. The same steps a TCP connection will take.
@Test func fullUpgradeAndPingInMemory() throws {
    let dialerIdentity = LibP2PIdentity.ed25519(.generate())
    let listenerIdentity = LibP2PIdentity.secp256k1(.generate())

    // 1. multistream-select /noise.
    var dialerSelect = MultistreamSelect(role: .initiator(proposals: ["/noise"]))
    var listenerSelect = MultistreamSelect(role: .listener(supported: ["/noise"]))
    let toListener = dialerSelect.start()
    let toDialer = listenerSelect.start() + (try listenerSelect.receive(toListener))
    _ = try dialerSelect.receive(toDialer)
    #expect(dialerSelect.outcome == .selected("/noise") && listenerSelect.outcome == .selected("/noise"))

    // 2. Noise XX with libp2p payloads, framed.
    let dialerStatic = X25519PrivateKey.generate()
    let listenerStatic = X25519PrivateKey.generate()
    var dialer = NoiseXXHandshake(
        role: .initiator, hash: .sha256, prologue: [], staticKey: dialerStatic, ephemeralKey: .generate())
    var listener = NoiseXXHandshake(
        role: .responder, hash: .sha256, prologue: [], staticKey: listenerStatic, ephemeralKey: .generate())
    var wire = try NoiseTransport.frame(try dialer.writeMessage(payload: []))
    _ = try listener.readMessage(try #require(NoiseTransport.unframe(&wire)))
    wire = try NoiseTransport.frame(
        try listener.writeMessage(
            payload: try NoiseHandshakePayload(identity: listenerIdentity, staticPublicKey: listenerStatic.publicKey)
                .encoded))
    let listenerPayload = try dialer.readMessage(try #require(NoiseTransport.unframe(&wire)))
    #expect(
        try NoiseHandshakePayload(encoded: listenerPayload).verify(remoteStatic: dialer.remoteStatic!)
            == listenerIdentity.peerID)
    wire = try NoiseTransport.frame(
        try dialer.writeMessage(
            payload: try NoiseHandshakePayload(identity: dialerIdentity, staticPublicKey: dialerStatic.publicKey)
                .encoded))
    let dialerPayload = try listener.readMessage(try #require(NoiseTransport.unframe(&wire)))
    #expect(
        try NoiseHandshakePayload(encoded: dialerPayload).verify(remoteStatic: listener.remoteStatic!)
            == dialerIdentity.peerID)
    let dialerKeys = try dialer.split()
    let listenerKeys = try listener.split()
    var dialerChannel = NoiseTransport(send: dialerKeys.send, receive: dialerKeys.receive)
    var listenerChannel = NoiseTransport(send: listenerKeys.send, receive: listenerKeys.receive)

    // 3. multistream-select /yamux/1.0.0 inside the encrypted channel.
    var dialerMux = MultistreamSelect(role: .initiator(proposals: ["/yamux/1.0.0"]))
    var listenerMux = MultistreamSelect(role: .listener(supported: ["/yamux/1.0.0"]))
    let encrypted = try dialerChannel.seal(dialerMux.start())
    let reply = listenerMux.start() + (try listenerMux.receive(try listenerChannel.open(encrypted)))
    _ = try dialerMux.receive(try dialerChannel.open(try listenerChannel.seal(reply)))
    #expect(dialerMux.outcome == .selected("/yamux/1.0.0"))

    // 4. A Yamux stream, multistream /ipfs/ping/1.0.0 on it, one ping echoed.
    var client = YamuxSession(isClient: true)
    var server = YamuxSession(isClient: false)
    let (stream, syn) = try client.openStream()
    var streamSelect = MultistreamSelect(role: .initiator(proposals: [PingProtocol.protocolID]))
    var serverSelect = MultistreamSelect(
        role: .listener(supported: [PingProtocol.protocolID, IdentifyMessage.protocolID]))
    let ping = (0..<32).map { UInt8($0) }
    let (data, _) = try client.send(stream, streamSelect.start() + ping)
    let (serverEvents, serverAck) = try server.receive(try listenerChannel.open(try dialerChannel.seal(syn + data)))
    #expect(serverEvents.first == .streamOpened(stream))
    guard case .data(_, let received)? = serverEvents.last else {
        Issue.record("no data on the stream")
        return
    }
    let selectReply = serverSelect.start() + (try serverSelect.receive(received))
    #expect(serverSelect.outcome == .selected(PingProtocol.protocolID))
    let echoed = serverSelect.remainder
    #expect(echoed == ping)
    let (back, _) = try server.send(stream, selectReply + echoed)
    let (clientEvents, _) = try client.receive(try dialerChannel.open(try listenerChannel.seal(serverAck + back)))
    guard case .data(_, let answer)? = clientEvents.last else {
        Issue.record("no answer")
        return
    }
    _ = try streamSelect.receive(answer)
    #expect(streamSelect.outcome == .selected(PingProtocol.protocolID))
    #expect(streamSelect.remainder == ping)
}

@Test func identifyMessagesRoundTripAndSkipUnknownFields() throws {
    let identity = LibP2PIdentity.ed25519(.generate())
    let message = IdentifyMessage(
        agentVersion: "openledger/0.1.0", publicKey: identity.publicKey,
        listenAddresses: [try Multiaddr("/ip4/127.0.0.1/tcp/4001")],
        observedAddress: try Multiaddr("/ip4/10.0.0.1/tcp/5555"),
        protocols: [PingProtocol.protocolID, IdentifyMessage.protocolID, "/openledger/echo/1.0.0"])
    #expect(try IdentifyMessage(protobuf: message.protobuf) == message)
    var writer = ProtobufWriter()
    writer.bytes(8, [1, 2, 3])  // a signed peer record we do not interpret
    writer.bytes(2, [0xFF, 0xFF])  // an address we cannot parse: dropped
    #expect(try IdentifyMessage(protobuf: message.protobuf + writer.bytes).listenAddresses == message.listenAddresses)
    #expect(throws: CodecError.self) { try IdentifyMessage(protobuf: [0x0A, 0x02, 0x08]) }
    var random = SeededRandom(seed: 8)
    for _ in 0..<100_000 { _ = try? IdentifyMessage(protobuf: random.mutate(message.protobuf)) }
}
