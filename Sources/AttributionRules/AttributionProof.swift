import Codec
import Crypto

/// The attribution proof of PoA-SA v1: the snapshot it was computed against, the response's hash, the spans with, for
/// each credited record, its index, offset, contributor, record hash and Merkle path, and the weights per contributor.
///
/// Binary form: RLP (below); JSON form: `json`.
public struct AttributionProof: Equatable, Sendable {
    /// The format version this build writes and reads.
    public static let version: UInt64 = 1

    /// A credited record as the proof carries it.
    public struct CreditedRecord: Equatable, Sendable {
        /// The record's index in the snapshot.
        public var index: UInt64
        /// The first offset in the record where the span's bytes occur.
        public var offset: UInt64
        /// The record's contributor.
        public var contributor: Address
        /// keccak256 of the record's bytes.
        public var recordHash: [UInt8]
        /// The record leaf's 32 Merkle siblings, from the leaf up.
        public var path: [[UInt8]]
    }

    /// A span as the proof carries it.
    public struct Span: Equatable, Sendable {
        /// The span's first byte in the response.
        public var start: UInt64
        /// The span's length in bytes.
        public var length: UInt64
        /// The credited records, by increasing index.
        public var records: [CreditedRecord]
    }

    /// The root of the snapshot the attribution was computed against.
    public var snapshotRoot: [UInt8]
    /// The snapshot's number of records.
    public var recordCount: UInt64
    /// L.
    public var minSpan: UInt64
    /// K.
    public var maxRecords: UInt64
    /// keccak256 of the response's bytes.
    public var responseHash: [UInt8]
    /// n: the response's length in bytes.
    public var responseLength: UInt64
    /// The spans, by increasing start.
    public var spans: [Span]
    /// Weights in 1e18 fixed point, by increasing address.
    public var contributors: [(address: Address, weight: UInt128)]

    /// Proofs are equal when every field is.
    public static func == (a: AttributionProof, b: AttributionProof) -> Bool {
        a.snapshotRoot == b.snapshotRoot && a.recordCount == b.recordCount && a.minSpan == b.minSpan
            && a.maxRecords == b.maxRecords && a.responseHash == b.responseHash && a.responseLength == b.responseLength
            && a.spans == b.spans && a.contributors.map(\.address) == b.contributors.map(\.address)
            && a.contributors.map(\.weight) == b.contributors.map(\.weight)
    }

    /// The proof of `result` for `response` over `records` (the whole snapshot, in order).
    public init(result: AttributionResult, response: [UInt8], records: [Record], minSpan: Int, maxRecords: Int) {
        self.init(
            result: result, response: response,
            leaves: records.map { SnapshotMerkleTree.leaf(contributor: $0.contributor, record: $0.bytes) },
            contributor: { records[$0].contributor }, recordHash: { Keccak256.hash(records[$0].bytes) },
            minSpan: minSpan, maxRecords: maxRecords)
    }

    /// The proof of `result` for `response` over a snapshot given as its leaves, with each record's contributor
    /// and record hash looked up by index.
    public init(
        result: AttributionResult, response: [UInt8], leaves: [[UInt8]], contributor: (Int) -> Address,
        recordHash: (Int) -> [UInt8], minSpan: Int, maxRecords: Int
    ) {
        let tree = SnapshotMerkleTree(leaves: leaves)
        let paths = SnapshotMerkleTree.proofs(leaves: leaves, indices: result.spans.flatMap { $0.records.map(\.index) })
        self.init(
            result: result, response: response, snapshotRoot: tree.snapshotRoot, recordCount: leaves.count,
            path: { paths[$0]! }, contributor: contributor, recordHash: recordHash, minSpan: minSpan,
            maxRecords: maxRecords)
    }

    /// The proof of `result` for `response` over a snapshot of `recordCount` records with root `snapshotRoot`, each
    /// credited record's Merkle path, contributor and record hash looked up by index (`SnapshotMerkleLevels.path`
    /// gives paths without hashing the tree again).
    public init(
        result: AttributionResult, response: [UInt8], snapshotRoot: [UInt8], recordCount: Int,
        path: (Int) -> [[UInt8]], contributor: (Int) -> Address, recordHash: (Int) -> [UInt8], minSpan: Int,
        maxRecords: Int
    ) {
        self.snapshotRoot = snapshotRoot
        self.recordCount = UInt64(recordCount)
        self.minSpan = UInt64(minSpan)
        self.maxRecords = UInt64(maxRecords)
        responseHash = Keccak256.hash(response)
        responseLength = UInt64(response.count)
        spans = result.spans.map { span in
            Span(
                start: UInt64(span.start), length: UInt64(span.length),
                records: span.records.map { record in
                    CreditedRecord(
                        index: UInt64(record.index), offset: UInt64(record.offset),
                        contributor: contributor(record.index), recordHash: recordHash(record.index),
                        path: path(record.index))
                })
        }
        contributors = AttributionCredit.contributorWeights(result, contributor: contributor).sorted { $0.key < $1.key }
            .map { ($0.key, $0.value) }
    }

    // MARK: Binary form

