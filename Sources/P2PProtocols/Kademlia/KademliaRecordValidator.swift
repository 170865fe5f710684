import Codec

/// The rules of one record namespace: which values are valid under a key, and which of several valid values wins.
public protocol KademliaRecordValidator: Sendable {
    /// Whether `value` may be stored under `key`; throws `.invalidRecord` with the reason when not.
    func validate(key: [UInt8], value: [UInt8]) throws(KademliaError)
    /// The index of the best of `values` (all valid, at least one) for `key`.
    func select(key: [UInt8], values: [[UInt8]]) -> Int
}

/// The namespaces a DHT serves: `/openledger/<name>/…` keys, each with its validator.
///
/// Every other key is refused.
public struct KademliaNamespaces: Sendable {
    /// The prefix every served key starts with.
    public static let root = Array("/openledger/".utf8)

    private var validators: [[UInt8]: any KademliaRecordValidator] = [:]

    /// No namespace (every key refused).
    public init() {}

    /// The namespaces OpenLedger uses: signed peer records.
    public static var openLedger: KademliaNamespaces {
        var namespaces = KademliaNamespaces()
        namespaces.register(name: "peer-record", SignedPeerRecordValidator())
        return namespaces
    }

    /// Serves `/openledger/<name>/…` keys with `validator`.
    public mutating func register(name: String, _ validator: any KademliaRecordValidator) {
        validators[Self.root + Array(name.utf8) + [0x2F]] = validator
    }

    /// The validator of `key`'s namespace; throws `.foreignNamespace` when none serves it.
    public func validator(for key: [UInt8]) throws(KademliaError) -> any KademliaRecordValidator {
        guard key.count > Self.root.count, key.starts(with: Self.root) else { throw .foreignNamespace }
        guard let slash = key[Self.root.count...].firstIndex(of: 0x2F), slash + 1 < key.count,
            let validator = validators[Array(key[...slash])]
        else { throw .foreignNamespace }
        return validator
    }

    /// Validates `value` under `key` with its namespace's validator.
    public func validate(key: [UInt8], value: [UInt8]) throws(KademliaError) {
        try validator(for: key).validate(key: key, value: value)
    }
}

/// `/openledger/peer-record/<base58 peer id>`: a signed peer record (envelope) signed by that peer; the highest
/// sequence number wins.
public struct SignedPeerRecordValidator: KademliaRecordValidator {
    /// The key prefix.
    public static let prefix = Array("/openledger/peer-record/".utf8)

    /// A validator.
    public init() {}

    /// The key under which `peer`'s record lives.
    public static func key(for peer: PeerID) -> [UInt8] { prefix + Array(peer.description.utf8) }

    /// Valid when the envelope opens (signature checked) and its signer is the key's peer.
    public func validate(key: [UInt8], value: [UInt8]) throws(KademliaError) {
        guard key.starts(with: Self.prefix), let text = String(validating: key[Self.prefix.count...], as: UTF8.self),
            let peer = try? PeerID(string: text)
        else { throw .invalidRecord("key does not name a peer id") }
        let record: SignedPeerRecord
        do {
            record = try SignedPeerRecord(envelope: value)
        } catch {
            throw .invalidRecord("\(error)")
        }
        guard record.peer == peer else { throw .invalidRecord("record signed by another peer than its key names") }
    }

    /// The record with the highest sequence number (the first of equals); unreadable ones lose.
    public func select(key: [UInt8], values: [[UInt8]]) -> Int {
        var best = 0
        var bestSequence: UInt64?
        for (index, value) in values.enumerated() {
            guard let record = try? SignedPeerRecord(envelope: value) else { continue }
            if bestSequence == nil || record.sequence > bestSequence! {
                best = index
                bestSequence = record.sequence
            }
        }
        return best
    }
}
