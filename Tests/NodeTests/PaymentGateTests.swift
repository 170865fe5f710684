import Chain
import Codec
import Crypto
import Foundation
import LightClient
import Runtime
import Synchronization
import TestSupport
import Testing

@testable import Node

/// A ledger of channels held in memory: the light client's place in these unit tests of the layer above it.
private final class FakeChannels: ChannelReader {
    let channels = Mutex<[[UInt8]: PaymentChannels.Channel]>([:])
    let reads = Mutex(0)

    func provenChannel(_ id: [UInt8]) throws(LightClientError) -> (channel: PaymentChannels.Channel?, head: UInt64) {
        reads.withLock { $0 += 1 }
        return (channels.withLock { $0[id] }, 1)
    }
}

/// The serving peer's payment gate over an in-memory (or file) ledger and a fake channel source.
@Suite struct PaymentGateTests {
    let payerKey = try! Secp256k1PrivateKey(bytes: [UInt8](repeating: 0x11, count: 32))
    let payeeKey = try! Secp256k1PrivateKey(bytes: [UInt8](repeating: 0x22, count: 32))
    var payer: Address { try! Address(bytes: payerKey.publicKey.ethereumAddress) }
    var payee: Address { try! Address(bytes: payeeKey.publicKey.ethereumAddress) }
    let chainId: UInt64 = 16_120_033
    let id = [UInt8](repeating: 9, count: 32)
    let price = ServingPrice(promptWei: 2, completionWei: 3)

    private func gate(_ reader: FakeChannels, path: String = ":memory:") throws -> PaymentGate {
        try PaymentGate(
            terms: .init(payee: payee, chainId: chainId, defaultPrice: price), key: payeeKey,
            ledger: try ServingLedger(path: path), channels: ChannelCache(reader: reader, clock: ManualClock()),
            clock: ManualClock())
    }

    private func reader(deposit: UInt256 = 10_000, status: PaymentChannels.Status = .open) -> FakeChannels {
        let reader = FakeChannels()
        reader.channels.withLock {
            $0[id] = PaymentChannels.Channel(
                payer: payer, payee: payee, deposit: deposit, redeemed: 0, settleDelay: 60, closesAt: 0,
                status: status)
        }
        return reader
    }

    private func voucher(
        _ amount: UInt256, body: [UInt8], key: Secp256k1PrivateKey? = nil, chain: UInt64? = nil, channel: [UInt8]? = nil
    ) throws -> String {
        let voucher = PaymentVoucher(
            channelID: channel ?? id, cumulativeAmount: amount, requestHash: Keccak256.hash(body))
        let signature = try voucher.sign(
            with: key ?? payerKey, chainId: chain ?? chainId, verifyingContract: PaymentChannels.defaultAddress)
        return SignedVoucher(voucher: voucher, signature: signature).headerValue
    }

    private func authorize(
        _ gate: PaymentGate, _ header: String?, _ body: [UInt8], prompt: Int = 10, maxTokens: Int = 20
    ) -> Result<PaymentGate.Ticket, PaymentGate.Refusal> {
        gate.authorize(
            header: header, body: body, model: "m", promptTokens: prompt, maxTokens: maxTokens, channelHint: nil,
            mayProve: true)!
    }

    private func reason(_ result: Result<PaymentGate.Ticket, PaymentGate.Refusal>) -> PaymentRefusal? {
        if case .failure(let refusal) = result { return refusal.reason }
        return nil
    }

