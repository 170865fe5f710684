import Codec
import Crypto
import Foundation
import TestSupport
import Testing

/// The bytes of a vector file of `size`: SHA-256(seed || uint64 big-endian i) for i = 0, 1, … cut to `size`.
func counterModeBytes(seed: String, size: Int) -> [UInt8] {
    var out: [UInt8] = []
    out.reserveCapacity(size + 32)
    var counter: UInt64 = 0
    while out.count < size {
        var input = Array(seed.utf8)
        for shift in stride(from: 56, through: 0, by: -8) {
            input.append(UInt8(truncatingIfNeeded: counter >> UInt64(shift)))
        }
        out += SHA256.hash(input)
        counter += 1
    }
    return Array(out.prefix(size))
}

/// Reads a file back out of `blocks` with the reader, checking every block on the way.
func readBack(_ root: CID, _ blocks: [VerifiedBlock]) throws -> [UInt8] {
    let byCID = Dictionary(blocks.map { ($0.cid.normalized, $0) }, uniquingKeysWith: { first, _ in first })
    var reader = UnixFSFileReader(root: root)
    var out: [UInt8] = []
    while true {
        switch reader.next() {
        case .need(let cid):
            let block = try #require(byCID[cid.normalized], "block \(cid) was never built")
            try reader.provide(block)
        case .data(let bytes): out += bytes
        case .end: return out
        }
    }
}

@Test func kuboFileVectors() throws {
    guard let data = Fixtures.vector("unixfs/kubo-files.json") else { return }
    let object = try #require(try Fixtures.json(data) as? [String: Any])
    let seed = try #require(object["seed"] as? String)
    let vectors = try #require(object["vectors"] as? [[String: Any]])
    #expect(vectors.count >= 5)
    for vector in vectors {
        let size = try #require((vector["size"] as? NSNumber)?.intValue)
        let bytes = counterModeBytes(seed: seed, size: size)
        for (parameters, key) in [(UnixFSFileBuilder.Parameters.kuboCIDv0, "cidv0"), (.kuboCIDv1, "cidv1RawLeaves")] {
            let expected = try #require(vector[key] as? String)
            let (root, blocks) = UnixFSFileBuilder.build(bytes, parameters: parameters)
            #expect(root.description == expected, "size \(size) \(key)")
            #expect(blocks.last?.cid == root)
            #expect(try readBack(root, blocks) == bytes, "size \(size) \(key) reads back")
            for block in blocks {
                #expect(throws: Never.self) { try VerifiedBlock(cid: block.cid, bytes: block.bytes) }
                #expect(block.bytes.count <= 262_144 + 32)
            }
        }
    }
}

@Test func pieceSizesDoNotChangeTheFile() throws {
    var random = SeededRandom(seed: 7)
    let bytes = random.bytes(3 * 262_144 + 1_000)
    let (root, blocks) = UnixFSFileBuilder.build(bytes)
    var builder = UnixFSFileBuilder()
    var streamed: [VerifiedBlock] = []
    var offset = 0
    while offset < bytes.count {
        let count = min(bytes.count - offset, Int(random.next() % 100_000) + 1)
        builder.append(Array(bytes[offset..<offset + count])) { streamed.append($0) }
        offset += count
    }
    let streamedRoot = builder.finish { streamed.append($0) }
    #expect(streamedRoot == root)
    #expect(streamed == blocks)
    #expect(builder.byteCount == UInt64(bytes.count))
}

@Test(arguments: [UnixFSFileBuilder.Parameters.kuboCIDv1, .kuboCIDv0])
func leavesBuiltApartMakeTheSameFile(parameters: UnixFSFileBuilder.Parameters) throws {
    var random = SeededRandom(seed: 12)
    let bytes = random.bytes(4 * 262_144 + 777)
    let (root, blocks) = UnixFSFileBuilder.build(bytes, parameters: parameters)
    var builder = UnixFSFileBuilder(parameters: parameters)
    var emitted: [VerifiedBlock] = []
    for index in 0..<4 {
        let chunk = Array(bytes[index * 262_144..<(index + 1) * 262_144])
        let leaf = UnixFSFileBuilder.leaf(chunk, parameters: parameters)
        builder.append(leaf: leaf, chunkSize: 262_144) { emitted.append($0) }
    }
    builder.append(Array(bytes[(4 * 262_144)...])) { emitted.append($0) }
    #expect(builder.finish { emitted.append($0) } == root)
    #expect(emitted == blocks)
}

