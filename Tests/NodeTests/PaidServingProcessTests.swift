import Attribution
import AttributionRules
import Chain
import Codec
import Crypto
import Foundation
import HTTP
import Inference
import Runtime
import SQLite
import Synchronization
import TestSupport
import Testing

@testable import Node

/// Paid inference between real processes: a devnet, a paid `openledger serve`, `openledger chat`, `pay-proxy` with
/// the stock OpenAI client, and vouchers a hostile payer signs by hand.
@Suite(.serialized) struct PaidServingProcessTests {
    static let mnemonic = "test test test test test test test test test test test junk"

    /// The serving peer's and the user's data directories, each with a dev account's key.
    struct Parties {
        let devnet: DevnetProcess
        let root: String
        let peer: String
        let user: String
        let userKey: Secp256k1PrivateKey
        let peerKey: Secp256k1PrivateKey
        var rpc: String { "http://127.0.0.1:\(devnet.port)" }
        var payee: Address { WalletKeyFile.address(of: peerKey) }
    }

    static func modelPath(sourceLocation: SourceLocation = #_sourceLocation) -> String? {
        if let path = ProcessInfo.processInfo.environment["OPENLEDGER_MODEL"],
            FileManager.default.fileExists(atPath: path)
        {
            return path
        }
        Fixtures.reportMissing(
            "missing the default model (set OPENLEDGER_MODEL; `make test` fetches it)", sourceLocation: sourceLocation)
        return nil
    }

    static func parties() throws -> Parties {
        let root = DevnetProcess.temporaryDirectory("paid")
        let devnet = try DevnetProcess(dataDirectory: root + "/chain")
        let keys = try HDWallet.ethereumKeys(mnemonic: mnemonic, count: 4)
        for (directory, index) in [("peer", 2), ("user", 1)] {
            let result = try DevnetProcess.run([
                "wallet", "import", "--mnemonic", mnemonic, "--index", "\(index)", "--data-dir", root + "/" + directory,
            ])
            #expect(result.status == 0, "\(result.stderr)")
        }
        return Parties(
            devnet: devnet, root: root, peer: root + "/peer", user: root + "/user", userKey: keys[1],
            peerKey: keys[2])
    }

    static func serve(_ parties: Parties, model: String, extra: [String] = []) throws -> (ChildProcess, Int) {
        let server = try ChildProcess(
            DevnetProcess.binary,
            [
                "serve", "--model", model, "--port", "0", "--context", "512", "--rpc", parties.rpc, "--data-dir",
                parties.peer, "--prompt-price", "1000", "--completion-price", "3000",
            ] + extra)
        let line = try server.firstLine()
        let port = try #require(Int(line.split(separator: ":").last?.split(separator: "/").first ?? ""), "\(line)")
        return (server, port)
    }

    static func json(_ bytes: [UInt8]) -> [String: Any] {
        (try? JSONSerialization.jsonObject(with: Data(bytes))) as? [String: Any] ?? [:]
    }

    static func chatBody(_ content: String, seed: Int = 3, maxTokens: Int = 12) -> [UInt8] {
        Array(
            (try? JSONSerialization.data(
                withJSONObject: [
                    "messages": [["role": "user", "content": content]], "max_tokens": maxTokens, "temperature": 0.8,
                    "seed": seed,
                ], options: [.sortedKeys])) ?? Data())
    }

    /// Signs a voucher by hand, as a hostile or careless payer might.
    static func voucher(
        _ amount: UInt256, channel: [UInt8], body: [UInt8], key: Secp256k1PrivateKey, chainId: UInt64 = 16_120_033
    ) throws -> String {
        let voucher = PaymentVoucher(channelID: channel, cumulativeAmount: amount, requestHash: Keccak256.hash(body))
        let signature = try voucher.sign(with: key, chainId: chainId, verifyingContract: PaymentChannels.defaultAddress)
        return SignedVoucher(voucher: voucher, signature: signature).headerValue
    }

