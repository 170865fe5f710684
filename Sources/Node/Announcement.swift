import Foundation
import P2P

/// One message of the announce topic (schemas in docs/gossip-topics.md): a Datanet snapshot, an adapter or a
/// reward claim that the ledger records, and where to fetch its content.
public enum Announcement: Codable, Equatable, Sendable {
    /// A snapshot committed in `DatanetRegistry`.
    case datanetSnapshot(DatanetSnapshot)
    /// An adapter published in `ModelRegistry`.
    case adapter(Adapter)
    /// A claim submitted to `AttributionClaims`.
    case rewardClaim(RewardClaim)

    /// The most bytes one announcement may take.
    public static let maxBytes = 16 * 1024

    /// A Datanet snapshot announcement.
    public struct DatanetSnapshot: Codable, Equatable, Sendable {
        /// The Datanet's id (decimal).
        public var datanetId: String
        /// The snapshot's number (decimal).
        public var snapshot: String
        /// The snapshot's Merkle root (0x, 32 bytes).
        public var root: String
        /// The number of records (decimal).
        public var records: String
        /// The CID of the snapshot's shard set.
        public var cid: String
        /// The hash of a block whose state holds the commitment (0x, 32 bytes).
        public var block: String
    }

    /// An adapter announcement.
    public struct Adapter: Codable, Equatable, Sendable {
        /// The adapter's id (decimal).
        public var adapterId: String
        /// Its base model's id (decimal).
        public var baseModelId: String
        /// Its owner (0x address).
        public var owner: String
        /// The CID of its file.
        public var cid: String
        /// `gguf-lora` or `peft`.
        public var format: String
        /// Its rank.
        public var rank: Int
        /// Its size in bytes (decimal).
        public var bytes: String
        /// A block that records it (0x, 32 bytes).
        public var block: String
        /// What the announcing peer charges to serve it, if it serves it: wei per prompt token (decimal).
        public var promptWeiPerToken: String?
        /// Wei per completion token (decimal), with `promptWeiPerToken`.
        public var completionWeiPerToken: String?
        /// The account its vouchers must pay (0x address), with the prices.
        public var payee: String?

        /// An adapter announcement; the three serving fields go together or not at all.
        public init(
            adapterId: String, baseModelId: String, owner: String, cid: String, format: String, rank: Int,
            bytes: String, block: String, promptWeiPerToken: String? = nil, completionWeiPerToken: String? = nil,
            payee: String? = nil
        ) {
            self.adapterId = adapterId
            self.baseModelId = baseModelId
            self.owner = owner
            self.cid = cid
            self.format = format
            self.rank = rank
            self.bytes = bytes
            self.block = block
            self.promptWeiPerToken = promptWeiPerToken
            self.completionWeiPerToken = completionWeiPerToken
            self.payee = payee
        }
    }

    /// A reward-claim announcement.
    public struct RewardClaim: Codable, Equatable, Sendable {
        /// The claim's id (0x, 32 bytes).
        public var claimId: String
        /// Who claims (0x address).
        public var claimant: String
        /// Answers in the claim.
        public var answers: Int
        /// The fees claimed, in wei (decimal).
        public var fees: String
        /// The block number that ends the challenge window (0x quantity).
        public var challengeDeadline: String
        /// A block that records it (0x, 32 bytes).
        public var block: String
    }

    /// Why bytes are not an announcement.
    public enum Refusal: Error, Equatable, Sendable {
        /// Over `maxBytes`.
        case oversized(Int)
        /// Not one JSON object of a known kind with its fields, or a field out of form.
        case malformed(String)
    }

    private enum CodingKeys: String, CodingKey { case kind }

    /// Reads the `kind` and the fields of that kind.
    public init(from decoder: any Decoder) throws {
        let kind = try decoder.container(keyedBy: CodingKeys.self).decode(String.self, forKey: .kind)
        switch kind {
        case "datanet-snapshot": self = .datanetSnapshot(try DatanetSnapshot(from: decoder))
        case "adapter": self = .adapter(try Adapter(from: decoder))
        case "reward-claim": self = .rewardClaim(try RewardClaim(from: decoder))
        default:
            throw DecodingError.dataCorruptedError(
                forKey: .kind, in: try decoder.container(keyedBy: CodingKeys.self), debugDescription: "kind \(kind)")
        }
    }

