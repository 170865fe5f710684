import Codec
import Crypto

extension LibP2PIdentity {
    /// The libp2p private-key protobuf {1: key type, 2: key bytes}: Ed25519 as seed ‖ public key (64 bytes),
    /// secp256k1 as the 32-byte scalar, RSA as PKCS#1 DER, ECDSA as SEC1 DER — the forms go-libp2p stores.
    public var privateKeyProtobuf: [UInt8] {
        var writer = ProtobufWriter()
        switch self {
        case .ed25519(let key):
            writer.varint(1, LibP2PPublicKey.KeyType.ed25519.rawValue)
            writer.bytes(2, key.seed + key.publicKey.bytes)
        case .secp256k1(let key):
            writer.varint(1, LibP2PPublicKey.KeyType.secp256k1.rawValue)
            writer.bytes(2, key.withUnsafeSecretBytes { Array($0) })
        case .rsa(let key):
            writer.varint(1, LibP2PPublicKey.KeyType.rsa.rawValue)
            writer.bytes(2, key.derRepresentation)
        case .ecdsa(let key):
            writer.varint(1, LibP2PPublicKey.KeyType.ecdsa.rawValue)
            writer.bytes(2, key.derRepresentation)
        }
        return writer.bytes
    }

    /// Reads a private-key protobuf of any of the four key types, in the forms `privateKeyProtobuf` writes.
    public init(privateKeyProtobuf bytes: [UInt8]) throws(NoiseError) {
        var reader = ProtobufReader(bytes)
        let fields: [ProtobufField]
        do {
            fields = try reader.readAll()
        } catch {
            throw .invalidKey("private key: \(error)")
        }
        guard fields.count == 2, fields[0].number == 1, let type = fields[0].varint, fields[1].number == 2,
            let data = fields[1].bytes
        else { throw .invalidKey("private key must hold a key type (1) and key data (2)") }
        do {
            switch LibP2PPublicKey.KeyType(rawValue: type) {
            case .ed25519:
                guard data.count == 64 || data.count == 32 else {
                    throw NoiseError.invalidKey("Ed25519 key of \(data.count) bytes")
                }
                let key = try Ed25519PrivateKey(seed: Array(data.prefix(32)))
                if data.count == 64, Array(data.suffix(32)) != key.publicKey.bytes {
                    throw NoiseError.invalidKey("Ed25519 private key does not match its public half")
                }
                self = .ed25519(key)
            case .secp256k1:
                self = .secp256k1(try Secp256k1PrivateKey(bytes: data))
            case .rsa:
                self = .rsa(try RSAPrivateKey(derRepresentation: data))
            case .ecdsa:
                self = .ecdsa(try ECDSAPrivateKey(derRepresentation: data))
            case nil:
                throw NoiseError.invalidKey("unsupported identity key type \(type)")
            }
        } catch let error as NoiseError {
            throw error
        } catch {
            throw .invalidKey("\(error)")
        }
    }
}
