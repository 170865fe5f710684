import Chain
import Codec
import Crypto

extension LightClient {
    /// An account proven against `header`'s state root (an absent account is proven empty).
    public func account(_ address: Address, at header: VerifiedHeader? = nil) throws(LightClientError)
        -> (account: Account, header: VerifiedHeader)
    {
        let header = try resolve(header)
        let (account, _) = try prove(address, slots: [], at: header)
        return (account, header)
    }

    /// Storage words of `address` proven against `header`'s state root (unset slots are proven zero).
    public func storage(_ address: Address, slots: [[UInt8]], at header: VerifiedHeader) throws(LightClientError)
        -> [[UInt8]: [UInt8]]
    {
        try prove(address, slots: slots, at: header).storage
    }

    private func resolve(_ header: VerifiedHeader?) throws(LightClientError) -> VerifiedHeader {
        if let header { return header }
        return try currentHead()
    }

    /// One eth_getProof, checked: the account proof against the state root, every claimed account field
    /// against the proven account, each storage proof against the proven storage root and its claimed value.
    func prove(_ address: Address, slots: [[UInt8]], at header: VerifiedHeader) throws(LightClientError)
        -> (account: Account, storage: [[UInt8]: [UInt8]])
    {
        let result = try RPCValues.object(
            try rpc.call(
                "eth_getProof",
                [address.lowercaseHex, slots.map { Hex.encode($0) }, UInt256(header.number).hexQuantity]),
            "eth_getProof")
        let nodes = try RPCValues.array(result["accountProof"], "accountProof").map { node throws(LightClientError) in
            try RPCValues.bytes(node, "account proof node")
        }
        let proven: [UInt8]?
        do {
            proven = try SecureTrie.verifyProof(rootHash: header.header.stateRoot, key: address.bytes, proof: nodes)
        } catch {
            throw .verificationFailed("account proof of \(address) against block \(header.number): \(error)")
        }
        let account: Account
        do {
            account = try proven.map { bytes throws(ChainError) in try Account(encoded: bytes) } ?? Account()
        } catch {
            throw .verificationFailed("proven account of \(address): \(error)")
        }
        let claims: [(String, Bool)] = [
            ("balance", try RPCValues.quantity(result["balance"], "balance") == account.balance),
            ("nonce", try RPCValues.quantity(result["nonce"], "nonce") == UInt256(account.nonce)),
            ("codeHash", try RPCValues.bytes(result["codeHash"], "codeHash") == account.codeHash),
            ("storageHash", try RPCValues.bytes(result["storageHash"], "storageHash") == account.storageRoot),
        ]
        for (field, matches) in claims where !matches {
            throw .verificationFailed(
                "server's \(field) of \(address) differs from the proven account at block \(header.number)")
        }
        let storageProofs = try RPCValues.array(result["storageProof"], "storageProof")
        guard storageProofs.count == slots.count else {
            throw .verificationFailed("asked for \(slots.count) storage proofs, got \(storageProofs.count)")
        }
        var values: [[UInt8]: [UInt8]] = [:]
        for (slot, entry) in zip(slots, storageProofs) {
            let object = try RPCValues.object(entry, "storage proof")
            let key = try RPCValues.bytes(object["key"], "storage key")
            guard [UInt8](repeating: 0, count: max(0, 32 - key.count)) + key == slot else {
                throw .verificationFailed("storage proof for another slot than \(Hex.encode(slot))")
            }
            let proofNodes = try RPCValues.array(object["proof"], "storage proof").map {
                node throws(LightClientError) in
                try RPCValues.bytes(node, "storage proof node")
            }
            let provenValue: [UInt8]
            do {
                let encoded = try SecureTrie.verifyProof(rootHash: account.storageRoot, key: slot, proof: proofNodes)
                provenValue =
                    try encoded.map { bytes throws(ChainError) in try WorldState.decodeSlotValue(bytes) }
                    ?? [UInt8](repeating: 0, count: 32)
            } catch {
                throw .verificationFailed("storage proof of slot \(Hex.encode(slot)) of \(address): \(error)")
            }
            let claimed = try RPCValues.quantity(object["value"], "storage value")
            guard claimed.bigEndianBytes == provenValue else {
                throw .verificationFailed(
                    "server's value of slot \(Hex.encode(slot)) of \(address) differs from the proof")
            }
            values[slot] = provenValue
        }
        return (account, values)
    }

    /// Reads a predeploy record through proven storage: runs `decode` against the slots proven so far, fetches
    /// proofs for the slots it asked for, and repeats until it asks for nothing new (dynamic lengths take a
    /// second round).
    public func proven<R>(
        _ address: Address, at header: VerifiedHeader, _ decode: (ProvenSlots) throws(ChainError) -> R
    ) throws(LightClientError) -> R {
        let slots = ProvenSlots(address: address)
        for _ in 0..<6 {
            let result: R
            do {
                result = try decode(slots)
            } catch {
                throw .verificationFailed("decoding proven storage of \(address): \(error)")
            }
            let missing = slots.takeMissing()
            if missing.isEmpty { return result }
            slots.add(try storage(address, slots: missing, at: header))
        }
        throw .verificationFailed("record of \(address) needs too many rounds of proofs")
    }

    /// A predeploy record from proven storage, read through the same layout type the predeploy writes it with
    /// (`PaymentChannels.ChannelLayout`, `DatanetRegistry.SnapshotLayout`, `ModelRegistry.AdapterLayout` …).
    public func read<Layout: StorageLayout>(
        _ layout: Layout.Type, _ key: Layout.Key, in contract: Address = Layout.contract,
        at header: VerifiedHeader? = nil
    ) throws(LightClientError) -> (value: Layout.Value, header: VerifiedHeader) {
        let header = try resolve(header)
        let record = Layout.record(key, in: contract)
        return (
            try proven(contract, at: header) { reader throws(ChainError) in try Layout.read(record, from: reader) },
            header
        )
    }
}

/// Storage slots proven so far; reading an unproven slot records it for the next round and reads zero.
public final class ProvenSlots: StorageReader, @unchecked Sendable {
    let address: Address
    private var values: [[UInt8]: [UInt8]] = [:]
    private var missing: [[UInt8]] = []

    init(address: Address) { self.address = address }

    /// The proven value of `slot`, or zero while the slot is unproven (and recorded as missing).
    public func word(_ address: Address, slot: [UInt8]) throws(ChainError) -> [UInt8] {
        guard address == self.address else { throw .invalidBlock("proven storage covers \(self.address) only") }
        if let value = values[slot] { return value }
        if !missing.contains(slot) { missing.append(slot) }
        return [UInt8](repeating: 0, count: 32)
    }

    func takeMissing() -> [[UInt8]] {
        defer { missing = [] }
        return missing
    }

    func add(_ proven: [[UInt8]: [UInt8]]) { values.merge(proven) { $1 } }
}
