import Foundation
import Node
import P2P

/// The JSON lines `p2p listen --topic` prints, one per delivered message.
enum GossipLines {
    /// `{"topic": …, "from": <author peer id>, "seqno": <decimal>, "data": <text or "base64:…">}`.
    static func line(_ delivery: Gossip.Delivery) -> String {
        let message = delivery.message
        let author = delivery.author?.description ?? delivery.from.description
        let seqno = (message.seqno ?? []).prefix(8).reduce(UInt64(0)) { $0 << 8 | UInt64($1) }
        let data: String =
            if let text = String(validating: message.data, as: UTF8.self) {
                text
            } else {
                "base64:" + Data(message.data).base64EncodedString()
            }
        return "{\"topic\":\(quoted(message.topic)),\"from\":\(quoted(author)),\"seqno\":\"\(seqno)\","
            + "\"data\":\(quoted(data))}"
    }

    /// `text` as a JSON string literal.
    static func quoted(_ text: String) -> String {
        var out = "\""
        for scalar in text.unicodeScalars {
            switch scalar {
            case "\"": out += "\\\""
            case "\\": out += "\\\\"
            case "\n": out += "\\n"
            case "\r": out += "\\r"
            case "\t": out += "\\t"
            case _ where scalar.value < 0x20 || scalar.value == 0x2028 || scalar.value == 0x2029:
                out += String(format: "\\u%04x", scalar.value)
            default: out.unicodeScalars.append(scalar)
            }
        }
        return out + "\""
    }
}
