import Codec
import Content
import Foundation
import TestSupport
import Testing

/// The `openledger` binary built beside the tests, run to completion.
private func openledger(_ arguments: [String]) throws -> (status: Int32, stdout: String, stderr: String) {
    try DevnetProcess.run(arguments)
}

/// The bytes of a store's pack files.
private func packBytes(_ store: String) -> Int {
    let names = (try? FileManager.default.contentsOfDirectory(atPath: store + "/packs")) ?? []
    return names.reduce(0) {
        $0 + ((try? FileManager.default.attributesOfItem(atPath: store + "/packs/" + $1)[.size] as? Int) ?? 0)
    }
}

/// About how many leaves a store's packs hold: raw 256 KiB leaves take 262,145 bytes each, interior nodes little.
private func leavesInPacks(_ store: String) -> Int { packBytes(store) / 262_145 }

/// The vector file's bytes of `size` (SHA-256 counter mode over the seed, as the vector file describes).
private func vectorBytes(seed: String, size: Int) -> [UInt8] {
    var out: [UInt8] = []
    var counter: UInt64 = 0
    while out.count < size {
        out += Multihash.sha256(Array(seed.utf8) + withUnsafeBytes(of: counter.bigEndian, Array.init)).digest
        counter += 1
    }
    return Array(out.prefix(size))
}

@Test(.integration) func contentAddPrintsKubosCIDsForTheSharedVectors() throws {
    guard let data = Fixtures.vector("unixfs/kubo-files.json") else { return }
    let object = try #require(try Fixtures.json(data) as? [String: Any])
    let seed = try #require(object["seed"] as? String)
    let vectors = try #require(object["vectors"] as? [[String: Any]])
    let directory = DevnetProcess.temporaryDirectory("content-cli-vectors")
    for vector in vectors {
        let size = try #require((vector["size"] as? NSNumber)?.intValue)
        let path = directory + "/file-\(size)"
        try Data(vectorBytes(seed: seed, size: size)).write(to: URL(fileURLWithPath: path))
        let v1 = try openledger(["content", "add", path, "--data-dir", directory])
        #expect(v1.status == 0, "\(v1.stderr)")
        #expect(v1.stdout == "\(try #require(vector["cidv1RawLeaves"] as? String))\n")
        let v0 = try openledger(["content", "add", "--cid-version", "0", path, "--data-dir", directory])
        #expect(v0.stdout == "\(try #require(vector["cidv0"] as? String))\n")
        let copy = directory + "/copy-\(size)"
        let cat = try openledger([
            "content", "cat", v0.stdout.trimmingCharacters(in: .whitespacesAndNewlines), "-o", copy, "--data-dir",
            directory,
        ])
        #expect(cat.status == 0, "\(cat.stderr)")
        #expect(try Data(contentsOf: URL(fileURLWithPath: copy)) == Data(contentsOf: URL(fileURLWithPath: path)))
    }
    let verify = try openledger(["content", "verify", "--data-dir", directory])
    #expect(verify.status == 0 && verify.stdout.contains("0 corrupt, 0 stray"))
}

