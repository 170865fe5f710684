import Chain
import Codec

/// Pending transactions ordered by nonce per sender and by tip across senders. A replacement must raise both
/// fee caps by 10%; the pool is bounded per sender and in total; transactions ahead of their sender's nonce
/// wait (queued) until the gap closes.
public struct Mempool: Sendable {
    public struct Limits: Sendable {
        public var perSender = 64
        public var total = 20_000
        /// How far beyond the account nonce a transaction may be queued.
        public var maxNonceGap: UInt64 = 64
        public init() {}
    }

    struct Entry: Sendable {
        let transaction: SignedTransaction
        let sender: Address
    }

    private var bySender: [Address: [UInt64: Entry]] = [:]
    private var byHash: [[UInt8]: (Address, UInt64)] = [:]
    public let limits: Limits

    public init(limits: Limits = Limits()) { self.limits = limits }

    public var count: Int { byHash.count }

    public func contains(_ hash: [UInt8]) -> Bool { byHash[hash] != nil }

    public func transaction(_ hash: [UInt8]) -> SignedTransaction? {
        guard let (sender, nonce) = byHash[hash] else { return nil }
        return bySender[sender]?[nonce]?.transaction
    }

    /// The next nonce the sender would use: its account nonce advanced past contiguous pending transactions.
    public func nextNonce(_ sender: Address, accountNonce: UInt64) -> UInt64 {
        var nonce = accountNonce
        while bySender[sender]?[nonce] != nil { nonce += 1 }
        return nonce
    }

    /// Adds a transaction whose other checks have passed; returns the hash it replaced, if any.
    public mutating func add(_ transaction: SignedTransaction, sender: Address, accountNonce: UInt64)
        throws(AdmissionError)
        -> [UInt8]?
    {
        let nonce = transaction.transaction.nonce
        guard nonce >= accountNonce else {
            throw .nonceTooLow(next: accountNonce, got: nonce)
        }
        guard nonce - accountNonce <= limits.maxNonceGap else {
            throw .nonceTooHigh(next: accountNonce, got: nonce)
        }
        guard byHash[transaction.hash] == nil else { throw .alreadyKnown }
        var replaced: [UInt8]? = nil
        if let existing = bySender[sender]?[nonce] {
            let old = existing.transaction.transaction
            let new = transaction.transaction
            guard Self.bumped(new.maxFeePerGas, over: old.maxFeePerGas),
                Self.bumped(new.maxPriorityFeePerGas, over: old.maxPriorityFeePerGas)
            else { throw .replacementUnderpriced }
            replaced = existing.transaction.hash
            byHash[existing.transaction.hash] = nil
        } else {
            guard (bySender[sender]?.count ?? 0) < limits.perSender else {
                throw .senderFull(limit: limits.perSender)
            }
            guard byHash.count < limits.total else { throw .poolFull }
        }
        bySender[sender, default: [:]][nonce] = Entry(transaction: transaction, sender: sender)
        byHash[transaction.hash] = (sender, nonce)
        return replaced
    }

    /// Whether `new` is at least 10% above `old` (without overflowing on hostile 256-bit fees).
    static func bumped(_ new: UInt256, over old: UInt256) -> Bool {
        let (required, overflow) = old.multipliedReportingOverflow(by: 110)
        guard !overflow else { return false }
        let (offered, offeredOverflow) = new.multipliedReportingOverflow(by: 100)
        return offeredOverflow || offered >= required
    }

    /// Executable transactions for the next block: each sender's run of consecutive nonces from its account
    /// nonce, interleaved by effective tip (highest first), ties by arrival.
    public func executable(accountNonce: (Address) -> UInt64, baseFee: UInt256, limit: Int) -> [SignedTransaction] {
        var queues: [[SignedTransaction]] = []
        for (sender, entries) in bySender {
            var nonce = accountNonce(sender)
            var run: [SignedTransaction] = []
            while let entry = entries[nonce] {
                run.append(entry.transaction)
                nonce += 1
            }
            if !run.isEmpty { queues.append(run) }
        }
        func tip(_ transaction: SignedTransaction) -> UInt256 {
            let price = transaction.transaction.effectiveGasPrice(baseFee: baseFee)
            return price > baseFee ? price - baseFee : .zero
        }
        var heads = queues.indices.map { (queue: $0, position: 0) }
        var out: [SignedTransaction] = []
        while out.count < limit, !heads.isEmpty {
            var best = 0
            for index in heads.indices.dropFirst()
            where tip(queues[heads[index].queue][heads[index].position])
                > tip(queues[heads[best].queue][heads[best].position])
            {
                best = index
            }
            let (queue, position) = heads[best]
            out.append(queues[queue][position])
            if position + 1 < queues[queue].count { heads[best].position += 1 } else { heads.remove(at: best) }
        }
        return out
    }

    /// Removes a transaction.
    public mutating func remove(_ hash: [UInt8]) {
        guard let (sender, nonce) = byHash.removeValue(forKey: hash) else { return }
        bySender[sender]?[nonce] = nil
        if bySender[sender]?.isEmpty == true { bySender[sender] = nil }
    }

    /// Drops every transaction whose nonce the sender's account has passed; returns their hashes.
    public mutating func prune(accountNonce: (Address) -> UInt64) -> [[UInt8]] {
        var dropped: [[UInt8]] = []
        for (sender, entries) in bySender {
            let current = accountNonce(sender)
            for (nonce, entry) in entries where nonce < current {
                dropped.append(entry.transaction.hash)
            }
        }
        for hash in dropped { remove(hash) }
        return dropped
    }

    /// Every pending transaction.
    public var all: [SignedTransaction] { bySender.values.flatMap { $0.values.map(\.transaction) } }
}
