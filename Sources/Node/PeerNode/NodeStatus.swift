import Foundation

/// `/status`: the node's figures as JSON, and the short summary `openledger node status` prints from it.
public enum NodeStatus {
    /// The largest status body read.
    public static let maximumBytes = 1 << 20

    /// The JSON body of `/status` (sorted keys).
    public static func json(_ metrics: NodeMetrics) -> [UInt8] {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        return Array((try? encoder.encode(metrics)) ?? Data("{}".utf8))
    }

    /// The figures of a `/status` body; nil when it is not one (or too large).
    public static func decode(_ body: [UInt8]) -> NodeMetrics? {
        guard body.count <= maximumBytes else { return nil }
        return try? JSONDecoder().decode(NodeMetrics.self, from: Data(body))
    }

    /// A few lines for a person: role, peer, head, peers, mesh, content, and what the role adds.
    public static func summary(_ metrics: NodeMetrics) -> [String] {
        let head: String
        if let number = metrics.head {
            head = "block \(number) (\(metrics.headsFromRPC) from RPC, \(metrics.headsFromGossip) from gossip)"
        } else {
            head = "none verified yet"
        }
        let topics = metrics.mesh.keys.sorted().map { "\($0) \(metrics.mesh[$0] ?? 0)" }
        let content = metrics.content
        var stored = "\(content.blocks) blocks, \(content.bytes) bytes, \(content.pins) pins"
        if let quota = content.quotaBytes { stored += " (quota \(quota) bytes)" }
        stored += "; sent \(content.bytesSent) bytes, received \(content.bytesReceived) bytes"
        var lines: [String] = []
        lines.append("role:     \(metrics.role) (up \(Int(metrics.uptimeSeconds)) s)")
        lines.append("peer:     \(metrics.peerID)")
        lines.append("p2p:      \(metrics.listen)")
        lines.append("api:      \(metrics.api)")
        lines.append("head:     \(head)")
        lines.append(
            "peers:    \(metrics.connectedPeers) connected, DHT \(metrics.dhtMode) with \(metrics.dhtTable) in its table"
        )
        lines.append("mesh:     \(topics.isEmpty ? "no topics" : topics.joined(separator: ", "))")
        lines.append("content:  \(stored)")
        if let adapters = metrics.adapters {
            lines.append(
                "adapters: \(adapters.cached) of \(adapters.known) loaded (\(adapters.bytes) bytes), \(adapters.hits) hits, \(adapters.misses) misses"
            )
        }
        if let inference = metrics.inference {
            let rate = String(format: "%.1f", inference.tokensPerSecond)
            lines.append(
                "model:    \(inference.model): \(inference.completions) answers, \(inference.tokens) tokens, \(rate) tokens/s, \(inference.queued) queued, \(inference.running) running"
            )
        }
        if let payments = metrics.payments {
            lines.append("payments: \(payments.accepted) accepted")
            lines.append("claims:   \(payments.claimsSubmitted) submitted")
        }
        if let attester = metrics.attester {
            lines.append("attester: \(attester.attestations) attested, \(attester.challenges) challenged")
        }
        return lines
    }
}
