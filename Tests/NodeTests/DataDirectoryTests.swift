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
