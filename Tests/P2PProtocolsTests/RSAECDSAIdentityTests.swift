import Codec
import Crypto
import Foundation
import Runtime
import TestSupport
import Testing

@testable import P2PProtocols

/// The identity kinds whose peer ids hash the key (protobuf over 42 bytes), made fresh for each test.
enum HashedKeyKind: String, CaseIterable, Sendable {
    case rsa2048, rsa3072, ecdsaP256, ecdsaP384, ecdsaP521

    func identity() throws -> LibP2PIdentity {
        switch self {
        case .rsa2048: .rsa(try RSAPrivateKey.generate(bits: 2048))
        case .rsa3072: .rsa(try RSAPrivateKey.generate(bits: 3072))
        case .ecdsaP256: .ecdsa(try ECDSAPrivateKey.generate(curve: .p256))
        case .ecdsaP384: .ecdsa(try ECDSAPrivateKey.generate(curve: .p384))
        case .ecdsaP521: .ecdsa(try ECDSAPrivateKey.generate(curve: .p521))
        }
    }
}

/// The libp2p spec's RSA and ECDSA private keys give the spec's public keys and sha2-256 peer ids, and survive a
/// round trip through the private-key protobuf.
@Test func rsaAndECDSAIdentitiesFromTheSpecVectors() throws {
    guard let data = Fixtures.vector("libp2p/peer-ids.json") else { return }
    let vectors = try #require((try Fixtures.json(data) as? [String: Any])?["vectors"] as? [[String: Any]])
    var checked = 0
    for vector in vectors where ["RSA", "ECDSA"].contains(vector["key_type"] as? String) {
        let privateKey = try Hex.decode(try #require(vector["private_key_protobuf_hex"] as? String))
        let identity = try LibP2PIdentity(privateKeyProtobuf: privateKey)
        let publicProtobuf = identity.publicKey.protobuf
        #expect(
            Hex.encode(publicProtobuf, prefix: false) == (vector["public_key_protobuf_hex"] as? String)?.lowercased())
        #expect(publicProtobuf.count > 42 && identity.peerID.multihash.code == Multihash.Function.sha2x256.rawValue)
        #expect(identity.peerID.description == vector["peer_id"] as? String)
        #expect(identity.peerID.cidString == vector["peer_id_cidv1_base32"] as? String)
        #expect(identity.peerID.publicKey == nil)  // a hashed peer id does not hold its key
        #expect(try PeerID(string: identity.peerID.description) == identity.peerID)
        #expect(try LibP2PIdentity(privateKeyProtobuf: identity.privateKeyProtobuf).peerID == identity.peerID)
        let signature = try identity.sign([1, 2, 3])
        #expect(identity.publicKey.isValidSignature(signature, for: [1, 2, 3]))
        #expect(!identity.publicKey.isValidSignature(signature, for: [1, 2, 4]))
        checked += 1
    }
    #expect(checked == 2)
}

/// Peer ids of pyca/cryptography's keys, computed by py-libp2p's protobuf and base58, equal ours.
@Test func rsaAndECDSAPeerIDsAgreeWithPyLibp2p() throws {
    guard let data = Fixtures.interop("rsa_ecdsa.json") else { return }
    let cases = try #require((try Fixtures.json(data) as? [String: Any])?["cases"] as? [String: Any])
    let keys = try #require(cases["keys"] as? [[String: Any]])
    #expect(keys.count == 8)
    for entry in keys {
        let type: LibP2PPublicKey.KeyType = entry["algorithm"] as? String == "rsa" ? .rsa : .ecdsa
        let key = LibP2PPublicKey(type: type, data: try Hex.decode(entry["publicKey"] as? String ?? ""))
        #expect(Hex.encode(key.protobuf, prefix: false) == entry["publicKeyProtobuf"] as? String)
        #expect(PeerID(publicKey: key).description == entry["peerID"] as? String)
        let signed = try #require((entry["signatures"] as? [[String: Any]])?.first)
        let message = try Hex.decode(signed["message"] as? String ?? "")
        #expect(key.isValidSignature(try Hex.decode(signed["signature"] as? String ?? ""), for: message))
    }
}

