import Foundation
import TestSupport
import Testing

/// Interop of our Kademlia DHT with py-libp2p 0.8.1's `KadDHT` (server mode), every party a process of its own:
/// ours as real `openledger p2p listen` / `find-providers` / `find-peer` processes, py-libp2p as
/// `tools/interop/dht_peer.py`.
private struct DHTParties {
    let python: URL
    let script = Fixtures.packageRoot.appendingPathComponent("tools/interop/dht_peer.py").path
    var running: [ChildProcess] = []

    /// A py-libp2p DHT server joined through `bootstrap`, providing `provide`; returns it and its multiaddr.
    mutating func pyServer(bootstrap: [String] = [], provide: [String] = []) throws -> (ChildProcess, String) {
        var arguments = [script, "serve"]
        for address in bootstrap { arguments += ["--bootstrap", address] }
        for cid in provide { arguments += ["--provide", cid] }
        let process = try ChildProcess(python, arguments)
        running.append(process)
        let address = try process.firstLine()
        #expect(address.hasPrefix("/ip4/127.0.0.1/tcp/"), "py server: \(process.errors.suffix(2_000))")
        if !provide.isEmpty {
            #expect(
                poll { process.output.components(separatedBy: "\"provided\"").count > provide.count },
                "py server never provided: \(process.errors.suffix(2_000))")
        }
        return (process, address)
    }

    /// Our `p2p listen` host joined through `bootstrap`, providing `provide`; returns it and its multiaddr.
    mutating func ourListener(name: String, bootstrap: [String] = [], provide: [String] = []) throws -> (
        ChildProcess, String
    ) {
        var arguments = [
            "p2p", "listen", "--listen", "/ip4/127.0.0.1/tcp/0", "--data-dir", DevnetProcess.temporaryDirectory(name),
        ]
        for address in bootstrap { arguments += ["--bootstrap", address] }
        for cid in provide { arguments += ["--provide", cid] }
        let process = try ChildProcess(DevnetProcess.binary, arguments)
        running.append(process)
        let address = try process.firstLine()
        #expect(address.hasPrefix("/ip4/127.0.0.1/tcp/"), "ours: \(process.errors.suffix(2_000))")
        for cid in provide {
            #expect(
                poll {
                    process.errors.range(of: "msg=provided cid=\(cid) stored=[1-9]", options: .regularExpression) != nil
                },
                "ours never provided \(cid) to anyone: \(process.errors.suffix(2_000))")
        }
        return (process, address)
    }

    /// Runs a one-shot process to its end (within the patient timeout); returns its status and output.
    func run(_ executable: URL, _ arguments: [String]) throws -> (status: Int32, output: String, errors: String) {
        let process = try ChildProcess(executable, arguments)
        let status = process.wait(timeout: patientSeconds)
        return (status, process.output, process.errors)
    }

    /// py-libp2p's `find_providers` through `bootstrap`: the provider lines (peer id and addresses).
    func pyFindProviders(_ cid: String, bootstrap: String) throws -> [(peer: String, addrs: [String])] {
        let (_, output, _) = try run(
            python, [script, "find-providers", cid, "--bootstrap", bootstrap, "--timeout", "20"])
        return output.split(separator: "\n").compactMap { line in
            guard let object = try? JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any],
                let peer = object["peer"] as? String, let addrs = object["addrs"] as? [String]
            else { return nil }
            return (peer, addrs)
        }
    }

    func stopAll() { for process in running { process.stop() } }
}

/// The devnet's network config with `bootstrap` as its bootstrap list, in a file of its own.
private func networkConfig(bootstrap: [String]) throws -> String {
    let devnet = Fixtures.packageRoot.appendingPathComponent("netconfig/devnet.json")
    var object = try #require(try JSONSerialization.jsonObject(with: Data(contentsOf: devnet)) as? [String: Any])
    object["bootstrap"] = bootstrap
    let path = DevnetProcess.temporaryDirectory("dht-config") + "/network.json"
    try JSONSerialization.data(withJSONObject: object).write(to: URL(fileURLWithPath: path))
    return path
}

private func peerID(of address: String) -> String { String(address.split(separator: "/").last ?? "") }

/// CIDv1 raw-leaf CIDs of distinct bytes (as `ipfs add --cid-version=1` names a file of under 256 KiB).
private let cidA = "bafkreihdwdcefgh4dqkjv67uzcmw7ojee6xedzdetojuzjevtenxquvyku"
private let cidB = "bafkreibticedvljqhdozsoz4stjnglb3edqhqwmwtlfech37sovyqr6hiy"
private let cidC = "bafkreifeak5o3eyx7crxeft236gqmw2jlg5qoblljgqko7phccwsjkmwoq"

