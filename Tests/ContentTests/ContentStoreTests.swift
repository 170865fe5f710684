import Codec
import Content
import Foundation
import Runtime
import SQLite
import Synchronization
import TestSupport
import Testing

/// A store in a fresh temporary directory, with a manual clock.
func makeStore(
    _ name: String, options: ContentStore.Options = ContentStore.Options(), clock: ManualClock = ManualClock()
) throws -> ContentStore {
    try ContentStore(
        directory: DevnetProcess.temporaryDirectory("content-\(name)") + "/content", options: options, clock: clock)
}

/// The record of every present block of the store in `directory`, read from its index: the block's key (CIDv1
/// bytes), its pack file, offset and length.
func indexedRecords(_ directory: String) throws -> [(cid: [UInt8], path: String, offset: Int, length: Int)] {
    let index = try Database(path: directory + "/index.sqlite")
    return try index.query("SELECT cid, pack, offset, stored FROM blocks WHERE state = 1 ORDER BY pack, offset")
        .map { row in
            (
                row[0].blob ?? [], directory + "/packs/" + String(format: "%08d.pack", Int(row[1].integer ?? -1)),
                Int(row[2].integer ?? -1), Int(row[3].integer ?? -1)
            )
        }
}

/// Writes `bytes` over a file's bytes from `offset` on, in place.
func overwrite(_ path: String, at offset: Int, with bytes: [UInt8]) throws {
    let handle = try #require(FileHandle(forUpdatingAtPath: path))
    defer { try? handle.close() }
    try handle.seek(toOffset: UInt64(offset))
    try handle.write(contentsOf: Data(bytes))
}

/// Flips the bits of one byte of a file, in place.
func flipByte(_ path: String, at offset: Int) throws {
    let handle = try #require(FileHandle(forUpdatingAtPath: path))
    defer { try? handle.close() }
    try handle.seek(toOffset: UInt64(offset))
    let byte = try #require(try handle.read(upToCount: 1)?.first)
    try handle.seek(toOffset: UInt64(offset))
    try handle.write(contentsOf: Data([~byte]))
}

/// A file's size in bytes.
func fileSize(_ path: String) throws -> Int {
    try #require(try FileManager.default.attributesOfItem(atPath: path)[.size] as? Int)
}

/// Bytes LZ4 shrinks a lot but whose chunks all differ (a counter in text).
func compressibleBytes(_ count: Int) -> [UInt8] {
    var out: [UInt8] = []
    out.reserveCapacity(count + 16)
    var line = 0
    while out.count < count {
        out += Array("line \(line) of a very repetitive log file\n".utf8)
        line += 1
    }
    return Array(out.prefix(count))
}

