import Chain
import Codec
import Crypto
import Foundation
import Runtime
import TestSupport
import Testing

@testable import ChainNode

/// The producer's schedule on a manual clock: one interval after the previous deadline, never a burst of
/// catch-up blocks after a slow one.
@Test func blockScheduleKeepsItsCadenceOnAManualClock() {
    let clock = ManualClock(now: Instant(seconds: 100))
    var schedule = BlockProducer.Schedule(intervalMilliseconds: 250, start: clock.now())
    // A block that took 50 ms: wait the other 200 ms.
    clock.advance(seconds: 0.05)
    #expect(abs(schedule.produced(at: clock.now()) - 0.2) < 1e-9)
    clock.advance(seconds: 0.2)
    #expect(abs(schedule.produced(at: clock.now()) - 0.25) < 1e-9)
    #expect(schedule.deadline == Instant(seconds: 100.5))
    // A block that took a whole second: the next one is due at once, and the cadence restarts from now.
    clock.advance(seconds: 1.25)
    #expect(schedule.produced(at: clock.now()) == 0)
    #expect(schedule.deadline == clock.now())
    #expect(abs(schedule.produced(at: clock.now()) - 0.25) < 1e-9)
}

/// `stop` wakes a producer that is waiting out a long interval: it neither sleeps out the interval nor spins.
@Test(.timeLimit(.minutes(3)))
func stoppingTheProducerWakesItsWait() throws {
    let data = try Data(contentsOf: Fixtures.packageRoot.appendingPathComponent("netconfig/devnet.json"))
    let object = try #require(try JSONSerialization.jsonObject(with: data) as? [String: Any])
    let key = try Secp256k1PrivateKey(bytes: try Hex.decode(try #require(object["sequencerPrivateKey"] as? String)))
    let directory = DevnetProcess.temporaryDirectory("producer")
    defer { try? FileManager.default.removeItem(atPath: directory) }
    let node = try DevnetNode(
        config: try NetworkConfig.parse(data), sequencerKey: key, dataDirectory: directory, clock: ManualClock())
    let producer = BlockProducer(node: node, intervalMilliseconds: 600_000) { error in
        Issue.record("block production failed: \(error)")
    }
    producer.stop()
    producer.stop()  // idempotent
    #expect(node.read { $0.head.number } <= 1)
}

/// Admission refusals are typed; what a wallet reads is geth's message, unchanged.
@Test func admissionErrorsKeepGethsMessages() throws {
    let sender = try Address(hex: "0x00000000000000000000000000000000000000aa")
    let cases: [(AdmissionError, RPCError)] = [
        (.oversized, .server("oversized data")),
        (.nonceTooLow(next: 3, got: 1), .server("nonce too low: next nonce 3, tx nonce 1")),
        (.nonceTooHigh(next: 3, got: 100), .server("nonce too high: next nonce 3, tx nonce 100")),
        (.wrongChain(got: 1, expected: 7), .server("invalid chain id for signer: have 1 want 7")),
        (
            .intrinsicGasTooLow(gasLimit: 20_000, minimum: 21_000),
            .server("intrinsic gas too low: gas 20000, minimum needed 21000")
        ),
        (
            .insufficientFunds(sender: sender, balance: 5, cost: nil),
            .server("insufficient funds for gas * price + value: address \(sender) have 5 want more than 2^256")
        ),
        (.undecodable(.malformed(what: "transaction", why: "empty")), .server("rlp: malformed transaction: empty")),
        (
            .undecodable(.invalidSignature("y parity 2 is not 0 or 1")),
            .server("invalid sender: invalid signature: y parity 2 is not 0 or 1")
        ),
        (.replacementUnderpriced, .server("replacement transaction underpriced")),
        (.senderFull(limit: 64), .server("txpool is full: account has 64 pending transactions")),
        (.notRecorded("disk full"), .internalError("cannot record the transaction: disk full")),
    ]
    for (error, expected) in cases { #expect(error.rpcError == expected) }
}

/// Only a transaction that missed this block's remaining gas stays pooled; every other rejection evicts it.
@Test func evictionBranchesOnTheTypedRejection() {
    #expect(DevnetNode.mayFitLaterBlock(.transactionRejected(.exceedsRemainingBlockGas(gasLimit: 30_000_000))))
    #expect(!DevnetNode.mayFitLaterBlock(.transactionRejected(.insufficientFunds)))
    #expect(!DevnetNode.mayFitLaterBlock(.transactionRejected(.nonceMismatch(got: 2, expected: 1))))
    #expect(!DevnetNode.mayFitLaterBlock(.invalidSignature("remaining gas")))
    // Reverts keep their reason for eth_call; other failures are internal errors.
    #expect(EthereumRPC.rpcError(.notPayable(function: "topUp")) == .reverted("topUp does not accept OPEN"))
    #expect(EthereumRPC.rpcError(.unknownSelector([1, 2, 3, 4])) == .reverted("unknown function selector 0x01020304"))
    #expect(EthereumRPC.rpcError(.invalidBlock("x")).code == -32603)
}