@Test(.integration) func contentCommandsPinCollectVerifyAndRefuseBadInput() throws {
    let directory = DevnetProcess.temporaryDirectory("content-cli")
    let text = String(repeating: "a line of text that compresses well\n", count: 30_000)
    let path = directory + "/text"
    try Data(text.utf8).write(to: URL(fileURLWithPath: path))
    let added = try openledger(["content", "add", path, "--data-dir", directory])
    #expect(added.status == 0)
    let cid = added.stdout.trimmingCharacters(in: .whitespacesAndNewlines)
    #expect(cid.hasPrefix("bafybei"))
    let cat = try openledger(["content", "cat", cid, "--data-dir", directory])
    #expect(cat.status == 0 && cat.stdout == text)
    let ls = try openledger(["content", "ls", "--data-dir", directory])
    #expect(ls.stdout == "\(cid) user complete\n")
    let stat = try openledger(["content", "stat", "--data-dir", directory, "--quota", "1GiB"])
    #expect(stat.stdout.contains("blocks:      6") && stat.stdout.contains("quota:       1073741824"))
    #expect(try openledger(["content", "pin", cid, "--reason", "adapter", "--data-dir", directory]).status == 0)
    #expect(try openledger(["content", "unpin", cid, "--data-dir", directory]).status == 0)
    #expect(try openledger(["content", "gc", "--data-dir", directory]).stdout == "removed 0 blocks, 0 bytes\n")
    #expect(try openledger(["content", "unpin", cid, "--reason", "adapter", "--data-dir", directory]).status == 0)
    let unpinnedAgain = try openledger(["content", "unpin", cid, "--data-dir", directory])
    #expect(unpinnedAgain.status == 1 && unpinnedAgain.stderr.contains("is not pinned"))
    // Corrupt a block's record: verify reports it and exits 1; --repair removes it; cat then says what is missing.
    let victims = try indexedRecords(directory + "/content")
    #expect(victims.count == 6)
    let victim = try #require(victims.first)
    try overwrite(victim.path, at: victim.offset, with: [0, 1, 2, 3])
    let report = try openledger(["content", "verify", "--data-dir", directory])
    #expect(report.status == 1 && report.stdout.contains("1 corrupt"))
    let repaired = try openledger(["content", "verify", "--repair", "--data-dir", directory])
    #expect(repaired.status == 0 && repaired.stdout.contains("removed"))
    let broken = try openledger(["content", "cat", cid, "--data-dir", directory])
    #expect(broken.status == 1 && broken.stderr.contains("is not in the store"))
    #expect(try openledger(["content", "gc", "--data-dir", directory]).stdout.hasPrefix("removed 5 blocks"))
    // Bad input: a clear message and a nonzero exit.
    let badCID = try openledger(["content", "cat", "not-a-cid", "--data-dir", directory])
    #expect(badCID.status == 64 && badCID.stderr.contains("is not a CID"))
    let missing = try openledger(["content", "add", directory + "/absent", "--data-dir", directory])
    #expect(missing.status == 1 && missing.stderr.contains("No such file"))
    #expect(try openledger(["content", "add", path, "--cid-version", "3", "--data-dir", directory]).status == 64)
    #expect(try openledger(["content", "pin", cid, "--reason", "whim", "--data-dir", directory]).status == 64)
    #expect(try openledger(["content", "stat", "--quota", "lots", "--data-dir", directory]).status == 64)
}

@Test(.integration) func standardInputIsAddedLikeAFile() throws {
    let directory = DevnetProcess.temporaryDirectory("content-stdin")
    let child = try ChildProcess(DevnetProcess.binary, ["content", "add", "-", "--data-dir", directory])
    child.write("hello from a pipe\n")
    child.closeInput()
    #expect(child.wait(timeout: patientSeconds) == 0)
    let expected = UnixFSFileBuilder.build(Array("hello from a pipe\n".utf8)).root
    #expect(child.output == "\(expected)\n")
}

/// A `content add` killed with SIGKILL at several points leaves a store whose every block verifies, whose index
/// and files agree, and from which the add goes on without writing again what it had stored.
@Test(.integration) func killNineMidAddLeavesAVerifiedStoreThatResumes() throws {
    let directory = DevnetProcess.temporaryDirectory("content-kill")
    defer { try? FileManager.default.removeItem(atPath: directory) }
    var random = SeededRandom(seed: 21)
    let bytes = random.bytes(64 << 20)
    let path = directory + "/input"
    try Data(bytes).write(to: URL(fileURLWithPath: path))
    let (root, blocks) = UnixFSFileBuilder.build(bytes)
    let store = directory + "/content"
    var killed = 0
    for threshold in [20, 90, 160] {
        let child = try ChildProcess(DevnetProcess.binary, ["content", "add", path, "--data-dir", directory])
        let reached = poll { leavesInPacks(store) >= threshold || !child.process.isRunning }
        #expect(reached)
        kill(child.process.processIdentifier, SIGKILL)
        child.process.waitUntilExit()
        if child.process.terminationReason == .uncaughtSignal { killed += 1 }
        let opened = try ContentStore(directory: store)
        let report = try opened.verify(repair: false)
        #expect(report.corrupt.isEmpty, "kill at \(threshold): \(report.corrupt)")
        #expect(report.strayFiles.isEmpty, "kill at \(threshold): \(report.strayFiles)")
        // The packs hold the indexed records and nothing else: no record without a row, no torn tail.
        #expect(try opened.stats().storedBytes == UInt64(packBytes(store)), "kill at \(threshold)")
    }
    #expect(killed >= 1)
    let opened = try ContentStore(directory: store)
    let held = try opened.stats().blocks
    #expect(held > 0)
    let adder = opened.makeAdder()
    try adder.append(bytes)
    #expect(try adder.finish() == root)
    #expect(adder.newBlocks == blocks.count - held)
    #expect(try opened.readFile(root) == bytes)
}