@Test(arguments: [UnixFSFileBuilder.Parameters.kuboCIDv1, .kuboCIDv0])
func addedFilesReadBackAndMatchTheBuilder(parameters: UnixFSFileBuilder.Parameters) throws {
    let store = try makeStore("roundtrip")
    var random = SeededRandom(seed: 1)
    let bytes = random.bytes(5 * 262_144 + 12_345)
    let root = try store.add(bytes, parameters: parameters)
    let (expected, blocks) = UnixFSFileBuilder.build(bytes, parameters: parameters)
    #expect(root == expected)
    #expect(try store.readFile(root) == bytes)
    for block in blocks {
        #expect(try store.has(block.cid))
        #expect(try store.get(block.cid) == block)
    }
    #expect(try store.missing(root).isEmpty)
    let stats = try store.stats()
    #expect(stats.blocks == blocks.count)
    #expect(stats.bytes == UInt64(blocks.reduce(0) { $0 + $1.bytes.count }))
    #expect(try store.pins().map(\.root) == [root])
    // Adding the same bytes again writes nothing new.
    let adder = store.makeAdder(parameters: parameters)
    try adder.append(bytes)
    #expect(try adder.finish() == root)
    #expect(adder.newBlocks == 0)
    // A CIDv0 block is found under its CIDv1 too: one block, two names.
    if root.version == 0 { #expect(try store.has(CID(codec: root.codec, multihash: root.multihash))) }
}

@Test func emptyAndTinyFilesAreSingleBlocks() throws {
    let store = try makeStore("tiny")
    let empty = try store.add([])
    #expect(empty.description == "bafkreihdwdcefgh4dqkjv67uzcmw7ojee6xedzdetojuzjevtenxquvyku")
    #expect(try store.readFile(empty) == [])
    let one = try store.add([42])
    #expect(try store.readFile(one) == [42])
    #expect(try store.stats().blocks == 2)
}

@Test func hostileBlocksAreRefusedAndNothingIsStored() throws {
    let store = try makeStore("hostile")
    let bytes = Array("some block".utf8)
    let cid = CID.raw(sha256Of: bytes)
    #expect(throws: ContentError.self) { try store.put(cid, bytes + [1]) }
    let huge = [UInt8](repeating: 7, count: VerifiedBlock.maxSize + 1)
    #expect(
        throws: ContentError.invalidBlock(
            cid: CID.raw(sha256Of: huge).description,
            reason: .blockTooLarge(size: huge.count, limit: VerifiedBlock.maxSize))
    ) {
        try store.put(.raw(sha256Of: huge), huge)
    }
    // Bytes that hash to their dag-pb CID but are no dag-pb node.
    let garbage: [UInt8] = [0xFF, 0xFF, 0x01]
    let dagPB = CID(codec: CID.Codec.dagProtobuf.rawValue, multihash: .sha256(garbage))
    #expect(throws: ContentError.self) { try store.put(dagPB, garbage) }
    // A codec the store does not keep.
    let cbor = CID(codec: CID.Codec.dagCBOR.rawValue, multihash: .sha256(bytes))
    #expect(throws: ContentError.self) { try store.put(cbor, bytes) }
    #expect(try store.stats().blocks == 0)
    #expect(try store.put(cid, bytes))
    #expect(try !store.put(cid, bytes))
    #expect(try store.get(cid)?.bytes == bytes)
}

@Test func compressionIsKeptOnlyWhereItPays() throws {
    let store = try makeStore("lz4")
    let text = compressibleBytes(4 * 262_144)
    let textRoot = try store.add(text)
    let afterText = try store.stats()
    #expect(afterText.compressedBlocks >= 4)
    #expect(afterText.storedBytes * 2 < afterText.bytes)
    var random = SeededRandom(seed: 2)
    let noise = random.bytes(4 * 262_144)
    let noiseRoot = try store.add(noise)
    let afterNoise = try store.stats()
    // Only the small root node of the noise may compress (its links share prefixes); no leaf of noise does.
    #expect(afterNoise.compressedBlocks - afterText.compressedBlocks <= 1)
    #expect(afterNoise.storedBytes - afterText.storedBytes >= UInt64(noise.count))
    #expect(try store.readFile(textRoot) == text)
    #expect(try store.readFile(noiseRoot) == noise)
}

@Test func collectionKeepsWhatPinsReach() throws {
    let store = try makeStore("gc")
    var random = SeededRandom(seed: 3)
    let kept = random.bytes(3 * 262_144)
    let loose = random.bytes(3 * 262_144)
    let keptRoot = try store.add(kept, pin: .adapter)
    let looseRoot = try store.add(loose, pin: nil)
    #expect(try store.pin(keptRoot, reason: .user))
    #expect(try !store.pin(keptRoot, reason: .user))
    let collected = try store.collectGarbage()
    #expect(collected.blocks == 4)  // three leaves and the root of the loose file
    #expect(try !store.has(looseRoot))
    #expect(try store.readFile(keptRoot) == kept)
    #expect(try store.unpin(keptRoot, reason: .adapter) == 1)
    #expect(try store.collectGarbage().blocks == 0)  // still pinned by the user
    #expect(try store.unpin(keptRoot, reason: nil) == 1)
    #expect(try store.collectGarbage().blocks == 4)
    #expect(try store.stats().blocks == 0)
    #expect(try store.stats().storedBytes == 0)
}

