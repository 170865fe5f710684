import Crypto

/// The Noise XX handshake (`-> e; <- e, ee, s, es; -> s, se`) with X25519 and ChaChaPoly, as libp2p's
/// `/noise` uses it. A pure state machine: keys (including ephemeral ones) are passed in, bytes go in and out,
/// nothing else happens.
public struct NoiseXXHandshake: Sendable {
    public enum Role: Sendable { case initiator, responder }

    public let role: Role
    public let hash: NoiseHash
    private var chainingKey: [UInt8]
    private var handshakeHashValue: [UInt8]
    private var cipher = NoiseCipherState()
    private let staticKey: X25519PrivateKey
    private let ephemeralKey: X25519PrivateKey
    /// The peer's static public key, once received.
    public private(set) var remoteStatic: [UInt8]?
    private var remoteEphemeral: [UInt8]?
    /// Handshake messages processed so far (3 when complete).
    public private(set) var step = 0

    /// A handshake named `Noise_XX_25519_ChaChaPoly_<hash>`.
    public init(
        role: Role, hash: NoiseHash, prologue: [UInt8], staticKey: X25519PrivateKey, ephemeralKey: X25519PrivateKey
    ) {
        self.role = role
        self.hash = hash
        self.staticKey = staticKey
        self.ephemeralKey = ephemeralKey
        let name = Array("Noise_XX_25519_ChaChaPoly_\(hash == .sha256 ? "SHA256" : "BLAKE2b")".utf8)
        let initial =
            name.count <= hash.length ? name + [UInt8](repeating: 0, count: hash.length - name.count) : hash.hash(name)
        chainingKey = initial
        handshakeHashValue = initial
        mixHash(prologue)
    }

    public var isComplete: Bool { step == 3 }

    /// h: the hash of the whole handshake, which channel-binding protocols sign.
    public var handshakeHash: [UInt8] { handshakeHashValue }

    private mutating func mixHash(_ data: [UInt8]) { handshakeHashValue = hash.hash(handshakeHashValue + data) }

    private mutating func mixKey(_ material: [UInt8]) {
        let outputs = hash.hkdf(chainingKey: chainingKey, inputKeyMaterial: material, outputs: 2)
        chainingKey = outputs[0]
        cipher = NoiseCipherState(key: Array(outputs[1].prefix(32)), nonce: 0)
    }

    private mutating func encryptAndHash(_ plaintext: [UInt8]) throws(NoiseError) -> [UInt8] {
        let ciphertext = try cipher.encrypt(plaintext, ad: handshakeHashValue)
        mixHash(ciphertext)
        return ciphertext
    }

    private mutating func decryptAndHash(_ ciphertext: [UInt8]) throws(NoiseError) -> [UInt8] {
        let plaintext = try cipher.decrypt(ciphertext, ad: handshakeHashValue)
        mixHash(ciphertext)
        return plaintext
    }

    private func dh(_ key: X25519PrivateKey, _ remote: [UInt8]?) throws(NoiseError) -> [UInt8] {
        guard let remote else { throw .outOfOrder("no remote key yet") }
        do {
            return try key.sharedSecret(with: remote)
        } catch {
            throw .invalidKey("\(error)")
        }
    }

    private var writesNext: Bool { (step % 2 == 0) == (role == .initiator) }

    /// Writes the next handshake message carrying `payload`.
    public mutating func writeMessage(payload: [UInt8]) throws(NoiseError) -> [UInt8] {
        guard step < 3, writesNext else { throw .outOfOrder("not this side's turn to write (step \(step))") }
        var out: [UInt8] = []
        switch step {
        case 0:  // -> e
            out += ephemeralKey.publicKey
            mixHash(ephemeralKey.publicKey)
        case 1:  // <- e, ee, s, es
            out += ephemeralKey.publicKey
            mixHash(ephemeralKey.publicKey)
            mixKey(try dh(ephemeralKey, remoteEphemeral))
            out += try encryptAndHash(staticKey.publicKey)
            mixKey(try dh(staticKey, remoteEphemeral))
        default:  // -> s, se
            out += try encryptAndHash(staticKey.publicKey)
            mixKey(try dh(staticKey, remoteEphemeral))
        }
        out += try encryptAndHash(payload)
        step += 1
        return out
    }

    /// Reads the next handshake message and returns its payload.
    public mutating func readMessage(_ message: [UInt8]) throws(NoiseError) -> [UInt8] {
        guard step < 3, !writesNext else { throw .outOfOrder("not this side's turn to read (step \(step))") }
        var rest = message[...]
        func take(_ count: Int) throws(NoiseError) -> [UInt8] {
            guard rest.count >= count else { throw .malformedMessage("message \(step) shorter than its keys") }
            defer { rest = rest.dropFirst(count) }
            return Array(rest.prefix(count))
        }
        switch step {
        case 0:  // -> e
            remoteEphemeral = try take(32)
            mixHash(remoteEphemeral!)
        case 1:  // <- e, ee, s, es
            remoteEphemeral = try take(32)
            mixHash(remoteEphemeral!)
            mixKey(try dh(ephemeralKey, remoteEphemeral))
            remoteStatic = try decryptAndHash(try take(48))
            mixKey(try dh(ephemeralKey, remoteStatic))
        default:  // -> s, se
            remoteStatic = try decryptAndHash(try take(48))
            mixKey(try dh(ephemeralKey, remoteStatic))
        }
        let payload = try decryptAndHash(Array(rest))
        step += 1
        return payload
    }

    /// The transport ciphers after the handshake: (send, receive) for this side.
    public func split() throws(NoiseError) -> (send: NoiseCipherState, receive: NoiseCipherState) {
        guard isComplete else { throw .outOfOrder("handshake not complete") }
        let outputs = hash.hkdf(chainingKey: chainingKey, inputKeyMaterial: [], outputs: 2)
        let first = NoiseCipherState(key: Array(outputs[0].prefix(32)), nonce: 0)
        let second = NoiseCipherState(key: Array(outputs[1].prefix(32)), nonce: 0)
        return role == .initiator ? (first, second) : (second, first)
    }
}
