import Codec
import Crypto
import Foundation
import TestSupport
import Testing

@testable import P2PProtocols

/// The cacophony vectors for Noise_XX_25519_ChaChaPoly_SHA256 and _BLAKE2b, byte for byte: every handshake
/// and transport message, and the handshake hash.
@Test(arguments: ["Noise_XX_25519_ChaChaPoly_SHA256", "Noise_XX_25519_ChaChaPoly_BLAKE2b"])
func noiseXXMatchesCacophony(name: String) throws {
    guard let data = Fixtures.vector("noise/cacophony-xx.json") else { return }
    let vectors = try #require((try Fixtures.json(data) as? [String: Any])?["vectors"] as? [[String: Any]])
    let vector = try #require(vectors.first { $0["protocol_name"] as? String == name })
    func hex(_ key: String) throws -> [UInt8] { try Hex.decode(vector[key] as? String ?? "") }
    let hash: NoiseHash = name.hasSuffix("SHA256") ? .sha256 : .blake2b
    var initiator = NoiseXXHandshake(
        role: .initiator, hash: hash, prologue: try hex("init_prologue"),
        staticKey: try X25519PrivateKey(bytes: try hex("init_static")),
        ephemeralKey: try X25519PrivateKey(bytes: try hex("init_ephemeral")))
    var responder = NoiseXXHandshake(
        role: .responder, hash: hash, prologue: try hex("resp_prologue"),
        staticKey: try X25519PrivateKey(bytes: try hex("resp_static")),
        ephemeralKey: try X25519PrivateKey(bytes: try hex("resp_ephemeral")))
    let messages = try #require(vector["messages"] as? [[String: String]])
    #expect(messages.count > 3)
    var initiatorCiphers: (send: NoiseCipherState, receive: NoiseCipherState)? = nil
    var responderCiphers: (send: NoiseCipherState, receive: NoiseCipherState)? = nil
    for (index, message) in messages.enumerated() {
        let payload = try Hex.decode(message["payload"] ?? "")
        let expected = try Hex.decode(message["ciphertext"] ?? "")
        let fromInitiator = index % 2 == 0
        if index < 3 {
            let written =
                fromInitiator
                ? try initiator.writeMessage(payload: payload) : try responder.writeMessage(payload: payload)
            #expect(written == expected, "\(name) message \(index)")
            let read = fromInitiator ? try responder.readMessage(written) : try initiator.readMessage(written)
            #expect(read == payload)
            if index == 2 {
                #expect(initiator.handshakeHash == (try hex("handshake_hash")))
                #expect(responder.handshakeHash == initiator.handshakeHash)
                initiatorCiphers = try initiator.split()
                responderCiphers = try responder.split()
            }
        } else {
            let written =
                fromInitiator
                ? try initiatorCiphers!.send.encrypt(payload, ad: [])
                : try responderCiphers!.send.encrypt(payload, ad: [])
            #expect(written == expected, "\(name) transport message \(index)")
            let read =
                fromInitiator
                ? try responderCiphers!.receive.decrypt(written, ad: [])
                : try initiatorCiphers!.receive.decrypt(written, ad: [])
            #expect(read == payload)
        }
    }
    #expect(responder.remoteStatic == (try X25519PrivateKey(bytes: try hex("init_static"))).publicKey)
}

@Test func tamperedHandshakeMessagesFail() throws {
    func pair() -> (NoiseXXHandshake, NoiseXXHandshake) {
        (
            NoiseXXHandshake(
                role: .initiator, hash: .sha256, prologue: [], staticKey: .generate(), ephemeralKey: .generate()),
            NoiseXXHandshake(
                role: .responder, hash: .sha256, prologue: [], staticKey: .generate(), ephemeralKey: .generate())
        )
    }
    var (initiator, responder) = pair()
    let first = try initiator.writeMessage(payload: [])
    _ = try responder.readMessage(first)
    var second = try responder.writeMessage(payload: Array("identity".utf8))
    second[40] ^= 1
    #expect(throws: NoiseError.decryptionFailed) { try initiator.readMessage(second) }
    (initiator, responder) = pair()
    #expect(throws: NoiseError.self) { try responder.writeMessage(payload: []) }  // out of turn
    _ = try responder.readMessage(try initiator.writeMessage(payload: []))
    #expect(throws: NoiseError.self) { try initiator.readMessage([1, 2, 3]) }  // truncated
}