    static func post(_ port: Int, _ body: [UInt8], voucher: String? = nil, channel: [UInt8]? = nil) throws
        -> HTTPClient.Response
    {
        var headers: [(name: String, value: String)] = [("Content-Type", "application/json")]
        if let voucher { headers.append((SignedVoucher.headerName, voucher)) }
        if let channel { headers.append(("X-OpenLedger-Channel", Hex.encode(channel))) }
        return try HTTPClient(host: "127.0.0.1", port: port, timeoutSeconds: 120).send(
            method: "POST", path: "/v1/chat/completions", headers: headers, body: body)
    }

    static func quote(_ port: Int, _ body: [UInt8], channel: [UInt8]) throws -> [String: String] {
        let response = try post(port, body, channel: channel)
        #expect(response.status == 402)
        return ((json(response.body)["error"] as? [String: Any])?["quote"] as? [String: String]) ?? [:]
    }

    static func code(_ response: HTTPClient.Response) -> String {
        ((json(response.body)["error"] as? [String: Any])?["code"] as? String) ?? "status \(response.status)"
    }

    static func openChannel(_ parties: Parties, to payee: Address, deposit: String = "1 OPEN") throws -> [UInt8] {
        let result = try DevnetProcess.run([
            "channel", "open", "--payee", payee.checksummed, "--deposit", deposit, "--rpc", parties.rpc, "--data-dir",
            parties.user,
        ])
        #expect(result.status == 0, "\(result.stderr)")
        let line = try #require(result.stdout.split(separator: "\n").first { $0.hasPrefix("opened channel ") })
        return try Hex.decode(String(line.dropFirst("opened channel ".count)))
    }

    @Test(.integration, .timeLimit(.minutes(10))) func payingChattingAndHostileVouchers() throws {
        guard let model = Self.modelPath() else { return }
        let parties = try Self.parties()
        defer { try? FileManager.default.removeItem(atPath: parties.root) }

        // Without a verifiable ledger a paying serve refuses to start, with the reason.
        let refused = try DevnetProcess.run([
            "serve", "--model", model, "--port", "0", "--rpc", "http://127.0.0.1:1", "--data-dir", parties.peer,
        ])
        #expect(refused.status != 0)
        #expect(refused.stderr.contains("paid serving cannot start"), "\(refused.stderr)")

        let (server, port) = try Self.serve(parties, model: model)
        defer { server.stop() }

        // `chat` opens a channel, pays, and checks the receipt.
        let chat = try DevnetProcess.run([
            "chat", "--endpoint", "http://127.0.0.1:\(port)", "--rpc", parties.rpc, "--data-dir", parties.user,
            "--max-tokens", "8", "--seed", "1", "--json", "Say hello.",
        ])
        #expect(chat.status == 0, "\(chat.stderr)")
        let chatted = Self.json(Array(chat.stdout.utf8))
        let checks = (chatted["checks"] as? [[String: Any]]) ?? []
        #expect(checks.count == 5 && checks.allSatisfy { ($0["passed"] as? Bool) == true }, "\(chat.stdout)")
        let store = try PayerStore(path: parties.user + "/payer.sqlite")
        let channel = try #require(try store.channels(payee: parties.payee).first).id

        // Hostile vouchers: each a clear 4xx, and the channel's account unchanged by all of them.
        let body = Self.chatBody("What is two plus two?")
        let before = try Self.quote(port, body, channel: channel)
        let required = try #require(before["required"].flatMap { UInt256(decimal: $0) })
        let stranger = try HDWallet.ethereumKeys(mnemonic: Self.mnemonic, count: 4)[3]
        let otherPayee = try Self.openChannel(parties, to: WalletKeyFile.address(of: stranger))
        let closing = try Self.openChannel(parties, to: parties.payee)
        let close = try DevnetProcess.run([
            "channel", "close", Hex.encode(closing), "--rpc", parties.rpc, "--data-dir", parties.user,
        ])
        #expect(close.status == 0, "\(close.stderr)")
        let oneOPEN = UInt256(decimal: "1000000000000000000")!
        let hostile: [(String, String?, [UInt8], Int, String)] = [
            (
                "forged", try Self.voucher(required, channel: channel, body: body, key: stranger), body, 403,
                "bad_voucher_signature"
            ),
            (
                "another chain",
                try Self.voucher(required, channel: channel, body: body, key: parties.userKey, chainId: 1),
                body, 403, "bad_voucher_signature"
            ),
            (
                "over the deposit", try Self.voucher(oneOPEN + 1, channel: channel, body: body, key: parties.userKey),
                body, 402, "voucher_exceeds_deposit"
            ),
            (
                "too little", try Self.voucher(required - 1, channel: channel, body: body, key: parties.userKey), body,
                402, "insufficient_voucher"
            ),
            (
                "changed body", try Self.voucher(required, channel: channel, body: body, key: parties.userKey),
                Self.chatBody("What is three plus three?"), 403, "request_hash_mismatch"
            ),
            (
                "unknown channel",
                try Self.voucher(
                    required, channel: [UInt8](repeating: 5, count: 32), body: body,
                    key: parties.userKey), body, 403, "unknown_channel"
            ),
            (
                "another payee", try Self.voucher(required, channel: otherPayee, body: body, key: parties.userKey),
                body,
                403, "wrong_payee"
            ),
            (
                "closing channel", try Self.voucher(required, channel: closing, body: body, key: parties.userKey), body,
                403, "channel_closing"
            ),
            ("malformed", "{\"channel\": 1}", body, 403, "malformed_voucher"),
        ]
        for (name, voucher, sent, status, code) in hostile {
            let response = try Self.post(port, sent, voucher: voucher)
            #expect(
                response.status == status && Self.code(response) == code,
                "\(name): \(response.status) \(Self.code(response))")
            #expect(Self.json(response.body)["choices"] == nil, "\(name) generated an answer")
        }
        let after = try Self.quote(port, body, channel: channel)
        #expect(after["spent"] == before["spent"] && after["authorized"] == before["authorized"])

