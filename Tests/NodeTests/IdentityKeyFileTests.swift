import FileIO
import Foundation
import Node
import P2P
import Synchronization
import TestSupport
import Testing

@Test func identityKeyIsCreatedOnceWithMode0600AndThenKept() throws {
    let directory = DataDirectory(root: DevnetProcess.temporaryDirectory("identity") + "/nested/node")
    let first = try IdentityKeyFile.loadOrCreate(in: directory, newKeyType: .ed25519)
    #expect(first.peerID.description.hasPrefix("12D3KooW"))
    let attributes = try FileManager.default.attributesOfItem(atPath: directory.identityKey)
    #expect((attributes[.posixPermissions] as? Int) == 0o600)
    let again = try IdentityKeyFile.loadOrCreate(in: directory, newKeyType: .secp256k1)
    #expect(again.peerID == first.peerID)  // the existing key wins
    // No temporary file is left beside the key.
    let names = try FileManager.default.contentsOfDirectory(atPath: directory.root)
    #expect(names == ["identity.key"])
}

@Test func aCorruptIdentityKeyIsAnErrorNamingTheFile() throws {
    let directory = DataDirectory(root: DevnetProcess.temporaryDirectory("identity-bad"))
    try AtomicFile.write([1, 2, 3], to: directory.identityKey)
    do {
        _ = try IdentityKeyFile.loadOrCreate(in: directory)
        Issue.record("a corrupt key loaded")
    } catch {
        guard case .identityInvalid(let path, _) = error else { throw error }
        #expect(path == directory.identityKey)
        #expect(error.description.hasPrefix(directory.identityKey + ": "))
    }
}

/// Asserts that loading the key in `directory` fails with `identityUnreadable` naming the key file.
private func expectUnreadable(_ directory: DataDirectory, reason: String) {
    do {
        let identity = try IdentityKeyFile.loadOrCreate(in: directory)
        Issue.record("an unreadable key was replaced by \(identity.peerID)")
    } catch {
        guard case .identityUnreadable = error else {
            Issue.record("expected identityUnreadable, got \(error)")
            return
        }
        #expect(error.description.contains(directory.identityKey))
        #expect(error.description.contains(reason))
    }
}

@Test func aDirectoryAtTheKeyPathIsAnErrorNamingTheFileAndIsLeftAlone() throws {
    let directory = DataDirectory(root: DevnetProcess.temporaryDirectory("identity-dir"))
    try FileManager.default.createDirectory(atPath: directory.identityKey, withIntermediateDirectories: true)
    expectUnreadable(directory, reason: "is not a regular file")
    var isDirectory: ObjCBool = false
    #expect(FileManager.default.fileExists(atPath: directory.identityKey, isDirectory: &isDirectory))
    #expect(isDirectory.boolValue)
}

@Test func aKeyWithoutReadPermissionIsAnErrorNamingTheFileAndIsKept() throws {
    // Root reads any file whatever its mode; the directory test above covers the unreadable case there.
    guard geteuid() != 0 else { return }
    let directory = DataDirectory(root: DevnetProcess.temporaryDirectory("identity-mode"))
    let original = try IdentityKeyFile.loadOrCreate(in: directory)
    let bytes = try #require(FileManager.default.contents(atPath: directory.identityKey))
    chmod(directory.identityKey, 0)
    defer { chmod(directory.identityKey, 0o600) }
    expectUnreadable(directory, reason: "Permission denied")
    chmod(directory.identityKey, 0o600)
    #expect(FileManager.default.contents(atPath: directory.identityKey) == bytes)
    #expect(try IdentityKeyFile.loadOrCreate(in: directory).peerID == original.peerID)
}

@Test func nodesCreatingOneKeyAtOnceAllGetTheKeyThatWasWritten() throws {
    let directory = DataDirectory(root: DevnetProcess.temporaryDirectory("identity-race"))
    let peers = Mutex<[String]>([])
    DispatchQueue.concurrentPerform(iterations: 8) { _ in
        let peer = (try? IdentityKeyFile.loadOrCreate(in: directory))?.peerID.description ?? "failed"
        peers.withLock { $0.append(peer) }
    }
    let written = try IdentityKeyFile.loadOrCreate(in: directory).peerID.description
    #expect(peers.withLock { $0 } == Array(repeating: written, count: 8))
    #expect(try FileManager.default.contentsOfDirectory(atPath: directory.root) == ["identity.key"])
}
