import Codec
import Foundation
import Runtime
import SQLite
import TestSupport
import Testing

@testable import Content

/// The index of the one-file-per-block layout, before rows had a record location.
private let oneFilePerBlockSchema = """
    CREATE TABLE blocks(
        cid BLOB PRIMARY KEY, size INTEGER NOT NULL, stored INTEGER NOT NULL, compressed INTEGER NOT NULL,
        state INTEGER NOT NULL, accessed INTEGER NOT NULL) WITHOUT ROWID;
    CREATE INDEX blocks_by_access ON blocks(accessed);
    CREATE TABLE links(
        parent BLOB NOT NULL, position INTEGER NOT NULL, child BLOB NOT NULL, target BLOB NOT NULL,
        PRIMARY KEY(parent, position)) WITHOUT ROWID;
    CREATE INDEX links_by_child ON links(child);
    CREATE TABLE pins(
        root BLOB NOT NULL, reason TEXT NOT NULL, pinned INTEGER NOT NULL, cid BLOB NOT NULL,
        PRIMARY KEY(root, reason)) WITHOUT ROWID;
    CREATE TABLE meta(key TEXT PRIMARY KEY, value INTEGER);
    """

/// The path the one-file-per-block layout gave the block of `cid`: `blocks/<next-to-last two>/<CIDv1>`.
private func oneFilePerBlockPath(_ directory: String, _ cid: CID) -> String {
    let name = cid.normalized.description
    return directory + "/blocks/" + String(name.dropLast().suffix(2)) + "/" + name
}

/// Writes a block as the one-file-per-block layout did: its file (`file`, by default its record) and its row and
/// links in `state`.
private func writeOneFilePerBlock(
    _ block: VerifiedBlock, state: Int64 = 1, file: [UInt8]? = nil, in directory: String, index: Database
) throws {
    let record = BlockRecord.encode(block.bytes, policy: .standard)
    let path = oneFilePerBlockPath(directory, block.cid)
    try FileManager.default.createDirectory(
        atPath: String(path[..<path.lastIndex(of: "/")!]), withIntermediateDirectories: true)
    try Data(file ?? record.header + record.payload).write(to: URL(fileURLWithPath: path))
    let key = block.cid.normalized.bytes
    try index.query(
        "INSERT INTO blocks(cid, size, stored, compressed, state, accessed) VALUES (?, ?, ?, ?, ?, 0)",
        [
            .blob(key), .integer(Int64(block.bytes.count)), .integer(Int64(record.storedSize)),
            .integer(record.compressed ? 1 : 0), .integer(state),
        ])
    for (position, link) in (try block.node()?.links ?? []).enumerated() {
        try index.query(
            "INSERT INTO links(parent, position, child, target) VALUES (?, ?, ?, ?)",
            [.blob(key), .integer(Int64(position)), .blob(link.hash.normalized.bytes), .blob(link.hash.bytes)])
    }
}

/// The bytes the file system has allocated to a file (holes take none).
private func allocatedBytes(_ path: String) -> Int {
    var status = stat()
    return stat(path, &status) == 0 ? Int(status.st_blocks) * 512 : -1
}

