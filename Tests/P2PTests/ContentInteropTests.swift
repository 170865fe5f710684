import Crypto
import Foundation
import TestSupport
import Testing

/// The bytes of the shared UnixFS vectors: SHA-256(seed ‖ uint64 big-endian i) for i = 0, 1, …, cut to `size`.
private func counterBytes(seed: String, size: Int) -> [UInt8] {
    var out: [UInt8] = []
    out.reserveCapacity(size + 32)
    var index: UInt64 = 0
    while out.count < size {
        var input = Array(seed.utf8)
        for shift in stride(from: 56, through: 0, by: -8) {
            input.append(UInt8(truncatingIfNeeded: index >> UInt64(shift)))
        }
        out += SHA256.hash(input)
        index += 1
    }
    return Array(out.prefix(size))
}

private func write(_ bytes: [UInt8], _ name: String) throws -> String {
    let path = DevnetProcess.temporaryDirectory("content-file") + "/" + name
    try Data(bytes).write(to: URL(fileURLWithPath: path))
    return path
}

private func jsonLines(_ text: String) -> [[String: Any]] {
    text.split(separator: "\n").compactMap { try? JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any] }
}

/// Runs an `openledger` command to its end; returns status, output and errors.
private func openledger(_ arguments: [String]) throws -> (status: Int32, output: String, errors: String) {
    let process = try ChildProcess(DevnetProcess.binary, arguments)
    let status = process.wait(timeout: patientSeconds)
    return (status, process.output, process.errors)
}

/// A `content serve` process over `dataDir` (or `p2p listen --content`, which serves the same way); returns it and
/// its address.
private func serve(_ dataDir: String, asListen: Bool = false) throws -> (ChildProcess, String) {
    let command = asListen ? ["p2p", "listen", "--content"] : ["content", "serve"]
    let process = try ChildProcess(
        DevnetProcess.binary, command + ["--listen", "/ip4/127.0.0.1/tcp/0", "--data-dir", dataDir])
    let address = try process.firstLine()
    #expect(address.hasPrefix("/ip4/127.0.0.1/tcp/"), "content serve: \(process.errors.suffix(2_000))")
    return (process, address)
}

/// kubo v0.22.0 and ours, each a process, with kubo's RSA identity and with an Ed25519 one: our `content add
/// --cid-version 0` gives kubo's own CID for the shared vectors' sizes; kubo fetches a multi-block file from our
/// `content serve`, byte-exact; our `content get` fetches kubo's CIDv0 file from kubo, byte-exact.
@Test(.integration, .timeLimit(.minutes(6)), arguments: ["rsa", "ed25519"])
func kuboAndOursAgreeOnCIDsAndFetchFilesFromEachOther(identity: String) throws {
    guard let python = Fixtures.python(), let vectors = Fixtures.vector("unixfs/kubo-files.json") else { return }
    let object = try #require(try Fixtures.json(vectors) as? [String: Any])
    let seed = try #require(object["seed"] as? String)
    let sizes = try #require(object["vectors"] as? [[String: Any]]).compactMap { ($0["size"] as? NSNumber)?.intValue }
    let script = Fixtures.packageRoot.appendingPathComponent("tools/interop/kubo_peer.py").path
    let kubo = try ChildProcess(
        python, [script, "--repo", DevnetProcess.temporaryDirectory("kubo-content") + "/repo", "--identity", identity])
    defer { kubo.stop() }
    let kuboAddress = try kubo.firstLine()
    try #require(kuboAddress.hasPrefix("/ip4/127.0.0.1/tcp/"), "kubo: \(kubo.errors.suffix(2_000))")
    func ask(_ command: String, _ key: String) -> [String: Any]? {
        let before = jsonLines(kubo.output).count
        kubo.write(command + "\n")
        var answer: [String: Any]?
        _ = poll {
            let lines = jsonLines(kubo.output)
            if lines.count > before, lines.last?[key] != nil { answer = lines.last }
            return answer != nil || !kubo.process.isRunning
        }
        return answer
    }

    // The same CID from the same bytes, for every size of the vectors (kubo's add is CIDv0, dag-pb leaves).
    let ours = DevnetProcess.temporaryDirectory("content-ours")
    var kuboCIDs: [Int: String] = [:]
    for size in sizes {
        let path = try write(counterBytes(seed: seed, size: size), "vector-\(size)")
        let theirs = try #require(
            ask("add \(path)", "cid")?["cid"] as? String, "kubo add: \(kubo.errors.suffix(1_000))")
        let mine = try openledger(["content", "add", path, "--cid-version", "0", "--data-dir", ours])
        #expect(mine.status == 0, "\(mine.errors)")
        #expect(mine.output.trimmingCharacters(in: .whitespacesAndNewlines) == theirs, "size \(size)")
        kuboCIDs[size] = theirs
    }

    // kubo fetches from us: 3 MiB + 5 bytes of our own (CIDv1, raw leaves: 13 blocks and a root).
    var random = SeededRandom(seed: 44)
    let file = random.bytes(3 * 1_048_576 + 5)
    let path = try write(file, "ours.bin")
    let added = try openledger(["content", "add", path, "--data-dir", ours])
    let cid = added.output.trimmingCharacters(in: .whitespacesAndNewlines)
    #expect(cid.hasPrefix("bafybei"), "\(added.errors)")
    let (server, address) = try serve(ours)
    defer { server.stop() }
    #expect(ask("connect \(address)", "connect")?["connect"] as? Bool == true)
    let destination = DevnetProcess.temporaryDirectory("kubo-got") + "/file"
    let got = ask("get \(cid) \(destination) 60", "get")
    #expect(got?["get"] as? Bool == true, "kubo get: \(String(describing: got)) \(server.errors.suffix(2_000))")
    #expect((try? Data(contentsOf: URL(fileURLWithPath: destination))) == Data(file))

    // We fetch kubo's CIDv0 file of 1 MiB + 7 bytes from kubo.
    let size = sizes.max() ?? 0
    let theirs = try #require(kuboCIDs[size])
    let out = DevnetProcess.temporaryDirectory("ours-got") + "/file"
    let fetched = try openledger([
        "content", "get", theirs, "--peer", kuboAddress, "-o", out, "--timeout", "60", "--data-dir",
        DevnetProcess.temporaryDirectory("content-fetch"),
    ])
    #expect(fetched.status == 0, "content get: \(fetched.errors.suffix(2_000))")
    #expect((try? Data(contentsOf: URL(fileURLWithPath: out))) == Data(counterBytes(seed: seed, size: size)))
    kubo.write("quit\n")
}

