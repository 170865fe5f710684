import Foundation
import Node
import Testing

@Test func dataDirectoryLaysEveryFileOutUnderOneRoot() {
    let directory = DataDirectory(root: "/var/lib/openledger/")
    #expect(directory.root == "/var/lib/openledger")
    #expect(directory.identityKey == "/var/lib/openledger/identity.key")
    #expect(directory.chainDirectory == "/var/lib/openledger")
    #expect(directory.chainStore == "/var/lib/openledger/chain.sqlite")
    #expect(directory.lightHeaderStore == "/var/lib/openledger/light-headers.sqlite")
    #expect(directory.contentStore == "/var/lib/openledger/content")
    #expect(directory.adapterCache == "/var/lib/openledger/adapters")
    let paths = [
        directory.identityKey, directory.chainStore, directory.lightHeaderStore, directory.contentStore,
        directory.adapterCache,
    ]
    #expect(Set(paths).count == paths.count)
    #expect(paths.allSatisfy { $0.hasPrefix(directory.root + "/") })
    #expect(DataDirectory(root: "/").root == "/")
}

@Test func defaultRootFollowsXDGThenHome() {
    #expect(
        DataDirectory.defaultRoot(environment: ["XDG_DATA_HOME": "/x", "HOME": "/home/a"]) == "/x/openledger/node")
    #expect(DataDirectory.defaultRoot(environment: ["HOME": "/home/a"]) == "/home/a/.local/share/openledger/node")
    #expect(DataDirectory.at(nil, environment: ["HOME": "/h"]).root == "/h/.local/share/openledger/node")
    #expect(DataDirectory.at("/given", environment: ["HOME": "/h"]).root == "/given")
}

@Test func theDevnetsFormerDefaultFollowsXDGThenHome() {
    #expect(DataDirectory.formerDevnetRoot(environment: ["XDG_DATA_HOME": "/x"]) == "/x/openledger/devnet")
    #expect(DataDirectory.formerDevnetRoot(environment: ["HOME": "/h"]) == "/h/.local/share/openledger/devnet")
}

@Test func aChainLeftInTheFormerDirectoryIsDetectedOnlyWhenTheNewOneHasNone() throws {
    let base = NSTemporaryDirectory() + "datadir-\(UUID().uuidString)"
    defer { try? FileManager.default.removeItem(atPath: base) }
    let former = DataDirectory(root: base + "/devnet")
    let current = DataDirectory(root: base + "/node")
    #expect(!current.leavesBehindChain(in: former))  // neither exists
    try FileManager.default.createDirectory(atPath: former.root, withIntermediateDirectories: true)
    try FileManager.default.createDirectory(atPath: current.root, withIntermediateDirectories: true)
    #expect(!current.leavesBehindChain(in: former))  // the former one holds no chain
    #expect(FileManager.default.createFile(atPath: former.chainStore, contents: Data()))
    #expect(current.leavesBehindChain(in: former))
    #expect(!former.leavesBehindChain(in: former))  // --data-dir naming the former directory
    #expect(FileManager.default.createFile(atPath: current.chainStore, contents: Data()))
    #expect(!current.leavesBehindChain(in: former))  // the new directory has its own chain
}