@Test func theQuotaEvictsTheLeastRecentlyUsedUnpinnedBlocks() throws {
    let clock = ManualClock()
    let store = try makeStore("quota", options: .init(compression: .none), clock: clock)
    var random = SeededRandom(seed: 4)
    let first = random.bytes(262_144)
    let second = random.bytes(262_144)
    let third = random.bytes(262_144)
    let a = try store.add(first, pin: nil)
    clock.advance(seconds: 1)
    let b = try store.add(second, pin: nil)
    clock.advance(seconds: 1)
    _ = try store.get(a)  // a is now more recent than b
    clock.advance(seconds: 1)
    try store.setQuota(2 * (262_144 + 1))
    let c = try store.add(third, pin: nil)
    #expect(try store.has(a))
    #expect(try !store.has(b))
    #expect(try store.has(c))
    #expect(try store.stats().storedBytes <= 2 * (262_144 + 1))
    // Pinned blocks are never evicted: with both held blocks pinned, a third does not fit.
    try store.pin(a, reason: .user)
    try store.pin(c, reason: .user)
    #expect(throws: ContentError.quotaExceeded(needed: 262_145, quota: 2 * 262_145)) {
        try store.add(random.bytes(262_144), pin: nil)
    }
    #expect(try store.readFile(a) == first)
}

@Test func anAddLargerThanTheQuotaNeverEvictsItsOwnBlocks() throws {
    let store = try makeStore("quota-self", options: .init(quota: 3 * 262_145, compression: .none, batchBlocks: 1))
    var random = SeededRandom(seed: 9)
    #expect(throws: ContentError.self) { try store.add(random.bytes(6 * 262_144)) }
    // Nothing of the failed add stays protected: collection can remove all of it.
    try store.collectGarbage()
    #expect(try store.stats().blocks == 0)
}

@Test func missingListsWhatAFetchStillNeedsInFileOrder() throws {
    let store = try makeStore("missing")
    var random = SeededRandom(seed: 5)
    let bytes = random.bytes(200 * 4)
    let parameters = UnixFSFileBuilder.Parameters(chunkSize: 4, maxLinks: 10, rawLeaves: true, cidVersion: 1)
    let (root, blocks) = UnixFSFileBuilder.build(bytes, parameters: parameters)
    #expect(try store.missing(root) == [root])
    try store.pin(root, reason: .datanetSnapshot)
    let rootBlock = try #require(blocks.last)
    try store.put([rootBlock])
    let children = try #require(try rootBlock.node()).links.map(\.hash)
    #expect(try store.missing(root) == children)
    // Walk down as a fetch would: store what is missing, level by level.
    var rounds = 0
    while case let wanted = try store.missing(root), !wanted.isEmpty {
        try store.put(blocks.filter { wanted.contains($0.cid) })
        rounds += 1
    }
    #expect(rounds == 3)  // 200 leaves under 20 nodes under 2 nodes under the root
    #expect(try store.missing(root, limit: 1).isEmpty)
    #expect(try store.readFile(root) == bytes)
    // A pin made before the blocks arrived kept all of them.
    #expect(try store.collectGarbage().blocks == 0)
}

