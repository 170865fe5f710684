import Attribution
import AttributionRules
import Chain
import Codec
import Crypto
import Foundation
import LightClient
import Node
import Runtime
import SQLite
import TestSupport
import Testing

/// The economy end to end on real processes: `openledger devnet --peers` with its seeders and inferencers, a user
/// paying with `openledger chat`, a Byzantine peer built by the test, a light peer cut off its server, a seeder whose
/// disk went bad and an inferencer killed while it fetches (docs/devnet-peers.md).
@Suite(.serialized) struct EconomyScenarioTests {
    /// 10^18, the weights' scale.
    static let scale = UInt256(high: 0, low: AttributionCredit.scale)
    static let open = NetworkConfig.weiPerOpen

    /// Twenty paid answers of the sample adapter through inferencer A, which fetches the adapter and the snapshot's
    /// shards by CID (from seeder B: seeder C's disk is corrupt and it serves none of it); A's claim is attested by B
    /// and C and finalized, and every share lands to the wei; a Byzantine peer D that credits its own sybil in a claim
    /// is challenged with a fraud proof and loses its bond; a light peer whose server is cut follows the head by gossip;
    /// the supply and every module's books balance at the end.
    @Test(.integration, .timeLimit(.minutes(10)))
    func paidAnswersAreClaimedAttestedAndPaidToTheWeiWhileACheatIsSlashed() throws {
        guard let model = Fixtures.modelPath() else { return }
        let root = DevnetProcess.temporaryDirectory("economy")
        defer { try? FileManager.default.removeItem(atPath: root) }
        let config = try scenarioConfig(in: root)
        let devnet = try EconomyDevnet(root: root + "/devnet", config: config, peers: 3, seeders: 2, model: model)
        defer { _ = devnet.stop() }
        let (b, c, a) = (try devnet.peer("seeder"), try devnet.peer("seeder-2"), try devnet.peer("inferencer-1"))
        let light = try devnet.lightClient()
        let network = try devnet.network()
        let head = { () throws -> VerifiedHeader in try light.syncHead() }
        let snapshotRoot = try light.read(DatanetRegistry.SnapshotLayout.self, UInt256(1), at: try head()).value
            .snapshotRoot
        let datanet = try #require(try light.read(DatanetRegistry.DatanetLayout.self, UInt256(1), at: try head()).value)
        var shards: [String] = []
        var batch = UInt256(1)
        while batch <= datanet.batchCount {
            let record = try #require(
                try light.read(DatanetRegistry.BatchLayout.self, (UInt256(1), batch), at: try head()).value)
            shards.append(String(decoding: record.cid, as: UTF8.self))
            batch += 1
        }
        #expect(shards.count == 6)