        // The honest voucher is accepted; replaying it, or a lower one, is refused.
        let honest = try Self.voucher(required, channel: channel, body: body, key: parties.userKey)
        let paid = try Self.post(port, body, voucher: honest)
        #expect(paid.status == 200, "\(Self.code(paid))")
        let receipt = try #require(paid.header(SignedReceipt.headerName).flatMap { SignedReceipt(headerValue: $0) })
        #expect(receipt.isValid && receipt.signer == parties.payee)
        #expect(receipt.receipt.price == required - UInt256(decimal: before["authorized"] ?? "0")!)
        let answer = try #require(
            ((Self.json(paid.body)["choices"] as? [[String: Any]])?.first?["message"] as? [String: Any])?["content"]
                as? String)
        #expect(receipt.receipt.responseHash == Keccak256.hash(Array(answer.utf8)))
        #expect(Self.code(try Self.post(port, body, voucher: honest)) == "request_already_paid")
        let later = Self.chatBody("And five plus five?")
        #expect(
            Self.code(
                try Self.post(
                    port, later,
                    voucher: try Self.voucher(required, channel: channel, body: later, key: parties.userKey)))
                == "stale_voucher")

        // Requests racing on one channel's credit: whatever is accepted, spent never exceeds what was authorized.
        let raceQuote = try Self.quote(port, Self.chatBody("race"), channel: channel)
        let base = UInt256(decimal: raceQuote["spent"] ?? "0")!
        let maximum = UInt256(decimal: raceQuote["maximumCost"] ?? "0")!
        let statuses = Mutex<[Int]>([])
        DispatchQueue.concurrentPerform(iterations: 6) { i in
            let raceBody = Self.chatBody("race \(i)", seed: i, maxTokens: 4)
            let amount = base + maximum * UInt256(i + 1) + UInt256(1_000_000)
            let voucher = try? Self.voucher(amount, channel: channel, body: raceBody, key: parties.userKey)
            let status = (try? Self.post(port, raceBody, voucher: voucher))?.status ?? 0
            statuses.withLock { $0.append(status) }
        }
        let final = try Self.quote(port, Self.chatBody("after the race"), channel: channel)
        let spent = UInt256(decimal: final["spent"] ?? "")!
        let authorized = UInt256(decimal: final["authorized"] ?? "")!
        #expect(statuses.withLock { $0 }.contains(200))
        #expect(statuses.withLock { $0 }.allSatisfy { [200, 402].contains($0) }, "\(statuses.withLock { $0 })")
        #expect(spent <= authorized && final["reserved"] == "0")

        // Re-execution: a second process with the same model, prompt, sampling and seed gives the same bytes.
        let replay = try ChildProcess(
            DevnetProcess.binary, ["serve", "--free", "--model", model, "--port", "0", "--context", "512"])
        defer { replay.stop() }
        let replayLine = try replay.firstLine()
        let replayPort = try #require(Int(replayLine.split(separator: ":").last?.split(separator: "/").first ?? ""))
        let again = try Self.post(replayPort, body)
        let againAnswer =
            ((Self.json(again.body)["choices"] as? [[String: Any]])?.first?["message"] as? [String: Any])?["content"]
            as? String
        #expect(againAnswer == answer)
        #expect(Keccak256.hash(Array((againAnswer ?? "").utf8)) == receipt.receipt.responseHash)
        #expect(server.process.isRunning)
    }

    @Test(.integration, .timeLimit(.minutes(10))) func theStockOpenAIClientPaysThroughTheProxy() throws {
        guard let model = Self.modelPath(), let python = Fixtures.python() else { return }
        let parties = try Self.parties()
        defer { try? FileManager.default.removeItem(atPath: parties.root) }
        let (server, port) = try Self.serve(parties, model: model)
        defer { server.stop() }
        let proxy = try ChildProcess(
            DevnetProcess.binary,
            [
                "pay-proxy", "--endpoint", "http://127.0.0.1:\(port)", "--port", "0", "--rpc", parties.rpc,
                "--data-dir", parties.user,
            ])
        defer { proxy.stop() }
        let line = try proxy.firstLine()
        let proxyPort = try #require(Int(line.split(separator: ":").last?.split(separator: "/").first ?? ""), "\(line)")
        let client = try ChildProcess(
            python,
            [
                Fixtures.packageRoot.appendingPathComponent("tools/interop/openai_paid_client.py").path,
                "http://127.0.0.1:\(proxyPort)/v1", parties.payee.checksummed, "16120033",
            ])
        #expect(client.wait(timeout: 240) == 0, "\(client.output.suffix(2_000)) \(client.errors.suffix(2_000))")
        #expect(client.output.contains("\"failures\": []"))
        // Both answers were paid: the serving ledger holds their receipts (and the proxy's first channel opening).
        let receipts = try ServingLedger(path: parties.peer + "/serving.sqlite").receiptCount()
        #expect(receipts == 2)
    }

    /// An answer carries its attribution against a snapshot the ledger committed; `chat` verifies the proof and the
    /// commitment through the light client and names who was credited, and refuses a proof over a snapshot the ledger
    /// never committed.
    @Test(.integration, .timeLimit(.minutes(10))) func answersCarryAttributionThatChatVerifies() throws {
        guard let model = Self.modelPath(), let python = Fixtures.python() else { return }
        let parties = try Self.parties()
        defer { try? FileManager.default.removeItem(atPath: parties.root) }
        let keys = try HDWallet.ethereumKeys(mnemonic: Self.mnemonic, count: 5)
        let credited = WalletKeyFile.address(of: keys[4])
        let other = WalletKeyFile.address(of: keys[3])

        // What the model answers (greedy), from a free server: the snapshot will hold it.
        let (free, freePort) = try Self.serve(parties, model: model, extra: ["--free"])
        let question = "Say hello."
        let ask = Array(
            #"{"messages":[{"role":"user","content":"Say hello."}],"max_tokens":16,"temperature":0}"#.utf8)
        let freeAnswer = try #require(
            ((Self.json(try Self.post(freePort, ask).body)["choices"] as? [[String: Any]])?.first?["message"]
                as? [String: Any])?["content"] as? String)
        free.stop()
        #expect(freeAnswer.utf8.count >= 32, "\(freeAnswer)")

        func records(_ lines: [(Address, String)], _ name: String) throws -> String {
            let path = parties.root + "/\(name).jsonl"
            let text = lines.map { line -> String in
                let data = try! JSONSerialization.data(withJSONObject: [
                    "contributor": line.0.checksummed, "text": line.1,
                ])
                return String(decoding: data, as: UTF8.self)
            }.joined(separator: "\n")
            try text.write(toFile: path, atomically: true, encoding: .utf8)
            let indexed = try DevnetProcess.run([
                "attribute", "index", "--records", path, "--out", parties.root + "/\(name)-index",
            ])
            #expect(indexed.status == 0, "\(indexed.stderr)")
            return path
        }
        let committed = try records(
            [
                (other, "A record about rivers and the sea, long enough to be indexed."),
                (credited, "The archive says: " + freeAnswer + " And more after it."),
            ], "committed")
        let setup = try ChildProcess(
            python,
            [
                Fixtures.packageRoot.appendingPathComponent("tools/interop/datanet_devnet.py").path, "--rpc",
                parties.rpc, "--records", committed,
            ])
        #expect(setup.wait(timeout: 120) == 0, "\(setup.output.suffix(1_000)) \(setup.errors.suffix(1_000))")
        #expect(setup.output.contains("\"records\": 2"))

        let (server, port) = try Self.serve(
            parties, model: model, extra: ["--attribution", parties.root + "/committed-index"])
        let chat = try DevnetProcess.run([
            "chat", "--endpoint", "http://127.0.0.1:\(port)", "--rpc", parties.rpc, "--data-dir", parties.user,
            "--max-tokens", "16", "--temperature", "0", "--verbose", question,
        ])
        server.stop()
        #expect(chat.status == 0, "\(chat.stdout) \(chat.stderr)")
        #expect(chat.stdout.contains("credited: \(credited.checksummed)"), "\(chat.stdout)")
        #expect(!chat.stdout.contains(other.checksummed))
        #expect(chat.stdout.contains("✓ the proof attributes this answer"))
        #expect(chat.stdout.contains("is committed on the ledger by Datanet 1 (proven)"), "\(chat.stdout)")

        // A peer attributing against a snapshot the ledger never committed: the proof checks, the commitment does not.
        _ = try records([(credited, "Uncommitted: " + freeAnswer + " The end.")], "uncommitted")
        let (liar, liarPort) = try Self.serve(
            parties, model: model, extra: ["--attribution", parties.root + "/uncommitted-index"])
        defer { liar.stop() }
        let refused = try DevnetProcess.run([
            "chat", "--endpoint", "http://127.0.0.1:\(liarPort)", "--rpc", parties.rpc, "--data-dir", parties.user,
            "--max-tokens", "16", "--temperature", "0", "--verbose", question,
        ])
        #expect(refused.status == 1)
        #expect(refused.stdout.contains("✗ its snapshot root"), "\(refused.stdout)")
        #expect(refused.stderr.contains("committed on the ledger"), "\(refused.stderr)")
    }

    /// Receipts become a claim with the bond, an attester's attestation reaches the quorum, the service finalizes it and
    /// the rewards are withdrawn; across a kill -9 of the server and a claim sent but not recorded, no receipt is lost
    /// and none is claimed twice.
    @Test(.integration, .timeLimit(.minutes(10))) func receiptsAreClaimedFinalizedAndWithdrawnAcrossRestarts() throws {
        guard let model = Self.modelPath(), let python = Fixtures.python() else { return }
        let parties = try Self.parties()
        defer { try? FileManager.default.removeItem(atPath: parties.root) }
        let attester = parties.root + "/attester"
        let imported = try DevnetProcess.run([
            "wallet", "import", "--mnemonic", Self.mnemonic, "--index", "5", "--data-dir", attester,
        ])
        #expect(imported.status == 0)
        let contributor = WalletKeyFile.address(of: try HDWallet.ethereumKeys(mnemonic: Self.mnemonic, count: 5)[4])
        let records = parties.root + "/records.jsonl"
        try
            (#"{"contributor": "\#(contributor.checksummed)", "text": "Colors of the sea and sky: blue, green, grey and silver in the morning light."}"#
            + "\n").write(toFile: records, atomically: true, encoding: .utf8)
        let setup = try ChildProcess(
            python,
            [
                Fixtures.packageRoot.appendingPathComponent("tools/interop/datanet_devnet.py").path, "--rpc",
                parties.rpc, "--records", records, "--adapter",
            ])
        #expect(setup.wait(timeout: 120) == 0, "\(setup.errors.suffix(1_000))")
        #expect(setup.output.contains("\"adapter\": 1"), "\(setup.output.suffix(300))")
        #expect(
            try DevnetProcess.run(["attribute", "index", "--records", records, "--out", parties.root + "/index"]).status
                == 0)
        func run(_ arguments: [String], in directory: String) throws -> (status: Int32, stdout: String, stderr: String)
        {
            try DevnetProcess.run(arguments + ["--rpc", parties.rpc, "--data-dir", directory])
        }
        #expect(try run(["stake", "--amount", "1000 OPEN"], in: parties.peer).status == 0)
        #expect(try run(["stake", "--role", "attester", "--amount", "1000 OPEN"], in: attester).status == 0)
        let prices = parties.root + "/prices.json"
        try #"{"SmolLM2-135M-Instruct.Q4_1": {"adapterId": 1}}"#.write(
            toFile: prices, atomically: true, encoding: .utf8)
        let serveArguments = [
            "--attribution", parties.root + "/index", "--prices", prices, "--no-claims",
        ]

        // Two paid answers, then the server dies without warning.
        let (server, port) = try Self.serve(parties, model: model, extra: serveArguments)
        for (index, question) in ["Name a color.", "Say hello."].enumerated() {
            let chat = try run(
                [
                    "chat", "--endpoint", "http://127.0.0.1:\(port)", "--max-tokens", "12", "--seed", "\(index)",
                    question,
                ], in: parties.user)
            #expect(chat.status == 0, "\(chat.stderr)")
        }
        kill(server.process.processIdentifier, SIGKILL)
        server.process.waitUntilExit()
        #expect(try run(["claims", "status"], in: parties.peer).stdout.hasPrefix("2 receipts waiting, 0 claims"))

        // Claimed once.
        let submitted = try run(["claims", "submit"], in: parties.peer)
        #expect(submitted.stdout.hasPrefix("submitted 1 claims"), "\(submitted.stdout) \(submitted.stderr)")
        // As if the process had died after sending the claim and before recording it: found on the ledger, not resent.
        do {
            let database = try SQLite.Database(path: parties.peer + "/serving.sqlite")
            try database.execute("UPDATE claims SET state = 'submitting', claim_id = NULL")
        }
        let again = try run(["claims", "submit"], in: parties.peer)
        #expect(again.stdout.hasPrefix("submitted 0 claims"), "\(again.stdout) \(again.stderr)")
        let status = try run(["claims", "status"], in: parties.peer).stdout
        #expect(status.contains("0 receipts waiting, 1 claims"), "\(status)")
        #expect(status.contains("#1 claim claim 1 included, 2 receipts"), "\(status)")

        // The serving peer is back (it serves claimed requests to attesters). An attester judges the chain from genesis
        // with its own copy of the snapshot and its own copy of the model: it recomputes the attribution, re-executes
        // both answers from the requests the peer serves, and attests; the attested stake reaches the quorum, the
        // service finalizes the claim, the rewards are withdrawn.
        let (restarted, restartedPort) = try Self.serve(
            parties, model: model, extra: ["--attribution", parties.root + "/index", "--prices", prices])
        defer { restarted.stop() }
        let watcher = try ChildProcess(
            DevnetProcess.binary,
            [
                "claims", "watch", "--attribution", parties.root + "/index", "--from-block", "0", "--model", model,
                "--serving-peer", "http://127.0.0.1:\(restartedPort)", "--rpc", parties.rpc, "--data-dir", attester,
            ])
        defer { watcher.stop() }
        _ = try watcher.firstLine()
        var finalized = false
        for _ in 0..<150 where !finalized {
            finalized = try run(["claims", "status"], in: parties.peer).stdout.contains("finalized")
            if !finalized { usleep(100_000) }
        }
        #expect(finalized, "\(restarted.errors.suffix(1_000)) \(watcher.errors.suffix(1_000))")
        #expect(watcher.errors.contains("action=attested"), "\(watcher.errors.suffix(1_000))")
        #expect(watcher.errors.contains("re-executed 2 identical, 0 unavailable"), "\(watcher.errors.suffix(1_000))")
        // A second attestation by hand is refused by the ledger, with its reason.
        let twice = try run(["claims", "attest", "1"], in: attester)
        #expect(twice.status == 1 && !twice.stderr.isEmpty)
        let withdrawn = try run(["claims", "withdraw"], in: parties.peer)
        #expect(withdrawn.status == 0, "\(withdrawn.stderr)")
        #expect(withdrawn.stdout.hasPrefix("withdrew "))
        #expect(
            try run(["claims", "status"], in: parties.peer).stdout.contains("rewards owed to \(parties.payee): 0 OPEN"))
    }
}

