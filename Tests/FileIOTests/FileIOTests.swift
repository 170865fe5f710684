import FileIO
import Foundation
import Synchronization
import Testing

private func temporaryDirectory() throws -> String {
    let path = NSTemporaryDirectory() + "fileio-\(UUID().uuidString)"
    try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
    return path
}

@Test func atomicWriteReplacesWholeFilesAndLeavesNoTemporaries() throws {
    let directory = try temporaryDirectory()
    defer { try? FileManager.default.removeItem(atPath: directory) }
    let path = directory + "/key"
    try AtomicFile.write(Array("old".utf8), to: path, mode: 0o600)
    try AtomicFile.write(Array(repeating: 7, count: 100_000), to: path, mode: 0o600)
    let mapped = try MappedFile(path: path)
    #expect(mapped.count == 100_000)
    #expect(mapped.bytes(at: 99_990, count: 100) == Array(repeating: 7, count: 10))
    #expect(mapped.withBytes { $0.allSatisfy { $0 == 7 } })
    let attributes = try FileManager.default.attributesOfItem(atPath: path)
    #expect((attributes[.posixPermissions] as? Int) == 0o600)
    #expect(try FileManager.default.contentsOfDirectory(atPath: directory) == ["key"])
}

@Test func concurrentAtomicWritersOfOnePathLeaveOneWritersWholeFileAndNoTemporaries() throws {
    let directory = try temporaryDirectory()
    defer { try? FileManager.default.removeItem(atPath: directory) }
    let path = directory + "/shard"
    let failures = Mutex(0)
    // Eight threads, each writing its own byte 20 times: a shared temporary would mix their bytes or lose a rename.
    DispatchQueue.concurrentPerform(iterations: 8) { writer in
        for _ in 0..<20 {
            do {
                try AtomicFile.write([UInt8](repeating: UInt8(writer + 1), count: 64 * 1024), to: path)
            } catch {
                failures.withLock { $0 += 1 }
            }
        }
    }
    #expect(failures.withLock { $0 } == 0)
    let bytes = try #require(FileManager.default.contents(atPath: path))
    #expect(bytes.count == 64 * 1024)
    #expect((1...8).contains(bytes[0]) && bytes.allSatisfy { $0 == bytes[0] })
    #expect(try FileManager.default.contentsOfDirectory(atPath: directory) == ["shard"])
}

@Test func atomicCreateNeverReplacesAnExistingFileOrSymlink() throws {
    let directory = try temporaryDirectory()
    defer { try? FileManager.default.removeItem(atPath: directory) }
    let path = directory + "/key"
    #expect(try AtomicFile.create(Array("first".utf8), at: path, mode: 0o600))
    #expect(try !AtomicFile.create(Array("second".utf8), at: path, mode: 0o600))
    #expect(FileManager.default.contents(atPath: path) == Data("first".utf8))
    let attributes = try FileManager.default.attributesOfItem(atPath: path)
    #expect((attributes[.posixPermissions] as? Int) == 0o600)
    // A symlink at the path (even a dangling one) is left as it is, and nothing is written where it points.
    try FileManager.default.createSymbolicLink(atPath: directory + "/link", withDestinationPath: directory + "/target")
    #expect(try !AtomicFile.create([1], at: directory + "/link"))
    #expect(!FileManager.default.fileExists(atPath: directory + "/target"))
    #expect(try FileManager.default.contentsOfDirectory(atPath: directory).sorted() == ["key", "link"])
}

@Test func atomicWriteIntoAMissingDirectoryFailsAndNamesThePath() throws {
    #expect(throws: FileIOError.self) { try AtomicFile.write([1], to: "/nonexistent-dir-\(UUID())/file") }
    do {
        try AtomicFile.write([1], to: "/nonexistent-dir/file")
    } catch {
        #expect(error.description.contains("/nonexistent-dir/"))
    }
}

@Test func mappedFileRefusesMissingFilesAndDirectoriesAndMapsEmptyOnes() throws {
    let directory = try temporaryDirectory()
    defer { try? FileManager.default.removeItem(atPath: directory) }
    #expect(throws: FileIOError.open(path: directory + "/missing", errno: ENOENT)) {
        try MappedFile(path: directory + "/missing")
    }
    #expect(throws: FileIOError.notRegularFile(path: directory)) { try MappedFile(path: directory) }
    try AtomicFile.write([], to: directory + "/empty")
    let empty = try MappedFile(path: directory + "/empty", populate: true)
    #expect(empty.count == 0 && empty.withBytes { $0.isEmpty } && empty.bytes(at: 0, count: 5).isEmpty)
}