    @Test func acceptsPaysAndSignsAReceipt() throws {
        let channels = reader()
        let gate = try gate(channels)
        let body = Array(#"{"prompt":"a"}"#.utf8)
        // Maximum cost: 10 × 2 + 20 × 3 = 80.
        let missing = authorize(gate, nil, body)
        guard case .failure(let quote) = missing else {
            Issue.record("a request without a voucher was accepted")
            return
        }
        #expect(quote.reason == .missingVoucher && quote.reason.status == 402)
        #expect(quote.quote["maximumCost"] == "80" && quote.quote["payee"] == payee.checksummed)
        guard case .success(let ticket) = authorize(gate, try voucher(80, body: body), body) else {
            Issue.record("a sufficient voucher was refused")
            return
        }
        #expect(ticket.acceptance.price == 80)
        let settlement = try gate.finish(
            ticket, response: "hello", promptTokens: 10, completionTokens: 5, temperature: 0.8, topP: 1, topK: 0,
            seed: 42)
        #expect(settlement.cost == 35)
        #expect(settlement.credit.spent == 35 && settlement.credit.reserved == 0)
        #expect(settlement.receipt.isValid)
        #expect(settlement.receipt.receipt.responseHash == Keccak256.hash(Array("hello".utf8)))
        #expect(settlement.receipt.receipt.temperatureMillis == 800 && settlement.receipt.receipt.seed == 42)
        let parsed = SignedReceipt(headerValue: settlement.receipt.headerValue)
        #expect(parsed == settlement.receipt)
        // The second request needs only spent 35 + 80 = 115: the unused 45 stayed as credit.
        let second = Array(#"{"prompt":"b"}"#.utf8)
        #expect(
            reason(authorize(gate, try voucher(114, body: second), second))
                == .insufficient(cumulative: 114, required: 115))
        guard case .success(let next) = authorize(gate, try voucher(115, body: second), second) else {
            Issue.record("a voucher covering spent + maximum was refused")
            return
        }
        #expect(next.acceptance.price == 35)
        // One proof for both requests: the channel was cached.
        #expect(channels.reads.withLock { $0 } == 1)
    }

    @Test func hostileVouchersAreRefusedAndChangeNothing() throws {
        let gate = try gate(reader(deposit: 500))
        let body = Array(#"{"prompt":"x"}"#.utf8)
        let other = Array(#"{"prompt":"y"}"#.utf8)
        #expect(reason(authorize(gate, "{", body))?.code == "malformed_voucher")
        #expect(reason(authorize(gate, String(repeating: "a", count: 5_000), body))?.code == "malformed_voucher")
        #expect(reason(authorize(gate, try voucher(100, body: other), body)) == .requestHashMismatch)
        #expect(reason(authorize(gate, try voucher(100, body: body, key: payeeKey), body)) == .badSignature)
        #expect(reason(authorize(gate, try voucher(100, body: body, chain: 1), body)) == .badSignature)
        #expect(
            reason(authorize(gate, try voucher(100, body: body, channel: [UInt8](repeating: 1, count: 32)), body))
                == .unknownChannel([UInt8](repeating: 1, count: 32)))
        #expect(
            reason(authorize(gate, try voucher(501, body: body), body))
                == .exceedsDeposit(cumulative: 501, deposit: 500))
        // Nothing above was recorded: the first honest voucher is priced from zero.
        guard case .success(let ticket) = authorize(gate, try voucher(100, body: body), body) else {
            Issue.record("an honest voucher was refused after hostile ones")
            return
        }
        #expect(ticket.acceptance.price == 100)
        // Replays: the same voucher, and the same body under a new voucher.
        #expect(reason(authorize(gate, try voucher(100, body: body), body)) == .requestAlreadyPaid)
        #expect(reason(authorize(gate, try voucher(300, body: body), body)) == .requestAlreadyPaid)
        // Reordered: a lower voucher after a higher one.
        let third = Array(#"{"prompt":"z"}"#.utf8)
        #expect(
            reason(authorize(gate, try voucher(90, body: third), third))
                == .staleVoucher(cumulative: 90, authorized: 100))
    }

    @Test func closingChannelIsRefused() throws {
        let gate = try gate(reader(status: .closing))
        let body = Array("{}".utf8)
        #expect(reason(authorize(gate, try voucher(100, body: body), body)) == .channelClosing)
    }

    @Test func racingRequestsStayWithinWhatWasAuthorized() throws {
        let gate = try gate(reader(deposit: 1_000_000))
        // Forty requests race on one channel, each signing spent-so-far-blind vouchers of 80 · (i + 1).
        let accepted = Mutex<[PaymentGate.Ticket]>([])
        DispatchQueue.concurrentPerform(iterations: 40) { i in
            let body = Array("{\"prompt\":\"\(i)\"}".utf8)
            if case .success(let ticket) = authorize(gate, try! voucher(UInt256(80 * (i + 1)), body: body), body) {
                accepted.withLock { $0.append(ticket) }
            }
        }
        let tickets = accepted.withLock { $0 }
        #expect(!tickets.isEmpty)
        var spent = UInt256.zero
        for ticket in tickets {
            spent = try gate.finish(
                ticket, response: "r", promptTokens: 10, completionTokens: 20, temperature: 0, topP: 1, topK: 0,
                seed: 0
            ).credit.spent
        }
        let authorized = tickets.map(\.acceptance.cumulative).max()!
        #expect(spent == UInt256(80 * tickets.count))
        #expect(spent <= authorized)
        #expect(tickets.reduce(UInt256.zero) { $0 + $1.acceptance.price } == authorized)
    }

    @Test func restartKeepsTheBooksAndReceiptsInterruptedRequests() throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("gate-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let path = directory + "/serving.sqlite"
        let channels = reader()
        let body = Array(#"{"prompt":"a"}"#.utf8)
        let running = Array(#"{"prompt":"b"}"#.utf8)
        do {
            let first = try gate(channels, path: path)
            guard case .success(let ticket) = authorize(first, try voucher(80, body: body), body) else {
                Issue.record("refused")
                return
            }
            _ = try first.finish(
                ticket, response: "ok", promptTokens: 10, completionTokens: 10, temperature: 0, topP: 1, topK: 0,
                seed: 0)
            // Accepted, then the process dies before the answer ends.
            guard case .success = authorize(first, try voucher(200, body: running), running) else {
                Issue.record("refused")
                return
            }
        }
        let second = try gate(channels, path: path)
        // The books survived: spent 50, authorized 200; the replay is still refused.
        #expect(reason(authorize(second, try voucher(200, body: running), running)) == .requestAlreadyPaid)
        let interrupted = try #require(second.storedReceipt(Keccak256.hash(running)))
        #expect(interrupted.receipt.completionTokens == 0 && interrupted.receipt.price == 120)
        #expect(
            interrupted.receipt.signer(
                of: interrupted.signature, chainId: chainId, verifyingContract: AttributionClaims.defaultAddress)
                == payee)
        // The interrupted request's 120 stays as credit: spent 50 + 80 = 130 is covered, but a voucher must pass 200.
        let third = Array(#"{"prompt":"c"}"#.utf8)
        #expect(
            reason(authorize(second, try voucher(200, body: third), third))
                == .staleVoucher(cumulative: 200, authorized: 200))
        guard case .success(let ticket) = authorize(second, try voucher(201, body: third), third) else {
            Issue.record("a voucher above what was authorized was refused after the restart")
            return
        }
        #expect(ticket.acceptance.price == 1)
    }
}

/// The voucher header's fast reader agrees with the general one on everything it accepts.
@Suite struct SignedVoucherHeaderTests {
    let voucher = SignedVoucher(
        voucher: PaymentVoucher(
            channelID: [UInt8](repeating: 0xAB, count: 32),
            cumulativeAmount: UInt256(decimal: "123456789012345678901")!,
            requestHash: [UInt8](repeating: 0x05, count: 32)),
        signature: [UInt8](repeating: 0x1C, count: 65))

    @Test func readsWhatItWritesAndOtherForms() throws {
        #expect(try SignedVoucher(headerValue: voucher.headerValue) == voucher)
        #expect(SignedVoucher.wellFormed(voucher.headerValue) == voucher)
        let spaced =
            " { \"signature\" : \"\(Hex.encode(voucher.signature).uppercased().replacingOccurrences(of: "0X", with: "0x"))\","
            + " \"requestHash\":\"\(Hex.encode(voucher.voucher.requestHash))\",\n\"cumulativeAmount\": \"123456789012345678901\","
            + "\t\"channel\":\"\(Hex.encode(voucher.voucher.channelID))\" } "
        #expect(try SignedVoucher(headerValue: spaced) == voucher)
        // An escaped character takes the general reader, with the same result.
        let escaped = voucher.headerValue.replacingOccurrences(of: "\"channel\"", with: "\"chann\\u0065l\"")
        #expect(SignedVoucher.wellFormed(escaped) == nil)
        #expect(try SignedVoucher(headerValue: escaped) == voucher)
    }

    @Test func mutatedHeadersReadTheSameBothWays() throws {
        var random = SeededRandom(seed: 11)
        let original = Array(voucher.headerValue.utf8)
        for _ in 0..<3_000 {
            let mutated = String(decoding: random.mutate(original), as: UTF8.self)
            guard let fast = SignedVoucher.wellFormed(mutated) else { continue }
            #expect((try? SignedVoucher.general(mutated)) == fast, "\(mutated)")
        }
        for broken in ["", "{}", "[]", "{\"channel\":1}", String(voucher.headerValue.dropLast()), "null"] {
            #expect(SignedVoucher.wellFormed(broken) == nil)
            #expect((try? SignedVoucher(headerValue: broken)) == nil, "\(broken)")
        }
    }
}
