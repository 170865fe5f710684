import Codec
import Crypto
import Runtime
import TestSupport
import Testing

@testable import P2PProtocols

/// The whole libp2p upgrade between two in-process peers, run by the one upgrade state machine and stopped at
/// each step to look: multistream selects /noise, Noise XX authenticates both peer ids, multistream (encrypted)
/// selects /yamux/1.0.0, a Yamux stream negotiates /ipfs/ping/1.0.0 and a ping is echoed. The same steps a TCP
/// connection takes.
@Test func fullUpgradeAndPingInMemory() throws {
    let dialerIdentity = LibP2PIdentity.ed25519(.generate())
    let listenerIdentity = LibP2PIdentity.secp256k1(.generate())
    let now = Instant(nanoseconds: 0)
    var pair = ConnectionPair(
        dialerKeys: try ConnectionKeys(identity: dialerIdentity, staticKey: .generate(), ephemeralKey: .generate()),
        listenerKeys: try ConnectionKeys(identity: listenerIdentity, staticKey: .generate(), ephemeralKey: .generate()),
        expectedPeer: listenerIdentity.peerID,
        listenerProtocols: [PingProtocol.protocolID, IdentifyMessage.protocolID],
        stopAt: .securitySelected, now: now)

    // 1. multistream-select /noise.
    pair.start(now: now)
    #expect(significant(pair.take(.dialer)) == [.halted(.securitySelected)])
    #expect(significant(pair.take(.listener)) == [.halted(.securitySelected)])
    #expect(pair.dialer.phase == .handshake && pair.listener.phase == .handshake)

    // 2. Noise XX with libp2p payloads, framed: each side verifies the other's peer id.
    pair.dialer.stopAt = .handshakeComplete
    pair.listener.stopAt = .handshakeComplete
    pair.resume(.listener, now: now)
    pair.resume(.dialer, now: now)
    #expect(significant(pair.take(.dialer)) == [.halted(.handshakeComplete)])
    #expect(significant(pair.take(.listener)) == [.halted(.handshakeComplete)])
    #expect(pair.dialer.remotePeer == listenerIdentity.peerID)
    #expect(pair.listener.remotePeer == dialerIdentity.peerID)

    // 3. multistream-select /yamux/1.0.0 inside the encrypted channel.
    pair.dialer.stopAt = nil
    pair.listener.stopAt = nil
    pair.resume(.listener, now: now)
    pair.resume(.dialer, now: now)
    #expect(significant(pair.take(.dialer)) == [.established(listenerIdentity.peerID)])
    #expect(significant(pair.take(.listener)) == [.established(dialerIdentity.peerID)])

    // 4. A Yamux stream, multistream /ipfs/ping/1.0.0 on it, one ping echoed.
    pair.send(.openStream(protocols: [PingProtocol.protocolID], request: 1), to: .dialer, now: now)
    #expect(significant(pair.take(.listener)) == [.inboundStream(stream: 1, protocolID: PingProtocol.protocolID)])
    #expect(
        significant(pair.take(.dialer)) == [
            .outboundStreamReady(request: 1, stream: 1, protocolID: PingProtocol.protocolID)
        ])
    let ping = (0..<32).map { UInt8($0) }
    pair.send(.write(stream: 1, bytes: ping), to: .dialer, now: now)
    let echoed = try #require(streamData(pair.take(.listener))[1])
    #expect(echoed == ping)
    pair.send(.write(stream: 1, bytes: echoed), to: .listener, now: now)
    #expect(streamData(pair.take(.dialer))[1] == ping)
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
