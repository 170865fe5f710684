import Codec

extension WorldState {
    /// Moves `amount` wei from `from` to `to`; a balance short of it reverts (a module's books would be wrong).
    mutating func transfer(_ amount: UInt256, from: Address, to: Address) throws(ChainError) {
        guard amount > .zero, from != to else { return }
        try updateAccount(from) { account throws(ChainError) in
            guard account.balance >= amount else { throw .reverted("funds of \(from) missing") }
            account.balance -= amount
        }
        try updateAccount(to) { account throws(ChainError) in account.balance += amount }
    }

    /// Takes `amount` wei out of `from`'s balance for good, counting it in the protocol ledger's burned total.
    mutating func burn(_ amount: UInt256, from: Address) throws(ChainError) {
        guard amount > .zero else { return }
        try updateAccount(from) { account throws(ChainError) in
            guard account.balance >= amount else { throw .reverted("funds of \(from) missing") }
            account.balance -= amount
        }
        let burned = try StateTransition.burned(self) + amount
        setStorage(StateTransition.protocolLedger, slot: WorldState.zeroWord, value: burned.bigEndianBytes)
    }
}
