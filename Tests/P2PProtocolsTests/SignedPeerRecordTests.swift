import Codec
import Crypto
import TestSupport
import Testing

@testable import P2PProtocols

/// A signed peer record opens to what was signed, for both key types; a changed byte, another signer, another
/// payload type or an oversized envelope is refused; seeded mutations never crash the parser.
@Test func signedPeerRecordsVerifyAndRefuseForgeries() throws {
    let addresses = [try Multiaddr("/ip4/127.0.0.1/tcp/4001"), try Multiaddr("/ip4/10.0.0.2/tcp/4002")]
    for identity in [LibP2PIdentity.ed25519(.generate()), .secp256k1(.generate())] {
        let record = try SignedPeerRecord(identity: identity, sequence: 1_700_000_000_000, addresses: addresses)
        let opened = try SignedPeerRecord(envelope: record.envelope)
        #expect(opened == record)
        #expect(opened.peer == identity.peerID && opened.sequence == 1_700_000_000_000 && opened.addresses == addresses)

        var random = SeededRandom(seed: 3)
        var refused = 0
        for _ in 0..<500 {
            let mutated = random.mutate(record.envelope)
            guard mutated != record.envelope else { continue }
            if let parsed = try? SignedPeerRecord(envelope: mutated) {
                // Only changes outside the signed part (unknown fields) may still open, to the same record.
                #expect(parsed.peer == record.peer && parsed.addresses == record.addresses)
            } else {
                refused += 1
            }
        }
        #expect(refused > 400)
    }
    // Signed by one key, claiming another peer: the payload's peer id must be the signer's.
    let signer = LibP2PIdentity.ed25519(.generate())
    let other = LibP2PIdentity.ed25519(.generate())
    let honest = try SignedPeerRecord(identity: signer, sequence: 1, addresses: addresses)
    var reader = ProtobufReader(honest.envelope)
    let fields = try reader.readAll()
    var payload = ProtobufWriter()
    payload.bytes(1, other.peerID.multihash.bytes)
    payload.varint(2, 1)
    var forged = ProtobufWriter()
    for field in fields {
        guard case .bytes(let data) = field.value else { continue }
        forged.bytes(field.number, field.number == 3 ? payload.bytes : data)
    }
    #expect(throws: CodecError.self) { try SignedPeerRecord(envelope: forged.bytes) }
    // Another payload type.
    var typed = ProtobufWriter()
    for field in fields {
        guard case .bytes(let data) = field.value else { continue }
        typed.bytes(field.number, field.number == 2 ? [0x03, 0x02] : data)
    }
    #expect(throws: CodecError.self) { try SignedPeerRecord(envelope: typed.bytes) }
    #expect(throws: CodecError.self) {
        try SignedPeerRecord(envelope: [UInt8](repeating: 0, count: SignedPeerRecord.maxBytes + 1))
    }
}