@Test func aStoreOfTheOneFilePerBlockLayoutMovesIntoPacksOnOpen() throws {
    let directory = DevnetProcess.temporaryDirectory("content-migrate") + "/content"
    var random = SeededRandom(seed: 31)
    let noise = random.bytes(3 * 262_144 + 100)
    let text = compressibleBytes(2 * 262_144)
    let (noiseRoot, noiseBlocks) = UnixFSFileBuilder.build(noise)
    let (textRoot, textBlocks) = UnixFSFileBuilder.build(text, parameters: .kuboCIDv0)
    let writingWhole = random.bytes(1_000)
    let writingTorn = random.bytes(1_000)
    let removing = random.bytes(1_000)
    let blockOf = { (bytes: [UInt8]) in try VerifiedBlock(cid: .raw(sha256Of: bytes), bytes: bytes) }
    let stray = directory + "/blocks/ab/not-a-block"
    do {
        try FileManager.default.createDirectory(atPath: directory + "/tmp", withIntermediateDirectories: true)
        try FileManager.default.createDirectory(atPath: directory + "/blocks/qq", withIntermediateDirectories: true)
        try FileManager.default.createDirectory(atPath: directory + "/blocks/ab", withIntermediateDirectories: true)
        let index = try Database(path: directory + "/index.sqlite")
        try index.execute(oneFilePerBlockSchema)
        for block in noiseBlocks + textBlocks { try writeOneFilePerBlock(block, in: directory, index: index) }
        for root in [noiseRoot, textRoot] {
            try index.query(
                "INSERT INTO pins(root, reason, pinned, cid) VALUES (?, 'user', 0, ?)",
                [.blob(root.normalized.bytes), .blob(root.bytes)])
        }
        // What a kill of the older layout's writer left: a `writing` row with its whole file, one with a torn file,
        // a `removing` row whose file is still there, a temporary; and a file no row names.
        try writeOneFilePerBlock(try blockOf(writingWhole), state: 0, in: directory, index: index)
        try writeOneFilePerBlock(try blockOf(writingTorn), state: 0, file: [0, 1, 2], in: directory, index: index)
        try writeOneFilePerBlock(try blockOf(removing), state: 2, in: directory, index: index)
        try Data([0, 1]).write(to: URL(fileURLWithPath: directory + "/tmp/123-4"))
        try Data([0, 9, 9]).write(to: URL(fileURLWithPath: stray))
    }
    let oldFiles = (noiseBlocks + textBlocks).map { oneFilePerBlockPath(directory, $0.cid) }
    #expect(oldFiles.allSatisfy { FileManager.default.fileExists(atPath: $0) })
    let moved = noiseBlocks.count + textBlocks.count + 1
    do {
        let store = try ContentStore(directory: directory)
        #expect(try store.readFile(noiseRoot) == noise)
        #expect(try store.readFile(textRoot) == text)
        #expect(try store.get(.raw(sha256Of: writingWhole))?.bytes == writingWhole)
        #expect(try !store.has(.raw(sha256Of: writingTorn)))
        #expect(try !store.has(.raw(sha256Of: removing)))
        let stats = try store.stats()
        #expect(stats.blocks == moved)
        #expect(stats.compressedBlocks >= 2)  // the text's leaves moved in their LZ4 form
        #expect(
            try store.pins().map(\.root).sorted { $0.description < $1.description }
                == [noiseRoot, textRoot].sorted {
                    $0.description < $1.description
                })
        #expect(try store.missing(noiseRoot).isEmpty && store.missing(textRoot).isEmpty)
        for block in noiseBlocks + textBlocks {
            let location = try #require(try store.location(of: block.cid))
            #expect(location.path.hasPrefix(directory + "/packs/"))
        }
        #expect(!oldFiles.contains { FileManager.default.fileExists(atPath: $0) })
        #expect(!FileManager.default.fileExists(atPath: directory + "/tmp"))
        #expect(!FileManager.default.fileExists(atPath: directory + "/blocks/qq"))
        #expect(!FileManager.default.fileExists(atPath: oneFilePerBlockPath(directory, .raw(sha256Of: removing))))
        // The packs hold exactly the moved records.
        #expect(stats.storedBytes == UInt64(try fileSize(directory + "/packs/00000001.pack")))
        let report = try store.verify(repair: false)
        #expect(report.checked == moved && report.corrupt.isEmpty && report.strayFiles == [stray])
        #expect(try store.verify(repair: true).strayFiles == [stray])
        #expect(!FileManager.default.fileExists(atPath: directory + "/blocks"))
    }
    // A kill between a row's move and its file's unlink leaves the file: the next open removes it.
    let leftover = try #require(noiseBlocks.first)
    let record = BlockRecord.encode(leftover.bytes, policy: .standard)
    try FileManager.default.createDirectory(
        atPath: directory + "/blocks/" + String(leftover.cid.description.dropLast().suffix(2)),
        withIntermediateDirectories: true)
    try Data(record.header + record.payload).write(
        to: URL(fileURLWithPath: oneFilePerBlockPath(directory, leftover.cid)))
    let store = try ContentStore(directory: directory)
    #expect(!FileManager.default.fileExists(atPath: directory + "/blocks"))
    #expect(try store.readFile(noiseRoot) == noise)
    let clean = try store.verify(repair: false)
    #expect(clean.checked == moved && clean.corrupt.isEmpty && clean.strayFiles.isEmpty)
}