/// A Noise XX handshake whose payloads carry RSA and ECDSA identities: each side checks the other's key signed its
/// Noise static key and learns the hashed peer id.
@Test(arguments: HashedKeyKind.allCases)
func noiseHandshakeAuthenticatesHashedKeyIdentities(kind: HashedKeyKind) throws {
    let alice = try kind.identity()
    let bob: LibP2PIdentity = kind == .rsa2048 ? .ecdsa(try .generate()) : .rsa(try .generate())
    let aliceStatic = X25519PrivateKey.generate()
    let bobStatic = X25519PrivateKey.generate()
    var initiator = NoiseXXHandshake(
        role: .initiator, hash: .sha256, prologue: [], staticKey: aliceStatic, ephemeralKey: .generate())
    var responder = NoiseXXHandshake(
        role: .responder, hash: .sha256, prologue: [], staticKey: bobStatic, ephemeralKey: .generate())
    _ = try responder.readMessage(try initiator.writeMessage(payload: []))
    let bobPayload = try NoiseHandshakePayload(identity: bob, staticPublicKey: bobStatic.publicKey).encoded
    let second = try NoiseHandshakePayload(
        encoded: try initiator.readMessage(try responder.writeMessage(payload: bobPayload)))
    #expect(try second.verify(remoteStatic: try #require(initiator.remoteStatic)) == bob.peerID)
    let alicePayload = try NoiseHandshakePayload(identity: alice, staticPublicKey: aliceStatic.publicKey).encoded
    let third = try NoiseHandshakePayload(
        encoded: try responder.readMessage(try initiator.writeMessage(payload: alicePayload)))
    #expect(try third.verify(remoteStatic: try #require(responder.remoteStatic)) == alice.peerID)
    #expect(alice.peerID.description.hasPrefix("Qm"))
    // The same payload does not vouch for another static key, nor with a flipped signature byte.
    #expect(throws: NoiseError.self) { try third.verify(remoteStatic: X25519PrivateKey.generate().publicKey) }
    var tampered = third
    tampered.identitySignature[tampered.identitySignature.count / 2] ^= 0x10
    #expect(throws: NoiseError.self) { try tampered.verify(remoteStatic: aliceStatic.publicKey) }
}

/// The whole connection upgrade (multistream, Noise with libp2p payloads, Yamux) between an RSA and an ECDSA peer.
@Test func connectionUpgradeBetweenRSAAndECDSAPeers() throws {
    let now = Instant(seconds: 0)
    var random = SeededRandom(seed: 30)
    let dialer = LibP2PIdentity.rsa(try .generate())
    let listener = LibP2PIdentity.ecdsa(try .generate())
    func keys(_ identity: LibP2PIdentity) throws -> ConnectionKeys {
        try ConnectionKeys(
            identity: identity, staticKey: try X25519PrivateKey(bytes: random.bytes(32)),
            ephemeralKey: try X25519PrivateKey(bytes: random.bytes(32)))
    }
    var pair = ConnectionPair(
        dialer: ConnectionUpgrade(
            role: .dialer(expectedPeer: listener.peerID), keys: try keys(dialer), supportedProtocols: [], now: now),
        listener: ConnectionUpgrade(role: .listener, keys: try keys(listener), supportedProtocols: [], now: now))
    pair.start(now: now)
    #expect(significant(pair.take(.dialer)) == [.established(listener.peerID)])
    #expect(significant(pair.take(.listener)) == [.established(dialer.peerID)])
    #expect(pair.dialer.remotePeer == listener.peerID && pair.listener.remotePeer == dialer.peerID)
    // A dialer that expects another peer refuses this listener.
    var wrong = ConnectionPair(
        dialer: ConnectionUpgrade(
            role: .dialer(expectedPeer: dialer.peerID), keys: try keys(dialer), supportedProtocols: [], now: now),
        listener: ConnectionUpgrade(role: .listener, keys: try keys(listener), supportedProtocols: [], now: now))
    wrong.start(now: now)
    #expect(!significant(wrong.take(.dialer)).contains(.established(listener.peerID)))
    #expect(!wrong.dialer.isOpen)
}

/// Signed peer records made with RSA and ECDSA identities open, name their signer, and refuse tampering.
@Test(arguments: [HashedKeyKind.rsa2048, .ecdsaP256, .ecdsaP521])
func signedPeerRecordsWithHashedKeyIdentities(kind: HashedKeyKind) throws {
    let identity = try kind.identity()
    let addresses = [try Multiaddr("/ip4/127.0.0.1/tcp/4001"), try Multiaddr("/ip4/10.0.0.1/tcp/4002")]
    let record = try SignedPeerRecord(identity: identity, sequence: 7, addresses: addresses)
    let opened = try SignedPeerRecord(envelope: record.envelope)
    #expect(opened.peer == identity.peerID && opened.sequence == 7 && opened.addresses == addresses)
    var tampered = record.envelope
    tampered[tampered.count - 3] ^= 0x01  // inside the signature, the envelope's last field
    #expect(throws: CodecError.self) { try SignedPeerRecord(envelope: tampered) }
}

