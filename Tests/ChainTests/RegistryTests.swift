import AttributionRules
import Codec
import Crypto
import Foundation
import TestSupport
import Testing

@testable import Chain

@Test func openDatanetAppendsContributionsToItsSnapshot() throws {
    var chain = try TestChain()
    let registry = chain.datanets.address
    let created = try chain.send(
        from: 0, to: registry, function: "createDatanet(string,bytes,bool,address[])",
        [.string("medical-qa"), .bytes(Array("bafy-metadata".utf8)), .bool(false), .array([])])
    #expect(created.succeeded)
    let records = (0..<5).map { Array("record number \($0) about medicine".utf8) }
    let contributor = chain.address(1)
    let hashes = records.map { Keccak256.hash($0) }
    let root = DatanetRegistry.leavesRoot(contributor: contributor, recordHashes: hashes)
    let receipt = try chain.send(
        from: 1, to: registry, function: "contribute(uint256,uint64,bytes,bytes32,bytes32[])",
        [
            .uint(1), .uint(5), .bytes(Array("bafy-batch".utf8)), .fixedBytes(root),
            .array(hashes.map { .fixedBytes($0) }),
        ])
    #expect(receipt.succeeded)
    #expect(receipt.logs.count == 2)  // contributed, then approved at once
    // The committed snapshot root equals the tree of the records' bytes, computed independently.
    let expected = SnapshotMerkleTree(
        leaves: records.map { SnapshotMerkleTree.leaf(contributor: contributor, record: $0) })
    let viewRoot = try chain.view(registry, "snapshotRoot(uint256)", [.uint(1)], returns: [.fixedBytes(32)])
    #expect(viewRoot == [.fixedBytes(expected.snapshotRoot)])
    #expect(try chain.view(registry, "snapshotSize(uint256)", [.uint(1)], returns: [.uint(64)]) == [.uint(5)])
    #expect(
        try chain.view(registry, "contributorOf(uint256,uint64)", [.uint(1), .uint(4)], returns: [.address])
            == [.address(contributor)])
    #expect(
        try chain.view(registry, "batchStatus(uint256,uint256)", [.uint(1), .uint(1)], returns: [.uint(8)]) == [
            .uint(2)
        ])
    // A wrong leaves root, a count that disagrees, and an unknown Datanet are refused.
    let wrong: [[ABIValue]] = [
        [.uint(1), .uint(5), .bytes([]), .fixedBytes(Keccak256.hash([1])), .array(hashes.map { .fixedBytes($0) })],
        [.uint(1), .uint(4), .bytes([]), .fixedBytes(root), .array(hashes.map { .fixedBytes($0) })],
        [.uint(9), .uint(5), .bytes([]), .fixedBytes(root), .array(hashes.map { .fixedBytes($0) })],
    ]
    for arguments in wrong {
        #expect(
            try !chain.send(
                from: 1, to: registry, function: "contribute(uint256,uint64,bytes,bytes32,bytes32[])", arguments
            ).succeeded)
    }
    #expect(try chain.view(registry, "snapshotSize(uint256)", [.uint(1)], returns: [.uint(64)]) == [.uint(5)])
}

@Test func curatedDatanetWaitsForItsCurators() throws {
    var chain = try TestChain()
    let registry = chain.datanets.address
    #expect(
        try chain.send(
            from: 0, to: registry, function: "createDatanet(string,bytes,bool,address[])",
            [.string("curated"), .bytes([]), .bool(true), .array([.address(chain.address(2))])]
        ).succeeded)
    func contribute(_ from: Int, _ text: String) throws -> Bool {
        let hashes = [Keccak256.hash(Array(text.utf8))]
        let root = DatanetRegistry.leavesRoot(contributor: chain.address(from), recordHashes: hashes)
        return try chain.send(
            from: from, to: registry, function: "contribute(uint256,uint64,bytes,bytes32,bytes32[])",
            [.uint(1), .uint(1), .bytes([]), .fixedBytes(root), .array(hashes.map { .fixedBytes($0) })]
        ).succeeded
    }
    #expect(try contribute(3, "first"))
    #expect(try contribute(4, "second"))
    let status = { (batch: UInt64) in
        try chain.view(
            registry, "batchStatus(uint256,uint256)", [.uint(1), .uint(UInt256(batch))], returns: [.uint(8)])
    }
    #expect(try status(1) == [.uint(1)])
    // Not a curator: refused. The curator approves one and rejects the other; neither can be decided twice.
    #expect(
        try !chain.send(from: 3, to: registry, function: "approveBatch(uint256,uint256)", [.uint(1), .uint(1)])
            .succeeded)
    #expect(
        try chain.send(from: 2, to: registry, function: "approveBatch(uint256,uint256)", [.uint(1), .uint(2)]).succeeded
    )
    #expect(
        try chain.send(from: 2, to: registry, function: "rejectBatch(uint256,uint256)", [.uint(1), .uint(1)]).succeeded)
    #expect(
        try !chain.send(from: 2, to: registry, function: "approveBatch(uint256,uint256)", [.uint(1), .uint(1)])
            .succeeded)
    #expect(try status(1) == [.uint(3)])
    #expect(try status(2) == [.uint(2)])
    #expect(
        try chain.view(registry, "contributorOf(uint256,uint64)", [.uint(1), .uint(0)], returns: [.address])
            == [.address(chain.address(4))])
    #expect(try chain.view(registry, "snapshotSize(uint256)", [.uint(1)], returns: [.uint(64)]) == [.uint(1)])
}

