import Codec
import Crypto

/// A signed transaction in its canonical encoding, with its hash; the sender is recovered from the signature.
public struct SignedTransaction: Hashable, Sendable {
    /// The signed fields.
    public let transaction: Transaction
    /// The sender's secp256k1 signature over the transaction's signing hash.
    public let signature: RecoverableSignature
    /// The canonical bytes: the RLP list for legacy, `type ‖ rlp(fields)` for typed transactions.
    public let encoded: [UInt8]
    /// keccak256(encoded).
    public let hash: [UInt8]

    /// A transaction with its signature.
    public init(transaction: Transaction, signature: RecoverableSignature) {
        self.transaction = transaction
        self.signature = signature
        self.encoded = Self.encode(transaction, signature)
        self.hash = Keccak256.hash(encoded)
    }

    /// The legacy `v`: 27/28 before EIP-155, chainId·2 + 35/36 after.
    public var legacyV: UInt256 {
        let parity = UInt256(signature.recoveryID)
        guard let chainId = transaction.chainId else { return UInt256(27) + parity }
        return UInt256(chainId) * UInt256(2) + UInt256(35) + parity
    }

    /// The signature's `r` as an integer.
    public var r: UInt256 { UInt256(bigEndian: signature.r)! }
    /// The signature's `s` as an integer.
    public var s: UInt256 { UInt256(bigEndian: signature.s)! }

    /// How the transaction sits in a block body: a list for legacy, the typed envelope as a string otherwise.
    public var bodyItem: RLPItem {
        transaction.type == .legacy ? (try! RLP.decode(encoded)) : .bytes(encoded)
    }

    private static func encode(_ transaction: Transaction, _ signature: RecoverableSignature) -> [UInt8] {
        let r = RLPItem(UInt256(bigEndian: signature.r)!)
        let s = RLPItem(UInt256(bigEndian: signature.s)!)
        var items = transaction.payloadItems
        switch transaction.type {
        case .legacy:
            let parity = UInt256(signature.recoveryID)
            let v = transaction.chainId.map { UInt256($0) * UInt256(2) + UInt256(35) + parity } ?? UInt256(27) + parity
            items += [RLPItem(v), r, s]
            return RLP.encode(.list(items))
        case .dynamicFee:
            items += [RLPItem(UInt64(signature.recoveryID)), r, s]
            return [transaction.type.rawValue] + RLP.encode(.list(items))
        }
    }

    /// Decodes a signed transaction from its canonical bytes (as `eth_sendRawTransaction` receives them).
    ///
    /// Rejects unknown types, malformed fields, trailing bytes, and signatures that cannot be valid (zero or
    /// out-of-range r/s, high s, bad v).
    public init(encoded bytes: [UInt8]) throws(ChainError) {
        guard let first = bytes.first else { throw .malformed(what: "transaction", why: "empty") }
        var transaction: Transaction
        let recoveryID: UInt8
        var fields: RLPFields
        if first >= 0xC0 {
            fields = try RLPFields(decoding: bytes, what: "legacy transaction")
            guard fields.count == 9 else {
                throw .malformed(what: "legacy transaction", why: "\(fields.count) fields, expected 9")
            }
            let nonce = try fields.uint64()
            let gasPrice = try fields.uint256()
            let gasLimit = try fields.uint64()
            let to = try Self.recipient(&fields)
            let value = try fields.uint256()
            let data = try fields.bytes()
            let v = try fields.uint256()
            transaction = .legacy(
                chainId: nil, nonce: nonce, gasPrice: gasPrice, gasLimit: gasLimit, to: to, value: value, data: data)
            if v == UInt256(27) || v == UInt256(28) {
                recoveryID = UInt8(v.uint64! - 27)
            } else if v >= UInt256(37) {
                let (chainId, parity) = (v - UInt256(35)).quotientAndRemainder(dividingBy: UInt256(2))
                guard let id = chainId.uint64 else {
                    throw .invalidSignature("legacy v encodes a chain id over 64 bits")
                }
                transaction.chainId = id
                recoveryID = UInt8(parity.uint64!)
            } else {
                throw .invalidSignature("legacy v = \(v) is neither 27/28 nor chainId·2+35/36")
            }
        } else if first == TransactionType.dynamicFee.rawValue {
            fields = try RLPFields(decoding: Array(bytes.dropFirst()), what: "EIP-1559 transaction")
            guard fields.count == 12 else {
                throw .malformed(what: "EIP-1559 transaction", why: "\(fields.count) fields, expected 12")
            }
            transaction = .dynamicFee(
                chainId: try fields.uint64(), nonce: try fields.uint64(), maxPriorityFeePerGas: try fields.uint256(),
                maxFeePerGas: try fields.uint256(), gasLimit: try fields.uint64(), to: try Self.recipient(&fields),
                value: try fields.uint256(), data: try fields.bytes(), accessList: try Self.accessList(&fields))
            let parity = try fields.uint64()
            guard parity <= 1 else { throw .invalidSignature("y parity \(parity) is not 0 or 1") }
            recoveryID = UInt8(parity)
        } else {
            throw .malformed(what: "transaction", why: "unsupported transaction type 0x\(String(first, radix: 16))")
        }
        let r = try fields.uint256()
        let s = try fields.uint256()
        try fields.finish()
        let signature: RecoverableSignature
        do {
            signature = try RecoverableSignature(r: r.bigEndianBytes, s: s.bigEndianBytes, recoveryID: recoveryID)
        } catch {
            throw .invalidSignature("\(error)")
        }
        self.init(transaction: transaction, signature: signature)
        guard encoded == bytes else {
            throw .malformed(what: "transaction", why: "not in canonical encoding")
        }
    }

    /// Recovers the sender's address from the signature.
    public func recoverSender() throws(ChainError) -> Address {
        do {
            let key = try signature.recoverPublicKey(digest: transaction.signingHash)
            return try Address(bytes: key.ethereumAddress)
        } catch {
            throw .invalidSignature("sender recovery failed: \(error)")
        }
    }

    private static func recipient(_ fields: inout RLPFields) throws(ChainError) -> Address? {
        let bytes = try fields.bytes()
        if bytes.isEmpty { return nil }
        guard bytes.count == 20 else {
            throw .malformed(what: "transaction", why: "recipient of \(bytes.count) bytes, expected 20 or none")
        }
        return try! Address(bytes: bytes)
    }

    private static func accessList(_ fields: inout RLPFields) throws(ChainError) -> [AccessListEntry] {
        var entries: [AccessListEntry] = []
        for item in try fields.list() {
            var entry = try RLPFields(item, what: "access list entry")
            let address = try entry.address()
            var keys: [[UInt8]] = []
            for key in try entry.list() {
                guard case .bytes(let bytes) = key, bytes.count == 32 else {
                    throw .malformed(what: "access list entry", why: "storage key is not 32 bytes")
                }
                keys.append(bytes)
            }
            try entry.finish()
            entries.append(AccessListEntry(address: address, storageKeys: keys))
        }
        return entries
    }
}
