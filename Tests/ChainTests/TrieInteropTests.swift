import Codec
import Foundation
import TestSupport
import Testing

@testable import Chain

/// Roots and proofs against py-trie (PyPI `trie`): same roots, its proofs accepted by us, ours accepted by it.
@Test(.integration) func trieAgreesWithPyTrie() throws {
    guard let data = Fixtures.interop("trie.json") else { return }
    let fixture = try #require(try Fixtures.json(data) as? [String: Any])
    let cases = try #require(fixture["cases"] as? [[String: Any]])
    #expect(cases.count >= 500)
    var ours: [[String: Any]] = []
    for (index, testCase) in cases.enumerated() {
        var trie = MerklePatriciaTrie()
        for op in try #require(testCase["ops"] as? [[Any]]) {
            let key = try Hex.decode(try #require(op[0] as? String))
            if let value = op[1] as? String { try trie.set(key, try Hex.decode(value)) } else { try trie.remove(key) }
        }
        let root = trie.commit()
        #expect(Hex.encode(root, prefix: false) == testCase["root"] as? String, "case \(index)")
        for probe in try #require(testCase["proofs"] as? [[String: Any]]) {
            let key = try Hex.decode(try #require(probe["key"] as? String))
            let value = try (probe["value"] as? String).map { try Hex.decode($0) }
            let theirs = try #require(probe["proof"] as? [String]).map { try Hex.decode($0) }
            #expect(try MerklePatriciaTrie.verifyProof(rootHash: root, key: key, proof: theirs) == value)
            ours.append([
                "root": Hex.encode(root, prefix: false), "key": Hex.encode(key, prefix: false),
                "value": value.map { Hex.encode($0, prefix: false) } ?? NSNull(),
                "proof": try trie.proof(for: key).map { Hex.encode($0, prefix: false) },
            ])
        }
    }
    guard let python = Fixtures.python() else { return }
    let input = try JSONSerialization.data(withJSONObject: ours)
    let (status, output) = try Fixtures.runPython("check_trie_proofs.py", input: input, python: python)
    #expect(status == 0, "py-trie rejected our proofs: \(String(decoding: output, as: UTF8.self))")
    let report = try JSONSerialization.jsonObject(with: output) as? [String: Any]
    #expect(report?["checked"] as? Int == ours.count)
}
