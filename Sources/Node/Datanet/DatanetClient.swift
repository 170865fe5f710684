import Chain
import Codec
import Content
import Crypto
import LightClient

/// A wallet's operations on `DatanetRegistry` (create, contribute, approve, reject) through a light client, each
/// dry-run, sent and followed to its verified receipt; what an operation returns (a Datanet id, a batch id, a new
/// snapshot root) is read from the verified receipt's logs.
public struct DatanetClient: Sendable {
    /// The light client every read and transaction goes through.
    public let client: LightClient
    /// The wallet's account: it owns the Datanets it creates and is the contributor of its batches.
    public let account: Address
    private let caller: ContractCaller

    /// A client signing with `key` through `client`.
    public init(client: LightClient, key: Secp256k1PrivateKey, inclusionTimeoutSeconds: Double = 60) {
        self.client = client
        caller = ContractCaller(
            client: client, key: key, contract: DatanetRegistry.defaultAddress,
            signature: { DatanetRegistry.method(named: $0)?.signature },
            inclusionTimeoutSeconds: inclusionTimeoutSeconds)
        account = caller.account
    }

    /// A contributed batch as the ledger recorded it.
    public struct Contribution: Sendable {
        /// The batch's id.
        public var batchID: UInt256
        /// The CID of its content.
        public var cid: CID
        /// Its records.
        public var records: Int
        /// The snapshot root after it, when the Datanet is open (its leaves appended at once); nil while curators
        /// decide.
        public var snapshotRoot: [UInt8]?
        /// The verified block that holds it.
        public var block: UInt64
    }

    /// Creates a Datanet; returns its id and the verified block.
    public func create(name: String, curated: Bool, curators: [Address] = [], metadataCID: [UInt8] = [])
        throws(NodeError) -> (id: UInt256, block: UInt64)
    {
        let data = try caller.calldata(
            "createDatanet",
            [.string(name), .bytes(metadataCID), .bool(curated), .array(curators.map { .address($0) })])
        let (receipt, header, _) = try caller.submit("createDatanet", data: data)
        guard let event = try caller.event("DatanetCreated", in: receipt), case .uint(let id)? = event["datanetId"]
        else { throw .ledger(.verificationFailed("the receipt of createDatanet has no DatanetCreated log")) }
        return (id, header.number)
    }

    /// Stores each batch in `store` (pinned as Datanet content) and contributes it to Datanet `id`.
    public func contribute(_ batches: [DatanetBatch], to id: UInt256, store: ContentStore) throws(NodeError)
        -> [Contribution]
    {
        var out: [Contribution] = []
        for batch in batches {
            guard batch.contributor == account else {
                throw .datanetBatchInvalid(
                    line: nil, reason: "the batch credits \(batch.contributor), not this wallet's \(account)")
            }
            let cid: CID
            do {
                cid = try store.add(batch.contents, pin: .datanetSnapshot)
            } catch {
                throw .datanetContent(datanet: id, reason: "storing a batch: \(error)")
            }
            let hashes = batch.recordHashes
            let data = try caller.calldata(
                "contribute",
                [
                    .uint(id), .uint(UInt256(hashes.count)), .bytes(Array(cid.description.utf8)),
                    .fixedBytes(batch.leavesRoot), .array(hashes.map { .fixedBytes($0) }),
                ])
            let (receipt, header, _) = try caller.submit("contribute", data: data)
            guard let event = try caller.event("BatchContributed", in: receipt),
                case .uint(let batchID)? = event["batchId"]
            else { throw .ledger(.verificationFailed("the receipt of contribute has no BatchContributed log")) }
            var root: [UInt8]?
            if let approved = try caller.event("BatchApproved", in: receipt),
                case .fixedBytes(let value)? = approved["snapshotRoot"]
            {
                root = value
            }
            out.append(
                Contribution(
                    batchID: batchID, cid: cid, records: hashes.count, snapshotRoot: root, block: header.number))
        }
        return out
    }

    /// Approves (or rejects) a pending batch as the Datanet's owner or a curator; returns the new snapshot root of
    /// an approval and the verified block.
    public func decide(datanet id: UInt256, batch: UInt256, approve: Bool) throws(NodeError) -> (
        snapshotRoot: [UInt8]?, block: UInt64
    ) {
        let name = approve ? "approveBatch" : "rejectBatch"
        let (receipt, header, _) = try caller.submit(name, data: try caller.calldata(name, [.uint(id), .uint(batch)]))
        var root: [UInt8]?
        if approve, let event = try caller.event("BatchApproved", in: receipt),
            case .fixedBytes(let value)? = event["snapshotRoot"]
        {
            root = value
        }
        return (root, header.number)
    }
}