/// Gossipsub StrictSign with an RSA or ECDSA author: the peer id does not hold the key, so the message carries it in
/// `key`; a receiver verifies it from there, and refuses the message without it or with someone else's.
@Test(arguments: [HashedKeyKind.rsa2048, .ecdsaP256])
func gossipsubStrictSignWithHashedKeyAuthors(kind: HashedKeyKind) throws {
    let topic = "/openledger/1/blocks/1"
    var config = GossipsubConfig()
    config.score = nil
    let now = Instant(seconds: 10)
    let author = try kind.identity()
    var publisher = GossipsubRouter(local: author, config: config, random: SeededRandom(seed: 31))
    let receiverIdentity = LibP2PIdentity.ed25519(.generate())
    var receiver = GossipsubRouter(local: receiverIdentity, config: config, random: SeededRandom(seed: 32))
    _ = publisher.on(.subscribe(topic), now: now)
    _ = receiver.on(.subscribe(topic), now: now)
    _ = publisher.on(.peerConnected(receiverIdentity.peerID, version: .v11, outbound: true, address: nil), now: now)
    _ = receiver.on(.peerConnected(author.peerID, version: .v11, outbound: false, address: nil), now: now)
    _ = publisher.on(
        .receivedRPC(
            from: receiverIdentity.peerID, rpc: GossipsubRPC(subscriptions: [.init(subscribe: true, topic: topic)]),
            size: 40), now: now)
    let actions = publisher.on(.publish(topic: topic, data: Array("hashed key".utf8)), now: now)
    let rpcs = actions.compactMap { if case .send(_, let rpc) = $0, !rpc.messages.isEmpty { rpc } else { nil } }
    let rpc = try #require(rpcs.first)
    let message = try #require(rpc.messages.first)
    #expect(message.key == author.publicKey.protobuf)
    // Through the wire codec, as a real peer receives it.
    let wire = rpc.encoded()
    let decoded = try GossipsubRPC(decoding: wire[...], limits: GossipsubRPC.Limits(config: config))
    var stripped = message
    stripped.key = nil
    var foreign = message
    foreign.key = LibP2PIdentity.rsa(try .generate()).publicKey.protobuf
    let refused = receiver.on(
        .receivedRPC(from: author.peerID, rpc: GossipsubRPC(messages: [stripped, foreign]), size: wire.count), now: now)
    #expect(!refused.contains { if case .deliver = $0 { true } else { false } })
    #expect(receiver.counters.invalidSignatures == 2)
    let delivered = receiver.on(.receivedRPC(from: author.peerID, rpc: decoded, size: wire.count), now: now)
    let messages = delivered.compactMap { if case .deliver(let message, _, _) = $0 { message } else { nil } }
    #expect(messages.map { (message: GossipsubMessage) in message.data } == [Array("hashed key".utf8)])
}

/// Handshake payloads whose RSA or ECDSA key is garbage, too small, on the wrong curve or of the other type verify
/// nothing.
@Test func hostileHashedKeysInHandshakePayloadsAreRefused() throws {
    let staticKey = X25519PrivateKey.generate()
    let rsa = LibP2PIdentity.rsa(try .generate())
    let ecdsa = LibP2PIdentity.ecdsa(try .generate())
    var payload = try NoiseHandshakePayload(identity: rsa, staticPublicKey: staticKey.publicKey)
    #expect(try payload.verify(remoteStatic: staticKey.publicKey) == rsa.peerID)
    var random = SeededRandom(seed: 33)
    let candidates: [LibP2PPublicKey] =
        [
            LibP2PPublicKey(type: .rsa, data: []),
            LibP2PPublicKey(type: .rsa, data: random.bytes(294)),
            LibP2PPublicKey(type: .rsa, data: ecdsa.publicKey.data),
            LibP2PPublicKey(type: .ecdsa, data: rsa.publicKey.data),
            LibP2PPublicKey(type: .ecdsa, data: random.bytes(91)),
            LibP2PPublicKey(type: .ed25519, data: rsa.publicKey.data),
            LibP2PPublicKey(type: .secp256k1, data: rsa.publicKey.data),
        ] + (0..<200).map { _ in LibP2PPublicKey(type: .rsa, data: random.mutate(rsa.publicKey.data)) }
    for key in candidates where key != rsa.publicKey {
        payload.identityKey = key
        #expect(throws: NoiseError.self) { try payload.verify(remoteStatic: staticKey.publicKey) }
        #expect(try NoiseHandshakePayload(encoded: payload.encoded).identityKey == key)
    }
}

/// A public-key protobuf without its key type field is an RSA key (proto3 leaves out the zero, as py-libp2p's signed
/// envelopes do); the key re-encodes with the field, so its peer id is the usual one.
///
/// Any other shape is refused.
@Test func publicKeyProtobufWithoutTypeIsRSA() throws {
    let identity = LibP2PIdentity.rsa(try .generate())
    let der = identity.publicKey.data
    var writer = ProtobufWriter()
    writer.bytes(2, der)
    let decoded = try LibP2PPublicKey(protobuf: writer.bytes)
    #expect(decoded == identity.publicKey)
    #expect(decoded.protobuf == identity.publicKey.protobuf && decoded.protobuf.prefix(2) == [0x08, 0x00])
    #expect(PeerID(publicKey: decoded) == identity.peerID)
    // Still refused: no data, the type after the data, a repeated type, a type alone.
    var typeAfterData = ProtobufWriter()
    typeAfterData.bytes(2, der)
    typeAfterData.varint(1, 0)
    var repeated = ProtobufWriter()
    repeated.varint(1, 0)
    repeated.varint(1, 0)
    repeated.bytes(2, der)
    var typeAlone = ProtobufWriter()
    typeAlone.varint(1, 1)
    for bytes in [[], typeAfterData.bytes, repeated.bytes, typeAlone.bytes] {
        #expect(throws: CodecError.self) { try LibP2PPublicKey(protobuf: bytes) }
    }
}
