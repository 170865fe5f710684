import Codec
import Crypto

/// A libp2p identity: the long-term key a peer id is derived from (Ed25519, secp256k1, RSA or ECDSA).
public enum LibP2PIdentity: Sendable {
    /// An Ed25519 key (peer ids `12D3KooW…`), the default.
    case ed25519(Ed25519PrivateKey)
    /// A secp256k1 key (peer ids `16Uiu2…`).
    case secp256k1(Secp256k1PrivateKey)
    /// An RSA key of 2048–8192 bits (peer ids `Qm…`), kubo's default identity.
    case rsa(RSAPrivateKey)
    /// An ECDSA key on P-256, P-384 or P-521 (peer ids `Qm…`).
    case ecdsa(ECDSAPrivateKey)

    /// The public key as libp2p encodes it (Ed25519: 32 bytes; secp256k1: 33-byte compressed; RSA and ECDSA: PKIX
    /// DER).
    public var publicKey: LibP2PPublicKey {
        switch self {
        case .ed25519(let key): LibP2PPublicKey(type: .ed25519, data: key.publicKey.bytes)
        case .secp256k1(let key): LibP2PPublicKey(type: .secp256k1, data: key.publicKey.compressed)
        case .rsa(let key): LibP2PPublicKey(type: .rsa, data: key.publicKey.derRepresentation)
        case .ecdsa(let key): LibP2PPublicKey(type: .ecdsa, data: key.publicKey.derRepresentation)
        }
    }

    /// The peer id of this identity's public key.
    public var peerID: PeerID { PeerID(publicKey: publicKey) }

    /// libp2p's signature: Ed25519 over the message; for the others over SHA-256(message): DER ECDSA for secp256k1
    /// and ECDSA, PKCS#1 v1.5 for RSA.
    public func sign(_ message: [UInt8]) throws(NoiseError) -> [UInt8] {
        do {
            switch self {
            case .ed25519(let key): return key.signature(for: message)
            case .secp256k1(let key): return try key.signDER(message: message)
            case .rsa(let key): return try key.signature(for: message)
            case .ecdsa(let key): return try key.signature(for: message)
            }
        } catch {
            throw .invalidKey("\(error)")
        }
    }
}

extension LibP2PPublicKey {
    /// Whether `signature` is this key's libp2p signature of `message`.
    ///
    /// A key that does not parse, or is outside the accepted bounds (RSA 2048–8192 bits; ECDSA on P-256, P-384 or
    /// P-521), verifies nothing.
    public func isValidSignature(_ signature: [UInt8], for message: [UInt8]) -> Bool {
        switch type {
        case .ed25519:
            guard let key = try? Ed25519PublicKey(bytes: data) else { return false }
            return key.isValidSignature(signature, for: message)
        case .secp256k1:
            guard let key = try? Secp256k1PublicKey(bytes: data) else { return false }
            return key.isValidDERSignature(signature, message: message)
        case .rsa:
            guard let key = try? RSAPublicKey(derRepresentation: data) else { return false }
            return key.isValidSignature(signature, for: message)
        case .ecdsa:
            guard let key = try? ECDSAPublicKey(derRepresentation: data) else { return false }
            return key.isValidSignature(signature, for: message)
        }
    }
}

/// The payload of libp2p's Noise handshake messages 2 and 3 (`NoiseHandshakePayload`): the identity key and its
/// signature over "noise-libp2p-static-key:" ‖ the Noise static public key, binding the two.
public struct NoiseHandshakePayload: Sendable, Equatable {
    /// What the identity key signs in front of the Noise static key.
    public static let signaturePrefix = Array("noise-libp2p-static-key:".utf8)

    /// The sender's libp2p identity key (field 1).
    public var identityKey: LibP2PPublicKey
    /// The identity key's signature over `signaturePrefix` ‖ the Noise static key (field 2).
    public var identitySignature: [UInt8]
    /// The raw `extensions` message (field 4), kept as is.
    public var extensions: [UInt8]?

    /// The payload proving that `identity` owns the Noise static key `staticPublicKey`.
    public init(identity: LibP2PIdentity, staticPublicKey: [UInt8]) throws(NoiseError) {
        identityKey = identity.publicKey
        identitySignature = try identity.sign(Self.signaturePrefix + staticPublicKey)
        extensions = nil
    }

    /// The protobuf encoding.
    public var encoded: [UInt8] {
        var writer = ProtobufWriter()
        writer.bytes(1, identityKey.protobuf)
        writer.bytes(2, identitySignature)
        if let extensions { writer.bytes(4, extensions) }
        return writer.bytes
    }

    /// Decodes a payload; unknown fields are ignored as protobuf requires, the key and signature must be there.
    public init(encoded bytes: [UInt8]) throws(NoiseError) {
        var reader = ProtobufReader(bytes)
        var key: [UInt8]?
        var signature: [UInt8]?
        var extensions: [UInt8]?
        do {
            while let field = try reader.next() {
                switch field.number {
                case 1: key = field.bytes
                case 2: signature = field.bytes
                case 4: extensions = field.bytes
                default: continue
                }
            }
        } catch {
            throw .malformedMessage("handshake payload: \(error)")
        }
        guard let key, let signature else {
            throw .malformedMessage("handshake payload lacks identity key or signature")
        }
        do {
            identityKey = try LibP2PPublicKey(protobuf: key)
        } catch {
            throw .malformedMessage("identity key: \(error)")
        }
        identitySignature = signature
        self.extensions = extensions
    }

    /// Checks the signature against the Noise static key the handshake authenticated; returns the peer id.
    public func verify(remoteStatic: [UInt8]) throws(NoiseError) -> PeerID {
        guard identityKey.isValidSignature(identitySignature, for: Self.signaturePrefix + remoteStatic) else {
            throw .invalidKey("identity signature does not cover the remote Noise static key")
        }
        return PeerID(publicKey: identityKey)
    }
}
