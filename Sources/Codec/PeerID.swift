import Crypto

/// A libp2p public key as peer ids and the Noise handshake carry it: protobuf {1: key type, 2: key bytes}.
public struct LibP2PPublicKey: Hashable, Sendable {
    /// Key types of the libp2p crypto spec.
    public enum KeyType: UInt64, Sendable {
        case rsa = 0
        case ed25519 = 1
        case secp256k1 = 2
        case ecdsa = 3
    }

    /// The key's algorithm.
    public let type: KeyType
    /// The key bytes in the encoding the key type's spec gives.
    public let data: [UInt8]

    /// A public key of `type` with key bytes `data`.
    public init(type: KeyType, data: [UInt8]) {
        self.type = type
        self.data = data
    }

    /// The deterministic protobuf encoding (field 1 then field 2).
    public var protobuf: [UInt8] {
        var writer = ProtobufWriter()
        writer.varint(1, type.rawValue)
        writer.bytes(2, data)
        return writer.bytes
    }

    /// Decodes the protobuf form: field 1 then field 2, each once.
    ///
    /// Field 1 may be missing only as a proto3 encoder leaves out a zero, for RSA (type 0): py-libp2p writes the key
    /// in its signed envelopes that way. `protobuf` always writes both, and peer ids hash that form.
    public init(protobuf bytes: [UInt8]) throws(CodecError) {
        var reader = ProtobufReader(bytes)
        var fields: [ProtobufField]
        do {
            fields = try reader.readAll()
        } catch {
            throw .invalidPeerID("public key: \(error)")
        }
        let code: UInt64
        if fields.count == 2, fields[0].number == 1, let value = fields[0].varint {
            code = value
            fields.removeFirst()
        } else {
            code = KeyType.rsa.rawValue
        }
        guard fields.count == 1, fields[0].number == 2, let data = fields[0].bytes else {
            throw .invalidPeerID("public key must hold a key type (1) and key data (2)")
        }
        guard let type = KeyType(rawValue: code) else { throw .invalidPeerID("unknown key type \(code)") }
        self.init(type: type, data: data)
    }
}

/// A libp2p peer id: the multihash of the peer's public key protobuf (identity when it is at most 42 bytes,
/// sha2-256 otherwise), written in base58btc or as a CIDv1 with the libp2p-key codec.
public struct PeerID: Hashable, Sendable, CustomStringConvertible {
    /// The multihash, in storage every copy of this id shares: two copies compare equal without reading a byte.
    @usableFromInline
    final class Storage: Sendable {
        @usableFromInline let multihash: Multihash
        init(_ multihash: Multihash) { self.multihash = multihash }
    }

    // Reachable from the inlinable comparison and hashes: tables in other modules compare and hash peer ids on
    // every look-up, and a call for each cost more than the comparison itself.
    @usableFromInline let storage: Storage
    /// The multihash's `Fingerprint`: tables hash it instead of the bytes, and comparisons start with it.
    @usableFromInline let fingerprint: UInt64

    /// The multihash of the public key protobuf that this peer id is.
    public var multihash: Multihash { storage.multihash }

    /// Two peer ids are equal when their multihashes are (the fingerprints, a function of them, are compared
    /// first, then whether they share storage).
    @inlinable
    public static func == (lhs: PeerID, rhs: PeerID) -> Bool {
        lhs.fingerprint == rhs.fingerprint
            && (lhs.storage === rhs.storage || lhs.storage.multihash == rhs.storage.multihash)
    }

    /// Feeds the fingerprint alone.
    @inlinable
    public func hash(into hasher: inout Hasher) { hasher.combine(fingerprint) }

    /// A table's hash: the fingerprint mixed with the table's seed (`Fingerprint.tableHash`), without `Hasher`.
    @inlinable
    public func _rawHashValue(seed: Int) -> Int { Fingerprint.tableHash(fingerprint, seed: seed) }

    private static func fingerprint(of multihash: Multihash) -> UInt64 {
        Fingerprint.of(multihash.digest, salt: multihash.code)
    }

    /// The peer id of a public key protobuf.
    public init(publicKeyProtobuf: [UInt8]) {
        let multihash =
            publicKeyProtobuf.count <= 42
            ? Multihash(code: Multihash.Function.identity.rawValue, digest: publicKeyProtobuf)
            : .sha256(publicKeyProtobuf)
        storage = Storage(multihash)
        fingerprint = Self.fingerprint(of: multihash)
    }

    /// The peer id of a public key.
    public init(publicKey: LibP2PPublicKey) { self.init(publicKeyProtobuf: publicKey.protobuf) }

    /// A peer id from multihash bytes; only identity (≤ 42 bytes) and sha2-256 multihashes are peer ids.
    public init(multihashBytes bytes: [UInt8]) throws(CodecError) {
        let multihash: Multihash
        do {
            multihash = try Multihash(bytes: bytes)
        } catch {
            throw .invalidPeerID("\(error)")
        }
        switch Multihash.Function(rawValue: multihash.code) {
        case .identity where multihash.digest.count <= 42: break
        case .sha2x256 where multihash.digest.count == 32: break
        default: throw .invalidPeerID("multihash is neither identity (≤ 42 bytes) nor a full sha2-256")
        }
        storage = Storage(multihash)
        fingerprint = Self.fingerprint(of: multihash)
    }

    /// Parses base58btc (`12D3Koo…`, `16Uiu2…`, `Qm…`) or a CIDv1 with the libp2p-key codec (`bafz…`).
    public init(string text: some StringProtocol) throws(CodecError) {
        if text.hasPrefix("1") || text.hasPrefix("Q") {
            let bytes: [UInt8]
            do {
                bytes = try Base58.decode(text)
            } catch {
                throw .invalidPeerID("\(error)")
            }
            try self.init(multihashBytes: bytes)
            return
        }
        let cid: CID
        do {
            cid = try CID(string: text)
        } catch {
            throw .invalidPeerID("\(error)")
        }
        guard cid.codec == CID.Codec.libp2pKey.rawValue else {
            throw .invalidPeerID("CID codec 0x\(String(cid.codec, radix: 16)) is not libp2p-key")
        }
        try self.init(multihashBytes: cid.multihash.bytes)
    }

    /// The public key, when the peer id embeds it (identity multihash).
    public var publicKey: LibP2PPublicKey? {
        guard multihash.code == Multihash.Function.identity.rawValue else { return nil }
        return try? LibP2PPublicKey(protobuf: multihash.digest)
    }

    /// base58btc of the multihash.
    public var description: String { Base58.encode(multihash.bytes) }

    /// The CIDv1 form (libp2p-key, base32).
    public var cidString: String { CID(codec: CID.Codec.libp2pKey.rawValue, multihash: multihash).description }
}
