import AttributionRules
import Codec

/// The exact JSON that `openledger attribute run --json` prints: `{"snapshotRoot", "responseLength", "spans":
/// [{"start", "length", "records": [{"index", "offset"}]}], "contributors": [{"address", "weight"}]}` with
/// spans by start, records by index, contributors by lower-case address, weights as decimal strings.
public enum AttributionCLIFormat {
    /// The one-line JSON of `proof`.
    public static func json(_ proof: AttributionProof) -> String {
        let spans = proof.spans.map { span in
            let records = span.records.map { "{\"index\":\($0.index),\"offset\":\($0.offset)}" }.joined(separator: ",")
            return "{\"start\":\(span.start),\"length\":\(span.length),\"records\":[\(records)]}"
        }.joined(separator: ",")
        let contributors = proof.contributors.map {
            "{\"address\":\"\($0.address.lowercaseHex)\",\"weight\":\"\($0.weight)\"}"
        }.joined(separator: ",")
        return "{\"snapshotRoot\":\"\(Hex.encode(proof.snapshotRoot))\",\"responseLength\":\(proof.responseLength),"
            + "\"spans\":[\(spans)],\"contributors\":[\(contributors)]}"
    }
}