@Test func verifyFindsAndRepairsCorruptAndStrayFiles() throws {
    let store = try makeStore("verify")
    var random = SeededRandom(seed: 6)
    let bytes = random.bytes(3 * 262_144)
    let root = try store.add(bytes, parameters: .kuboCIDv1)
    let (_, blocks) = UnixFSFileBuilder.build(bytes)
    let victim = blocks[1]
    let location = try #require(try store.location(of: victim.cid))
    try flipByte(location.path, at: location.offset + location.length / 2)
    // Stray: a pack no row points into, a file among the packs that is no pack, and a file of the older layout.
    let unreferencedPack = store.directory + "/packs/00000099.pack"
    let notAPack = store.directory + "/packs/not-a-pack"
    let oldLayout = store.directory + "/blocks/zz/not-a-block"
    try FileManager.default.createDirectory(atPath: store.directory + "/blocks/zz", withIntermediateDirectories: true)
    for path in [unreferencedPack, notAPack, oldLayout] { try Data([1, 2, 3]).write(to: URL(fileURLWithPath: path)) }

    let report = try store.verify(repair: false)
    #expect(report.checked == blocks.count)
    #expect(report.corrupt == [victim.cid])
    #expect(report.strayFiles == [unreferencedPack, notAPack, oldLayout])
    #expect(try store.has(victim.cid))  // only reported

    let repaired = try store.verify(repair: true)
    #expect(repaired.corrupt == [victim.cid] && repaired.repaired)
    #expect(try !store.has(victim.cid))
    for path in [unreferencedPack, notAPack, oldLayout] { #expect(!FileManager.default.fileExists(atPath: path)) }
    #expect(!FileManager.default.fileExists(atPath: store.directory + "/blocks"))
    #expect(try store.missing(root) == [victim.cid])
    #expect(throws: ContentError.missingBlock(cid: victim.cid.description)) { try store.readFile(root) }
    try store.put([victim])
    #expect(try store.readFile(root) == bytes)
    let clean = try store.verify(repair: false)
    #expect(clean.corrupt.isEmpty && clean.strayFiles.isEmpty)
}

@Test func aCorruptFileIsNeverReturned() throws {
    let store = try makeStore("corrupt-read")
    let bytes = compressibleBytes(100_000)
    let cid = CID.raw(sha256Of: bytes)
    try store.put(cid, bytes)
    let location = try #require(try store.location(of: cid))
    #expect(location.length < bytes.count)  // kept LZ4-compressed
    try overwrite(location.path, at: location.offset, with: [1, 0, 0, 0, 0, 9, 9])
    #expect(throws: ContentError.corruptBlock(cid: cid.description)) { try store.get(cid) }
    #expect(try !store.has(cid))
    #expect(try store.get(cid) == nil)
}

@Test func reopeningSettlesWhatAKilledWriterLeft() throws {
    let directory = DevnetProcess.temporaryDirectory("content-recover") + "/content"
    var random = SeededRandom(seed: 7)
    let whole = random.bytes(1_000)
    let torn = random.bytes(1_000)
    let removing = random.bytes(1_000)
    do {
        let store = try ContentStore(directory: directory)
        try store.put(.raw(sha256Of: whole), whole)
        try store.put(.raw(sha256Of: torn), torn)
        try store.put(.raw(sha256Of: removing), removing)
    }
    // What a kill leaves: a row still `writing` whose record was written whole, one whose record is torn, one
    // `removing` whose record is still there, and bytes a writer appended past the last record.
    let records = try indexedRecords(directory)
    let tornRecord = try #require(records.first { $0.cid == CID.raw(sha256Of: torn).bytes })
    let pack = tornRecord.path
    let index = try Database(path: directory + "/index.sqlite")
    try index.query(
        "UPDATE blocks SET state = 0 WHERE cid IN (?, ?)",
        [.blob(CID.raw(sha256Of: whole).bytes), .blob(CID.raw(sha256Of: torn).bytes)])
    try index.query("UPDATE blocks SET state = 2 WHERE cid = ?", [.blob(CID.raw(sha256Of: removing).bytes)])
    try overwrite(pack, at: tornRecord.offset + 10, with: [0, 1, 2])
    let handle = try #require(FileHandle(forWritingAtPath: pack))
    try handle.seekToEnd()
    try handle.write(contentsOf: Data(repeating: 0xEE, count: 5_000))
    try handle.close()

    let store = try ContentStore(directory: directory)
    #expect(try store.get(.raw(sha256Of: whole))?.bytes == whole)
    #expect(try !store.has(.raw(sha256Of: torn)))
    #expect(try !store.has(.raw(sha256Of: removing)))
    let report = try store.verify(repair: false)
    #expect(report.checked == 1 && report.corrupt.isEmpty && report.strayFiles.isEmpty)
    #expect(try store.stats().storedBytes == 1_001)
    // The pack ends with the last record the index knows.
    let kept = try #require(try store.location(of: .raw(sha256Of: whole)))
    #expect(try fileSize(pack) == kept.offset + kept.length)
}

@Test func oneProcessHoldsTheStore() throws {
    let store = try makeStore("lock")
    #expect(throws: ContentError.storeInUse(path: store.directory)) { try ContentStore(directory: store.directory) }
}

@Test func threadsShareOneStore() throws {
    let store = try makeStore("threads")
    var random = SeededRandom(seed: 8)
    let files = (0..<8).map { _ in random.bytes(300_000) }
    let roots = Mutex<[Int: CID]>([:])
    DispatchQueue.concurrentPerform(iterations: files.count) { index in
        let root = try? store.add(files[index], pin: index % 2 == 0 ? .user : nil)
        roots.withLock { $0[index] = root }
        _ = try? store.collectGarbage()
    }
    let found = roots.withLock { $0 }
    #expect(found.count == files.count)
    for (index, root) in found where index % 2 == 0 {
        #expect(try store.readFile(root) == files[index])
    }
    #expect(try store.verify(repair: false).corrupt.isEmpty)
}