/// py-libp2p 0.8.1's Bitswap (MerkleDag over BitswapClient) and ours, each a process: we fetch py's file, py
/// fetches ours (served by `p2p listen --content`); with a lying py peer beside an honest one, our fetch refuses every bad block, disconnects the liar
/// and completes from the honest peer.
@Test(.integration, .timeLimit(.minutes(6))) func pyLibp2pAndOursFetchFilesFromEachOtherAndLiesAreRefused() throws {
    guard let python = Fixtures.python() else { return }
    let script = Fixtures.packageRoot.appendingPathComponent("tools/interop/bitswap_peer.py").path
    var random = SeededRandom(seed: 45)
    let pyFile = random.bytes(1_000_000)
    let pyPath = try write(pyFile, "py.bin")
    let honest = try ChildProcess(python, [script, "serve", "--file", pyPath])
    defer { honest.stop() }
    let honestAddress = try honest.firstLine()
    #expect(poll { jsonLines(honest.output).contains { $0["cid"] != nil } }, "py: \(honest.errors.suffix(2_000))")
    let pyCID = try #require(jsonLines(honest.output).compactMap { $0["cid"] as? String }.first)

    // Ours from py: a whole file (4 leaves and a root).
    let out = DevnetProcess.temporaryDirectory("from-py") + "/file"
    let fetched = try openledger([
        "content", "get", pyCID, "--peer", honestAddress, "-o", out, "--timeout", "60", "--data-dir",
        DevnetProcess.temporaryDirectory("content-from-py"),
    ])
    #expect(fetched.status == 0, "content get: \(fetched.errors.suffix(2_000))")
    #expect((try? Data(contentsOf: URL(fileURLWithPath: out))) == Data(pyFile))

    // py from ours: a whole file, and a file of one block.
    let ours = DevnetProcess.temporaryDirectory("content-for-py")
    let file = random.bytes(700_000)
    let small = random.bytes(1_000)
    var cids: [String] = []
    for (bytes, name) in [(file, "big"), (small, "small")] {
        let added = try openledger(["content", "add", try write(bytes, name), "--data-dir", ours])
        cids.append(added.output.trimmingCharacters(in: .whitespacesAndNewlines))
    }
    let (server, address) = try serve(ours, asListen: true)
    defer { server.stop() }
    for (cid, bytes) in zip(cids, [file, small]) {
        let target = DevnetProcess.temporaryDirectory("py-got") + "/file"
        let pyFetch = try ChildProcess(
            python, [script, "fetch", cid, "--peer", address, "--out", target, "--timeout", "60"])
        #expect(pyFetch.wait(timeout: patientSeconds) == 0, "py fetch: \(pyFetch.errors.suffix(2_000))")
        #expect((try? Data(contentsOf: URL(fileURLWithPath: target))) == Data(bytes))
    }

    // A liar that serves wrong bytes for the same file, and the honest py peer.
    let liar = try ChildProcess(python, [script, "serve", "--file", pyPath, "--lie"])
    defer { liar.stop() }
    let liarAddress = try liar.firstLine()
    #expect(poll { liar.output.contains("\"lying\": true") }, "liar: \(liar.errors.suffix(2_000))")
    let checked = DevnetProcess.temporaryDirectory("with-liar") + "/file"
    let mixed = try openledger([
        "content", "get", pyCID, "--peer", liarAddress, "--peer", honestAddress, "-o", checked, "--timeout", "90",
        "--log-level", "warning", "--data-dir", DevnetProcess.temporaryDirectory("content-with-liar"),
    ])
    #expect(mixed.status == 0, "content get: \(mixed.errors.suffix(2_000))")
    #expect((try? Data(contentsOf: URL(fileURLWithPath: checked))) == Data(pyFile))
    #expect(mixed.errors.contains("closing a hostile peer's connection"), "\(mixed.errors.suffix(2_000))")
    #expect(mixed.errors.contains(String(liarAddress.split(separator: "/").last ?? "")))
}

