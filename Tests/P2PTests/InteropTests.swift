import Codec
import Crypto
import Foundation
import TestSupport
import Testing

@testable import P2P

/// py-libp2p (PyPI `libp2p`, tools/interop/p2p_peer.py) dials a real `openledger p2p listen` process: identify,
/// 100 pings and a 10 MiB echo on /openledger/echo/1.0.0 with matching SHA-256 both ways.
@Test(.integration, .timeLimit(.minutes(3))) func pyLibp2pDialsOurListener() throws {
    guard let python = Fixtures.python() else { return }
    let directory = DevnetProcess.temporaryDirectory("p2p-listen")
    let node = try ChildProcess(
        DevnetProcess.binary, ["p2p", "listen", "--listen", "/ip4/127.0.0.1/tcp/0", "--data-dir", directory])
    let address = try node.firstLine()
    #expect(address.hasPrefix("/ip4/127.0.0.1/tcp/") && address.contains("/p2p/12D3KooW"))
    for keyType in ["ed25519", "secp256k1"] {
        let dialer = try ChildProcess(
            python,
            [
                Fixtures.packageRoot.appendingPathComponent("tools/interop/p2p_peer.py").path, "dial", address,
                "--pings", "100", "--payload-mib", "10", "--key-type", keyType,
            ])
        let status = dialer.wait(timeout: 150)
        #expect(status == 0, "py-libp2p dial failed: \(dialer.errors.suffix(3_000))")
        let last = dialer.output.split(separator: "\n").last.map(String.init) ?? ""
        let report = try Fixtures.json(Data(last.utf8)) as? [String: Any]
        #expect(report?["ok"] as? Bool == true)
        #expect(report?["pings"] as? Int == 100)
        #expect(report?["echo_bytes"] as? Int == 10 << 20)
        #expect(report?["sent_sha256"] as? String == report?["received_sha256"] as? String)
        let identify = report?["identify"] as? [String: Any]
        #expect((identify?["protocols"] as? [String])?.contains(EchoProtocol.protocolID) == true)
        #expect(identify?["agent_version"] as? String == "openledger/0.1.0")
        #expect(identify?["public_key_matches"] as? Bool == true)
        #expect(identify?["has_signed_peer_record"] as? Bool == true)
    }
    #expect(node.process.isRunning)
}

/// Our host dials a py-libp2p listener: identify, 100 pings, and a 10 MiB echo with matching hashes.
@Test(.integration, .timeLimit(.minutes(3))) func weDialAPyLibp2pListener() async throws {
    guard let python = Fixtures.python() else { return }
    let listener = try ChildProcess(
        python, [Fixtures.packageRoot.appendingPathComponent("tools/interop/p2p_peer.py").path, "listen"])
    let address = try Multiaddr(try listener.firstLine())
    let host = try P2PHost(identity: .secp256k1(.generate()))
    defer { host.close() }
    let peer = try await host.connect(address)
    #expect(peer == address.peerID)
    let identify = try await host.identify(peer)
    #expect(identify.agentVersion?.hasPrefix("py-libp2p") == true)
    #expect(identify.protocols.contains(EchoProtocol.protocolID))
    #expect(identify.listenAddresses.contains(address.withoutPeer))
    // py-libp2p signs its addresses; the record verifies and names it.
    let signed = try #require(host.peerStore.record(peer)?.signedRecord)
    #expect(signed.peer == peer && !signed.addresses.isEmpty, "\(signed.addresses)")
    #expect(signed.addresses.allSatisfy { $0.value(of: .tcp) == address.value(of: .tcp) }, "\(signed.addresses)")
    let times = try await host.ping(peer, count: 100)
    #expect(times.count == 100)
    let payload = bulkPayload(10 << 20, seed: 3)
    let stream = try await host.newStream(to: peer, protocols: [EchoProtocol.protocolID])
    let echoed = try await echoRoundTrip(stream, payload)
    #expect(echoed.count == payload.count)
    #expect(SHA256.hash(echoed) == SHA256.hash(payload))
    #expect(listener.process.isRunning)
}