/// Re-execution against the real model: an answer the model produces is identical; one it does not is a mismatch;
/// a request that does not hash to the receipt is not re-executed.
@Test(.integration, .timeLimit(.minutes(5))) func reexecutionTellsTheModelsAnswerFromAnotherOne() throws {
    guard let path = PaidServingProcessTests.modelPath() else { return }
    let engine = InferenceEngine(model: try LlamaModel(path: path), slots: 1, contextLength: 512, threads: 2)
    let api = OpenAIAPI(engine: engine, modelName: "m", clock: ManualClock(), logger: .discarding)
    let body = Array(
        #"{"messages":[{"role":"user","content":"Name a color."}],"max_tokens":12,"temperature":0.8,"seed":5,"stream":true}"#
            .utf8)
    let served = Mutex<[UInt8]>(body)
    let server = try HTTPServer(port: 0) { request in
        let text = String(decoding: served.withLock { $0 }, as: UTF8.self)
        let object: [String: Any] = ["path": "/v1/chat/completions", "body": text]
        return request.target.hasPrefix("/v1/requests/")
            ? HTTPResponse(status: 200, body: Array(try! JSONSerialization.data(withJSONObject: object)))
            : HTTPResponse(status: 404)
    }
    defer { server.stop() }
    let reexecution = Reexecution(api: api, endpoint: { _ in "http://127.0.0.1:\(server.port)" })
    func item(responseHash: [UInt8]) -> ClaimItem {
        ClaimItem(
            channelID: [UInt8](repeating: 1, count: 32), cumulativeAmount: 1,
            voucherSignature: [UInt8](repeating: 0, count: 65),
            receipt: ServingReceipt(
                requestHash: Keccak256.hash(body), responseHash: responseHash, adapterID: 0, promptTokens: 1,
                completionTokens: 1, price: 1, temperatureMillis: 800, topPMillis: 1_000, topK: 0, seed: 5),
            receiptSignature: [UInt8](repeating: 0, count: 65), response: [],
            proof: AttributionProof(
                result: Attribution.attribute(
                    [], index: try! AttributionIndex(records: []), minSpan: 32, maxRecords: 4),
                response: [], records: [], minSpan: 32, maxRecords: 4))
    }
    let claimant = try Address(hex: "0x1111111111111111111111111111111111111111")
    // What the model answers: learned from a mismatch against a hash nobody produces.
    guard
        case .mismatch(_, let recomputed) = reexecution.run(item(responseHash: Keccak256.hash([1])), claimant: claimant)
    else {
        Issue.record("a response hash the model does not produce was not a mismatch")
        return
    }
    #expect(reexecution.run(item(responseHash: recomputed), claimant: claimant) == .identical)
    // A second run gives the same bytes again (deterministic at temperature 0.8 with a seed).
    #expect(reexecution.run(item(responseHash: recomputed), claimant: claimant) == .identical)
    // A peer serving another body than the receipt's request: not re-executed.
    served.withLock { $0 = Array(#"{"messages":[{"role":"user","content":"Other."}]}"#.utf8) }
    if case .unavailable = reexecution.run(item(responseHash: recomputed), claimant: claimant) {
    } else {
        Issue.record("a request that does not hash to the receipt was re-executed")
    }
}
