import Chain
import Codec
import Crypto
import Dispatch
import LightClient
import Node
import Synchronization
import Testing

private let key = try! Secp256k1PrivateKey(bytes: Keccak256.hash(Array("peer-node-heads".utf8)))
private let sequencer = try! Address(bytes: key.publicKey.ethereumAddress)

/// Signed headers 0 ..< count of chain 7, each the child of the one before.
private func signedChain(_ count: Int) throws -> [(rlp: [UInt8], signature: [UInt8], hash: [UInt8])] {
    var out: [(rlp: [UInt8], signature: [UInt8], hash: [UInt8])] = []
    for number in 0..<count {
        let header = BlockHeader(
            parentHash: out.last?.hash ?? [UInt8](repeating: 0, count: 32), beneficiary: .zero,
            stateRoot: MerklePatriciaTrie.emptyRoot, number: UInt64(number), gasLimit: 30_000_000,
            timestamp: UInt64(number))
        let digest = SequencerSignature.digest(blockHash: header.hash, chainId: 7)
        out.append((header.encoded, try key.signRecoverable(digest: digest).rsv, header.hash))
    }
    return out
}

/// A server that is down until `up` is set, then serves the chain's head `head`.
private final class FlakyServer: HeadSource, Sendable {
    let chain: [(rlp: [UInt8], signature: [UInt8], hash: [UInt8])]
    let up = Atomic(false)
    init(_ chain: [(rlp: [UInt8], signature: [UInt8], hash: [UInt8])]) { self.chain = chain }

    func latestSignedHead() throws(LightClientError) -> (rlp: [UInt8], signature: [UInt8], chainId: UInt64?) {
        guard up.load(ordering: .acquiring) else { throw .transport("cannot connect") }
        return (chain[chain.count - 1].rlp, chain[chain.count - 1].signature, 7)
    }

    func signedHeader(_ number: UInt64) throws(LightClientError) -> (rlp: [UInt8], signature: [UInt8])? {
        guard up.load(ordering: .acquiring) else { throw .transport("cannot connect") }
        return Int(number) < chain.count ? (chain[Int(number)].rlp, chain[Int(number)].signature) : nil
    }
}

/// The head follower of a light peer or a seeder.
@Suite struct PeerNodeHeadTests {
    /// A follower that does not require a head at start runs while the server is down, and reports the head once
    /// the server answers; one that requires it fails to start.
    @Test func aPeerStartsWhileItsServerIsDown() throws {
        let server = FlakyServer(try signedChain(4))
        let trust = TrustRoot(chainId: 7, sequencer: sequencer, anchorHash: server.chain[0].hash)
        let client = try LightClient(trust: trust, rpc: RPCClient(url: "http://127.0.0.1:1"), headSource: server)
        let strict = HeadFollowService(client: client, intervalMilliseconds: 1, logger: .discarding) { _ in }
        #expect(throws: NodeError.self) { try strict.start() }
        let reported = Mutex<[UInt64]>([])
        let arrived = DispatchSemaphore(value: 0)
        let tolerant = HeadFollowService(
            client: client, intervalMilliseconds: 1, logger: .discarding, requiresHeadAtStart: false
        ) { head in
            reported.withLock { $0.append(head.number) }
            arrived.signal()
        }
        try tolerant.start()
        #expect(reported.withLock { $0 }.isEmpty)
        server.up.store(true, ordering: .releasing)
        arrived.wait()
        tolerant.stop()
        #expect(reported.withLock { $0 } == [3])
        #expect(try client.knownHead()?.number == 3)
    }
}