    /// Writes the `kind` and the fields.
    public func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        switch self {
        case .datanetSnapshot(let value):
            try container.encode("datanet-snapshot", forKey: .kind)
            try value.encode(to: encoder)
        case .adapter(let value):
            try container.encode("adapter", forKey: .kind)
            try value.encode(to: encoder)
        case .rewardClaim(let value):
            try container.encode("reward-claim", forKey: .kind)
            try value.encode(to: encoder)
        }
    }

    /// The announcement in `bytes`, checked for form: sizes, hex lengths, decimal numbers, the format name.
    public static func decode(_ bytes: [UInt8]) throws(Refusal) -> Announcement {
        guard bytes.count <= maxBytes else { throw .oversized(bytes.count) }
        let announcement: Announcement
        do {
            announcement = try JSONDecoder().decode(Announcement.self, from: Data(bytes))
        } catch {
            throw .malformed("not an announcement: \(error)")
        }
        try announcement.checkForm()
        return announcement
    }

    /// The JSON bytes (sorted keys).
    public var encoded: [UInt8] {
        let encoder = JSONEncoder()
        encoder.outputFormatting = .sortedKeys
        return Array((try? encoder.encode(self)) ?? Data())
    }

    private func checkForm() throws(Refusal) {
        func hex(_ text: String, bytes: Int, _ name: String) throws(Refusal) {
            let digits = text.dropFirst(2)
            guard text.hasPrefix("0x"), digits.count == 2 * bytes, digits.allSatisfy(\.isHexDigit) else {
                throw .malformed("\(name) must be 0x and \(bytes) bytes of hex")
            }
        }
        func decimal(_ text: String, _ name: String) throws(Refusal) {
            guard !text.isEmpty, text.count <= 78, text.allSatisfy(\.isASCII), text.allSatisfy(\.isNumber) else {
                throw .malformed("\(name) must be a decimal number")
            }
        }
        func cid(_ text: String) throws(Refusal) {
            guard (2...256).contains(text.count), text.allSatisfy({ $0.isASCII && ($0.isLetter || $0.isNumber) })
            else { throw .malformed("cid must be a CID string") }
        }
        switch self {
        case .datanetSnapshot(let value):
            try decimal(value.datanetId, "datanetId")
            try decimal(value.snapshot, "snapshot")
            try hex(value.root, bytes: 32, "root")
            try decimal(value.records, "records")
            try cid(value.cid)
            try hex(value.block, bytes: 32, "block")
        case .adapter(let value):
            try decimal(value.adapterId, "adapterId")
            try decimal(value.baseModelId, "baseModelId")
            try hex(value.owner, bytes: 20, "owner")
            try cid(value.cid)
            guard ["gguf-lora", "peft"].contains(value.format) else {
                throw .malformed("format must be gguf-lora or peft")
            }
            guard (1...4_096).contains(value.rank) else { throw .malformed("rank must be in 1...4096") }
            try decimal(value.bytes, "bytes")
            try hex(value.block, bytes: 32, "block")
            switch (value.promptWeiPerToken, value.completionWeiPerToken, value.payee) {
            case (nil, nil, nil): break
            case (let prompt?, let completion?, let payee?):
                try decimal(prompt, "promptWeiPerToken")
                try decimal(completion, "completionWeiPerToken")
                try hex(payee, bytes: 20, "payee")
            default: throw .malformed("promptWeiPerToken, completionWeiPerToken and payee go together")
            }
        case .rewardClaim(let value):
            try hex(value.claimId, bytes: 32, "claimId")
            try hex(value.claimant, bytes: 20, "claimant")
            guard (1...100_000).contains(value.answers) else { throw .malformed("answers must be in 1...100000") }
            try decimal(value.fees, "fees")
            guard value.challengeDeadline.hasPrefix("0x"), value.challengeDeadline.count <= 18,
                value.challengeDeadline.count > 2, value.challengeDeadline.dropFirst(2).allSatisfy(\.isHexDigit)
            else { throw .malformed("challengeDeadline must be a 0x quantity") }
            try hex(value.block, bytes: 32, "block")
        }
    }

    /// The validator of the announce topic: well-formed announcements are accepted, others rejected (checking
    /// them against the ledger is the receiver's job before it acts on one).
    public static let validator: Gossip.Validator = { message, _ in
        (try? decode(message.data)) == nil ? .reject : .accept
    }
}