    /// RLP: [version, snapshotRoot, recordCount, L, K, responseHash, responseLength,
    /// [[start, length, [[index, offset, contributor, recordHash, [path…]]…]]…], [[address, weight]…]].
    public var encoded: [UInt8] {
        RLP.encode(
            .list([
                RLPItem.uint(Self.version), .bytes(snapshotRoot), .uint(recordCount), .uint(minSpan), .uint(maxRecords),
                .bytes(responseHash), .uint(responseLength),
                .list(
                    spans.map { span in
                        .list([
                            .uint(span.start), .uint(span.length),
                            .list(
                                span.records.map { record in
                                    .list([
                                        .uint(record.index), .uint(record.offset), .bytes(record.contributor.bytes),
                                        .bytes(record.recordHash), .list(record.path.map { .bytes($0) }),
                                    ])
                                }),
                        ])
                    }),
                .list(
                    contributors.map {
                        .list([
                            .bytes($0.address.bytes), .bytes(UInt256(high: 0, low: $0.weight).minimalBigEndianBytes),
                        ])
                    }),
            ]))
    }

    /// Decodes the binary form strictly.
    public init(encoded bytes: [UInt8]) throws(AttributionProofError) {
        func fail(_ why: String) -> AttributionProofError { .malformedProof(why) }
        let item: RLPItem
        do {
            item = try RLP.decode(bytes)
        } catch {
            throw fail("\(error)")
        }
        guard case .list(let fields) = item, fields.count == 9 else { throw fail("not a list of 9 fields") }
        guard try fields[0].uint64() == Self.version else { throw fail("unknown version") }
        snapshotRoot = try fields[1].bytes32()
        recordCount = try fields[2].uint64()
        minSpan = try fields[3].uint64()
        maxRecords = try fields[4].uint64()
        responseHash = try fields[5].bytes32()
        responseLength = try fields[6].uint64()
        spans = try fields[7].list().map { spanItem throws(AttributionProofError) in
            let span = try spanItem.list()
            guard span.count == 3 else { throw fail("span of \(span.count) fields") }
            return Span(
                start: try span[0].uint64(), length: try span[1].uint64(),
                records: try span[2].list().map { recordItem throws(AttributionProofError) in
                    let record = try recordItem.list()
                    guard record.count == 5 else { throw fail("credited record of \(record.count) fields") }
                    let contributor: Address
                    do {
                        contributor = try Address(bytes: try record[2].bytes())
                    } catch {
                        throw fail("contributor: \(error)")
                    }
                    return CreditedRecord(
                        index: try record[0].uint64(), offset: try record[1].uint64(), contributor: contributor,
                        recordHash: try record[3].bytes32(),
                        path: try record[4].list().map { node throws(AttributionProofError) in try node.bytes32() })
                })
        }
        contributors = try fields[8].list().map { entry throws(AttributionProofError) in
            let pair = try entry.list()
            guard pair.count == 2, let weight = UInt256(bigEndian: try pair[1].bytes())?.uint128 else {
                throw fail("contributor weight")
            }
            do {
                return (try Address(bytes: try pair[0].bytes()), weight)
            } catch {
                throw fail("contributor: \(error)")
            }
        }
    }

    // MARK: JSON form

    /// The JSON object of the proof (hex for bytes, decimal strings for weights).
    public var json: [String: Any] {
        [
            "version": Self.version, "snapshotRoot": Hex.encode(snapshotRoot), "recordCount": recordCount,
            "minSpan": minSpan, "maxRecords": maxRecords, "responseHash": Hex.encode(responseHash),
            "responseLength": responseLength,
            "spans": spans.map { span in
                [
                    "start": span.start, "length": span.length,
                    "records": span.records.map { record in
                        [
                            "index": record.index, "offset": record.offset,
                            "contributor": record.contributor.lowercaseHex,
                            "recordHash": Hex.encode(record.recordHash), "path": record.path.map { Hex.encode($0) },
                        ] as [String: Any]
                    },
                ] as [String: Any]
            },
            "contributors": contributors.map { ["address": $0.address.lowercaseHex, "weight": String($0.weight)] },
        ]
    }
}

extension RLPItem {
    static func uint(_ value: UInt64) -> RLPItem { .bytes(UInt256(value).minimalBigEndianBytes) }

    func bytes() throws(AttributionProofError) -> [UInt8] {
        guard case .bytes(let bytes) = self else { throw .malformedProof("expected a string, found a list") }
        return bytes
    }

    func bytes32() throws(AttributionProofError) -> [UInt8] {
        let value = try bytes()
        guard value.count == 32 else { throw .malformedProof("expected 32 bytes, found \(value.count)") }
        return value
    }

    func uint64() throws(AttributionProofError) -> UInt64 {
        let value = try bytes()
        guard value.first != 0, let number = UInt256(bigEndian: value)?.uint64 else {
            throw .malformedProof("not a minimal 64-bit integer")
        }
        return number
    }

    func list() throws(AttributionProofError) -> [RLPItem] {
        guard case .list(let items) = self else { throw .malformedProof("expected a list, found a string") }
        return items
    }
}