@Test func modelRegistryRecordsBaseModelsAndAdapters() throws {
    var chain = try TestChain()
    let registry = chain.models.address
    let gguf = Keccak256.hash(Array("smollm2".utf8))
    #expect(
        try chain.send(
            from: 0, to: registry, function: "registerBaseModel(bytes32,string,bytes32)",
            [.fixedBytes(gguf), .string("llama"), .fixedBytes(Keccak256.hash([7]))]
        ).succeeded)
    let roots = [Keccak256.hash([1]), Keccak256.hash([2])]
    let publish = "publishAdapter(bytes,uint256,bytes32[],uint256)"
    #expect(
        try chain.send(
            from: 1, to: registry, function: publish,
            [.bytes(Array("bafy-adapter".utf8)), .uint(1), .array(roots.map { .fixedBytes($0) }), .uint(5000)]
        ).succeeded)
    #expect(
        try !chain.send(from: 1, to: registry, function: publish, [.bytes([1]), .uint(2), .array([]), .uint(1)])
            .succeeded)
    let adapter = try chain.view(
        registry, "adapter(uint256)", [.uint(1)],
        returns: [.bytes, .uint(256), .address, .uint(256), .bool, .array(.fixedBytes(32))])
    #expect(adapter[0] == .bytes(Array("bafy-adapter".utf8)))
    #expect(adapter[2] == .address(chain.address(1)))
    #expect(adapter[5] == .array(roots.map { .fixedBytes($0) }))
    #expect(try !chain.send(from: 0, to: registry, function: "deprecateAdapter(uint256)", [.uint(1)]).succeeded)
    #expect(try chain.send(from: 1, to: registry, function: "deprecateAdapter(uint256)", [.uint(1)]).succeeded)
    #expect(try chain.models.adapter(1, state: chain.state)?.deprecated == true)
    let model = try chain.view(
        registry, "baseModel(uint256)", [.uint(1)], returns: [.fixedBytes(32), .string, .fixedBytes(32), .address])
    #expect(model[0] == .fixedBytes(gguf) && model[1] == .string("llama"))
}

/// An adapter's owner records its training provenance once; nobody else may, and the record reads back whole.
@Test func modelRegistryRecordsProvenanceOnceByTheOwner() throws {
    var chain = try TestChain()
    let registry = chain.models.address
    #expect(
        try chain.send(
            from: 0, to: registry, function: "registerBaseModel(bytes32,string,bytes32)",
            [.fixedBytes(Keccak256.hash([1])), .string("llama"), .fixedBytes(Keccak256.hash([2]))]
        ).succeeded)
    #expect(
        try chain.send(
            from: 1, to: registry, function: "publishAdapter(bytes,uint256,bytes32[],uint256)",
            [.bytes(Array("bafy-adapter".utf8)), .uint(1), .array([]), .uint(0)]
        ).succeeded)
    let record = "recordProvenance(uint256,bytes32,bytes32,bytes)"
    let logRoot = Keccak256.hash([3])
    let dataHash = Keccak256.hash([4])
    let document = Array(#"{"rank":8,"finalTrainingLoss":"0.5","note":"\#(String(repeating: "x", count: 100))"}"#.utf8)
    let arguments: [ABIValue] = [.uint(1), .fixedBytes(logRoot), .fixedBytes(dataHash), .bytes(document)]
    #expect(try chain.models.provenance(1, state: chain.state) == nil)
    #expect(try !chain.send(from: 0, to: registry, function: record, arguments).succeeded)
    #expect(
        try !chain.send(
            from: 1, to: registry, function: record,
            [.uint(2), .fixedBytes(logRoot), .fixedBytes(dataHash), .bytes([1])]
        ).succeeded)
    #expect(
        try !chain.send(
            from: 1, to: registry, function: record,
            [.uint(1), .fixedBytes(logRoot), .fixedBytes(dataHash), .bytes([UInt8](repeating: 1, count: 8 * 1024 + 1))]
        ).succeeded)
    #expect(try chain.send(from: 1, to: registry, function: record, arguments).succeeded)
    #expect(try !chain.send(from: 1, to: registry, function: record, arguments).succeeded)
    let stored = try chain.models.provenance(1, state: chain.state)
    #expect(
        stored == ModelRegistry.Provenance(trainingLogRoot: logRoot, trainingDataHash: dataHash, document: document))
    let view = try chain.view(
        registry, "provenance(uint256)", [.uint(1)], returns: [.fixedBytes(32), .fixedBytes(32), .bytes])
    #expect(view == [.fixedBytes(logRoot), .fixedBytes(dataHash), .bytes(document)])
    // The adapter record itself is untouched by the provenance beside it.
    #expect(try chain.models.adapter(1, state: chain.state)?.cid == Array("bafy-adapter".utf8))
}

/// Predeploy state lives in the module's storage trie, so an EIP-1186 proof proves it.
@Test func predeployStorageIsProvable() throws {
    var chain = try TestChain()
    let id = try chain.open(payer: 0, payee: 1, deposit: 1_000_000)
    var state = chain.state
    let root = try state.commit()
    let base = ContractStorage.mappingSlot(1, key: id)
    let slots = (0..<7).map { (base &+ UInt256(UInt64($0))).bigEndianBytes }
    let proof = try state.proof(of: chain.channels.address, slots: slots)
    try proof.verify(stateRoot: root)
    #expect(UInt256(bigEndian: proof.storageProofs[2].value) == UInt256(1_000_000))
    var tampered = proof
    tampered.storageProofs[2].value = UInt256(2_000_000).bigEndianBytes
    #expect(throws: ChainError.self) { try tampered.verify(stateRoot: root) }
}