        // A light peer whose only server is behind a relay the test cuts once it follows.
        let relay = try TCPRelay(to: devnet.rpcPort)
        let lightPeer = try ChildProcess(
            DevnetProcess.binary,
            [
                "node", "--role", "light", "--rpc", "http://127.0.0.1:\(relay.port)", "--bootstrap", b.multiaddr,
                "--head-interval", "0.2", "--listen", "/ip4/127.0.0.1/tcp/0", "--api-port", "0", "--config", config,
                "--data-dir", root + "/light",
            ])
        defer { lightPeer.stop() }
        let lightPort = Int(try printedLine(lightPeer, "api: ").split(separator: ":").last ?? "") ?? 0
        let fromRPC = #"openledger_light_heads_total{source="rpc"}"#
        let fromGossip = #"openledger_light_heads_total{source="gossip"}"#
        #expect(
            poll { nodeMetric(lightPort, fromGossip) >= 1 && nodeMetric(lightPort, fromRPC) >= 1 },
            "\(lightPeer.errors.suffix(2_000))")
        relay.cut()
        #expect(poll { lightPeer.errors.contains("head not fetched") }, "the light peer never missed its server")
        let rpcHeadsAfterCut = nodeMetric(lightPort, fromRPC)
        let lightHeadAtCut = nodeMetric(lightPort, "openledger_light_head_number")

        // Seeder C's disk goes bad: every block record of its store is corrupted in place while it runs (found
        // through its index: a pack, an offset and a length per block).
        let cIndex = try Database(path: c.directory + "/content/index.sqlite")
        let presentBlock = "SELECT 1 FROM blocks WHERE cid = ? AND state = 1"
        let shardKeys = try shards.map { try CID(string: $0).normalized.bytes }
        for (shard, key) in zip(shards, shardKeys) {
            #expect(try cIndex.first(presentBlock, [.blob(key)]) != nil, "seeder C lacks shard \(shard)")
        }
        let cBlocksBefore = nodeMetric(c.port, "openledger_content_blocks")
        for record in try cIndex.query("SELECT pack, offset, stored FROM blocks WHERE state = 1") {
            let (pack, offset, length) = (record[0].integer ?? 0, record[1].integer ?? 0, record[2].integer ?? 0)
            let handle = try #require(
                FileHandle(forUpdatingAtPath: c.directory + "/content/packs/" + String(format: "%08d.pack", pack)))
            try handle.seek(toOffset: UInt64(offset + length / 2))
            let byte = try #require(try handle.read(upToCount: 1)?.first)
            try handle.seek(toOffset: UInt64(offset + length / 2))
            try handle.write(contentsOf: Data([byte ^ 0xFF]))
            try handle.close()
        }

        // A Byzantine inferencer D: staked, serving honestly, keeping its receipts for a claim of its own making.
        let keys = try mnemonicKeys(count: 32)
        let dKey = keys[30]
        let dAddress = WalletKeyFile.address(of: dKey)
        let sybil = WalletKeyFile.address(of: keys[31])
        let funder = try Secp256k1PrivateKey(bytes: network.devAccounts[0].privateKey)
        _ = try light.waitForInclusion(
            try light.send(from: funder, to: dAddress, value: UInt256(10_000) * Self.open), timeoutSeconds: 60)
        let dDirectory = root + "/byzantine"
        let imported = try DevnetProcess.run([
            "wallet", "import", "--mnemonic", economyMnemonic, "--index", "30", "--data-dir", dDirectory,
        ])
        #expect(imported.status == 0, "\(imported.stderr)")
        let staked = try devnet.run(["stake", "--amount", "1000 OPEN", "--data-dir", dDirectory])
        #expect(staked.status == 0, "\(staked.stderr)")
        let byzantine = try ChildProcess(
            DevnetProcess.binary,
            [
                "node", "--role", "inferencer", "--no-claims", "--model", model, "--context", "1024", "--data-dir",
                dDirectory, "--listen", "/ip4/127.0.0.1/tcp/0", "--api-port", "0", "--rpc", devnet.rpc, "--config",
                config, "--bootstrap", b.multiaddr,
            ])
        defer { byzantine.stop() }
        let dAPI = try printedLine(byzantine, "api: ")

        let contributors = network.devAccounts[3...8].map(\.address)
        let owner = network.devAccounts[0].address
        let watched = contributors + [owner, a.account, sybil, dAddress]
        var before: [Address: UInt256] = [:]
        for address in watched { before[address] = try devnet.rewards(address) }

        // 1. Twenty paid questions to A, which holds neither the adapter nor the snapshot's shards at the start.
        #expect(poll { nodeMetric(a.port, "openledger_p2p_connected_peers") >= 2 })
        #expect(nodeMetric(a.port, "openledger_content_blocks") == 0)
        let clock = SystemClock()
        let started = clock.now()
        for (index, question) in try sampleQuestions(count: 20).enumerated() {
            let chat = try devnet.run(
                [
                    "chat", "--endpoint", a.api, "--model", "adapter-1", "--data-dir", devnet.user, "--max-tokens",
                    "40", "--temperature", "0", question,
                ] + (index == 0 ? ["--verbose"] : []))
            #expect(chat.status == 0, "question \(index): \(chat.stdout) \(chat.stderr)")
            if index == 0 {
                #expect(chat.stdout.contains("✓ the proof attributes this answer"), "\(chat.stdout)")
                #expect(
                    chat.stdout.contains(
                        "✓ its snapshot root \(Hex.encode(snapshotRoot)) is committed on the ledger by Datanet 1 (proven)"
                    ),
                    "\(chat.stdout)")
            }
        }
        print("economy: 20 paid answers in \(String(format: "%.1f", clock.now().seconds(since: started))) s")
        // The first chat opened the user's channel to A; every later one paid on it.
        #expect(try PayerStore(path: devnet.user + "/payer.sqlite").channels(payee: a.account).count == 1)
        #expect(nodeMetric(a.port, "openledger_adapter_cache_misses_total") == 1)
        #expect(nodeMetric(a.port, "openledger_adapter_cache_hits_total") == 19)
        #expect(nodeMetric(a.port, "openledger_payments_accepted_total") == 20)
        let received = nodeMetric(a.port, "openledger_content_received_bytes_total")
        #expect(received > 1_000_000, "A received \(received) bytes")
        #expect(nodeMetric(b.port, "openledger_content_sent_bytes_total") >= received)
        #expect(FileManager.default.fileExists(atPath: a.directory + "/adapters/adapter-1.gguf"))

        // 6. C served nothing: its store refused every corrupt block it was asked for (dropping it), and A got each
        // from B instead; A's attribution index, built from those shards, has the chain's snapshot root.
        #expect(nodeMetric(c.port, "openledger_content_sent_bytes_total") == 0)
        let cBlocksAfter = nodeMetric(c.port, "openledger_content_blocks")
        #expect(cBlocksAfter <= cBlocksBefore - Double(shards.count), "C: \(cBlocksBefore) → \(cBlocksAfter) blocks")
        let aIndex = try Database(path: a.directory + "/content/index.sqlite")
        for (shard, key) in zip(shards, shardKeys) {
            #expect(try cIndex.first(presentBlock, [.blob(key)]) == nil, "seeder C still holds shard \(shard)")
            #expect(try aIndex.first(presentBlock, [.blob(key)]) != nil, "A lacks shard \(shard)")
        }
        let index = try SnapshotIndexFiles.load(DataDirectory(root: a.directory).attributionIndex(root: snapshotRoot))
        #expect(index.first?.snapshotRoot == snapshotRoot)

        // 2. A claims its twenty receipts; B and C attest (the quorum is all the attester stake) and it finalizes.
        let aLedger = try ServingLedger(path: DataDirectory(root: a.directory).servingStore)
        let settled = poll(timeout: 240) {
            let rows = (try? aLedger.claims()) ?? []
            return (try? aLedger.unclaimedSummary().count) == 0 && !rows.isEmpty
                && rows.allSatisfy { $0.state == .finalized || $0.state == .refused }
        }
        let rows = try aLedger.claims()
        let status = try devnet.run(["claims", "status", "--data-dir", a.directory]).stdout
        #expect(settled, "\(rows) \(status)")
        #expect(rows.allSatisfy { $0.kind == "claim" && $0.state == .finalized }, "\(rows)")
        let rpc = RPCTestClient(port: devnet.rpcPort)
        var items: [ClaimItem] = []
        for row in rows {
            let id = try #require(row.claimID)
            let claim = try #require(try light.read(AttributionClaims.ClaimLayout.self, id, at: try head()).value)
            #expect(claim.status == .finalized && claim.claimant == a.account)
            #expect(claim.attesterCount == 2, "claim \(id): \(claim.attesterCount) attesters")
            #expect(claim.attestedStake == claim.quorumStake && claim.quorumStake == UInt256(2_000) * Self.open)
            // The claim's answers as the chain holds them: the submitting transaction's block, read and proven.
            let transaction = try #require(row.transaction)
            let receipt = try #require(
                rpc.result("eth_getTransactionReceipt", [Hex.encode(transaction)]) as? [String: Any])
            let number = try #require(
                (receipt["blockNumber"] as? String).flatMap { UInt64($0.dropFirst(2), radix: 16) })
            let onChain = ClaimWatch.submittedClaims(
                in: try light.block(number).block, receipts: try light.receipts(ofBlock: number).receipts)
            let claimed = try #require(onChain.first { $0.claimId == id })
            #expect(UInt64(claimed.items.count) == claim.itemCount)
            #expect(claimed.items.reduce(UInt256.zero) { $0 + $1.receipt.price } == claim.fees)
            items += claimed.items
        }
        #expect(items.count == 20)
        #expect(Set(items.map(\.receipt.requestHash)).count == 20)

        // The shares, computed here from each answer's price, its proof's weights and the config's fee split.
        let split = network.parameters.feeSplitBasisPoints
        var expected: [Address: UInt256] = [:]
        var adapterOwners: [UInt256: Address] = [:]
        for item in items {
            let fee = item.receipt.price
            let burn = fee * UInt256(split.burn) / 10_000
            let serving = fee * UInt256(split.servingPeer) / 10_000
            var ownerShare = fee * UInt256(split.adapterOwner) / 10_000
            let data = fee - burn - serving - ownerShare
            var attributed = UInt256.zero
            for contributor in item.proof.contributors {
                let share = data * UInt256(high: 0, low: contributor.weight) / Self.scale
                expected[contributor.address, default: .zero] += share
                attributed += share
            }
            ownerShare += data - attributed
            if adapterOwners[item.receipt.adapterID] == nil {
                adapterOwners[item.receipt.adapterID] = try #require(
                    try light.read(ModelRegistry.AdapterLayout.self, item.receipt.adapterID, at: try head()).value
                ).owner
            }
            expected[adapterOwners[item.receipt.adapterID]!, default: .zero] += ownerShare
            expected[a.account, default: .zero] += serving
        }
        #expect(adapterOwners.values.allSatisfy { $0 == owner })
        let credited = contributors.filter { (expected[$0] ?? .zero) > .zero }
        #expect(credited.count >= 2, "the answers credited \(credited.count) contributors")
        var after: [Address: UInt256] = [:]
        for address in Set(watched + Array(expected.keys)) {
            after[address] = try devnet.rewards(address)
            let rise = after[address]! - (before[address] ?? .zero)
            #expect(
                rise == expected[address] ?? .zero, "\(address): rose by \(rise), expected \(expected[address] ?? 0)")
        }
        print("economy: fees \(items.reduce(UInt256.zero) { $0 + $1.receipt.price }) wei; shares \(expected)")

        // 3. D serves three paid answers correctly, then claims them with its sybil credited in the first proof.
        for question in try sampleQuestions(count: 3, offset: 5) {
            let chat = try devnet.run([
                "chat", "--endpoint", dAPI, "--model", "adapter-1", "--data-dir", devnet.user, "--max-tokens", "40",
                "--temperature", "0", question,
            ])
            #expect(chat.status == 0, "\(chat.stdout) \(chat.stderr)")
        }
        let dLedger = try ServingLedger(path: DataDirectory(root: dDirectory).servingStore)
        let served = try dLedger.unclaimedReceipts()
        #expect(served.count == 3)
        var cheat: [ClaimItem] = []
        for (position, stored) in served.enumerated() {
            var proof = try AttributionProof(encoded: try #require(try dLedger.proof(stored.receipt.requestHash)))
            var receipt = stored.receipt
            var signature = stored.signature
            if position == 0 {
                proof.contributors = Self.crediting(sybil, in: proof.contributors)
                receipt.attributionRoot = ServingReceipt.attributionRoot(of: proof)
                signature = try receipt.sign(
                    with: dKey, chainId: network.chainId, verifyingContract: AttributionClaims.defaultAddress)
            }
            cheat.append(
                ClaimItem(
                    channelID: stored.voucher.voucher.channelID,
                    cumulativeAmount: stored.voucher.voucher.cumulativeAmount,
                    voucherSignature: stored.voucher.signature, receipt: receipt, receiptSignature: signature,
                    response: stored.response, proof: proof))
        }
        let dStake = { () throws -> Staking.Stake in
            try light.read(Staking.StakeLayout.self, (dAddress, .servingPeer), at: try head()).value
        }
        let stakeBefore = try dStake()
        let caller = ContractCaller(
            client: light, key: dKey, contract: AttributionClaims.defaultAddress,
            signature: { AttributionClaims.method(named: $0)?.signature })
        let sent = try caller.submit(
            "submit claim", data: try caller.calldata("submitClaim", [.bytes(ClaimItem.encodeClaim(cheat))]))
        guard case .uint(let cheatID)? = try caller.event("ClaimSubmitted", in: sent.receipt)?["claimId"] else {
            Issue.record("the crafted claim has no ClaimSubmitted log")
            return
        }
        let bond = try #require(try light.read(AttributionClaims.ClaimLayout.self, cheatID, at: try head()).value).bond
        #expect(bond > .zero)
        #expect(try dStake().locked == stakeBefore.locked + bond)
        let voided = poll(timeout: 90) {
            (try? light.read(AttributionClaims.ClaimLayout.self, cheatID, at: try head()).value?.status) == .voided
        }
        #expect(voided, "\(b.directory)/node.log and \(c.directory)/node.log hold the attesters' decisions")
        let stakeAfter = try dStake()
        #expect(
            stakeAfter.staked == stakeBefore.staked - bond, "D's stake \(stakeBefore.staked) → \(stakeAfter.staked)")
        #expect(stakeAfter.locked == stakeBefore.locked)
        #expect(try devnet.rewards(sybil) == .zero)
        #expect(try devnet.rewards(dAddress) == .zero)
        let challenges = (
            nodeMetric(b.port, "openledger_challenges_total"), nodeMetric(c.port, "openledger_challenges_total")
        )
        #expect(challenges.0 + challenges.1 == 1, "challenges by B and C: \(challenges)")
        // The challenge is the wrong-arithmetic fraud proof against the tampered answer, item 0.
        let decisions = [b, c].compactMap { try? String(contentsOfFile: $0.directory + "/node.log", encoding: .utf8) }
            .joined().split(separator: "\n").filter { $0.contains(#""claim":"\#(cheatID)""#) }
        #expect(
            decisions.contains { $0.contains(#""action":"challenged""#) && $0.contains("item 0: wrongArithmetic") },
            "\(decisions)")
        print("economy: D's claim \(cheatID) voided; B challenged \(Int(challenges.0)), C \(Int(challenges.1))")

        // 5. The light peer followed the head from gossip alone since its server was cut, under 64 MB.
        let lightHead = nodeMetric(lightPort, "openledger_light_head_number")
        let chainHead = Double(try head().number)
        #expect(lightHead > lightHeadAtCut + 100, "light head \(lightHeadAtCut) → \(lightHead)")
        #expect(chainHead - lightHead < 100, "light head \(lightHead), chain head \(chainHead)")
        #expect(nodeMetric(lightPort, fromRPC) == rpcHeadsAfterCut)
        #expect(nodeMetric(lightPort, fromGossip) > 100)
        let lightRSS = try #require(peakResidentKilobytes(lightPeer.process.processIdentifier))
        print("economy: light peer at block \(Int(lightHead)) of \(Int(chainHead)), peak RSS \(lightRSS) kB")
        #expect(lightRSS < 64 * 1_024)

        // The books: what AttributionClaims, Staking and PaymentChannels hold is what they owe.
        let books = try head()
        var owed = UInt256.zero
        for address in after.keys { owed += try devnet.rewards(address) }
        #expect(try light.account(AttributionClaims.defaultAddress, at: books).account.balance == owed)
        var stakes = UInt256.zero
        for (account, role) in [
            (b.account, Staking.Role.attester), (c.account, .attester), (a.account, .servingPeer),
            (dAddress, .servingPeer),
        ] {
            let stake = try light.read(Staking.StakeLayout.self, (account, role), at: books).value
            stakes += stake.staked + stake.unbonding
        }
        #expect(try light.account(Staking.defaultAddress, at: books).account.balance == stakes)
        var deposits = UInt256.zero
        for channel in Set((items + cheat).map(\.channelID)) {
            let stored = try #require(try light.read(PaymentChannels.ChannelLayout.self, channel, at: books).value)
            deposits += stored.deposit - stored.redeemed
        }
        #expect(try light.account(PaymentChannels.defaultAddress, at: books).account.balance == deposits)

        // Supply: every account of the final state plus what was burned is the genesis supply, to the wei.
        byzantine.stop()
        lightPeer.stop()
        #expect(devnet.stop() == 0)
        let supply = try supplyAtHead(chainStore: root + "/devnet/chain.sqlite")
        #expect(supply.balances + supply.burned == NetworkConfig.totalSupply)
        #expect(supply.burned > .zero)
        print("economy: \(supply.accounts) accounts at block \(supply.block), burned \(supply.burned) wei")
    }

    /// 4. An inferencer killed with -9 while it fetches a large adapter is started again by the devnet on the same
    /// ports; the next request resumes the fetch from the blocks it kept (it receives less than the file) and answers.
    @Test(.integration, .timeLimit(.minutes(10)))
    func anInferencerKilledWhileFetchingAnAdapterResumesTheFetchAfterItsRestart() throws {
        guard let model = Fixtures.modelPath() else { return }
        let root = DevnetProcess.temporaryDirectory("economy-fetch")
        defer { try? FileManager.default.removeItem(atPath: root) }
        let config = try scenarioConfig(in: root)
        let devnet = try EconomyDevnet(root: root + "/devnet", config: config, peers: 2, seeders: 1, model: model)
        defer { _ = devnet.stop() }
        let (seeder, inferencer) = (try devnet.peer("seeder"), try devnet.peer("inferencer-1"))

        // A large adapter (rank 64, one step) published from a seeder of the test's own, on Datanet 1's snapshot.
        let trained = try DevnetProcess.run([
            "train", "--records",
            Fixtures.packageRoot.appendingPathComponent("netconfig/sample-datanet/records.jsonl").path, "--model",
            model,
            "--out", root + "/large", "--rank", "64", "--batch", "1", "--sequence-length", "16", "--max-steps", "1",
            "--quiet",
        ])
        #expect(trained.status == 0, "\(trained.stderr)")
        let file = root + "/large/adapter.gguf"
        let size = Double(try #require(try FileManager.default.attributesOfItem(atPath: file)[.size] as? Int))
        let publisher = root + "/publisher"
        #expect(
            try DevnetProcess.run([
                "wallet", "import", "--mnemonic", economyMnemonic, "--index", "0", "--data-dir", publisher,
            ]).status == 0)
        let published = try devnet.run([
            "model", "publish-adapter", file, "--base-model", model, "--datanet", "1", "--no-provenance", "--data-dir",
            publisher,
        ])
        #expect(published.stdout.contains("published adapter 2: "), "\(published.stdout) \(published.stderr)")
        let holder = try ChildProcess(
            DevnetProcess.binary,
            [
                "node", "--role", "seeder", "--no-attester", "--data-dir", publisher, "--listen",
                "/ip4/127.0.0.1/tcp/0",
                "--api-port", "0", "--rpc", devnet.rpc, "--config", config, "--bootstrap", seeder.multiaddr,
            ])
        defer { holder.stop() }
        let holderPort = Int(try printedLine(holder, "api: ").split(separator: ":").last ?? "") ?? 0
        let holderID = try printedLine(holder, "peer: ")
        let cid = try #require(
            published.stdout.split(separator: "\n").first { $0.hasPrefix("published adapter 2: ") }?
                .split(separator: " ").dropFirst(3).first.map(String.init))
        // The inferencer looks for providers once per fetch: the holder's provider record must be on the DHT first.
        #expect(
            try poll {
                let found = try DevnetProcess.run([
                    "p2p", "find-providers", cid, "--bootstrap", seeder.multiaddr, "--count", "1", "--timeout", "5",
                    "--data-dir", root + "/finder", "--config", config,
                ])
                return found.stdout.contains(holderID)
            }, "no provider record of \(cid)")

        // The first request makes the inferencer fetch it; the test kills it with -9 a tenth of the way in.
        func ask() throws -> ChildProcess {
            try ChildProcess(
                DevnetProcess.binary,
                [
                    "chat", "--endpoint", inferencer.api, "--model", "adapter-2", "--data-dir", devnet.user,
                    "--max-tokens", "8", "--rpc", devnet.rpc, "--config", config, "Say hello.",
                ])
        }
        let firstPID = try #require(inferencer.pid)
        let first = try ask()
        var atKill = 0.0
        let midway = poll(timeout: patientSeconds) {
            atKill = nodeMetric(inferencer.port, "openledger_content_received_bytes_total")
            return atKill > size / 10 || !first.process.isRunning
        }
        #expect(midway && first.process.isRunning, "the fetch never got under way: \(first.errors)")
        kill(firstPID, SIGKILL)
        #expect(first.wait(timeout: patientSeconds) != 0, "a request whose server died was answered")
        #expect(!FileManager.default.fileExists(atPath: inferencer.directory + "/adapters/adapter-2.gguf"))

        // The devnet starts it again on the same ports, with the blocks it had stored.
        let restarted = poll(timeout: patientSeconds) {
            (inferencer.pid.map { $0 != firstPID } ?? false) && httpGet(inferencer.port, "/metrics") != nil
        }
        #expect(restarted, "\(devnet.process.errors.suffix(2_000))")
        let kept = nodeMetric(inferencer.port, "openledger_content_bytes")
        #expect(kept > 0 && kept < size, "kept \(kept) of \(size) bytes")
        #expect(nodeMetric(inferencer.port, "openledger_content_received_bytes_total") == 0)

        let second = try ask()
        #expect(second.wait(timeout: patientSeconds) == 0, "\(second.output) \(second.errors)")
        let resumed = nodeMetric(inferencer.port, "openledger_content_received_bytes_total")
        print(
            "economy: killed at \(Int(atKill)) of \(Int(size)) bytes; kept \(Int(kept)); resumed with \(Int(resumed))")
        #expect(resumed > 0 && resumed < size, "received \(resumed) bytes after the restart, for a \(size)-byte file")
        #expect(kept + resumed >= size)
        #expect(nodeMetric(inferencer.port, "openledger_adapter_cache_misses_total") == 1)
        #expect(FileManager.default.fileExists(atPath: inferencer.directory + "/adapters/adapter-2.gguf"))
        #expect(nodeMetric(holderPort, "openledger_content_sent_bytes_total") > 0)
        #expect(devnet.process.errors.contains("peer restarted"))
        holder.stop()
        #expect(devnet.stop() == 0)
    }

    /// `contributors` with `sybil` credited: the weight no one holds, or half of the largest weight when all of it
    /// is held; in rising address order, as a submission requires.
    static func crediting(_ sybil: Address, in contributors: [(address: Address, weight: UInt128)])
        -> [(address: Address, weight: UInt128)]
    {
        var credited = contributors
        let held = credited.reduce(UInt128(0)) { $0 + $1.weight }
        if held < AttributionCredit.scale {
            credited.append((sybil, AttributionCredit.scale - held))
        } else if let largest = credited.indices.max(by: { credited[$0].weight < credited[$1].weight }) {
            let taken = credited[largest].weight / 2
            credited[largest].weight -= taken
            credited.append((sybil, taken))
        }
        return credited.sorted { $0.address < $1.address }
    }
}
