import Chain
import Codec
import Foundation
import LightClient
import Node
import Runtime
import TestSupport
import Testing

#if canImport(Glibc)
    import Glibc
#endif

/// A seeded soak of the devnet with five peers: paid requests throughout, inferencers killed with -9 in the middle
/// of an answer (the devnet starts them again), and clients' connections dropped mid-answer; at the end no receipt a
/// client was given is lost, no claim is submitted twice, every claim finalizes and the supply balances.
///
/// The seed (`OPENLEDGER_SOAK_SEED`, default 20) picks the inferencer, the fault and the question of each request;
/// the processes' timing is real, so a failing seed is a strong lead rather than an exact replay.
@Test(.integration, .timeLimit(.minutes(10)))
func aSeededSoakOfKillsAndDroppedConnectionsLosesNoReceiptAndClaimsEachOnce() throws {
    guard let model = Fixtures.modelPath() else { return }
    let seed = ProcessInfo.processInfo.environment["OPENLEDGER_SOAK_SEED"].flatMap(UInt64.init) ?? 20
    var random = SeededRandom(seed: seed)
    let root = DevnetProcess.temporaryDirectory("soak")
    defer { try? FileManager.default.removeItem(atPath: root) }
    let config = try scenarioConfig(in: root)
    let devnet = try EconomyDevnet(root: root + "/devnet", config: config, peers: 5, seeders: 2, model: model)
    defer { _ = devnet.stop() }
    let inferencers = try (1...3).map { try devnet.peer("inferencer-\($0)") }
    // Every client connection goes through a relay, so that the test can drop it.
    var relays = try inferencers.map { try TCPRelay(to: $0.port) }
    let questions = try sampleQuestions(count: 40, offset: 3, stride: 7)
    var acknowledged: [[[UInt8]]] = inferencers.map { _ in [] }
    var faults = (kills: 0, drops: 0, failed: 0)
    let clock = SystemClock()
    let end = clock.now().advanced(bySeconds: 90)
    var requests = 0
    while clock.now() < end {
        requests += 1
        let target = Int(random.next() % UInt64(inferencers.count))
        let fault = random.next() % 5  // 0: kill -9, 1: drop the connection, else none
        let question = questions[Int(random.next() % UInt64(questions.count))]
        let peer = inferencers[target]
        let chat = try ChildProcess(
            DevnetProcess.binary,
            [
                "chat", "--endpoint", "http://127.0.0.1:\(relays[target].port)", "--model", "adapter-1", "--data-dir",
                devnet.user, "--max-tokens", "24", "--temperature", "0", "--json", "--rpc", devnet.rpc, "--config",
                config, question,
            ])
        if fault < 2 {
            // Mid-answer: once the peer runs the generation (or the request is over).
            poll(timeout: patientSeconds) {
                nodeMetric(peer.port, "openledger_inference_running") >= 1 || !chat.process.isRunning
            }
            if fault == 0, let pid = peer.pid {
                kill(pid, SIGKILL)
                faults.kills += 1
            } else if fault == 1 {
                relays[target].cut()
                relays[target] = try TCPRelay(to: peer.port)
                faults.drops += 1
            }
        }
        let status = chat.wait(timeout: patientSeconds)
        if status == 0,
            let answer = try? JSONSerialization.jsonObject(with: Data(chat.output.utf8)) as? [String: Any],
            let receipt = (answer["openledger"] as? [String: Any])?["receipt"] as? [String: Any],
            let hash = (receipt["requestHash"] as? String).flatMap({ try? Hex.decode($0) })
        {
            #expect((receipt["signer"] as? String)?.lowercased() == peer.account.lowercaseHex)
            acknowledged[target].append(hash)
        } else {
            faults.failed += 1
        }
        if fault == 0 {
            let back = poll(timeout: patientSeconds) { httpGet(peer.port, "/metrics") != nil }
            #expect(back, "\(peer.name) did not come back: \(devnet.process.errors.suffix(2_000))")
        }
    }
    let answered = acknowledged.map(\.count).reduce(0, +)
    print("soak: seed \(seed), \(requests) requests, \(answered) answered, \(faults)")
    #expect(answered >= requests / 2, "\(answered) of \(requests) answered")
    #expect(faults.kills >= 1 && faults.drops >= 1, "\(faults)")

    // Settled: every receipt carried by a claim (or a redemption) and every claim final, within the claim age.
    let ledgers = try inferencers.map { try ServingLedger(path: DataDirectory(root: $0.directory).servingStore) }
    for (peer, ledger) in zip(inferencers, ledgers) {
        let settled = poll(timeout: 240) {
            guard (try? ledger.unclaimedSummary().count) == 0, let rows = try? ledger.claims() else { return false }
            return rows.allSatisfy { $0.kind == "claim" ? $0.state == .finalized : $0.state == .included }
        }
        let status = try devnet.run(["claims", "status", "--data-dir", peer.directory]).stdout
        #expect(settled, "\(peer.name): \(status)")
        #expect(try ledger.claims(in: [.refused, .voided, .submitting]).isEmpty, "\(peer.name): \(status)")
    }

    // No receipt a client was given is lost: each is in its peer's books and carried by a claim.
    let light = try devnet.lightClient()
    let head = try light.syncHead()
    for (index, ledger) in ledgers.enumerated() {
        for hash in acknowledged[index] {
            let stored = try #require(try ledger.receipt(hash), "\(inferencers[index].name) lost \(Hex.encode(hash))")
            #expect(stored.claimed)
            // An answer the client got is attributed, so a claim carries it (only interrupted ones are redeemed).
            let claim = try light.read(AttributionClaims.ReceiptClaimLayout.self, hash, at: head).value
            #expect(claim != .zero, "\(inferencers[index].name): \(Hex.encode(hash)) is carried by no claim")
        }
    }

    // No claim submitted twice: the chain holds exactly the claims the peers recorded, each request in one of them,
    // and every one finalized.
    var onChain: [Address: [UInt256]] = [:]
    var id = UInt256(1)
    while let claim = try light.read(AttributionClaims.ClaimLayout.self, id, at: head).value {
        #expect(claim.status == .finalized, "claim \(id) is \(claim.status)")
        onChain[claim.claimant, default: []].append(id)
        id += 1
    }
    var carried: [[UInt8]: UInt256] = [:]
    for (peer, ledger) in zip(inferencers, ledgers) {
        let rows = try ledger.claims().filter { $0.kind == "claim" }
        #expect(
            Set(rows.compactMap(\.claimID)) == Set(onChain[peer.account] ?? [])
                && rows.count == (onChain[peer.account] ?? []).count,
            "\(peer.name): recorded \(rows.compactMap(\.claimID)), on chain \(onChain[peer.account] ?? [])")
        for row in rows {
            for stored in try ledger.receipts(ofClaim: row.local) {
                #expect(carried.updateValue(row.claimID ?? .zero, forKey: stored.receipt.requestHash) == nil)
                let recorded = try light.read(
                    AttributionClaims.ReceiptClaimLayout.self, stored.receipt.requestHash, at: head
                ).value
                #expect(recorded == row.claimID)
            }
        }
    }
    print("soak: \(id - 1) claims on chain carrying \(carried.count) answers")
    #expect(!carried.isEmpty)

    // The supply balances over the whole final state.
    for relay in relays { relay.cut() }
    #expect(devnet.stop() == 0)
    let supply = try supplyAtHead(chainStore: root + "/devnet/chain.sqlite")
    #expect(supply.balances + supply.burned == NetworkConfig.totalSupply)
}
