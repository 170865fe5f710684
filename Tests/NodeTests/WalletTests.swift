import Chain
import Codec
import Crypto
import FileIO
import Foundation
import Node
import Runtime
import Synchronization
import TestSupport
import Testing

// MARK: The key file

/// A fresh data directory's wallet key path.
private func keyPath(_ name: String) -> String {
    DataDirectory(root: DevnetProcess.temporaryDirectory(name) + "/node").walletKey
}

/// The permission bits of `path`.
private func mode(_ path: String) throws -> Int {
    try #require(try FileManager.default.attributesOfItem(atPath: path)[.posixPermissions] as? Int)
}

@Test func aNewWalletKeyIsHexTextWithMode0600AndLoadsBack() throws {
    let path = keyPath("wallet-new")
    let key = try WalletKeyFile.create(at: path)
    #expect(try mode(path) == 0o600)
    let text = try String(contentsOfFile: path, encoding: .utf8)
    #expect(text == key.withUnsafeSecretBytes { Hex.encode($0) } + "\n")
    #expect(text.utf8.count == 67)
    let loaded = try WalletKeyFile.load(at: path)
    #expect(WalletKeyFile.address(of: loaded) == WalletKeyFile.address(of: key))
    // Nothing but the key is left in the directory (no temporary file).
    let directory = String(path[..<path.lastIndex(of: "/")!])
    #expect(try FileManager.default.contentsOfDirectory(atPath: directory) == ["wallet.key"])
    // Two new keys are different keys.
    #expect(
        WalletKeyFile.address(of: try WalletKeyFile.create(at: keyPath("wallet-new-2")))
            != WalletKeyFile.address(of: key))
}

@Test func creatingOrImportingOverAKeyIsRefusedUnlessForcedAndLeavesTheKeyAsItWas() throws {
    let path = keyPath("wallet-exists")
    let first = try WalletKeyFile.create(at: path)
    let before = try Data(contentsOf: URL(fileURLWithPath: path))
    let other = try Secp256k1PrivateKey(bytes: [UInt8](repeating: 7, count: 32))
    for attempt in [
        { _ = try WalletKeyFile.create(at: path) }, { try WalletKeyFile.importKey(other, at: path, overwrite: false) },
    ] {
        do {
            try attempt()
            Issue.record("an existing wallet key was replaced")
        } catch let error as NodeError {
            guard case .walletKeyExists(let named) = error else { throw error }
            #expect(named == path)
            #expect(error.description.contains(path))
        }
    }
    #expect(try Data(contentsOf: URL(fileURLWithPath: path)) == before)
    #expect(WalletKeyFile.address(of: try WalletKeyFile.load(at: path)) == WalletKeyFile.address(of: first))
    try WalletKeyFile.importKey(other, at: path, overwrite: true)
    #expect(try mode(path) == 0o600)
    #expect(WalletKeyFile.address(of: try WalletKeyFile.load(at: path)) == WalletKeyFile.address(of: other))
}

@Test(arguments: [0o644, 0o640, 0o604, 0o660, 0o602, 0o620])
func aWalletKeyThatGroupOrOthersMayAccessIsRefused(permissions: Int) throws {
    let path = keyPath("wallet-exposed")
    _ = try WalletKeyFile.create(at: path)
    try FileManager.default.setAttributes([.posixPermissions: permissions], ofItemAtPath: path)
    do {
        _ = try WalletKeyFile.load(at: path)
        Issue.record("a key of mode \(String(permissions, radix: 8)) loaded")
    } catch {
        guard case .walletKeyExposed(let named, let found) = error else { throw error }
        #expect(named == path)
        #expect(found == UInt32(permissions))
        #expect(error.description.contains(path) && error.description.contains("0600"))
    }
}

@Test func aMissingWalletKeyIsItsOwnErrorNamingThePath() throws {
    let path = keyPath("wallet-missing")
    do {
        _ = try WalletKeyFile.load(at: path)
        Issue.record("a missing key loaded")
    } catch {
        guard case .walletKeyMissing(let named) = error else { throw error }
        #expect(named == path)
        #expect(error.description.contains(path) && error.description.contains("wallet new"))
    }
}

@Test func aDirectoryAtTheWalletKeyPathIsUnreadableNotMissing() throws {
    let path = keyPath("wallet-dir")
    try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
    do {
        _ = try WalletKeyFile.load(at: path)
        Issue.record("a directory loaded as a key")
    } catch {
        guard case .walletKeyUnreadable(.notRegularFile(let named)) = error else { throw error }
        #expect(named == path)
    }
}

