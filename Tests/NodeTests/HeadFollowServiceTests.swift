import Chain
import Codec
import Crypto
import Dispatch
import LightClient
import Node
import Synchronization
import Testing

private let key = try! Secp256k1PrivateKey(bytes: Keccak256.hash(Array("follow".utf8)))
private let sequencer = try! Address(bytes: key.publicKey.ethereumAddress)

/// Signed headers 0 ..< count of chain 7, each the child of the one before.
private func signedChain(_ count: Int) throws -> [(rlp: [UInt8], signature: [UInt8], hash: [UInt8])] {
    var out: [(rlp: [UInt8], signature: [UInt8], hash: [UInt8])] = []
    for number in 0..<count {
        let header = BlockHeader(
            parentHash: out.last?.hash ?? [UInt8](repeating: 0, count: 32), beneficiary: .zero,
            stateRoot: MerklePatriciaTrie.emptyRoot, number: UInt64(number), gasLimit: 30_000_000,
            timestamp: UInt64(number))
        let hash = header.hash
        let digest = SequencerSignature.digest(blockHash: hash, chainId: 7)
        out.append((header.encoded, try key.signRecoverable(digest: digest).rsv, hash))
    }
    return out
}

/// A head source whose head the test moves; it fails while `failing` is set.
private final class MovingHeads: HeadSource, Sendable {
    let chain: [(rlp: [UInt8], signature: [UInt8], hash: [UInt8])]
    let head = Mutex(0)
    let failing = Atomic(false)

    init(_ chain: [(rlp: [UInt8], signature: [UInt8], hash: [UInt8])]) { self.chain = chain }

    func latestSignedHead() throws(LightClientError) -> (rlp: [UInt8], signature: [UInt8], chainId: UInt64?) {
        guard !failing.load(ordering: .relaxed) else { throw .transport("cannot connect") }
        let entry = chain[head.withLock { $0 }]
        return (entry.rlp, entry.signature, 7)
    }

    func signedHeader(_ number: UInt64) throws(LightClientError) -> (rlp: [UInt8], signature: [UInt8])? {
        Int(number) < chain.count ? (chain[Int(number)].rlp, chain[Int(number)].signature) : nil
    }
}

@Test func followerReportsEachNewHeadOnceAndStops() throws {
    let source = MovingHeads(try signedChain(6))
    let trust = TrustRoot(chainId: 7, sequencer: sequencer, anchorHash: source.chain[0].hash)
    let client = try LightClient(trust: trust, rpc: RPCClient(url: "http://127.0.0.1:1"), headSource: source)
    let reported = Mutex<[UInt64]>([])
    let arrived = DispatchSemaphore(value: 0)
    let follower = HeadFollowService(client: client, intervalMilliseconds: 1, logger: .discarding) { head in
        reported.withLock { $0.append(head.number) }
        arrived.signal()
    }
    source.head.withLock { $0 = 2 }
    try follower.start()
    #expect(reported.withLock { $0 } == [2])  // the first head is verified before start returns
    arrived.wait()
    source.head.withLock { $0 = 5 }
    arrived.wait()
    follower.stop()
    #expect(reported.withLock { $0 } == [2, 5])  // polls of an unchanged head report nothing
}

@Test func followerThatCannotReachTheServerFailsToStart() throws {
    let source = MovingHeads(try signedChain(1))
    source.failing.store(true, ordering: .relaxed)
    let trust = TrustRoot(chainId: 7, sequencer: sequencer, anchorHash: source.chain[0].hash)
    let client = try LightClient(trust: trust, rpc: RPCClient(url: "http://127.0.0.1:1"), headSource: source)
    let follower = HeadFollowService(client: client, intervalMilliseconds: 1, logger: .discarding) { _ in }
    #expect {
        try follower.start()
    } throws: { error in
        guard let error = error as? NodeError, case .serviceFailed(let service, _) = error else { return false }
        return service == "light-follow"
    }
}