@Test func packsRollOverPastTheirSize() throws {
    let packSize = 3 * 262_145
    let options = ContentStore.Options(compression: .none, packSize: packSize)
    let directory = DevnetProcess.temporaryDirectory("content-rollover") + "/content"
    var random = SeededRandom(seed: 32)
    let bytes = random.bytes(10 * 262_144)
    let (root, blocks) = UnixFSFileBuilder.build(bytes)
    var packs = Set<String>()
    var last: BlockLocation?
    do {
        let store = try ContentStore(directory: directory, options: options)
        #expect(try store.add(bytes) == root)
        for block in blocks {
            let location = try #require(try store.location(of: block.cid))
            #expect(location.offset + location.length <= packSize)
            packs.insert(location.path)
        }
        #expect(packs.count == 4)  // three leaves each, then the tenth leaf and the root
        last = try store.location(of: root)
        for pack in packs { #expect(try fileSize(pack) <= packSize) }
        #expect(try store.readFile(root) == bytes)
    }
    let store = try ContentStore(directory: directory, options: options)
    #expect(try store.readFile(root) == bytes)
    let more = try store.add(random.bytes(262_144), pin: nil)
    let location = try #require(try store.location(of: more))
    // Appends go on where the reopened store's active pack ended, in the fourth pack.
    let end = try #require(last)
    #expect(location.path == end.path && location.offset == end.offset + end.length)
    let report = try store.verify(repair: false)
    #expect(report.checked == blocks.count + 1 && report.corrupt.isEmpty && report.strayFiles.isEmpty)
}

@Test func collectionPunchesHolesAndUnlinksEmptiedPacks() throws {
    let store = try makeStore("punch", options: .init(compression: .none, packSize: 4 * 262_145))
    var random = SeededRandom(seed: 33)
    let blocks = try (0..<5).map { _ in
        let bytes = random.bytes(262_144)
        return try VerifiedBlock(cid: .raw(sha256Of: bytes), bytes: bytes)
    }
    for block in blocks { try store.put([block]) }
    let locations = try blocks.map { try #require(try store.location(of: $0.cid)) }
    let (first, second) = (locations[0].path, locations[4].path)
    #expect(first != second && locations[..<4].allSatisfy { $0.path == first })
    for index in [0, 2, 3, 4] { try store.pin(blocks[index].cid, reason: .user) }
    let handle = try #require(FileHandle(forUpdatingAtPath: first))
    try handle.synchronize()
    try handle.close()
    let before = allocatedBytes(first)

    // Collecting the one unpinned block frees its disk blocks; the pack keeps its size and the others their offsets.
    #expect(try store.collectGarbage().blocks == 1)
    #expect(before - allocatedBytes(first) >= 240 << 10, "\(before) → \(allocatedBytes(first))")
    #expect(try fileSize(first) == 4 * 262_145)
    for index in [0, 2, 3, 4] { #expect(try store.get(blocks[index].cid) == blocks[index]) }
    #expect(try store.location(of: blocks[1].cid) == nil)

    // A pack left holding no block goes; the active one stays even when empty.
    for index in [0, 2, 3] { try store.unpin(blocks[index].cid, reason: nil) }
    #expect(try store.collectGarbage().blocks == 3)
    #expect(!FileManager.default.fileExists(atPath: first))
    #expect(try store.get(blocks[4].cid) == blocks[4])
    try store.unpin(blocks[4].cid, reason: nil)
    #expect(try store.collectGarbage().blocks == 1)
    #expect(FileManager.default.fileExists(atPath: second))
    let report = try store.verify(repair: false)
    #expect(report.checked == 0 && report.corrupt.isEmpty && report.strayFiles.isEmpty)
    #expect(try store.stats().storedBytes == 0)
}

@Test func aTornTailIsCutOffOnOpen() throws {
    let directory = DevnetProcess.temporaryDirectory("content-torn-tail") + "/content"
    var random = SeededRandom(seed: 34)
    let kept = random.bytes(5_000)
    let torn = random.bytes(5_000)
    do {
        let store = try ContentStore(directory: directory)
        try store.put(.raw(sha256Of: kept), kept)
        try store.put(.raw(sha256Of: torn), torn)
    }
    // A writer killed mid-batch: the last row still `writing` over bytes that are not its record, and more bytes
    // appended past it.
    let records = try indexedRecords(directory)
    #expect(records.count == 2)
    let (first, last) = (records[0], records[1])
    let index = try Database(path: directory + "/index.sqlite")
    try index.query("UPDATE blocks SET state = 0 WHERE cid = ?", [.blob(last.cid)])
    try overwrite(last.path, at: last.offset + 2_000, with: random.bytes(100))
    let handle = try #require(FileHandle(forWritingAtPath: last.path))
    try handle.seekToEnd()
    try handle.write(contentsOf: Data(random.bytes(10_000)))
    try handle.close()

    let more = random.bytes(3_000)
    do {
        let store = try ContentStore(directory: directory)
        #expect(try store.get(.raw(sha256Of: kept))?.bytes == kept)
        #expect(try !store.has(.raw(sha256Of: torn)))
        #expect(try fileSize(first.path) == first.offset + first.length)
        // Appends go on from the cut.
        try store.put(.raw(sha256Of: more), more)
        #expect(try store.location(of: .raw(sha256Of: more))?.offset == first.offset + first.length)
    }
    let store = try ContentStore(directory: directory)
    #expect(try store.get(.raw(sha256Of: more))?.bytes == more)
    let report = try store.verify(repair: false)
    #expect(report.checked == 2 && report.corrupt.isEmpty && report.strayFiles.isEmpty)
    #expect(try store.stats().storedBytes == UInt64(try fileSize(first.path)))
}

/// The active pack's disk blocks are allocated ahead of its writes without changing its size, and the store gives
/// back what lies past its last record when it closes; a hole punched under a removed record stays a hole.
@Test func theActivePackAllocatesAheadAndGivesItBackOnClose() throws {
    var path = ""
    var size = 0
    do {
        let store = try makeStore("ahead", options: .init(compression: .none))
        var random = SeededRandom(seed: 34)
        let blocks = try (0..<3).map { _ in
            let bytes = random.bytes(262_144)
            return try VerifiedBlock(cid: .raw(sha256Of: bytes), bytes: bytes)
        }
        for block in blocks { try store.put([block]) }
        path = try #require(try store.location(of: blocks[0].cid)).path
        size = try fileSize(path)
        #expect(size == 3 * 262_145)
        // Allocated ahead: well past the three records (16 MiB at a time), the size unchanged.
        #expect(allocatedBytes(path) >= 8 << 20, "\(allocatedBytes(path)) bytes allocated")
        for block in blocks { #expect(try store.get(block.cid) == block) }
        try store.pin(blocks[0].cid, reason: .user)
        try store.pin(blocks[2].cid, reason: .user)
        #expect(try store.collectGarbage().blocks == 1)
    }
    // Closed: what lay past the last record is given back; the punched record stays unallocated.
    #expect(try fileSize(path) == size)
    #expect(allocatedBytes(path) <= 2 * 262_145 + 8_192, "\(allocatedBytes(path)) bytes allocated")
}