/// Key files that are not one key: empty, short, unprefixed, not hex, zero, the group order, two keys, too long.
private let malformedKeys: [String] = [
    "", "\n", "0x1234\n", String(repeating: "11", count: 32) + "\n", "0x" + String(repeating: "zz", count: 32),
    "0x" + String(repeating: "00", count: 32) + "\n",
    "0xFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFEBAAEDCE6AF48A03BBFD25E8CD0364141\n",
    "0x" + String(repeating: "11", count: 32) + "\n0x" + String(repeating: "22", count: 32) + "\n",
    "0x" + String(repeating: "11", count: 32) + String(repeating: " ", count: 300),
]

@Test(arguments: malformedKeys)
func aMalformedWalletKeyIsInvalidNamingThePath(contents: String) throws {
    let path = keyPath("wallet-malformed")
    try FileManager.default.createDirectory(
        atPath: String(path[..<path.lastIndex(of: "/")!]), withIntermediateDirectories: true)
    try AtomicFile.write(Array(contents.utf8), to: path, mode: 0o600)
    do {
        _ = try WalletKeyFile.load(at: path)
        Issue.record("a malformed key loaded: \(contents.debugDescription)")
    } catch {
        guard case .walletKeyInvalid(let named, _) = error else { throw error }
        #expect(named == path)
        #expect(error.description.hasPrefix("wallet key \(path): "))
    }
}

@Test func aWalletKeyWithoutTheFinalNewlineOrWithCRLFStillLoads() throws {
    let path = keyPath("wallet-newline")
    try FileManager.default.createDirectory(
        atPath: String(path[..<path.lastIndex(of: "/")!]), withIntermediateDirectories: true)
    let key = try Secp256k1PrivateKey(bytes: [UInt8](repeating: 9, count: 32))
    for ending in ["", "\r\n", "  \n\n"] {
        try AtomicFile.write(Array(("0x" + String(repeating: "09", count: 32) + ending).utf8), to: path, mode: 0o600)
        #expect(WalletKeyFile.address(of: try WalletKeyFile.load(at: path)) == WalletKeyFile.address(of: key))
    }
}

// MARK: Amounts

@Test(arguments: [
    ("10 OPEN", "10000000000000000000"), ("10OPEN", "10000000000000000000"), ("0.5 OPEN", "500000000000000000"),
    ("1000", "1000"), ("1000 wei", "1000"), ("1000wei", "1000"), (" 2 open ", "2000000000000000000"),
    ("0.000000000000000001 OPEN", "1"), ("1.25 OPEN", "1250000000000000000"), ("0", "0"),
])
func openAmountsAreParsedToWei(text: String, wei: String) {
    #expect(OpenAmount.parse(text) == UInt256(decimal: wei))
}

@Test(arguments: [
    "", "OPEN", "abc", "-1", "1.5", "1e18", "0.0000000000000000001 OPEN", ".5 OPEN", "5. OPEN", "1,000", "10 ETH",
    "1 OPEN OPEN", "0x10", String(repeating: "9", count: 78),
    "115792089237316195423570985008687907853269984665640564039458 OPEN",
    String(repeating: "1", count: 200),
])
func textThatIsNotAnAmountIsRefused(text: String) {
    #expect(OpenAmount.parse(text) == nil)
}

// MARK: The payer's store

private let payerKey = try! Secp256k1PrivateKey(bytes: [UInt8](repeating: 3, count: 32))
private let chainId: UInt64 = 16_120_033
private let payee = try! Address(hex: "0x3C44CdDdB6a900fa2b585dd299e03d12FA4293BC")

/// A channel of `payerKey` to `payee` with `deposit` wei, recorded as open.
private func openChannel(_ store: PayerStore, id: UInt8 = 1, deposit: UInt256 = 1_000) throws -> PayerChannel {
    let channel = PayerChannel(
        id: [UInt8](repeating: id, count: 32), payer: WalletKeyFile.address(of: payerKey), payee: payee,
        chainId: chainId, deposit: deposit, status: .open, settleDelay: 60)
    try store.record(channel)
    return channel
}

/// A voucher for at least `amount` on `channel` for request `request`.
private func issue(_ store: PayerStore, _ channel: PayerChannel, atLeast amount: UInt256, request: UInt8 = 0)
    throws(NodeError) -> SignedVoucher
{
    try store.issueVoucher(
        channelID: channel.id, atLeast: amount, requestHash: Keccak256.hash([request]), key: payerKey,
        chainId: chainId, verifyingContract: PaymentChannels.defaultAddress)
}

private func storePath(_ name: String) -> String { DevnetProcess.temporaryDirectory(name) + "/payer.sqlite" }

