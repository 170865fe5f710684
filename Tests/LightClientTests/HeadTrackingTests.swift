import Chain
import Codec
import Crypto
import Synchronization
import Testing

@testable import LightClient

/// A head source serving headers the test signs: the fake of the layer below, so that reorgs and replays can
/// be staged exactly.
private final class StagedHeads: HeadSource, @unchecked Sendable {
    var chain: [VerifiedHeader] = []
    var head = 0

    func latestSignedHead() throws(LightClientError) -> (rlp: [UInt8], signature: [UInt8], chainId: UInt64?) {
        (chain[head].header.encoded, chain[head].signature, nil)
    }

    func signedHeader(_ number: UInt64) throws(LightClientError) -> (rlp: [UInt8], signature: [UInt8])? {
        guard Int(number) < chain.count else { return nil }
        return (chain[Int(number)].header.encoded, chain[Int(number)].signature)
    }
}

private let key = try! Secp256k1PrivateKey(bytes: Keccak256.hash(Array("sequencer".utf8)))
private let sequencer = try! Address(bytes: key.publicKey.ethereumAddress)

/// Signed headers from `parent`, each with `salt` in extraData so that two forks differ.
private func extend(_ chain: [VerifiedHeader], to length: Int, salt: UInt8) throws -> [VerifiedHeader] {
    var out = chain
    while out.count < length {
        var header = BlockHeader(
            parentHash: out.last?.hash ?? [UInt8](repeating: 0, count: 32), beneficiary: .zero,
            stateRoot: MerklePatriciaTrie.emptyRoot, number: UInt64(out.count), gasLimit: 30_000_000,
            timestamp: UInt64(out.count))
        header.extraData = out.isEmpty ? [] : [salt]
        let hash = header.hash
        let digest = SequencerSignature.digest(blockHash: hash, chainId: 7)
        out.append(VerifiedHeader(header: header, hash: hash, signature: try key.signRecoverable(digest: digest).rsv))
    }
    return out
}

@Test func headTrackingFollowsExtensionsAndReorgsAndRefusesReplays() throws {
    let source = StagedHeads()
    source.chain = try extend([], to: 10, salt: 1)
    let trust = TrustRoot(chainId: 7, sequencer: sequencer, anchorHash: source.chain[0].hash)
    let client = try LightClient(trust: trust, rpc: RPCClient(url: "http://127.0.0.1:1"), headSource: source)
    source.head = 5
    #expect(try client.syncHead().number == 5)
    source.head = 9
    #expect(try client.syncHead().hash == source.chain[9].hash)
    #expect(try client.header(7).hash == source.chain[7].hash)  // walked back through parent links
    // A reorg of the unsafe head: a fork from block 6 that ends higher replaces blocks 7 … 9.
    let fork = try extend(Array(source.chain.prefix(7)), to: 12, salt: 2)
    source.chain = fork
    source.head = 11
    #expect(try client.syncHead().hash == fork[11].hash)
    #expect(try client.header(8).hash == fork[8].hash)
    // The old head is a replay now.
    let honest = source.chain
    source.chain = try extend(Array(fork.prefix(7)), to: 10, salt: 1)
    source.head = 9
    #expect(throws: LightClientError.self) { try client.syncHead() }
    // A head whose parent link does not hold is refused.
    source.chain = honest
    var broken = try extend(honest, to: 13, salt: 2)
    var orphan = broken[12].header
    orphan.parentHash = Keccak256.hash([1])
    let digest = SequencerSignature.digest(blockHash: orphan.hash, chainId: 7)
    broken[12] = VerifiedHeader(
        header: orphan, hash: orphan.hash, signature: try key.signRecoverable(digest: digest).rsv)
    broken = try extend(broken, to: 14, salt: 2)
    source.chain = broken
    source.head = 13
    #expect(throws: LightClientError.self) { try client.syncHead() }
    // A different genesis is refused by a fresh client.
    let other = try LightClient(
        trust: TrustRoot(chainId: 7, sequencer: sequencer, anchorHash: Keccak256.hash([9])),
        rpc: RPCClient(url: "http://127.0.0.1:1"), headSource: source)
    #expect(throws: LightClientError.self) { try other.syncHead() }
}

@Test func headerWindowIsBounded() throws {
    let store = try HeaderStore()
    let chain = try extend([], to: Int(HeaderStore.window) + 50, salt: 1)
    for header in chain { try store.put(header) }
    #expect(try store.header(10) == nil)
    #expect(try store.head()?.number == UInt64(chain.count - 1))
    #expect(try store.header(UInt64(chain.count - 1 - Int(HeaderStore.window) + 1)) != nil)
}
