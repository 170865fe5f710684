import Codec
import Crypto
import Foundation
import TestSupport
import Testing

@testable import Chain

/// Random keys with shared prefixes, so that extensions, branches with values and splits all occur.
private func randomKey(_ random: inout SeededRandom, _ existing: [[UInt8]]) -> [UInt8] {
    if let base = existing.randomElement(using: &random), Bool.random(using: &random) {
        return Array(base.prefix(Int.random(in: 0...base.count, using: &random)))
            + random.bytes(Int.random(in: 0...3, using: &random))
    }
    return random.bytes(Int.random(in: 1...34, using: &random))
}

@Test(arguments: 0..<200)
func trieMatchesADictionaryAndProvesEveryKey(seed: Int) throws {
    var random = SeededRandom(seed: UInt64(seed))
    var trie = MerklePatriciaTrie()
    var model: [[UInt8]: [UInt8]] = [:]
    for _ in 0..<Int.random(in: 1...80, using: &random) {
        let key = randomKey(&random, Array(model.keys))
        if !model.isEmpty, Int.random(in: 0..<5, using: &random) == 0 {
            let victim = model.keys.randomElement(using: &random)!
            try trie.remove(victim)
            model[victim] = nil
        } else {
            let value = random.bytes(Int.random(in: 1...40, using: &random))
            try trie.set(key, value)
            model[key] = value
        }
        if Int.random(in: 0..<10, using: &random) == 0 { trie.commit() }  // mix committed and fresh nodes
    }
    let root = trie.commit()
    for (key, value) in model {
        #expect(try trie.get(key) == value)
        let proof = try trie.proof(for: key)
        #expect(try MerklePatriciaTrie.verifyProof(rootHash: root, key: key, proof: proof) == value)
    }
    for _ in 0..<10 {
        let absent = randomKey(&random, Array(model.keys))
        guard model[absent] == nil else { continue }
        #expect(try trie.get(absent) == nil)
        let proof = try trie.proof(for: absent)
        #expect(try MerklePatriciaTrie.verifyProof(rootHash: root, key: absent, proof: proof) == nil)
    }
    // The root depends on the contents only: rebuilding in another order gives the same root.
    var rebuilt = MerklePatriciaTrie()
    for (key, value) in model.shuffled(using: &random) { try rebuilt.set(key, value) }
    #expect(rebuilt.commit() == root)
    // Removing everything gives the empty root back.
    for key in model.keys { try trie.remove(key) }
    #expect(trie.commit() == MerklePatriciaTrie.emptyRoot)
}

@Test func trieReopensFromStoredNodesAndKeepsValueSemantics() throws {
    var random = SeededRandom(seed: 99)
    var trie = MerklePatriciaTrie()
    var model: [[UInt8]: [UInt8]] = [:]
    for _ in 0..<500 {
        let key = random.bytes(20)
        let value = random.bytes(Int.random(in: 1...70, using: &random))
        try trie.set(key, value)
        model[key] = value
    }
    let store = InMemoryTrieNodes()
    let root = trie.commit()
    store.insert(trie.takeNewNodes())
    var reopened = MerklePatriciaTrie(rootHash: root, source: store)
    for (key, value) in model { #expect(try reopened.get(key) == value) }
    let snapshot = reopened
    let (changedKey, _) = model.first!
    try reopened.set(changedKey, [1, 2, 3])
    try trie.set(changedKey, [1, 2, 3])
    #expect(reopened.commit() == trie.commit())
    #expect(try snapshot.get(changedKey) == model[changedKey])  // the copy did not see the update
    var snapshotCopy = snapshot
    #expect(snapshotCopy.commit() == root)
    // Proofs work through nodes loaded from the store.
    let proof = try reopened.proof(for: changedKey)
    #expect(
        try MerklePatriciaTrie.verifyProof(rootHash: reopened.commit(), key: changedKey, proof: proof) == [1, 2, 3])
}

@Test func missingNodeIsAnErrorNotACrash() throws {
    let store = InMemoryTrieNodes()
    let trie = MerklePatriciaTrie(rootHash: Keccak256.hash([1]), source: store)
    #expect(throws: TrieError.self) { try trie.get([1, 2, 3]) }
}

@Test func tamperedProofsAreRejected() throws {
    var random = SeededRandom(seed: 5)
    var trie = MerklePatriciaTrie()
    var keys: [[UInt8]] = []
    for _ in 0..<300 {
        let key = random.bytes(32)
        keys.append(key)
        try trie.set(key, random.bytes(40))
    }
    let root = trie.commit()
    for key in keys.prefix(50) {
        let proof = try trie.proof(for: key)
        #expect(proof.count >= 2)
        var flipped = proof
        let node = Int.random(in: 0..<proof.count, using: &random)
        flipped[node][Int.random(in: 0..<proof[node].count, using: &random)] ^= 0x01
        #expect(throws: TrieError.self) { try MerklePatriciaTrie.verifyProof(rootHash: root, key: key, proof: flipped) }
        #expect(throws: TrieError.self) {
            try MerklePatriciaTrie.verifyProof(rootHash: root, key: key, proof: Array(proof.dropLast()))
        }
        #expect(throws: TrieError.self) {
            try MerklePatriciaTrie.verifyProof(rootHash: root, key: key, proof: Array(proof.reversed()))
        }
        #expect(throws: TrieError.self) {
            try MerklePatriciaTrie.verifyProof(rootHash: root, key: key, proof: proof + [proof[0]])
        }
        var wrongRoot = root
        wrongRoot[0] ^= 1
        #expect(throws: TrieError.self) {
            try MerklePatriciaTrie.verifyProof(rootHash: wrongRoot, key: key, proof: proof)
        }
    }
}

@Test func fuzzedNodesNeverCrashTheDecoder() {
    var random = SeededRandom(seed: 11)
    var trie = MerklePatriciaTrie()
    for _ in 0..<64 { try? trie.set(random.bytes(8), random.bytes(Int.random(in: 1...50, using: &random))) }
    trie.commit()
    let seeds = trie.takeNewNodes().map(\.encoding)
    var decoded = 0
    for _ in 0..<100_000 {
        let input = random.mutate(seeds.randomElement(using: &random)!)
        if (try? TrieNode.decode(input)) != nil { decoded += 1 }
    }
    #expect(decoded < 100_000)
}
