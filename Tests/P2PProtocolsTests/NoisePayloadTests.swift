import Codec
import Crypto
import Foundation
import TestSupport
import Testing

@testable import P2PProtocols

/// A full XX handshake carrying libp2p payloads, for both identity key types: each side learns and checks the
/// other's peer id, and the transport ciphers work both ways.
@Test(arguments: [false, true])
func libp2pNoiseHandshakeAuthenticatesPeers(secp256k1: Bool) throws {
    let alice: LibP2PIdentity = secp256k1 ? .secp256k1(.generate()) : .ed25519(.generate())
    let bob: LibP2PIdentity = .ed25519(.generate())
    let aliceStatic = X25519PrivateKey.generate()
    let bobStatic = X25519PrivateKey.generate()
    var initiator = NoiseXXHandshake(
        role: .initiator, hash: .sha256, prologue: [], staticKey: aliceStatic, ephemeralKey: .generate())
    var responder = NoiseXXHandshake(
        role: .responder, hash: .sha256, prologue: [], staticKey: bobStatic, ephemeralKey: .generate())
    _ = try responder.readMessage(try initiator.writeMessage(payload: []))
    let bobPayload = try NoiseHandshakePayload(identity: bob, staticPublicKey: bobStatic.publicKey).encoded
    let received = try initiator.readMessage(try responder.writeMessage(payload: bobPayload))
    #expect(
        try NoiseHandshakePayload(encoded: received).verify(remoteStatic: try #require(initiator.remoteStatic))
            == bob.peerID)
    let alicePayload = try NoiseHandshakePayload(identity: alice, staticPublicKey: aliceStatic.publicKey).encoded
    let third = try responder.readMessage(try initiator.writeMessage(payload: alicePayload))
    #expect(
        try NoiseHandshakePayload(encoded: third).verify(remoteStatic: try #require(responder.remoteStatic))
            == alice.peerID)
    var (send, _) = try initiator.split()
    var (_, receive) = try responder.split()
    #expect(try receive.decrypt(try send.encrypt(Array("ping".utf8), ad: []), ad: []) == Array("ping".utf8))
}

@Test func payloadsForAnotherStaticKeyOrTamperedAreRefused() throws {
    let identity = LibP2PIdentity.secp256k1(.generate())
    let staticKey = X25519PrivateKey.generate()
    let payload = try NoiseHandshakePayload(identity: identity, staticPublicKey: staticKey.publicKey)
    #expect(try payload.verify(remoteStatic: staticKey.publicKey) == identity.peerID)
    #expect(throws: NoiseError.self) { try payload.verify(remoteStatic: X25519PrivateKey.generate().publicKey) }
    var tampered = payload
    tampered.identitySignature[tampered.identitySignature.count - 1] ^= 1
    #expect(throws: NoiseError.self) { try tampered.verify(remoteStatic: staticKey.publicKey) }
    var swapped = payload
    swapped.identityKey = LibP2PIdentity.ed25519(.generate()).publicKey
    #expect(throws: NoiseError.self) { try swapped.verify(remoteStatic: staticKey.publicKey) }
    #expect(throws: NoiseError.self) { try NoiseHandshakePayload(encoded: [0x0A, 0x05, 1]) }
    #expect(throws: NoiseError.self) { try NoiseHandshakePayload(encoded: []) }
    #expect(try NoiseHandshakePayload(encoded: payload.encoded) == payload)
}

@Test func noiseTransportFramesLargeMessagesAndDetectsTampering() throws {
    var initiator = NoiseXXHandshake(
        role: .initiator, hash: .sha256, prologue: [], staticKey: .generate(), ephemeralKey: .generate())
    var responder = NoiseXXHandshake(
        role: .responder, hash: .sha256, prologue: [], staticKey: .generate(), ephemeralKey: .generate())
    _ = try responder.readMessage(try initiator.writeMessage(payload: []))
    _ = try initiator.readMessage(try responder.writeMessage(payload: []))
    _ = try responder.readMessage(try initiator.writeMessage(payload: []))
    let a = try initiator.split()
    let b = try responder.split()
    var alice = NoiseTransport(send: a.send, receive: a.receive)
    var bob = NoiseTransport(send: b.send, receive: b.receive)
    let message = (0..<200_000).map { UInt8(truncatingIfNeeded: $0 &* 31) }
    let wire = try alice.seal(message)
    #expect(wire.count == message.count + 4 * 18)  // four frames, each with a length and a tag
    // Delivered in pieces of 1,000 bytes.
    var received: [UInt8] = []
    var offset = 0
    while offset < wire.count {
        received += try bob.open(Array(wire[offset..<min(wire.count, offset + 1_000)]))
        offset += 1_000
    }
    #expect(received == message)
    // Pieces of every size, from single bytes to several frames at once, frames split anywhere.
    var random = SystemRandomNumberGenerator()
    for _ in 0..<20 {
        let wire = try alice.seal(message)
        var received: [UInt8] = []
        var offset = 0
        while offset < wire.count {
            let size = [1, 2, 3, 17, 1_000, 65_537, 70_000, 200_000][Int.random(in: 0..<8, using: &random)]
            received += try bob.open(Array(wire[offset..<min(wire.count, offset + size)]))
            offset += size
        }
        #expect(received == message)
    }
    var tampered = try alice.seal(Array("hello".utf8))
    tampered[5] ^= 1
    #expect(throws: NoiseError.decryptionFailed) { try bob.open(tampered) }
    #expect(try NoiseTransport.frame([]) == [0, 0])
    #expect(throws: NoiseError.self) { try NoiseTransport.frame([UInt8](repeating: 0, count: 65_536)) }
}

/// The libp2p spec's private keys (Ed25519 and secp256k1) give the spec's public keys and peer ids.
@Test func identityKeysFromTheSpecVectors() throws {
    guard let data = Fixtures.vector("libp2p/peer-ids.json") else { return }
    let vectors = try #require((try Fixtures.json(data) as? [String: Any])?["vectors"] as? [[String: Any]])
    var checked = 0
    for vector in vectors where ["Ed25519", "Secp256k1"].contains(vector["key_type"] as? String) {
        let privateKey = try Hex.decode(try #require(vector["private_key_protobuf_hex"] as? String))
        let identity = try LibP2PIdentity(privateKeyProtobuf: privateKey)
        #expect(
            Hex.encode(identity.publicKey.protobuf, prefix: false)
                == (vector["public_key_protobuf_hex"] as? String)?.lowercased())
        #expect(identity.peerID.description == vector["peer_id"] as? String)
        #expect(try LibP2PIdentity(privateKeyProtobuf: identity.privateKeyProtobuf).peerID == identity.peerID)
        checked += 1
    }
    #expect(checked == 2)
    #expect(throws: NoiseError.self) { try LibP2PIdentity(privateKeyProtobuf: [0x08, 0x00, 0x12, 0x01, 0x00]) }
    #expect(throws: NoiseError.self) { try LibP2PIdentity(privateKeyProtobuf: [1, 2, 3]) }
}