@Test func vouchersOnlyGrowAndAreSignedByThePayer() throws {
    let clock = ManualClock(wall: WallTime(secondsSinceEpoch: 1_800_000_000))
    let store = try PayerStore(path: storePath("payer-grow"), clock: clock)
    let channel = try openChannel(store)
    #expect(try store.lastCumulative(channelID: channel.id) == .zero)
    var issued: [UInt256] = []
    for (step, asked) in [UInt256(100), 50, 100, 200, 0].enumerated() {
        clock.advance(seconds: 1)
        let signed = try issue(store, channel, atLeast: asked, request: UInt8(step))
        issued.append(signed.voucher.cumulativeAmount)
        #expect(signed.voucher.channelID == channel.id)
        #expect(signed.voucher.requestHash == Keccak256.hash([UInt8(step)]))
        let signer = try signed.voucher.signer(
            of: signed.signature, chainId: chainId, verifyingContract: PaymentChannels.defaultAddress)
        #expect(signer == channel.payer)
        // Under another chain's domain the same signature names someone else.
        let elsewhere = try signed.voucher.signer(
            of: signed.signature, chainId: chainId + 1, verifyingContract: PaymentChannels.defaultAddress)
        #expect(elsewhere != channel.payer)
    }
    #expect(issued == [100, 101, 102, 200, 201])
    #expect(try store.lastCumulative(channelID: channel.id) == 201)
    let kept = try store.vouchers(channelID: channel.id)
    #expect(kept.map(\.signed.voucher.cumulativeAmount) == issued)
    #expect(
        kept.map(\.signedAt.secondsSinceEpoch) == [
            1_800_000_001, 1_800_000_002, 1_800_000_003, 1_800_000_004, 1_800_000_005,
        ])
}

@Test func channelsAndVouchersSurviveReopeningTheStore() throws {
    let path = storePath("payer-reopen")
    var last: SignedVoucher
    do {
        let store = try PayerStore(path: path)
        let channel = try openChannel(store, deposit: 5_000)
        _ = try openChannel(store, id: 2, deposit: 7)
        last = try issue(store, channel, atLeast: 1_234)
    }
    let store = try PayerStore(path: path)
    let channels = try store.channels()
    #expect(channels.map(\.id) == [[UInt8](repeating: 1, count: 32), [UInt8](repeating: 2, count: 32)])
    #expect(channels[0].deposit == 5_000 && channels[0].payee == payee && channels[0].chainId == chainId)
    #expect(try store.lastCumulative(channelID: channels[0].id) == 1_234)
    #expect(try store.vouchers(channelID: channels[0].id).last?.signed == last)
    // The next voucher goes above the one signed before the store was closed.
    #expect(try issue(store, channels[0], atLeast: 1).voucher.cumulativeAmount == 1_235)
}

@Test func aVoucherAboveTheDepositIsRefusedAndNothingIsRecorded() throws {
    let store = try PayerStore(path: storePath("payer-deposit"))
    let channel = try openChannel(store, deposit: 1_000)
    do {
        _ = try issue(store, channel, atLeast: 1_001)
        Issue.record("a voucher above the deposit was signed")
    } catch {
        guard case .voucherOverDeposit(let id, let cumulative, let deposit) = error else { throw error }
        #expect(id == channel.id && cumulative == 1_001 && deposit == 1_000)
    }
    #expect(try store.vouchers(channelID: channel.id).isEmpty)
    #expect(try issue(store, channel, atLeast: 1_000).voucher.cumulativeAmount == 1_000)
    // The deposit is spent: even a voucher asking for less would have to go above it.
    do {
        _ = try issue(store, channel, atLeast: 1)
        Issue.record("a voucher above the deposit was signed")
    } catch {
        guard case .voucherOverDeposit(_, let cumulative, _) = error else { throw error }
        #expect(cumulative == 1_001)
    }
    // A top-up, recorded, makes room again; the vouchers stay.
    var toppedUp = channel
    toppedUp.deposit = 2_000
    try store.record(toppedUp)
    #expect(try issue(store, channel, atLeast: 1).voucher.cumulativeAmount == 1_001)
    #expect(try store.vouchers(channelID: channel.id).count == 2)
}