/// Small chunks and fanout make deep balanced trees cheap: every count of leaves from 0 to 30 with 3 links per node
/// (trees of depth 0 to 4, partial right edges, nodes with a single child) builds, reads back, and has the shape of
/// boxo's balanced layout.
@Test(arguments: [true, false]) func smallBalancedTreesReadBack(rawLeaves: Bool) throws {
    let parameters = UnixFSFileBuilder.Parameters(
        chunkSize: 4, maxLinks: 3, rawLeaves: rawLeaves, cidVersion: rawLeaves ? 1 : 0)
    var random = SeededRandom(seed: 11)
    for size in 0...120 {
        let bytes = random.bytes(size)
        let (root, blocks) = UnixFSFileBuilder.build(bytes, parameters: parameters)
        #expect(try readBack(root, blocks) == bytes, "size \(size)")
        let leaves = max(1, (size + 3) / 4)
        var depth = 0
        var capacity = 1
        while capacity < leaves {
            capacity *= 3
            depth += 1
        }
        #expect(try treeDepth(root, blocks) == depth, "size \(size)")
        for block in blocks where block.cid.codec == CID.Codec.dagProtobuf.rawValue {
            let node = try #require(try block.node())
            #expect(node.links.count <= 3)
            #expect(node.encoded == block.bytes, "encoding is canonical")
        }
    }
}

private func treeDepth(_ cid: CID, _ blocks: [VerifiedBlock]) throws -> Int {
    let block = try #require(blocks.first { $0.cid == cid })
    guard let node = try block.node(), let first = node.links.first else { return 0 }
    return 1 + (try treeDepth(first.hash, blocks))
}

@Test func dagPBEncodesLinksBeforeDataWithEmptyNames() throws {
    let child = CID.raw(sha256Of: [1, 2, 3])
    let node = PBNode(links: [PBLink(hash: child, name: "", tsize: 3)], data: [0x08, 0x02])
    let encoded = node.encoded
    // Links (field 2) first: 0x12, then Hash 0x0a, Name 0x12 0x00, Tsize 0x18 0x03; then Data (field 1): 0x0a.
    #expect(encoded.first == 0x12)
    let link = [0x0A, UInt8(child.bytes.count)] + child.bytes + [0x12, 0x00, 0x18, 0x03]
    #expect(encoded == [0x12, UInt8(link.count)] + link + [0x0A, 0x02, 0x08, 0x02])
    #expect(try PBNode(decoding: encoded) == node)
    #expect(try PBNode(decoding: []) == PBNode())
    #expect(PBNode(data: []).encoded == [0x0A, 0x00])
    #expect(try PBNode(decoding: [0x0A, 0x00]) == PBNode(data: []))
}

@Test func dagPBRejectsWhatTheStrictSpecRejects() throws {
    let child = CID.raw(sha256Of: [9]).bytes
    let link = [0x0A, UInt8(child.count)] + child
    let cases: [(String, [UInt8])] = [
        ("data before links", [0x0A, 0x00, 0x12, UInt8(link.count)] + link),
        ("duplicate data", [0x0A, 0x00, 0x0A, 0x00]),
        ("unknown field", [0x1A, 0x00]),
        ("varint data", [0x08, 0x01]),
        ("link without hash", [0x12, 0x02, 0x18, 0x01]),
        ("name before hash", [0x12, UInt8(link.count + 2), 0x12, 0x00] + link),
        ("bad CID", [0x12, 0x04, 0x0A, 0x02, 0x01, 0x55]),
        ("truncated", [0x12, 0x10, 0x0A]),
        ("name not UTF-8", [0x12, UInt8(link.count + 3)] + link + [0x12, 0x01, 0xFF]),
    ]
    for (what, bytes) in cases {
        #expect(throws: CodecError.self, "\(what)") { try PBNode(decoding: bytes) }
    }
    let three = Array(repeating: [0x12, UInt8(link.count)] + link, count: 3).flatMap { $0 }
    #expect(try PBNode(decoding: three).links.count == 3)
    #expect(throws: CodecError.self) { try PBNode(decoding: three, maxLinks: 2) }
}

@Test func unixFSDataRoundTripsEveryField() throws {
    let data = UnixFSData(
        type: .file, data: [1, 2], fileSize: 7, blockSizes: [2, 3], hashType: 0x22, fanout: 256, mode: 0o644,
        mtime: .init(seconds: -5, nanoseconds: 9))
    #expect(try UnixFSData(decoding: data.encoded) == data)
    // go-unixfs's empty file: Type=File, filesize=0, no Data field.
    #expect(UnixFSData(type: .file, fileSize: 0).encoded == [0x08, 0x02, 0x18, 0x00])
    // Packed blocksizes are read as well.
    #expect(try UnixFSData(decoding: [0x08, 0x02, 0x22, 0x02, 0x05, 0x06]).blockSizes == [5, 6])
    #expect(throws: CodecError.self) { try UnixFSData(decoding: [0x18, 0x00]) }  // no Type
    #expect(throws: CodecError.self) { try UnixFSData(decoding: [0x08, 0x09]) }  // unknown Type
    #expect(throws: CodecError.self) { try UnixFSData(decoding: [0x0A, 0x00]) }  // Type as bytes
}

