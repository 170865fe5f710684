import Codec

/// The identify message (`/ipfs/id/1.0.0`): what a peer says about itself and what it saw of us.
///
/// On the wire it is a varint length followed by the protobuf.
public struct IdentifyMessage: Equatable, Sendable {
    /// The protocol id the identify stream negotiates.
    public static let protocolID = "/ipfs/id/1.0.0"
    /// Identify messages are small; anything larger is refused.
    public static let maxLength = 64 * 1024

    /// The libp2p protocol family and version the peer speaks (field 5), such as `ipfs/0.1.0`.
    public var protocolVersion: String?
    /// The peer's implementation name and version (field 6).
    public var agentVersion: String?
    /// The peer's identity key (field 1).
    public var publicKey: LibP2PPublicKey?
    /// The addresses the peer listens on (field 2).
    public var listenAddresses: [Multiaddr]
    /// The address the peer sees this side connecting from (field 4).
    public var observedAddress: Multiaddr?
    /// The protocol ids the peer supports (field 3).
    public var protocols: [String]
    /// The peer's signed peer record envelope (field 8), as sent; `SignedPeerRecord(envelope:)` checks it.
    public var signedPeerRecord: [UInt8]?

    /// A message with the given fields; the protocol version defaults to `ipfs/0.1.0`.
    public init(
        protocolVersion: String? = "ipfs/0.1.0", agentVersion: String? = nil, publicKey: LibP2PPublicKey? = nil,
        listenAddresses: [Multiaddr] = [], observedAddress: Multiaddr? = nil, protocols: [String] = [],
        signedPeerRecord: [UInt8]? = nil
    ) {
        self.signedPeerRecord = signedPeerRecord
        self.protocolVersion = protocolVersion
        self.agentVersion = agentVersion
        self.publicKey = publicKey
        self.listenAddresses = listenAddresses
        self.observedAddress = observedAddress
        self.protocols = protocols
    }

    /// The protobuf encoding, without the length prefix.
    public var protobuf: [UInt8] {
        var writer = ProtobufWriter()
        if let publicKey { writer.bytes(1, publicKey.protobuf) }
        for address in listenAddresses { writer.bytes(2, address.bytes) }
        for name in protocols { writer.string(3, name) }
        if let observedAddress { writer.bytes(4, observedAddress.bytes) }
        if let protocolVersion { writer.string(5, protocolVersion) }
        if let agentVersion { writer.string(6, agentVersion) }
        if let signedPeerRecord { writer.bytes(8, signedPeerRecord) }
        return writer.bytes
    }

    /// The length-prefixed wire form.
    public var framed: [UInt8] { Varint.encode(UInt64(protobuf.count)) + protobuf }

    /// Decodes the protobuf; unknown fields are skipped.
    ///
    /// Unparseable listen addresses are dropped rather than failing the whole message, as other implementations do.
    public init(protobuf bytes: [UInt8]) throws(CodecError) {
        guard bytes.count <= Self.maxLength else { throw .invalidProtobuf("identify message of \(bytes.count) bytes") }
        var reader = ProtobufReader(bytes)
        self.init(protocolVersion: nil)
        while let field = try reader.next() {
            switch field.number {
            case 1:
                guard let data = field.bytes else { throw .invalidProtobuf("publicKey is not bytes") }
                do {
                    publicKey = try LibP2PPublicKey(protobuf: data)
                } catch {
                    throw .invalidProtobuf("publicKey: \(error)")
                }
            case 2:
                if let data = field.bytes, let address = try? Multiaddr(bytes: data) { listenAddresses.append(address) }
            case 3:
                guard let data = field.bytes, let text = String(validating: data, as: UTF8.self) else {
                    throw .invalidProtobuf("protocol is not UTF-8 text")
                }
                protocols.append(text)
            case 4:
                if let data = field.bytes { observedAddress = try? Multiaddr(bytes: data) }
            case 5:
                protocolVersion = field.bytes.flatMap { String(validating: $0, as: UTF8.self) }
            case 6:
                agentVersion = field.bytes.flatMap { String(validating: $0, as: UTF8.self) }
            case 8:
                signedPeerRecord = field.bytes
            default:
                continue
            }
        }
    }
}

/// The ping protocol (`/ipfs/ping/1.0.0`): 32 bytes sent, the same 32 bytes echoed.
public enum PingProtocol {
    /// The protocol id the ping stream negotiates.
    public static let protocolID = "/ipfs/ping/1.0.0"
    /// The size of each ping, and of its echo, in bytes.
    public static let payloadLength = 32
}
