import Codec
import Foundation
import TestSupport
import Testing

@testable import Chain

/// ethereum/tests TrieTests: keys and values are hex when prefixed with 0x, else UTF-8 text; null deletes.
private func bytes(_ text: String) throws -> [UInt8] {
    text.hasPrefix("0x") ? try Hex.decode(text) : Array(text.utf8)
}

@Test func trieTestVectorsInOrder() throws {
    guard let data = Fixtures.vector("ethereum-tests/TrieTests/trietest.json") else { return }
    let tests = try #require(try Fixtures.json(data) as? [String: [String: Any]])
    #expect(tests.count >= 5)
    for (name, test) in tests {
        var trie = MerklePatriciaTrie()
        for pair in try #require(test["in"] as? [[Any]]) {
            let key = try bytes(try #require(pair[0] as? String))
            if let value = pair[1] as? String {
                try trie.set(key, try bytes(value))
            } else {
                try trie.remove(key)
            }
        }
        #expect(Hex.encode(trie.commit()) == test["root"] as? String, "\(name)")
    }
}

@Test func trieAnyOrderVectorsInEveryOrder() throws {
    guard let data = Fixtures.vector("ethereum-tests/TrieTests/trieanyorder.json") else { return }
    let tests = try #require(try Fixtures.json(data) as? [String: [String: Any]])
    #expect(tests.count >= 7)
    var random = SeededRandom(seed: 7)
    for (name, test) in tests {
        let pairs = try #require(test["in"] as? [String: String]).map { ($0.key, $0.value) }
        for _ in 0..<5 {
            var trie = MerklePatriciaTrie()
            for (key, value) in pairs.shuffled(using: &random) { try trie.set(try bytes(key), try bytes(value)) }
            #expect(Hex.encode(trie.commit()) == test["root"] as? String, "\(name)")
        }
    }
}

@Test func secureTrieVectors() throws {
    guard let data = Fixtures.vector("ethereum-tests/TrieTests/hex_encoded_securetrie_test.json") else { return }
    let tests = try #require(try Fixtures.json(data) as? [String: [String: Any]])
    #expect(tests.count == 3)
    for (name, test) in tests {
        var trie = SecureTrie()
        for (key, value) in try #require(test["in"] as? [String: String]) {
            try trie.set(try Hex.decode(key), try Hex.decode(value))
        }
        #expect(Hex.encode(trie.commit()) == test["root"] as? String, "\(name)")
    }
}

@Test func emptyTrieRoot() {
    var trie = MerklePatriciaTrie()
    #expect(Hex.encode(trie.commit()) == "0x56e81f171bcc55a6ff8345e692c0f86e5b48e01b996cadc001622fb5e363b421")
}