@Test func blocksThatDoNotHashToTheirCIDAreRefused() throws {
    let bytes: [UInt8] = Array("hello".utf8)
    let cid = CID.raw(sha256Of: bytes)
    #expect(try VerifiedBlock(cid: cid, bytes: bytes).bytes == bytes)
    #expect(throws: CodecError.blockMismatch(cid: cid.description)) { try VerifiedBlock(cid: cid, bytes: bytes + [0]) }
    #expect(throws: CodecError.blockTooLarge(size: 6, limit: 5)) {
        try VerifiedBlock(cid: cid, bytes: bytes + [0], maxSize: 5)
    }
    let unknown = CID(codec: 0x55, multihash: Multihash(code: 0x9999, digest: [1]))
    #expect(throws: CodecError.unsupportedHash(code: 0x9999)) { try VerifiedBlock(cid: unknown, bytes: bytes) }
    let empty = CID(codec: 0x55, multihash: Multihash(code: 0x12, digest: []))
    #expect(throws: CodecError.self) { try VerifiedBlock(cid: empty, bytes: bytes) }
}

@Test func readerRefusesInconsistentTrees() throws {
    let leaf = try VerifiedBlock(cid: .raw(sha256Of: [1, 2, 3]), bytes: [1, 2, 3])
    func node(_ data: UnixFSData, links: [PBLink]) throws -> VerifiedBlock {
        let bytes = PBNode(links: links, data: data.encoded).encoded
        return try VerifiedBlock(cid: CID(codec: 0x70, multihash: .sha256(bytes)), bytes: bytes)
    }
    let link = PBLink(hash: leaf.cid, tsize: 3)
    let cases: [VerifiedBlock] = [
        try node(UnixFSData(type: .file, fileSize: 4, blockSizes: [4]), links: [link]),  // child is 3 bytes
        try node(UnixFSData(type: .file, fileSize: 5, blockSizes: [3]), links: [link]),  // filesize disagrees
        try node(UnixFSData(type: .file, fileSize: 3, blockSizes: []), links: [link]),  // blocksizes missing
        try node(UnixFSData(type: .directory), links: [link]),  // not a file
    ]
    for root in cases {
        #expect(throws: CodecError.self) { try readBack(root.cid, [root, leaf]) }
    }
    // A chain deeper than the limit.
    var top = leaf
    var blocks = [leaf]
    for _ in 0..<40 {
        top = try node(
            UnixFSData(type: .file, fileSize: 3, blockSizes: [3]), links: [PBLink(hash: top.cid, tsize: 3)])
        blocks.append(top)
    }
    #expect(throws: CodecError.self) { try readBack(top.cid, blocks) }
    // The wrong block given for a need.
    var reader = UnixFSFileReader(root: leaf.cid)
    #expect(reader.next() == .need(leaf.cid))
    #expect(throws: CodecError.self) { try reader.provide(cases[0]) }
}

@Test func hostileNodesNeverCrashTheDecoders() throws {
    var random = SeededRandom(seed: 3)
    let (_, blocks) = UnixFSFileBuilder.build(
        random.bytes(5_000), parameters: .init(chunkSize: 100, maxLinks: 7, rawLeaves: false, cidVersion: 0))
    var decoded = 0
    for round in 0..<5_000 {
        let source = blocks[round % blocks.count].bytes
        let mutated = random.mutate(source)
        if let node = try? PBNode(decoding: mutated) {
            decoded += 1
            if let data = node.data { _ = try? UnixFSData(decoding: data) }
        }
        _ = try? UnixFSData(decoding: mutated)
    }
    #expect(decoded > 0)
}

/// A block hashed under a prefix is the block of the CID its bytes have; the identity hash and oversize blocks are
/// refused.
@Test func verifiedBlocksHashedUnderAPrefixCarryTheirOwnCID() throws {
    let bytes = Array("a block of bytes".utf8)
    let raw = try VerifiedBlock.hashing(
        bytes, version: 1, codec: CID.Codec.raw.rawValue, function: .sha2x256, digestLength: 32)
    #expect(raw.cid == CID.raw(sha256Of: bytes))
    #expect(raw.bytes == bytes)
    let v0 = try VerifiedBlock.hashing(
        bytes, version: 0, codec: CID.Codec.dagProtobuf.rawValue, function: .sha2x256, digestLength: 32)
    #expect(v0.cid == (try CID(v0: .sha256(bytes))))
    #expect(throws: CodecError.self) {
        try VerifiedBlock.hashing(
            bytes, version: 1, codec: CID.Codec.raw.rawValue, function: .identity, digestLength: bytes.count)
    }
    #expect(throws: CodecError.self) {
        try VerifiedBlock.hashing(
            bytes, version: 1, codec: CID.Codec.raw.rawValue, function: .sha2x256, digestLength: 32, maxSize: 4)
    }
    // The check a receiver makes agrees: the block verifies against its CID, and a flipped byte does not.
    #expect(throws: Never.self) { try raw.cid.verify(bytes) }
    #expect(throws: CodecError.self) { try raw.cid.verify(Array("a block of bytez".utf8)) }
}