/// A py-libp2p server provides a CID and our `find-providers` finds it; ours provides a CID to that py server
/// (ADD_PROVIDER: the sender as provider, addresses ending in /p2p/<id>) and a fresh py-libp2p client finds ours
/// through it; py-libp2p's `find_peer` finds our host through the py server.
@Test(.integration, .timeLimit(.minutes(5))) func pyLibp2pAndOursProvideAndFindEachOther() throws {
    guard let python = Fixtures.python() else { return }
    var parties = DHTParties(python: python)
    defer { parties.stopAll() }
    let (_, py1) = try parties.pyServer(provide: [cidA])

    // Joined through the network config's bootstrap list.
    let config = try networkConfig(bootstrap: [py1])
    let found = try parties.run(DevnetProcess.binary, ["p2p", "find-providers", cidA, "--config", config])
    #expect(found.status == 0, "find-providers: \(found.errors.suffix(2_000))")
    let lines = found.output.split(separator: "\n")
    #expect(lines.contains { $0.hasPrefix(peerID(of: py1) + " ") && $0.hasSuffix("/p2p/" + peerID(of: py1)) })

    let (_, ours) = try parties.ourListener(name: "dht-provide", bootstrap: [py1], provide: [cidB])
    var providers: [(peer: String, addrs: [String])] = []
    #expect(
        poll {
            providers = (try? parties.pyFindProviders(cidB, bootstrap: py1)) ?? []
            return !providers.isEmpty
        })
    #expect(providers.contains { $0.peer == peerID(of: ours) && $0.addrs.contains(ours) }, "\(providers)")

    let located = try parties.run(python, [parties.script, "find-peer", peerID(of: ours), "--bootstrap", py1])
    #expect(located.status == 0, "py find_peer: \(located.errors.suffix(2_000))")
    #expect(located.output.contains(String(ours.split(separator: "/p2p/")[0])), "\(located.output)")

    let missing = try parties.run(
        DevnetProcess.binary, ["p2p", "find-providers", cidC, "--bootstrap", py1, "--timeout", "3"])
    #expect(missing.status != 0 && missing.output.isEmpty, "a CID nobody provides was found: \(missing.output)")
}

/// A line py₁ — ours — py₂: py₁ provides through us only, and py₂, connected to us only, learns py₁'s provider
/// record from us; our `find-peer` finds py₂ through py₁ (which knows only us), and py-libp2p's `find_peer`
/// finds py₁ through us.
@Test(.integration, .timeLimit(.minutes(5))) func aLineOfPyLibp2pOursPyLibp2pCarriesProviderRecordsAndPeers() throws {
    guard let python = Fixtures.python() else { return }
    var parties = DHTParties(python: python)
    defer { parties.stopAll() }
    let (_, ours) = try parties.ourListener(name: "dht-line")
    let (_, py1) = try parties.pyServer(bootstrap: [ours], provide: [cidC])

    var providers: [(peer: String, addrs: [String])] = []
    #expect(
        poll {
            providers = (try? parties.pyFindProviders(cidC, bootstrap: ours)) ?? []
            return !providers.isEmpty
        })
    #expect(providers.contains { $0.peer == peerID(of: py1) && $0.addrs.contains(py1) }, "\(providers)")

    let (_, py2) = try parties.pyServer(bootstrap: [ours])
    var located: (status: Int32, output: String, errors: String) = (1, "", "")
    #expect(
        poll {
            located =
                (try? parties.run(
                    DevnetProcess.binary, ["p2p", "find-peer", peerID(of: py2), "--bootstrap", py1, "--timeout", "10"]))
                ?? located
            return located.status == 0
        }, "find-peer: \(located.errors.suffix(2_000))")
    #expect(located.output.split(separator: "\n").contains { py2.hasPrefix($0) }, "\(located.output)")

    let pyLocated = try parties.run(python, [parties.script, "find-peer", peerID(of: py1), "--bootstrap", ours])
    #expect(pyLocated.status == 0, "py find_peer: \(pyLocated.errors.suffix(2_000))")
    #expect(pyLocated.output.contains(String(py1.split(separator: "/p2p/")[0])), "\(pyLocated.output)")
}
