import AttributionRules

extension AttributionVerifier {
    /// Verifies `proof` for `response` against the whole snapshot `records`: the root, every Merkle path, and
    /// every span, credited record, offset and weight, by recomputing the attribution. Throws naming the first
    /// difference.
    public static func verify(_ proof: AttributionProof, response: [UInt8], records: [Record]) throws(AttributionError)
    {
        func fail(_ why: String) -> AttributionError { .proof(.invalidProof(why)) }
        do {
            try checkResponse(proof, response: response)
        } catch {
            throw .proof(error)
        }
        guard proof.recordCount == UInt64(records.count) else {
            throw fail("record count \(proof.recordCount), snapshot has \(records.count)")
        }
        let leaves = records.map { SnapshotMerkleTree.leaf(contributor: $0.contributor, record: $0.bytes) }
        guard SnapshotMerkleTree(leaves: leaves).snapshotRoot == proof.snapshotRoot else {
            throw fail("snapshot root does not match the records")
        }
        do {
            try checkPaths(proof)
        } catch {
            throw .proof(error)
        }
        guard let minSpan = Int(exactly: proof.minSpan), let maxRecords = Int(exactly: proof.maxRecords) else {
            throw fail("L or K out of range")
        }
        let result = Attribution.attribute(
            response, shards: try AttributionIndex.build(records: records), minSpan: minSpan, maxRecords: maxRecords)
        let expected = AttributionProof(
            result: result, response: response, records: records, minSpan: minSpan, maxRecords: maxRecords)
        do {
            try compare(proof, with: expected)
        } catch {
            throw .proof(error)
        }
    }
}
