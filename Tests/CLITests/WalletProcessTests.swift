import Foundation
import TestSupport
import Testing

/// A devnet config whose channels may settle within seconds: netconfig/devnet.json with
/// `parameters.minimumSettleDelaySeconds` set to 2, written to `directory`; returns its path and mnemonic.
private func quickSettlingConfig(in directory: String) throws -> (path: String, mnemonic: String) {
    let source = Fixtures.packageRoot.appendingPathComponent("netconfig/devnet.json")
    var config = try #require(try JSONSerialization.jsonObject(with: Data(contentsOf: source)) as? [String: Any])
    var parameters = try #require(config["parameters"] as? [String: Any])
    parameters["minimumSettleDelaySeconds"] = 2
    config["parameters"] = parameters
    let path = directory + "/devnet.json"
    try JSONSerialization.data(withJSONObject: config, options: [.prettyPrinted]).write(to: URL(fileURLWithPath: path))
    return (path, try #require(config["devMnemonic"] as? String))
}

/// The wei in the first `(N wei)` of `text`.
private func wei(in text: String) throws -> Decimal {
    let match = try #require(text.firstMatch(of: #/\((\d+) wei\)/#), "no '(N wei)' in \(text)")
    return try #require(Decimal(string: String(match.1)))
}

/// One OPEN in wei.
private let open = Decimal(string: "1000000000000000000")!

/// The wallet's whole life against a real devnet, every step a real `openledger` process: import a dev account from
/// the mnemonic, read its proven balance, open a channel to another dev account, see it in `channel status`, top it
/// up, close it, have the early withdraw refused, withdraw after the settle delay, and find the refund in the balance.
@Test(.integration) func walletAndChannelCommandsRunAChannelsLifeOnADevnet() throws {
    let directory = DevnetProcess.temporaryDirectory("wallet-process")
    let (config, mnemonic) = try quickSettlingConfig(in: directory)
    let devnet = try ChildProcess(
        DevnetProcess.binary,
        [
            "devnet", "--data-dir", directory + "/chain", "--rpc-port", "0", "--block-time", "100ms", "--config",
            config,
        ])
    defer { devnet.stop() }
    #expect(poll { devnet.output.contains("Listening.") || !devnet.process.isRunning }, "\(devnet.errors)")
    let printed = devnet.output
    let url = try #require(printed.firstMatch(of: #/RPC URL:\s+(http://127\.0\.0\.1:\d+)/#)?.1, "\(printed)")
    // The devnet derives its dev accounts from the same mnemonic and prints them: (1) pays, (2) is paid.
    let payer = try #require(printed.firstMatch(of: #/\(1\) (0x[0-9a-fA-F]{40})/#)?.1, "\(printed)")
    let payee = try #require(printed.firstMatch(of: #/\(2\) (0x[0-9a-fA-F]{40})/#)?.1, "\(printed)")
    let user = ["--data-dir", directory + "/user"]
    let ledger = user + ["--rpc", String(url), "--config", config]

    /// Runs `openledger arguments` with the data directory, and the ledger's options unless `local`.
    func run(_ arguments: [String], status expected: Int32 = 0, local: Bool = false) throws -> String {
        let (status, stdout, stderr) = try DevnetProcess.run(arguments + (local ? user : ledger))
        #expect(status == expected, "openledger \(arguments.joined(separator: " ")): \(stdout) \(stderr)")
        return stdout + stderr
    }

    let imported = try run(["wallet", "import", "--mnemonic", mnemonic, "--index", "1"], local: true)
    #expect(imported.contains("address: \(payer)"), "\(imported)")
    #expect(
        try run(["wallet", "address"], local: true).trimmingCharacters(in: .whitespacesAndNewlines) == String(payer))
    let key = directory + "/user/wallet.key"
    #expect(try FileManager.default.attributesOfItem(atPath: key)[.posixPermissions] as? Int == 0o600)
    #expect(try run(["wallet", "new"], status: 1, local: true).contains("already exists"))

    let initial = try run(["wallet", "balance"])
    #expect(initial.hasPrefix("\(payer): 1000000 OPEN (1000000000000000000000000 wei)"), "\(initial)")
    #expect(initial.contains("verified: account proof against state root"))

    let opened = try run(["channel", "open", "--payee", String(payee), "--deposit", "10 OPEN", "--settle-delay", "5"])
    let channel = String(try #require(opened.firstMatch(of: #/opened channel (0x[0-9a-f]{64})/#)?.1, "\(opened)"))
    #expect(opened.contains("deposit 10 OPEN (10000000000000000000 wei), settle delay 5 s"))

    let listed = try run(["channel", "status"])
    #expect(listed.contains("channel \(channel)\n  payee \(payee)\n"), "\(listed)")
    #expect(listed.contains("deposit 10 OPEN (10000000000000000000 wei), redeemed 0 OPEN (0 wei)"))
    #expect(listed.contains("status open, settle delay 5 s"))
    #expect(listed.contains("last voucher 0 wei"))

    let toppedUp = try run(["channel", "top-up", channel, "--amount", "0.5OPEN"])
    #expect(toppedUp.contains("deposit 10.5 OPEN (10500000000000000000 wei)"), "\(toppedUp)")
    #expect(try run(["channel", "status", channel]).contains("deposit 10.5 OPEN"))

    let closing = try run(["channel", "close", channel])
    #expect(closing.contains("closing channel \(channel): withdraw from block time"), "\(closing)")
    let early = try run(["channel", "withdraw", channel], status: 1)
    #expect(early.contains("is still in its settle delay"), "\(early)")
    #expect(try run(["channel", "top-up", channel, "--amount", "1"], status: 1).contains("is closing, not open"))
    let beforeRefund = try wei(in: try run(["wallet", "balance"]))

    // Block time passes the settle deadline within seconds; until then every withdraw is refused the same way.
    var withdrawn = ""
    let done = try poll {
        let (status, stdout, stderr) = try DevnetProcess.run(["channel", "withdraw", channel] + ledger)
        if status == 0 { withdrawn = stdout }
        #expect(status == 0 || stderr.contains("is still in its settle delay"), "\(stdout) \(stderr)")
        return status == 0 || !stderr.contains("is still in its settle delay")
    }
    #expect(done && withdrawn.contains("withdrew 10.5 OPEN (10500000000000000000 wei) from channel \(channel)"))
    #expect(try run(["channel", "status", channel]).contains("status closed"))
    #expect(try run(["channel", "withdraw", channel], status: 1).contains("is closed, not closing"))

    let final = try wei(in: try run(["wallet", "balance"]))
    let refunded = final - beforeRefund
    // The refund arrived less the withdraw's gas (well under 0.01 OPEN); the channel's whole life cost only gas.
    #expect(refunded <= 10.5 * open && refunded > 10.49 * open, "refund \(refunded) wei")
    let spent = try wei(in: initial) - final
    #expect(spent > 0 && spent < open / 100, "spent \(spent) wei on gas")
}

/// Bad arguments are usage errors (exit 64) and ledger refusals failures (exit 1), each with a message.
@Test(.integration) func walletAndChannelCommandsRefuseBadInputWithoutCrashing() throws {
    let directory = DevnetProcess.temporaryDirectory("wallet-bad-input")
    let user = ["--data-dir", directory + "/user"]
    let usage: [[String]] = [
        ["wallet", "import"], ["wallet", "import", "0x1234"], ["wallet", "import", "--mnemonic", "one two three"],
        ["wallet", "import", "0x" + String(repeating: "11", count: 32), "--mnemonic", "a"],
        ["wallet", "import", "0x" + String(repeating: "11", count: 32), "--index", "3"],
        ["wallet", "import", "--mnemonic", String(repeating: "abandon ", count: 12), "--index", "-1"],
        ["wallet", "import", "0x" + String(repeating: "00", count: 32)],
        ["wallet", "balance", "0xnot-an-address"],
    ]
    for arguments in usage {
        let (status, _, stderr) = try DevnetProcess.run(arguments + user)
        #expect(status == 64, "\(arguments): \(stderr)")
        #expect(stderr.hasPrefix("error: "), "\(arguments): \(stderr)")
    }
    // Without a key, commands that need one say how to make one.
    for arguments in [
        ["wallet", "address"], ["channel", "status"], ["channel", "close", "0x" + String(repeating: "ab", count: 32)],
    ] {
        let (status, _, stderr) = try DevnetProcess.run(arguments + user)
        #expect(status == 1 && stderr.contains("no wallet key at") && stderr.contains("wallet new"), "\(stderr)")
    }
    let created = try DevnetProcess.run(["wallet", "new"] + user)
    #expect(created.status == 0 && created.stdout.hasPrefix("address: 0x"), "\(created.stderr)")
    let channelUsage: [[String]] = [
        ["channel", "open", "--deposit", "1 OPEN"], ["channel", "open", "--payee", "0x12", "--deposit", "1"],
        ["channel", "open", "--payee", "0x" + String(repeating: "12", count: 20), "--deposit", "abc"],
        ["channel", "open", "--payee", "0x" + String(repeating: "12", count: 20), "--deposit", "0"],
        ["channel", "open", "--payee", "0x" + String(repeating: "12", count: 20)],
        [
            "channel", "open", "--payee", "0x" + String(repeating: "12", count: 20), "--deposit", "1", "--settle-delay",
            "x",
        ],
        ["channel", "top-up", "0x12", "--amount", "1"],
        ["channel", "top-up", "0x" + String(repeating: "ab", count: 32)],
        ["channel", "status", "not-hex"], ["channel", "withdraw"],
    ]
    for arguments in channelUsage {
        let (status, _, stderr) = try DevnetProcess.run(arguments + user)
        #expect(status == 64, "\(arguments): \(stderr)")
    }
    // No ledger listens here: a clear failure, not a hang or a crash.
    let unreachable = try DevnetProcess.run(["wallet", "balance", "--rpc", "http://127.0.0.1:1"] + user)
    #expect(unreachable.status == 1 && unreachable.stderr.contains("RPC transport failed"), "\(unreachable.stderr)")
    // An exposed key is refused, naming the fix.
    try FileManager.default.setAttributes([.posixPermissions: 0o644], ofItemAtPath: directory + "/user/wallet.key")
    let exposed = try DevnetProcess.run(["wallet", "address"] + user)
    #expect(exposed.status == 1 && exposed.stderr.contains("chmod 600"), "\(exposed.stderr)")
}
