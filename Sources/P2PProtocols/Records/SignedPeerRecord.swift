import Codec
import Crypto

/// A libp2p signed peer record (RFC 0002 signed envelope around an RFC 0003 peer record): a peer's own signed
/// statement of the addresses it listens on, with a sequence number; what identify and gossipsub PX carry.
///
/// Envelope: {1 public key protobuf, 2 payload type (`0x03 0x01`), 3 payload, 5 signature}; the signature covers
/// the varint-length-prefixed domain `libp2p-peer-record`, payload type and payload. Payload: {1 peer id,
/// 2 seq, 3 repeated {1 multiaddr}}.
public struct SignedPeerRecord: Equatable, Sendable {
    /// The signature domain of peer records.
    public static let domain = Array("libp2p-peer-record".utf8)
    /// The payload type: the multicodec `libp2p-peer-record` (0x0301), as raw bytes like go-libp2p writes it.
    public static let payloadType: [UInt8] = [0x03, 0x01]
    /// The most bytes an envelope may take, and the most addresses a record may name.
    public static let maxBytes = 8 * 1024
    /// The most addresses kept from one record.
    public static let maxAddresses = 32

    /// The peer the record is about (and that signed it).
    public let peer: PeerID
    /// Its sequence number: a newer record has a larger one.
    public let sequence: UInt64
    /// The addresses it listens on.
    public let addresses: [Multiaddr]
    /// The envelope's bytes, as signed.
    public let envelope: [UInt8]

    /// Signs a record of `addresses` with `identity` at `sequence` (callers use a time in ms, as go does).
    public init(identity: LibP2PIdentity, sequence: UInt64, addresses: [Multiaddr]) throws(CodecError) {
        var payload = ProtobufWriter()
        payload.bytes(1, identity.peerID.multihash.bytes)
        payload.varint(2, sequence)
        for address in addresses.prefix(Self.maxAddresses) {
            var info = ProtobufWriter()
            info.bytes(1, address.withoutPeer.bytes)
            payload.bytes(3, info.bytes)
        }
        let signature: [UInt8]
        do {
            signature = try identity.sign(Self.signedBytes(payload: payload.bytes))
        } catch {
            throw .invalidProtobuf("signing the peer record: \(error)")
        }
        var envelope = ProtobufWriter()
        envelope.bytes(1, identity.publicKey.protobuf)
        envelope.bytes(2, Self.payloadType)
        envelope.bytes(3, payload.bytes)
        envelope.bytes(5, signature)
        self.peer = identity.peerID
        self.sequence = sequence
        self.addresses = Array(addresses.prefix(Self.maxAddresses).map(\.withoutPeer))
        self.envelope = envelope.bytes
    }

    /// Opens an envelope: checks its size, payload type, signature, and that the record's peer id is the signing
    /// key's; unparseable addresses are dropped.
    public init(envelope bytes: [UInt8]) throws(CodecError) {
        guard bytes.count <= Self.maxBytes else { throw .invalidProtobuf("peer record of \(bytes.count) bytes") }
        var key: LibP2PPublicKey?
        var type: [UInt8]?
        var payload: [UInt8]?
        var signature: [UInt8]?
        var reader = ProtobufReader(bytes)
        while let field = try reader.next() {
            switch field.number {
            case 1: key = try field.bytes.map { data throws(CodecError) in try LibP2PPublicKey(protobuf: data) }
            case 2: type = field.bytes
            case 3: payload = field.bytes
            case 5: signature = field.bytes
            default: continue
            }
        }
        guard let key, let type, let payload, let signature else {
            throw .invalidProtobuf("peer record envelope lacks a key, type, payload or signature")
        }
        guard type == Self.payloadType else { throw .invalidProtobuf("envelope payload is not a peer record") }
        guard key.isValidSignature(signature, for: Self.signedBytes(payload: payload)) else {
            throw .invalidProtobuf("peer record signature does not verify")
        }
        var peer: PeerID?
        var sequence: UInt64 = 0
        var addresses: [Multiaddr] = []
        var payloadReader = ProtobufReader(payload)
        while let field = try payloadReader.next() {
            switch field.number {
            case 1: peer = try field.bytes.map { data throws(CodecError) in try PeerID(multihashBytes: data) }
            case 2: sequence = field.varint ?? 0
            case 3:
                guard addresses.count < Self.maxAddresses, let info = field.bytes else { continue }
                var infoReader = ProtobufReader(info)
                while let inner = try infoReader.next() {
                    if inner.number == 1, let data = inner.bytes, let address = try? Multiaddr(bytes: data) {
                        addresses.append(address)
                    }
                }
            default: continue
            }
        }
        guard let peer, peer == PeerID(publicKey: key) else {
            throw .invalidProtobuf("peer record names another peer than its signer")
        }
        self.peer = peer
        self.sequence = sequence
        self.addresses = addresses
        self.envelope = bytes
    }

    private static func signedBytes(payload: [UInt8]) -> [UInt8] {
        Varint.encode(UInt64(domain.count)) + domain + Varint.encode(UInt64(payloadType.count)) + payloadType
            + Varint.encode(UInt64(payload.count)) + payload
    }
}