@Test func vouchersAreRefusedForUnknownClosingForeignOrMisdirectedChannels() throws {
    let store = try PayerStore(path: storePath("payer-refusals"))
    var channel = try openChannel(store)
    let unknown = PayerChannel(
        id: [UInt8](repeating: 9, count: 32), payer: channel.payer, payee: payee, chainId: chainId, deposit: 10,
        status: .open, settleDelay: 60)
    func refusal(_ body: () throws(NodeError) -> SignedVoucher) -> NodeError? {
        do {
            _ = try body()
            return nil
        } catch {
            return error
        }
    }
    guard case .unknownChannel(let id) = refusal({ () throws(NodeError) in try issue(store, unknown, atLeast: 1) })
    else {
        Issue.record("an unknown channel was paid")
        return
    }
    #expect(id == unknown.id)
    let stranger = try Secp256k1PrivateKey(bytes: [UInt8](repeating: 4, count: 32))
    guard
        case .notChannelPayer(_, let payer, let account) = refusal({ () throws(NodeError) in
            try store.issueVoucher(
                channelID: channel.id, atLeast: 1, requestHash: Keccak256.hash([1]), key: stranger, chainId: chainId,
                verifyingContract: PaymentChannels.defaultAddress)
        })
    else {
        Issue.record("another key signed for the payer")
        return
    }
    #expect(payer == channel.payer && account == WalletKeyFile.address(of: stranger))
    guard
        case .voucherRequestInvalid = refusal({ () throws(NodeError) in
            try store.issueVoucher(
                channelID: channel.id, atLeast: 1, requestHash: [1, 2, 3], key: payerKey, chainId: chainId,
                verifyingContract: PaymentChannels.defaultAddress)
        })
    else {
        Issue.record("a short request hash was signed")
        return
    }
    guard
        case .voucherRequestInvalid = refusal({ () throws(NodeError) in
            try store.issueVoucher(
                channelID: channel.id, atLeast: 1, requestHash: Keccak256.hash([1]), key: payerKey,
                chainId: chainId + 1, verifyingContract: PaymentChannels.defaultAddress)
        })
    else {
        Issue.record("a voucher for another chain was signed")
        return
    }
    channel.status = .closing
    try store.record(channel)
    guard
        case .channelInWrongState(_, let status, let expected) = refusal({ () throws(NodeError) in
            try issue(store, channel, atLeast: 1)
        })
    else {
        Issue.record("a closing channel was paid")
        return
    }
    #expect(status == .closing && expected == .open)
    #expect(try store.lastCumulative(channelID: channel.id) == .zero)
}

@Test func channelsAreFilteredByPayerAndPayeeAndUpdatedInPlace() throws {
    let store = try PayerStore(path: storePath("payer-filter"))
    var first = try openChannel(store, id: 1)
    var second = try openChannel(store, id: 2)
    second.payee = try Address(hex: "0x90F79bf6EB2c4f870365E785982E1f101E93b906")
    try store.record(second)
    #expect(try store.channels(payee: payee).map(\.id) == [first.id])
    #expect(try store.channels(payee: second.payee).map(\.id) == [second.id])
    #expect(try store.channels(payer: first.payer).count == 2)
    #expect(try store.channels(payer: payee).isEmpty)
    first.status = .closed
    first.closesAt = 1_800_000_060
    try store.record(first)
    #expect(try store.channel(first.id) == first)
    #expect(try store.channel([UInt8](repeating: 5, count: 32)) == nil)
    #expect(try store.channels().map(\.id) == [first.id, second.id])
}

@Test func concurrentIssuersOnOneFileNeverSignOneAmountTwice() throws {
    let path = storePath("payer-race")
    let stores = [try PayerStore(path: path), try PayerStore(path: path)]
    let channel = try openChannel(stores[0], deposit: 1_000_000)
    let amounts = Mutex<[UInt256]>([])
    let failures = Mutex<[String]>([])
    DispatchQueue.concurrentPerform(iterations: 8) { worker in
        for step in 0..<25 {
            do {
                let signed = try issue(stores[worker % 2], channel, atLeast: 1, request: UInt8(step))
                amounts.withLock { $0.append(signed.voucher.cumulativeAmount) }
            } catch {
                failures.withLock { $0.append("\(error)") }
            }
        }
    }
    #expect(failures.withLock { $0 }.isEmpty)
    let issued = amounts.withLock { $0 }
    #expect(issued.count == 200)
    #expect(Set(issued).count == 200)
    #expect(Set(issued) == Set((1...200).map { UInt256($0) }))
    #expect(try stores[1].lastCumulative(channelID: channel.id) == 200)
}

@Test func aStoreThatIsNotADatabaseIsAnErrorNamingTheFile() throws {
    let path = storePath("payer-garbage")
    try AtomicFile.write(Array(repeating: 0x41, count: 4_096), to: path)
    do {
        let store = try PayerStore(path: path)
        _ = try store.channels()
        Issue.record("a file of garbage opened as the payer store")
    } catch {
        guard case .payerStoreFailed(let named, _) = error else { throw error }
        #expect(named == path)
        #expect(error.description.hasPrefix("payer store \(path): "))
    }
}