/// A `content get` of 256 MiB killed with -9 part way: the next `content get` resumes from the blocks already in
/// the store (it does not start over) and ends with the right SHA-256; the store verifies clean.
@Test(.integration, .timeLimit(.minutes(8))) func aKilledFetchOf256MiBResumesAndEndsWithTheRightHash() throws {
    var random = SeededRandom(seed: 46)
    var file: [UInt8] = []
    file.reserveCapacity(256 << 20)
    for _ in 0..<(256 << 10) { file += random.bytes(1_024) }
    let expected = SHA256.hash(file)
    let path = try write(file, "big.bin")
    file = []
    let seeder = DevnetProcess.temporaryDirectory("content-seed")
    let added = try openledger(["content", "add", path, "--data-dir", seeder])
    let cid = added.output.trimmingCharacters(in: .whitespacesAndNewlines)
    try #require(added.status == 0, "\(added.errors)")
    let (server, address) = try serve(seeder)
    defer { server.stop() }

    let fetcher = DevnetProcess.temporaryDirectory("content-resume")
    let packsDirectory = fetcher + "/content/packs"
    // About the leaves stored: raw 256 KiB leaves take 262,145 bytes each in the packs, interior nodes little.
    func storedBlocks() -> Int {
        let names = (try? FileManager.default.contentsOfDirectory(atPath: packsDirectory)) ?? []
        return names.reduce(0) {
            $0 + ((try? FileManager.default.attributesOfItem(atPath: packsDirectory + "/" + $1)[.size] as? Int) ?? 0)
        } / 262_145
    }
    let first = try ChildProcess(
        DevnetProcess.binary,
        ["content", "get", cid, "--peer", address, "--no-output", "--timeout", "300", "--data-dir", fetcher])
    // Killed once a quarter of the 1,024 leaves is stored, well before the end.
    let partWay = poll { storedBlocks() >= 256 || !first.process.isRunning }
    kill(first.process.processIdentifier, SIGKILL)
    first.process.waitUntilExit()
    try #require(
        partWay && storedBlocks() < 1_000, "the first fetch ended before it could be killed: \(storedBlocks())")

    let out = DevnetProcess.temporaryDirectory("content-resumed") + "/file"
    let second = try openledger([
        "content", "get", cid, "--peer", address, "-o", out, "--timeout", "300", "--log-level", "info",
        "--data-dir", fetcher,
    ])
    #expect(second.status == 0, "\(second.errors.suffix(2_000))")
    // The resumed fetch found blocks already held and fetched fewer than the whole file.
    let held = second.errors.split(whereSeparator: \.isWhitespace).first { $0.hasPrefix("held=") }.flatMap {
        Int($0.dropFirst(5))
    }
    let fetched = second.errors.split(whereSeparator: \.isWhitespace).first { $0.hasPrefix("blocks=") }.flatMap {
        Int($0.dropFirst(7))
    }
    #expect((fetched ?? 2_000) < 1_000, "\(second.errors.suffix(1_000))")
    #expect((held ?? 0) >= 200, "\(second.errors.suffix(1_000))")
    let got = try Data(contentsOf: URL(fileURLWithPath: out))
    #expect(got.count == 256 << 20)
    #expect(SHA256.hash(got) == expected)
    let verified = try openledger(["content", "verify", "--data-dir", fetcher])
    #expect(verified.status == 0 && verified.output.contains("0 corrupt, 0 stray"), "\(verified.output)")
}
