import Chain
import ChainNode
import Codec
import Crypto
import Testing

private let chainId: UInt64 = 16_120_033

private func transaction(_ key: Secp256k1PrivateKey, nonce: UInt64, tip: UInt256, maxFee: UInt256 = 100_000_000_000)
    throws -> SignedTransaction
{
    try Transaction.dynamicFee(
        chainId: chainId, nonce: nonce, maxPriorityFeePerGas: tip, maxFeePerGas: maxFee, gasLimit: 21_000, to: .zero,
        value: 1
    ).signed(with: key)
}

@Test func mempoolOrdersByNonceThenTipAndQueuesGaps() throws {
    let alice = try Secp256k1PrivateKey(bytes: Keccak256.hash([1]))
    let bob = try Secp256k1PrivateKey(bytes: Keccak256.hash([2]))
    let aliceAddress = try Address(bytes: alice.publicKey.ethereumAddress)
    let bobAddress = try Address(bytes: bob.publicKey.ethereumAddress)
    var pool = Mempool()
    // Alice: nonces 0, 1 and a gap at 3 (queued). Bob: nonce 0 with a higher tip.
    let a0 = try transaction(alice, nonce: 0, tip: 1)
    let a1 = try transaction(alice, nonce: 1, tip: 50)
    let a3 = try transaction(alice, nonce: 3, tip: 90)
    let b0 = try transaction(bob, nonce: 0, tip: 10)
    for (tx, sender) in [(a1, aliceAddress), (a3, aliceAddress), (a0, aliceAddress), (b0, bobAddress)] {
        _ = try pool.add(tx, sender: sender, accountNonce: 0)
    }
    let ready = pool.executable(accountNonce: { _ in 0 }, baseFee: 7, limit: 10)
    // Bob's tip beats Alice's first transaction; Alice's nonces stay in order; the gap keeps nonce 3 back.
    #expect(ready.map(\.hash) == [b0.hash, a0.hash, a1.hash])
    #expect(pool.nextNonce(aliceAddress, accountNonce: 0) == 2)
    // Nonce 2 fills the gap.
    _ = try pool.add(try transaction(alice, nonce: 2, tip: 1), sender: aliceAddress, accountNonce: 0)
    #expect(pool.executable(accountNonce: { _ in 0 }, baseFee: 7, limit: 10).count == 5)
    // Including up to nonce 2 leaves only nonce 3.
    let dropped = pool.prune(accountNonce: { $0 == aliceAddress ? 3 : 1 })
    #expect(dropped.count == 4)
    #expect(pool.count == 1 && pool.contains(a3.hash))
}

@Test func mempoolReplacementNeedsAHigherFeeAndLimitsHold() throws {
    let alice = try Secp256k1PrivateKey(bytes: Keccak256.hash([3]))
    let sender = try Address(bytes: alice.publicKey.ethereumAddress)
    var limits = Mempool.Limits()
    limits.perSender = 4
    limits.maxNonceGap = 8
    var pool = Mempool(limits: limits)
    let original = try transaction(alice, nonce: 0, tip: 100, maxFee: 1_000)
    _ = try pool.add(original, sender: sender, accountNonce: 0)
    #expect(throws: AdmissionError.replacementUnderpriced) {
        try pool.add(try transaction(alice, nonce: 0, tip: 105, maxFee: 1_050), sender: sender, accountNonce: 0)
    }
    let replacement = try transaction(alice, nonce: 0, tip: 110, maxFee: 1_100)
    #expect(try pool.add(replacement, sender: sender, accountNonce: 0) == original.hash)
    #expect(!pool.contains(original.hash) && pool.contains(replacement.hash))
    for nonce in 1...3 {
        _ = try pool.add(try transaction(alice, nonce: UInt64(nonce), tip: 1), sender: sender, accountNonce: 0)
    }
    #expect(throws: AdmissionError.senderFull(limit: 4)) {
        try pool.add(try transaction(alice, nonce: 4, tip: 1), sender: sender, accountNonce: 0)
    }
    #expect(throws: AdmissionError.nonceTooHigh(next: 0, got: 20)) {
        try pool.add(try transaction(alice, nonce: 20, tip: 1), sender: sender, accountNonce: 0)
    }
    #expect(throws: AdmissionError.nonceTooLow(next: 1, got: 0)) {
        try pool.add(try transaction(alice, nonce: 0, tip: 999), sender: sender, accountNonce: 1)
    }
}
