import Chain
import Codec
import Crypto
import LightClient
import Node
import P2P
import Runtime
import Synchronization
import TestSupport
import Testing

private let key = try! Secp256k1PrivateKey(bytes: Keccak256.hash(Array("gossip-heads".utf8)))
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

/// The parents a light client fetches while linking a gossiped head.
private struct Parents: HeadSource {
    let chain: [(rlp: [UInt8], signature: [UInt8], hash: [UInt8])]
    func latestSignedHead() throws(LightClientError) -> (rlp: [UInt8], signature: [UInt8], chainId: UInt64?) {
        throw .transport("heads come by gossip here")
    }
    func signedHeader(_ number: UInt64) throws(LightClientError) -> (rlp: [UInt8], signature: [UInt8])? {
        Int(number) < chain.count ? (chain[Int(number)].rlp, chain[Int(number)].signature) : nil
    }
}

private final class Lines: Sendable {
    let list = Mutex<[String]>([])
    func add(_ line: String) { list.withLock { $0.append(line) } }
    func contains(_ text: String) -> Bool { list.withLock { $0.contains { $0.contains(text) } } }
}

/// Heads gossiped on the blocks topic go through the light client: a head that verifies is recorded, delivered
/// and forwarded; an older one is ignored; a forged one is rejected with the reason logged, never delivered.
@Test(.timeLimit(.minutes(3))) func gossipedHeadsAreCheckedByTheLightClient() async throws {
    let chain = try signedChain(6)
    let trust = TrustRoot(chainId: 7, sequencer: sequencer, anchorHash: chain[0].hash)
    let client = try LightClient(
        trust: trust, rpc: RPCClient(url: "http://127.0.0.1:1"), headSource: Parents(chain: chain))
    let topic = NetworkTopics.blocks(chainId: 7)
    #expect(topic == "/openledger/7/blocks/1")
    let logs = Lines()
    let logger = Logger(
        module: "gossip", sink: LogSink(format: .logfmt, level: .debug, clock: SystemClock()) { logs.add($0) })
    let heads = Mutex<[UInt64]>([])
    let delivered = Mutex<[[UInt8]]>([])

    let sender = try P2PHost(identity: .ed25519(.generate()))
    let receiver = try P2PHost(identity: .ed25519(.generate()))
    let address = try receiver.listen(try Multiaddr("/ip4/127.0.0.1/tcp/0"))
    let sending = Gossip(host: sender, random: SeededRandom(seed: 1), logger: .discarding) { _ in }
    let receiving = Gossip(
        host: receiver,
        validators: [
            topic: HeadGossip.validator(client: client, logger: logger) { head in
                heads.withLock { $0.append(head.number) }
            }
        ],
        random: SeededRandom(seed: 2), logger: .discarding
    ) { delivery in delivered.withLock { $0.append(delivery.message.data) } }
    defer {
        sending.close()
        receiving.close()
        sender.close()
        receiver.close()
    }
    sending.subscribe(topic)
    receiving.subscribe(topic)
    _ = try await sender.connect(address)

    func head(_ number: Int) -> [UInt8] {
        SignedHeadJSON.encode(rlp: chain[number].rlp, signature: chain[number].signature, chainId: 7)
    }
    // The first head, resent until the subscription has crossed (a head published too early has nowhere to go).
    var arrived = false
    for _ in 0..<30 where !arrived {
        sending.publish(topic: topic, data: head(3))
        arrived = try await onOwnThread { poll(timeout: 2) { heads.withLock { $0 } == [3] } }
    }
    try #require(arrived, "head 3 never arrived")
    #expect(try client.knownHead()?.number == 3)
    var forged = chain[5].signature
    forged[10] ^= 0x40
    sending.publish(topic: topic, data: head(2))
    sending.publish(topic: topic, data: SignedHeadJSON.encode(rlp: chain[5].rlp, signature: forged, chainId: 7))
    sending.publish(topic: topic, data: Array("not a head".utf8))
    sending.publish(topic: topic, data: head(4))
    let settled = try await onOwnThread {
        poll { heads.withLock { $0 } == [3, 4] && receiving.router.counters.rejected == 2 }
    }
    #expect(settled, "heads \(heads.withLock { $0 }), counters \(receiving.router.counters)")
    #expect(receiving.router.counters.ignored >= 1)  // head 2 (and each repeat of head 3) is old news
    #expect(try client.knownHead()?.number == 4)
    #expect(logs.contains("gossiped head refused") && logs.contains("verification failed"))
    #expect(logs.contains("malformed"))
    #expect(delivered.withLock { $0 }.allSatisfy { $0 == head(3) || $0 == head(4) })
}
