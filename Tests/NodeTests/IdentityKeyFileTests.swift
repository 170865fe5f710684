import FileIO
import Foundation
import Node
import P2P
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
