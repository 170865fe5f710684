import Foundation
import TestSupport
import Testing

/// kubo v0.22.0 (go-libp2p 0.29, through `tools/interop/kubo_peer.py`) and our `p2p listen`, each a process of
/// its own, with kubo's default RSA-2048 identity and with an Ed25519 one: kubo dials us, both sides identify each
/// other (our log names kubo's agent), kubo lists us among its peers, and our `p2p ping` reaches kubo.
@Test(.integration, .timeLimit(.minutes(5)), arguments: ["rsa", "ed25519"])
func kuboConnectsToOurHostAndBothIdentify(identity: String) throws {
    guard let python = Fixtures.python() else { return }
    let script = Fixtures.packageRoot.appendingPathComponent("tools/interop/kubo_peer.py").path
    let ours = try ChildProcess(
        DevnetProcess.binary,
        [
            "p2p", "listen", "--listen", "/ip4/127.0.0.1/tcp/0", "--data-dir",
            DevnetProcess.temporaryDirectory("kubo-ours"), "--log-level", "debug",
        ])
    defer { ours.stop() }
    let address = try ours.firstLine()
    let kubo = try ChildProcess(
        python, [script, "--repo", DevnetProcess.temporaryDirectory("kubo") + "/repo", "--identity", identity])
    defer { kubo.stop() }
    let kuboAddress = try kubo.firstLine()
    try #require(kuboAddress.hasPrefix("/ip4/127.0.0.1/tcp/"), "kubo: \(kubo.errors.suffix(2_000))")
    let kuboID = String(kuboAddress.split(separator: "/").last ?? "")
    // kubo's RSA identity gives a Qm… peer id (the key is too long to inline), an Ed25519 one a 12D3KooW… id.
    #expect(kuboID.hasPrefix(identity == "rsa" ? "Qm" : "12D3KooW"), "\(kuboID)")
    let ourID = String(address.split(separator: "/").last ?? "")

    kubo.write("connect \(address)\n")
    #expect(poll { kubo.output.contains("{\"connect\": true}") }, "kubo: \(kubo.output) \(kubo.errors.suffix(2_000))")
    #expect(
        poll { ours.errors.contains("identified \(kuboID)") && ours.errors.contains("agent=kubo/0.22.0/") },
        "ours never identified kubo: \(ours.errors.suffix(2_000))")
    kubo.write("peers\n")
    #expect(poll { kubo.output.contains(ourID) }, "kubo's peers: \(kubo.output)")

    let ping = try ChildProcess(DevnetProcess.binary, ["p2p", "ping", kuboAddress, "--count", "3"])
    #expect(ping.wait(timeout: patientSeconds) == 0, "ping: \(ping.errors)")
    #expect(ping.output.contains("3 pings"))
    kubo.write("quit\n")
}
